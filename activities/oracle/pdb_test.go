package oracle

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
)

const (
	openForArchive = `ALTER PLUGGABLE DATABASE "SALESPDB" OPEN READ ONLY RESTRICTED INSTANCES=ALL`
	closePDBStmt   = `ALTER PLUGGABLE DATABASE "SALESPDB" CLOSE IMMEDIATE INSTANCES=ALL`
	intoPDB        = `ALTER SESSION SET CONTAINER = "SALESPDB"`
)

// salesPDB is SALESPDB with two application schemas, HR (EMP, JOBS, a view) and APP
// (ORDERS), plus what a PDB also holds: an Oracle-maintained user the flag forgot, and the
// common user of the retirement itself, which owns nothing.
func salesPDB(t *testing.T) *world {
	w := pdbWorld(t)
	w.f.on(qPDBSchemas, []any{"APP"}, []any{"C##RETIRE"}, []any{"HR"}, []any{"XDB"})
	w.f.onFunc(qTables, func(a []any) ([][]any, error) {
		switch a[0] {
		case "APP":
			return rowsOf([]any{"ORDERS", "65536"}), nil
		case "HR":
			return rowsOf([]any{"EMP", "65536"}, []any{"JOBS", "65536"}), nil
		case "XDB":
			t.Error("the tables of an Oracle-maintained user were listed")
		}
		return nil, nil
	})
	w.f.onFunc(qColumns, func(a []any) ([][]any, error) {
		switch a[0].(string) + "." + a[1].(string) {
		case "HR.EMP":
			return rowsOf([]any{"EMPNO", "NUMBER", nil, "22", "0", nil, "6", "0", "N"}, []any{"ENAME", "VARCHAR2", nil, "20", "20", "B", nil, nil, "Y"}), nil
		case "HR.JOBS":
			return rowsOf([]any{"JOB_ID", "VARCHAR2", nil, "10", "10", "B", nil, nil, "N"}), nil
		case "APP.ORDERS":
			return rowsOf([]any{"ORDER_ID", "NUMBER", nil, "22", "0", nil, "12", "0", "N"}, []any{"EMPNO", "NUMBER", nil, "22", "0", nil, "6", "0", "Y"}), nil
		}
		return nil, nil
	})
	w.f.on(`SELECT "EMPNO", "ENAME" FROM "HR"."EMP"`, []any{"7369", "SMITH"}, []any{"7499", nil})
	w.f.on(`SELECT "JOB_ID" FROM "HR"."JOBS"`, []any{"CLERK"})
	w.f.on(`SELECT "ORDER_ID", "EMPNO" FROM "APP"."ORDERS"`, []any{"1", "7369"}, []any{"2", "7369"}, []any{"3", nil})
	w.f.onFunc(qGetDDL, func(a []any) ([][]any, error) {
		switch a[0].(string) + " " + a[2].(string) + "." + a[1].(string) {
		case "TABLE HR.EMP":
			return rowsOf([]any{`CREATE TABLE "EMP" ("EMPNO" NUMBER(6,0) NOT NULL ENABLE, "ENAME" VARCHAR2(20)) ;`}), nil
		case "TABLE HR.JOBS":
			return rowsOf([]any{`CREATE TABLE "JOBS" ("JOB_ID" VARCHAR2(10) NOT NULL ENABLE) ;`}), nil
		case "TABLE APP.ORDERS":
			return rowsOf([]any{`CREATE TABLE "ORDERS" ("ORDER_ID" NUMBER(12,0) NOT NULL ENABLE, "EMPNO" NUMBER(6,0)) ;`}), nil
		case "VIEW HR.EMP_V":
			return rowsOf([]any{`CREATE OR REPLACE FORCE EDITIONABLE VIEW "EMP_V" ("EMPNO") AS SELECT empno FROM hr.emp ;`}), nil
		}
		t.Errorf("unexpected DDL request %v", a)
		return nil, nil
	})
	w.f.onFunc(qViews, func(a []any) ([][]any, error) {
		if a[0] == "HR" {
			return rowsOf([]any{"EMP_V"}), nil
		}
		return nil, nil
	})
	for _, query := range []string{qPLSQLObjects, qSequences, qIndexes, qOwnSynonyms, qRefConstraintTables} {
		w.f.on(query)
	}
	w.grants = []wGrant{{grantee: "APP", owner: "HR", object: "EMP", privilege: "SELECT"}}
	return w
}

// cutPDB snapshots and closes SALESPDB, as the quiesce phase does.
func cutPDB(t *testing.T, w *world, a *Adapter) engine.AccessSnapshot {
	t.Helper()
	snap, err := a.SnapshotAccess(bg(), "pdb:SALESPDB", engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(bg(), snap)
	require.NoError(t, err)
	require.Equal(t, "MOUNTED", w.pdbs["SALESPDB"].openMode)
	w.f.reset()
	return snap
}

// rootOnly are the statements a session may run before it moves into the PDB.
var rootOnly = []string{qSessionInfo, qPDB, qPDBMode, openForArchive, closePDBStmt, intoPDB}

// everyPDBReadIsInThePDB checks that every session moved into the PDB before reading it.
func everyPDBReadIsInThePDB(t *testing.T, f *fakeDB) {
	t.Helper()
	inPDB := map[int]bool{}
	for _, c := range f.calls {
		if c.SQL == intoPDB {
			inPDB[c.Sess] = true
			continue
		}
		if !inPDB[c.Sess] {
			require.Contains(t, rootOnly, c.SQL, "read in CDB$ROOT on session %d", c.Sess)
		}
	}
}

func TestPDBSourceOpensReadOnlyRestrictedAndClosesAgain(t *testing.T) {
	w := salesPDB(t)
	a := w.adapter(Config{})
	snap := cutPDB(t, w, a)

	src, err := a.Source(bg(), "pdb:SALESPDB", snap)
	require.NoError(t, err)
	require.Equal(t, []string{qSessionInfo, qPDB, qPDBMode, openForArchive, intoPDB, qVersion, qCharset, qPDBSchemas, qTables, qTables, qTables},
		sqlsOf(w.f), "open on the root session, then read inside the PDB")
	require.Equal(t, "READ ONLY", w.pdbs["SALESPDB"].openMode)
	require.True(t, w.pdbs["SALESPDB"].restricted, "only RESTRICTED SESSION holders can connect during the archive")
	require.Equal(t, []string{"APP.ORDERS", "HR.EMP", "HR.JOBS"}, src.Tables(), "SCHEMA.TABLE, every non-Oracle-maintained schema")
	require.Equal(t, engine.SourceInfo{Engine: "oracle", Version: "19.0.0.0.0", Charset: "AL32UTF8"}, src.Info())

	ddl, err := src.TableDDL(bg(), "HR.EMP")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(ddl, "-- retire: schema \"HR\"\nCREATE TABLE \"EMP\""), ddl)
	_, err = src.TableDDL(bg(), "EMP")
	require.ErrorIs(t, err, engine.ErrRefused, "a PDB's tables go by SCHEMA.TABLE")
	rows, err := src.Scan(bg(), "APP.ORDERS")
	require.NoError(t, err)
	require.NoError(t, rows.Close())
	everyPDBReadIsInThePDB(t, w.f)
	require.Equal(t, []string{openForArchive}, w.f.changes())

	require.NoError(t, src.Close())
	require.NoError(t, src.Close(), "closing twice closes once")
	require.Equal(t, []string{openForArchive, closePDBStmt}, w.f.changes())
	require.Equal(t, "MOUNTED", w.pdbs["SALESPDB"].openMode, "closed again before the drop")
	noCallWithoutDeadline(t, w.f)

	// The drop finds it closed (ORA-65020 counts as closed) and drops it.
	w.f.reset()
	require.NoError(t, a.Drop(bg(), "pdb:SALESPDB", snap))
	require.Equal(t, []string{closePDBStmt, `DROP PLUGGABLE DATABASE "SALESPDB" INCLUDING DATAFILES`}, w.f.changes())
}

func TestPDBSourceAfterACrashedAttemptAndRefusals(t *testing.T) {
	// An attempt that died before Close left it READ ONLY RESTRICTED: used as it is.
	w := salesPDB(t)
	a := w.adapter(Config{})
	snap := cutPDB(t, w, a)
	w.pdbs["SALESPDB"].openMode, w.pdbs["SALESPDB"].restricted = "READ ONLY", true
	src, err := a.Source(bg(), "pdb:SALESPDB", snap)
	require.NoError(t, err)
	require.Empty(t, w.f.changes(), "already open read-only: nothing to open")
	require.NoError(t, src.Close())
	require.Equal(t, []string{closePDBStmt}, w.f.changes())

	// Opened READ WRITE since the cut (or never cut): refused, and left as it is.
	w.f.reset()
	w.pdbs["SALESPDB"].openMode = "READ WRITE"
	_, err = a.Source(bg(), "pdb:SALESPDB", snap)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.ErrorContains(t, err, "open READ WRITE")
	require.Empty(t, w.f.changes())
	require.Equal(t, "READ WRITE", w.pdbs["SALESPDB"].openMode)

	// A failure after the open closes it again.
	w.pdbs["SALESPDB"].openMode = "MOUNTED"
	w.f.reset()
	w.f.onFunc(qPDBSchemas, func([]any) ([][]any, error) { return nil, ora(1013) })
	_, err = a.Source(bg(), "pdb:SALESPDB", snap)
	require.Error(t, err)
	require.NotErrorIs(t, err, engine.ErrRefused, "retried")
	require.Equal(t, []string{openForArchive, closePDBStmt}, w.f.changes())
	require.Equal(t, "MOUNTED", w.pdbs["SALESPDB"].openMode)
	noCallWithoutDeadline(t, w.f)

	// Not from a PDB's own container.
	w.con = "SALESPDB"
	_, err = a.Source(bg(), "pdb:SALESPDB", snap)
	require.ErrorIs(t, err, engine.ErrRefused)
}

func TestPDBRestoreAccessReopensItAsItWas(t *testing.T) {
	// After an archive attempt that died with the PDB READ ONLY RESTRICTED: closed, then
	// opened in its mode before the cut, its saved state back.
	w := salesPDB(t)
	a := w.adapter(Config{})
	snap := cutPDB(t, w, a)
	require.False(t, snap.PDB.Restricted)
	w.pdbs["SALESPDB"].openMode, w.pdbs["SALESPDB"].restricted = "READ ONLY", true
	require.NoError(t, a.Restore(bg(), snap))
	require.Equal(t, []string{
		closePDBStmt,
		`ALTER PLUGGABLE DATABASE "SALESPDB" OPEN READ WRITE INSTANCES=ALL`,
		`ALTER PLUGGABLE DATABASE "SALESPDB" SAVE STATE INSTANCES=ALL`,
	}, w.f.changes())
	require.Equal(t, "READ WRITE", w.pdbs["SALESPDB"].openMode)
	require.False(t, w.pdbs["SALESPDB"].restricted)

	// A PDB open RESTRICTED before the cut comes back RESTRICTED.
	w = salesPDB(t)
	w.pdbs["SALESPDB"].restricted = true
	a = w.adapter(Config{})
	snap = cutPDB(t, w, a)
	require.True(t, snap.PDB.Restricted)
	require.NoError(t, a.Restore(bg(), snap))
	require.Equal(t, []string{
		`ALTER PLUGGABLE DATABASE "SALESPDB" OPEN READ WRITE RESTRICTED INSTANCES=ALL`,
		`ALTER PLUGGABLE DATABASE "SALESPDB" SAVE STATE INSTANCES=ALL`,
	}, w.f.changes())
	require.True(t, w.pdbs["SALESPDB"].restricted)
	w.f.reset()
	require.NoError(t, a.Restore(bg(), snap))
	require.Equal(t, []string{`ALTER PLUGGABLE DATABASE "SALESPDB" SAVE STATE INSTANCES=ALL`}, w.f.changes(), "open as it was: nothing to do")
	noCallWithoutDeadline(t, w.f)
}

func TestPDBWithTwoSchemasArchivesVerifiesAndRestores(t *testing.T) {
	w := salesPDB(t)
	a := w.adapter(Config{})
	snap := cutPDB(t, w, a)
	store := minioStore(t)
	ctx := t.Context()
	const path = "cdb1/pdb-SALESPDB/run-1"

	src, err := a.Source(ctx, "pdb:SALESPDB", snap)
	require.NoError(t, err)
	res, err := archive.Export(ctx, src, store, path, "pdb:SALESPDB", archive.ExportOptions{})
	require.NoError(t, err)
	require.NoError(t, src.Close())
	require.Equal(t, 3, res.Tables)
	require.EqualValues(t, 6, res.Rows)
	require.Equal(t, []string{openForArchive, closePDBStmt}, w.f.changes(), "opened once, closed once, nothing else changed")
	everyPDBReadIsInThePDB(t, w.f)
	noCallWithoutDeadline(t, w.f)

	v, err := archive.Verify(ctx, store, path)
	require.NoError(t, err)
	require.True(t, v.OK, "%v", v.Problems)
	m, _, err := archive.ReadManifest(ctx, store, path)
	require.NoError(t, err)
	var names, keys []string
	for _, tb := range m.Tables {
		names = append(names, tb.Name)
		keys = append(keys, tb.DDL.Key)
	}
	require.Equal(t, []string{"APP.ORDERS", "HR.EMP", "HR.JOBS"}, names)
	require.Equal(t, []string{"schema/APP@2eORDERS.sql", "schema/HR@2eEMP.sql", "schema/HR@2eJOBS.sql"}, keys)
	views := read(t, store, path, m, "views.sql")
	require.Contains(t, views, "of pluggable database \"SALESPDB\"")
	require.Contains(t, views, "-- retire: schema \"HR\"\nCREATE OR REPLACE FORCE EDITIONABLE VIEW \"EMP_V\"")
	require.Contains(t, read(t, store, path, m, "grants.sql"), "-- retire: schema \"HR\"\nGRANT SELECT ON \"HR\".\"EMP\" TO \"APP\";")

	// One schema of it, restored elsewhere (a PDB's profile is in CDB$ROOT, which holds no
	// schemas): its tables, under the new owner.
	b := newWorld(t)
	loader := b.adapter(Config{})
	rr, err := archive.Restore(ctx, store, path, loader, "HR_COPY", archive.RestoreOptions{Tables: []string{"HR.EMP", "HR.JOBS"}})
	require.NoError(t, err)
	require.Equal(t, 2, rr.Tables)
	require.EqualValues(t, 3, rr.Rows)
	require.Equal(t, []string{
		`CREATE USER "HR_COPY" NO AUTHENTICATION DEFAULT TABLESPACE "USERS" QUOTA UNLIMITED ON "USERS"`,
		`CREATE TABLE "EMP" ("EMPNO" NUMBER(6,0) NOT NULL ENABLE, "ENAME" VARCHAR2(20))`,
		`INSERT INTO "HR_COPY"."EMP" ("EMPNO", "ENAME") VALUES (:1, :2)`,
		`CREATE TABLE "JOBS" ("JOB_ID" VARCHAR2(10) NOT NULL ENABLE)`,
		`INSERT INTO "HR_COPY"."JOBS" ("JOB_ID") VALUES (:1)`,
	}, slices.DeleteFunc(b.f.changes(), func(s string) bool { return s == restoreNLS }))

	// All of it, into one schema: the schemas merge, each part of each file rewritten from
	// its own schema (HR's view of hr.emp reads the merged EMP).
	b.f.reset()
	rr, err = archive.Restore(ctx, store, path, loader, "SALES_ALL", archive.RestoreOptions{})
	require.NoError(t, err)
	require.Equal(t, 3, rr.Tables)
	require.Contains(t, b.f.changes(), `CREATE OR REPLACE FORCE EDITIONABLE VIEW "EMP_V" ("EMPNO") AS SELECT empno FROM "SALES_ALL".emp`)
	noCallWithoutDeadline(t, b.f)
}

func read(t *testing.T, store *archive.Store, path string, m archive.Manifest, name string) string {
	t.Helper()
	for _, f := range m.Files {
		if strings.HasSuffix(f.Key, "/"+name) || f.Key == "schema/"+name {
			r, err := store.Get(t.Context(), strings.TrimSuffix(path, "/")+"/"+f.Key)
			require.NoError(t, err)
			defer r.Close()
			var b strings.Builder
			_, err = io.Copy(&b, r)
			require.NoError(t, err)
			return b.String()
		}
	}
	t.Fatalf("%s is not in the archive", name)
	return ""
}
