package oracle

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
)

// queries are the statements sent that are not executed (dictionary reads), in order.
func queries(f *fakeDB) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if !c.Exec {
			out = append(out, c.SQL)
		}
	}
	return out
}

func TestScratchNameSuitsOracle(t *testing.T) {
	a := newWorld(t).adapter(Config{})
	name, err := a.ScratchName("scott")
	require.NoError(t, err)
	require.Equal(t, "RETIRE$V_SCOTT", name)
	require.NoError(t, ValidObject(name), "an unquoted upper-case identifier, valid as a target name")
	require.True(t, isScratch(name))

	long, err := a.ScratchName(strings.Repeat("A", 128))
	require.NoError(t, err)
	require.Len(t, long, 128)
	require.True(t, isScratch(long))

	_, err = a.ScratchName("pdb:SALESPDB")
	require.ErrorIs(t, err, engine.ErrRefused, "a PDB has no place for a scratch schema")
	require.ErrorContains(t, err, "--verify archive")
	_, err = a.ScratchName("SYS")
	require.ErrorIs(t, err, engine.ErrRefused)
	require.False(t, isScratch("RETIRE$V_"))
	require.False(t, isScratch("SCOTT"))
}

func TestCreateTargetMakesALoginlessUserWithOneQuota(t *testing.T) {
	// The verify-restore gate: the source's own tablespace is read-only (the cut), so the
	// scratch goes to the database default, and the cut state is left alone.
	w, a, _ := cutScott(t)
	require.NoError(t, a.CreateTarget(bg(), "RETIRE$V_SCOTT", engine.SourceInfo{Engine: "oracle", Tablespace: "SCOTT_DATA"}))
	require.Equal(t, []string{qSessionInfo, qUser, qVersion, qTablespace, qDefaultPermanent}, queries(w.f))
	require.Equal(t, []string{`CREATE USER "RETIRE$V_SCOTT" NO AUTHENTICATION DEFAULT TABLESPACE "USERS" QUOTA UNLIMITED ON "USERS"`}, w.f.execs(),
		"no password, one quota, nothing granted")
	require.Equal(t, "READ ONLY", w.status("SCOTT_DATA"))
	require.Equal(t, "USERS", w.users["RETIRE$V_SCOTT"].defaultTS)
	noCallWithoutDeadline(t, w.f)

	// `retire restore` on a server where the source's tablespace exists and is writable.
	w.f.reset()
	require.NoError(t, a.CreateTarget(bg(), "scott_copy", engine.SourceInfo{Tablespace: "USERS"}))
	require.Equal(t, []string{`CREATE USER "SCOTT_COPY" NO AUTHENTICATION DEFAULT TABLESPACE "USERS" QUOTA UNLIMITED ON "USERS"`}, w.f.execs())

	// A tablespace that is gone (dropped with the source) or a system one: the default.
	w.defaults = []string{"DATA", "TEMP"}
	w.tablespace("DATA", statusOnline)
	for _, ts := range []string{"GONE_TS", "SYSTEM", ""} {
		w.f.reset()
		name := "COPY_" + strings.TrimSuffix(ts, "_TS")
		require.NoError(t, a.CreateTarget(bg(), name, engine.SourceInfo{Tablespace: ts}))
		require.Equal(t, []string{`CREATE USER "` + name + `" NO AUTHENTICATION DEFAULT TABLESPACE "DATA" QUOTA UNLIMITED ON "DATA"`}, w.f.execs(), ts)
	}
}

func TestCreateTargetBefore18cUsesARandomPasswordExpiredAndLocked(t *testing.T) {
	w := scott(t)
	w.f.on(qVersion, []any{"12.2.0.1.0"})
	a := w.adapter(Config{})
	require.NoError(t, a.CreateTarget(bg(), "SCOTT_COPY", engine.SourceInfo{}))
	require.NoError(t, a.CreateTarget(bg(), "SCOTT_COPY2", engine.SourceInfo{}))
	execs := w.f.execs()
	require.Len(t, execs, 2)
	re := regexp.MustCompile(`^CREATE USER "SCOTT_COPY2?" IDENTIFIED BY "(Rv7_#[0-9a-f]{24})" DEFAULT TABLESPACE "USERS" QUOTA UNLIMITED ON "USERS" PASSWORD EXPIRE ACCOUNT LOCK$`)
	m1, m2 := re.FindStringSubmatch(execs[0]), re.FindStringSubmatch(execs[1])
	require.NotNil(t, m1, execs[0])
	require.NotNil(t, m2, execs[1])
	require.NotEqual(t, m1[1], m2[1], "a fresh password each time")
	require.Equal(t, "EXPIRED & LOCKED", w.users["SCOTT_COPY"].status)

	// The password never reaches an error message.
	w.f.execHook = func(string, []any) error { return ora(1031) }
	err := a.CreateTarget(bg(), "SCOTT_COPY3", engine.SourceInfo{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "Rv7_#")
}

func TestCreateTargetRefusesAnExistingUser(t *testing.T) {
	w := scott(t)
	a := w.adapter(Config{})
	for _, name := range []string{"SCOTT", "hr", "RETIRE"} {
		err := a.CreateTarget(bg(), name, engine.SourceInfo{})
		require.ErrorIs(t, err, engine.ErrRefused, name)
	}
	require.ErrorContains(t, a.CreateTarget(bg(), "HR", engine.SourceInfo{}), "already exists")
	require.Empty(t, w.f.execs(), "nothing was created")

	// Created by someone between the look and the CREATE: ORA-01920, also a refusal.
	w.afterExec = nil
	w.f.execHook = func(string, []any) error { return ora(oraUserConflict) }
	require.ErrorIs(t, a.CreateTarget(bg(), "SCOTT_COPY", engine.SourceInfo{}), engine.ErrRefused)

	for _, bad := range []string{"SYS", "pdb:SALESPDB", `X"; DROP USER SCOTT CASCADE --`, "_retire_v_scott"} {
		require.ErrorIs(t, a.CreateTarget(bg(), bad, engine.SourceInfo{}), engine.ErrRefused, bad)
	}

	// CDB$ROOT holds no local users.
	root := pdbWorld(t)
	err := root.adapter(Config{}).CreateTarget(bg(), "SCOTT_COPY", engine.SourceInfo{})
	require.ErrorIs(t, err, engine.ErrRefused)
	require.ErrorContains(t, err, "CDB$ROOT")
}

// scriptFromTheArchive is a schema file as the export writes it: the marker naming the
// schema DBMS_METADATA printed it for, then its DDL.
const scriptFromTheArchive = `-- triggers of "SCOTT", as DBMS_METADATA printed them; statements end with ; and PL/SQL with /
-- retire: schema "SCOTT"
  CREATE OR REPLACE EDITIONABLE TRIGGER "EMP_BIU"
BEFORE INSERT ON scott.emp FOR EACH ROW
BEGIN
  :new.note := 'scott.emp'; -- scott.emp
  SELECT COUNT(*) INTO :new.n FROM "SCOTT"."DEPT"@remote;
END;
/
ALTER TRIGGER "SCOTT"."EMP_BIU" ENABLE;
-- retire: schema "HR"
CREATE OR REPLACE FORCE EDITIONABLE VIEW "HR_V" AS SELECT * FROM "HR"."JOBS" JOIN scott.emp USING (job);
`

func TestRunScriptReplaysInTheTargetAndRewritesTheSourceSchema(t *testing.T) {
	w := newWorld(t)
	a := w.adapter(Config{})
	require.NoError(t, a.RunScript(bg(), "RETIRE$V_SCOTT", scriptFromTheArchive))
	require.Equal(t, []string{
		`ALTER SESSION SET CURRENT_SCHEMA = "RETIRE$V_SCOTT"`,
		"CREATE OR REPLACE EDITIONABLE TRIGGER \"EMP_BIU\"\nBEFORE INSERT ON \"RETIRE$V_SCOTT\".emp FOR EACH ROW\nBEGIN\n" +
			"  :new.note := 'scott.emp'; -- scott.emp\n  SELECT COUNT(*) INTO :new.n FROM \"SCOTT\".\"DEPT\"@remote;\nEND;",
		`ALTER TRIGGER "RETIRE$V_SCOTT"."EMP_BIU" ENABLE`,
		// Each part is rewritten from its own schema: HR's part from HR, not from SCOTT.
		`CREATE OR REPLACE FORCE EDITIONABLE VIEW "HR_V" AS SELECT * FROM "RETIRE$V_SCOTT"."JOBS" JOIN scott.emp USING (job)`,
	}, w.f.execs())
	noCallWithoutDeadline(t, w.f)

	// Restoring under the source's own name rewrites nothing.
	w.f.reset()
	require.NoError(t, a.RunScript(bg(), "SCOTT", scriptFromTheArchive))
	require.Contains(t, w.f.execs()[1], "BEFORE INSERT ON scott.emp")

	// A tampered marker is refused before anything runs.
	w.f.reset()
	err := a.RunScript(bg(), "COPY", "-- retire: schema \"A\x01B\"\nCREATE TABLE \"T\" (\"X\" NUMBER);\n")
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Len(t, w.f.execs(), 1, "only the session's current schema was set")
	require.ErrorIs(t, a.RunScript(bg(), "SYSTEM", scriptFromTheArchive), engine.ErrRefused)
}

func TestRetarget(t *testing.T) {
	const to = `"NEW"`
	for in, want := range map[string]string{
		`CREATE TABLE "SCOTT"."DEPT" ("ID" NUMBER)`:                                                              `CREATE TABLE ` + to + `."DEPT" ("ID" NUMBER)`,
		`ALTER TABLE "SCOTT"."EMP" ADD CONSTRAINT "FK" FOREIGN KEY ("D") REFERENCES "SCOTT"."DEPT" ("D") ENABLE`: `ALTER TABLE ` + to + `."EMP" ADD CONSTRAINT "FK" FOREIGN KEY ("D") REFERENCES ` + to + `."DEPT" ("D") ENABLE`,
		`SELECT * FROM scott.emp e, Scott . dept d, SCOTT."Odd" o`:                                               `SELECT * FROM ` + to + `.emp e, ` + to + ` . dept d, ` + to + `."Odd" o`,
		`SELECT scott.pkg.f(1) FROM dual`:                                                                        `SELECT ` + to + `.pkg.f(1) FROM dual`,
		`GRANT SELECT ON "SCOTT"."EMP" TO "APP"`:                                                                 `GRANT SELECT ON ` + to + `."EMP" TO "APP"`,
		// Left alone: another schema, quoted mixed case (another user), a longer name, a
		// column or alias, literals, comments, binds, database links.
		`SELECT * FROM "HR"."EMP", "Scott".emp, scott_x.emp, xscott.emp`:                 `SELECT * FROM "HR"."EMP", "Scott".emp, scott_x.emp, xscott.emp`,
		`SELECT e.scott, e.scott.x, scott FROM emp e`:                                    `SELECT e.scott, e.scott.x, scott FROM emp e`,
		`SELECT 'scott.emp', q'[scott.emp]', NQ'{it's scott.emp}', N'scott.x' FROM dual`: `SELECT 'scott.emp', q'[scott.emp]', NQ'{it's scott.emp}', N'scott.x' FROM dual`,
		"SELECT 1 FROM dual -- scott.emp\n/* scott.emp */":                               "SELECT 1 FROM dual -- scott.emp\n/* scott.emp */",
		`BEGIN :scott.x := 1; END;`:                                                      `BEGIN :scott.x := 1; END;`,
		`SELECT * FROM scott.emp@remote, "SCOTT"."EMP"@remote.example.com, scott.emp`:    `SELECT * FROM scott.emp@remote, "SCOTT"."EMP"@remote.example.com, ` + to + `.emp`,
		`SELECT 'it''s scott.emp' FROM scott.emp`:                                        `SELECT 'it''s scott.emp' FROM ` + to + `.emp`,
	} {
		require.Equal(t, want, retarget(in, "SCOTT", "NEW"), in)
	}
	require.Equal(t, `SELECT * FROM scott.emp`, retarget(`SELECT * FROM scott.emp`, "SCOTT", "SCOTT"))
	require.Equal(t, `SELECT * FROM scott.emp`, retarget(`SELECT * FROM scott.emp`, "", "NEW"))
	// A quoted mixed-case owner is matched exactly, never as an unquoted name.
	require.Equal(t, `SELECT * FROM "NEW".t, app.t`, retarget(`SELECT * FROM "App".t, app.t`, "App", "NEW"))
}

func TestLoadTableInsertsIntoTheTargetSchema(t *testing.T) {
	w := newWorld(t)
	a := w.adapter(Config{})
	cols := []engine.Column{{Name: "ID", Type: "NUMBER(10)", Kind: engine.KindInt64}, {Name: "NAME", Type: "VARCHAR2(20 CHAR)", Kind: engine.KindText, Nullable: true}}
	n, err := a.LoadTable(bg(), "RETIRE$V_SCOTT", "EMP", cols, feed([][]byte{[]byte("1"), []byte("Zoë")}, [][]byte{[]byte("2"), nil}))
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	require.Equal(t, []string{restoreNLS, `INSERT INTO "RETIRE$V_SCOTT"."EMP" ("ID", "NAME") VALUES (:1, :2)`}, w.f.execs())
	require.Equal(t, []any{[]any{int64(1), int64(2)}, []any{"Zoë", nil}}, w.f.calls[len(w.f.calls)-1].Args)

	// A PDB's table, archived as SCHEMA.TABLE, goes into the target as TABLE...
	w.f.reset()
	_, err = a.LoadTable(bg(), "HR_COPY", "HR.EMP", cols, feed([][]byte{[]byte("1"), nil}))
	require.NoError(t, err)
	require.Equal(t, []string{qTableExists, qIdentity}, queries(w.f))
	require.Equal(t, []any{"HR_COPY", "HR.EMP"}, w.f.calls[0].Args)
	require.Equal(t, `INSERT INTO "HR_COPY"."EMP" ("ID", "NAME") VALUES (:1, :2)`, w.f.execs()[1])
	// ...unless the schema has a table with a dot in its name, which the DDL just created.
	w.f.reset()
	w.f.on(qTableExists, []any{int64(1)})
	_, err = a.LoadTable(bg(), "HR_COPY", "HR.EMP", cols, feed())
	require.NoError(t, err)
	require.Empty(t, w.f.execs()[1:], "no rows, no insert")
	_, err = a.LoadTable(bg(), "SYS", "EMP", cols, feed())
	require.ErrorIs(t, err, engine.ErrRefused)
	noCallWithoutDeadline(t, w.f)
}

// checksumWorld has SCOTT and its scratch copy, each with EMP and DEPT, whose scans the
// test scripts.
func checksumWorld(t *testing.T, copyRows [][]any) (*world, *Adapter) {
	w := scott(t)
	w.user("RETIRE$V_SCOTT", "OPEN", "USERS")
	w.f.on(qTables, []any{"DEPT", "0"}, []any{"EMP", "0"})
	w.f.onFunc(qColumns, func([]any) ([][]any, error) {
		return rowsOf([]any{"ID", "NUMBER", nil, "22", "0", nil, "10", "0", "N"}, []any{"NOTES", "CLOB", nil, "4000", "0", nil, nil, nil, "Y"}), nil
	})
	source := rowsOf([]any{int64(1), "a", int64(1)}, []any{int64(2), nil, int64(0)}, []any{int64(3), nil, int64(1)})
	w.f.onPrefix(`SELECT "ID", "NOTES", CASE WHEN "NOTES" IS NULL THEN 0 ELSE 1 END FROM "SCOTT".`, func([]any) ([][]any, error) { return source, nil })
	w.f.onPrefix(`SELECT "ID", "NOTES", CASE WHEN "NOTES" IS NULL THEN 0 ELSE 1 END FROM "RETIRE$V_SCOTT".`, func([]any) ([][]any, error) { return copyRows, nil })
	return w, w.adapter(Config{})
}

func TestChecksumsAreTheArchiveRowSumOfWhatTheSourceScans(t *testing.T) {
	// The same rows in another order: the same checksums.
	w, a := checksumWorld(t, rowsOf([]any{int64(3), nil, int64(1)}, []any{int64(1), "a", int64(1)}, []any{int64(2), nil, int64(0)}))
	want, err := a.Checksums(bg(), "SCOTT", []string{"EMP", "DEPT", "GONE"})
	require.NoError(t, err)
	got, err := a.Checksums(bg(), "RETIRE$V_SCOTT", []string{"EMP", "DEPT", "GONE"})
	require.NoError(t, err)
	require.Equal(t, want, got)

	// It is archive.RowSum of the exact values, the checksum the manifest records.
	var sum archive.RowSum
	for _, r := range [][][]byte{{[]byte("1"), []byte("a")}, {[]byte("2"), nil}, {[]byte("3"), {}}} {
		require.NoError(t, sum.AddRow(r))
	}
	require.Equal(t, sum.String(), want["EMP"])
	require.Equal(t, "", want["GONE"], "a missing table")
	require.Zero(t, w.f.open)
	require.Empty(t, w.f.execs(), "a checksum changes nothing")
	w.f.reset()
	_, err = a.Checksums(bg(), "RETIRE$V_SCOTT", []string{"EMP"})
	require.NoError(t, err)
	require.Equal(t, []string{qSessionInfo, qUser, qVersion, qCharset, qUser, qTables, qColumns,
		`SELECT "ID", "NOTES", CASE WHEN "NOTES" IS NULL THEN 0 ELSE 1 END FROM "RETIRE$V_SCOTT"."EMP"`}, sqlsOf(w.f),
		"the export's own scan of each table, nothing else")
	noCallWithoutDeadline(t, w.f)

	// An empty CLOB is not NULL: the checksums tell them apart.
	_, a = checksumWorld(t, rowsOf([]any{int64(1), "a", int64(1)}, []any{int64(2), nil, int64(0)}, []any{int64(3), nil, int64(0)}))
	got, err = a.Checksums(bg(), "RETIRE$V_SCOTT", []string{"EMP"})
	require.NoError(t, err)
	require.NotEqual(t, want["EMP"], got["EMP"])

	_, err = a.Checksums(bg(), "pdb:SALESPDB", []string{"HR.EMP"})
	require.ErrorIs(t, err, engine.ErrRefused)
	_, err = a.Checksums(bg(), "SYS", []string{"X"})
	require.ErrorIs(t, err, engine.ErrRefused)
}

func TestDropTargetDropsOnlyAScratchSchema(t *testing.T) {
	w := scott(t)
	w.user("RETIRE$V_SCOTT", "OPEN", "USERS")
	a := w.adapter(Config{})
	require.NoError(t, a.DropTarget(bg(), "RETIRE$V_SCOTT"))
	require.Equal(t, []string{qSessionInfo, qUser}, queries(w.f))
	require.Equal(t, []string{`DROP USER "RETIRE$V_SCOTT" CASCADE`}, w.f.execs())
	require.NotContains(t, w.users, "RETIRE$V_SCOTT")
	noCallWithoutDeadline(t, w.f)

	// Already gone counts as dropped; so does a drop that races with another.
	w.f.reset()
	require.NoError(t, a.DropTarget(bg(), "retire$v_scott"))
	require.Empty(t, w.f.execs())
	w.user("RETIRE$V_SCOTT", "OPEN", "USERS")
	w.f.execHook = func(string, []any) error { return ora(oraNoUser) }
	require.NoError(t, a.DropTarget(bg(), "RETIRE$V_SCOTT"))

	// Anything without the scratch naming is refused before a session is even opened.
	w.f.reset()
	for _, name := range []string{"SCOTT", "SCOTT_COPY", "RETIRE$V_", "RETIRE_V_SCOTT", "pdb:RETIRE$V_X", "SYS", `RETIRE$V_X" CASCADE --`} {
		err := a.DropTarget(bg(), name)
		require.ErrorIs(t, err, engine.ErrRefused, name)
	}
	require.ErrorContains(t, a.DropTarget(bg(), "SCOTT"), `DROP USER "SCOTT" CASCADE`, "the DBA is told how, and does it")
	require.Empty(t, w.f.dials)
	require.Contains(t, w.users, "SCOTT")

	// An Oracle-maintained user, should one ever carry the name, is not dropped either.
	w.f.execHook = w.exec
	w.users["RETIRE$V_X"] = &wUser{status: "OPEN", defaultTS: "SYSTEM", maintained: true}
	require.ErrorIs(t, a.DropTarget(bg(), "RETIRE$V_X"), engine.ErrRefused)
	require.Contains(t, w.users, "RETIRE$V_X")
}

func TestRestoreScriptsRunSequencesFirstAndTriggersLast(t *testing.T) {
	var so archive.ScriptOrder = newWorld(t).adapter(Config{})
	before, after := so.RestoreScripts()
	require.Equal(t, []string{"sequences.sql"}, before)
	require.Equal(t, []string{"indexes.sql", "constraints.sql", "synonyms.sql", "views.sql", "routines.sql", "triggers.sql"}, after)
	require.NotContains(t, after, "jobs.sql", "a restored job would start running")
}
