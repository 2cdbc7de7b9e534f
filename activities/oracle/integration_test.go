//go:build oracle

// The integration suite runs against a real Oracle (19c, 21c, 23ai Free):
//
//	ORACLE_DSN=oracle://system:secret@localhost:1521/FREEPDB1 go test -tags oracle ./activities/oracle/
//
// The DSN's user must be able to create and drop users and tablespaces (SYSTEM in a PDB
// will do). Each test builds its own schema, tablespace and grantee and drops them at the end.
// The restore tests also start MinIO from ./bin (make tools) for the archive.
package oracle

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/sijms/go-ora/v2"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/testservices"
)

const dsnHint = "ORACLE_DSN is not set: the Oracle integration suite needs a server, e.g. " +
	"ORACLE_DSN=oracle://system:secret@localhost:1521/FREEPDB1 (docker compose up oracle)"

// oracleDSN fails the test, never skips it: a suite that silently skips proves nothing.
func oracleDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("ORACLE_DSN")
	if dsn == "" {
		t.Fatal(dsnHint)
	}
	return dsn
}

func itCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// configFromDSN turns oracle://user:pass@host:port/service into a Config.
func configFromDSN(t *testing.T, dsn string) Config {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err, "ORACLE_DSN is not a URL")
	port, _ := strconv.Atoi(u.Port())
	pw, _ := u.User.Password()
	return Config{Host: u.Hostname(), Port: port, Service: strings.TrimPrefix(u.Path, "/"), User: u.User.Username(), Password: pw,
		QueryTimeout: time.Minute, PollInterval: 100 * time.Millisecond}
}

// fixture is a schema to retire: a tablespace of its own, a table of every archived type, a
// view, a procedure, a trigger, a sequence, and a grantee with a synonym and a view on it.
type fixture struct {
	admin      *sql.DB
	cfg        Config
	owner, app string
	ts         string
	password   string
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + strings.ToUpper(hex.EncodeToString(b))
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dsn := oracleDSN(t)
	admin, err := sql.Open("oracle", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	ctx := itCtx(t)
	require.NoError(t, admin.PingContext(ctx), "Oracle is not reachable at ORACLE_DSN")
	f := &fixture{admin: admin, cfg: configFromDSN(t, dsn), owner: randomName("RT_"), password: "Pw_" + randomName("x")}
	f.app, f.ts = f.owner+"_APP", f.owner+"_DATA"
	t.Cleanup(func() {
		c := context.Background()
		for _, s := range []string{
			`DROP USER "` + f.app + `" CASCADE`, `DROP USER "` + f.owner + `" CASCADE`, `DROP USER "` + f.owner + `_COPY" CASCADE`,
			`DROP USER "` + scratchPrefix + f.owner + `" CASCADE`, `DROP USER "` + f.owner + `_R" CASCADE`,
			`DROP TABLESPACE "` + f.ts + `" INCLUDING CONTENTS AND DATAFILES`,
		} {
			_, _ = admin.ExecContext(c, s)
		}
	})
	o, a := `"`+f.owner+`"`, `"`+f.app+`"`
	f.exec(t,
		`CREATE TABLESPACE "`+f.ts+`" DATAFILE '`+strings.ToLower(f.ts)+`.dbf' SIZE 10M REUSE AUTOEXTEND ON NEXT 10M MAXSIZE 200M`,
		`CREATE USER `+o+` IDENTIFIED BY "`+f.password+`" DEFAULT TABLESPACE "`+f.ts+`" QUOTA UNLIMITED ON "`+f.ts+`"`,
		`GRANT CREATE SESSION TO `+o,
		`CREATE USER `+a+` IDENTIFIED BY "`+f.password+`"`,
		`GRANT CREATE SESSION, CREATE VIEW TO `+a,
		`CREATE TABLE `+o+`."EVERYTHING" (
			"ID" NUMBER(10) PRIMARY KEY, "AMOUNT" NUMBER, "RATIO" BINARY_FLOAT, "MEASURE" BINARY_DOUBLE,
			"BORN" DATE, "SEEN" TIMESTAMP(9), "SEEN_TZ" TIMESTAMP(6) WITH TIME ZONE, "SEEN_LTZ" TIMESTAMP(6) WITH LOCAL TIME ZONE,
			"TENURE" INTERVAL YEAR(2) TO MONTH, "WAIT" INTERVAL DAY(2) TO SECOND(6),
			"NAME" VARCHAR2(20 CHAR), "NNAME" NVARCHAR2(20), "NOTES" CLOB, "PHOTO" BLOB, "TAG" RAW(16))`,
		`INSERT INTO `+o+`."EVERYTHING" VALUES (1, 12345678901234567890123456789012345678, 0.1, BINARY_DOUBLE_NAN,
			TO_DATE('2024-02-29 13:45:59', 'YYYY-MM-DD HH24:MI:SS'), TO_TIMESTAMP('2024-02-29 13:45:59.123456789', 'YYYY-MM-DD HH24:MI:SS.FF9'),
			TO_TIMESTAMP_TZ('2024-07-01 10:00:00 Europe/Paris', 'YYYY-MM-DD HH24:MI:SS TZR'),
			TO_TIMESTAMP_TZ('2024-07-01 10:00:00 +02:00', 'YYYY-MM-DD HH24:MI:SS TZH:TZM'),
			INTERVAL '1-2' YEAR TO MONTH, INTERVAL '1 02:03:04.123456' DAY TO SECOND,
			'Zoë', N'日本', 'a' || CHR(0) || 'b', HEXTORAW('0001'), HEXTORAW('FF'))`,
		`INSERT INTO `+o+`."EVERYTHING" ("ID", "AMOUNT", "NOTES", "PHOTO") VALUES (2, 1E-130, EMPTY_CLOB(), EMPTY_BLOB())`,
		`INSERT INTO `+o+`."EVERYTHING" ("ID", "AMOUNT", "MEASURE") VALUES (3, -0.001, -BINARY_DOUBLE_INFINITY)`,
		`CREATE VIEW `+o+`."EVERYTHING_V" AS SELECT "ID", "NAME" FROM `+o+`."EVERYTHING"`,
		`CREATE SEQUENCE `+o+`."IDS" START WITH 100`,
		`CREATE OR REPLACE PROCEDURE `+o+`."TOUCH" AS BEGIN UPDATE `+o+`."EVERYTHING" SET "NAME" = "NAME"; END;`,
		`CREATE OR REPLACE TRIGGER `+o+`."EVERYTHING_BIU" BEFORE INSERT ON `+o+`."EVERYTHING" FOR EACH ROW BEGIN NULL; END;`,
		`GRANT SELECT ON `+o+`."EVERYTHING" TO `+a+` WITH GRANT OPTION`,
		`GRANT UPDATE ("NAME") ON `+o+`."EVERYTHING" TO `+a,
		`CREATE SYNONYM `+a+`."EV" FOR `+o+`."EVERYTHING"`,
		`CREATE VIEW `+a+`."EV_V" AS SELECT "ID" FROM `+o+`."EVERYTHING"`,
	)
	return f
}

func (f *fixture) exec(t *testing.T, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		_, err := f.admin.ExecContext(itCtx(t), s)
		require.NoError(t, err, s)
	}
}

func (f *fixture) adapter(t *testing.T) *Adapter {
	a, err := New(f.cfg)
	require.NoError(t, err)
	return a
}

// access is what the cut changes, read straight from the dictionary.
func (f *fixture) access(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT account_status FROM dba_users WHERE username = :1`,
		`SELECT grantee || ' ' || privilege || ' ' || grantable FROM dba_tab_privs WHERE owner = :1 ORDER BY 1`,
		`SELECT grantee || ' ' || privilege || ' ' || column_name || ' ' || grantable FROM dba_col_privs WHERE owner = :1 ORDER BY 1`,
		`SELECT t.tablespace_name || ' ' || t.status FROM dba_tablespaces t JOIN dba_users u ON u.default_tablespace = t.tablespace_name WHERE u.username = :1`,
	} {
		rows, err := f.admin.QueryContext(itCtx(t), q, f.owner)
		require.NoError(t, err)
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			b.WriteString(s + "\n")
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	return b.String()
}

func TestOracleInventory(t *testing.T) {
	f := newFixture(t)
	inv, err := f.adapter(t).Inventory(itCtx(t), f.owner)
	require.NoError(t, err)
	require.Equal(t, []string{f.ts}, inv.Tablespaces)
	require.Equal(t, []engine.Table{{Name: "EVERYTHING", Rows: 3, Bytes: inv.Tables[0].Bytes}}, inv.Tables)
	require.Equal(t, []string{"EVERYTHING_V"}, inv.Views)
	require.Equal(t, []engine.Routine{{Name: "TOUCH", Type: "PROCEDURE"}}, inv.Routines)
	require.Equal(t, []string{"EVERYTHING_BIU"}, inv.Triggers)
	require.Equal(t, []engine.Account{{User: f.app, Levels: []string{"object"}}}, inv.Accounts)
	warnings := strings.Join(inv.Warnings, "\n")
	require.Contains(t, warnings, "synonym "+f.app+".EV points at "+f.owner+".EVERYTHING")
	require.Contains(t, warnings, "view "+f.app+".EV_V depends on table "+f.owner+".EVERYTHING")
}

func TestOracleSampling(t *testing.T) {
	f := newFixture(t)
	cfg := f.cfg
	cfg.User, cfg.Password = f.owner, f.password
	client, err := New(cfg)
	require.NoError(t, err)
	c, err := client.open(itCtx(t))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Exec(itCtx(t), "SELECT 1 FROM dual")) // keep the session busy enough to be seen

	seen, err := f.adapter(t).Sessions(itCtx(t), f.owner)
	require.NoError(t, err)
	require.NotEmpty(t, seen)
	require.Equal(t, f.owner, seen[0].User)
}

func TestOracleQuiesceAndRestoreExactly(t *testing.T) {
	f := newFixture(t)
	a := f.adapter(t)
	ctx := itCtx(t)
	before := f.access(t)
	snap, err := a.SnapshotAccess(ctx, f.owner, engine.StrategyRevoke)
	require.NoError(t, err)
	require.Equal(t, before, f.access(t), "a snapshot changes nothing")

	res, err := a.Cut(ctx, snap)
	require.NoError(t, err)
	require.Equal(t, 2, res.Revoked)
	cut := f.access(t)
	require.Contains(t, cut, "LOCKED")
	require.Contains(t, cut, f.ts+" READ ONLY")
	require.NotContains(t, cut, f.app)
	_, err = a.Cut(ctx, snap)
	require.NoError(t, err, "a second cut is harmless")
	require.Equal(t, cut, f.access(t))

	require.NoError(t, a.Restore(ctx, snap))
	require.Equal(t, before, f.access(t))
	require.NoError(t, a.Restore(ctx, snap), "a second restore is harmless")
	require.Equal(t, before, f.access(t))
}

// scanAll reads a table through the adapter as the archive does.
func scanAll(t *testing.T, src engine.Source, table string) ([]engine.Column, [][][]byte) {
	t.Helper()
	rows, err := src.Scan(itCtx(t), table)
	require.NoError(t, err)
	defer rows.Close()
	cols := rows.Columns()
	dst := make([][]byte, len(cols))
	var out [][][]byte
	for rows.Next(dst) {
		r := make([][]byte, len(dst))
		for i, v := range dst {
			if v != nil {
				r[i] = append([]byte{}, v...)
			}
		}
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return cols, out
}

func TestOracleArchiveSourceAndRestore(t *testing.T) {
	f := newFixture(t)
	a := f.adapter(t)
	ctx := itCtx(t)
	snap, err := a.SnapshotAccess(ctx, f.owner, engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(ctx, snap)
	require.NoError(t, err)

	src, err := a.Source(ctx, f.owner, snap)
	require.NoError(t, err)
	defer src.Close()
	require.Equal(t, "oracle", src.Info().Engine)
	require.Equal(t, []string{"EVERYTHING"}, src.Tables())
	cols, rows := scanAll(t, src, "EVERYTHING")
	require.Len(t, rows, 3)
	text := func(r [][]byte, i int) string { return string(r[i]) }
	r1 := rows[0]
	require.Equal(t, "1", text(r1, 0))
	require.Equal(t, "12345678901234567890123456789012345678", text(r1, 1))
	require.Equal(t, "0.10000000149011612", text(r1, 2))
	require.Equal(t, "NaN", text(r1, 3))
	require.Equal(t, "2024-02-29 13:45:59", text(r1, 4))
	require.Equal(t, "2024-02-29 13:45:59.123456789", text(r1, 5))
	require.Contains(t, strings.ToUpper(text(r1, 6)), "EUROPE/PARIS")
	require.Equal(t, "2024-07-01 08:00:00.000000000 +00:00", text(r1, 7))
	require.Equal(t, "a\x00b", text(r1, 12))
	require.Equal(t, []byte{0, 1}, r1[13])
	require.Equal(t, "0."+strings.Repeat("0", 129)+"1", text(rows[1], 1), "1E-130 stays exact")
	require.NotNil(t, rows[1][12], "an empty CLOB is not NULL")
	require.Equal(t, "-Inf", text(rows[2], 3))

	ddl, err := src.TableDDL(ctx, "EVERYTHING")
	require.NoError(t, err)
	objects, err := src.ObjectDDL(ctx)
	require.NoError(t, err)
	require.Contains(t, objects["grants.sql"], `TO "`+f.app+`" WITH GRANT OPTION`)

	// Rebuild the table in another schema and read it back: every value identical.
	copyOwner := f.owner + "_COPY"
	f.exec(t, `CREATE USER "`+copyOwner+`" IDENTIFIED BY "`+f.password+`" QUOTA UNLIMITED ON "`+f.ts+`" DEFAULT TABLESPACE "`+f.ts+`"`)
	// The cut made the tablespace read-only; the copy needs to write.
	f.exec(t, `ALTER TABLESPACE "`+f.ts+`" READ WRITE`)
	require.NoError(t, a.ApplyDDL(ctx, copyOwner, ddl))
	n, err := a.RestoreTable(ctx, copyOwner, "EVERYTHING", cols, func(yield func([][]byte) error) error {
		for _, r := range rows {
			if err := yield(r); err != nil {
				return err
			}
		}
		return nil
	}, 2)
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	copySrc, err := a.Source(ctx, copyOwner, engine.AccessSnapshot{})
	require.NoError(t, err)
	_, back := scanAll(t, copySrc, "EVERYTHING")
	require.Equal(t, rows, back)
	require.NoError(t, a.Restore(ctx, snap))
}

func TestOracleDropAndVerifyGone(t *testing.T) {
	f := newFixture(t)
	a := f.adapter(t)
	ctx := itCtx(t)
	snap, err := a.SnapshotAccess(ctx, f.owner, engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(ctx, snap)
	require.NoError(t, err)
	rep, err := a.VerifyGone(ctx, f.owner, snap)
	require.NoError(t, err)
	require.False(t, rep.Gone)

	require.NoError(t, a.Drop(ctx, f.owner, snap))
	require.NoError(t, a.Drop(ctx, f.owner, snap), "already gone counts as dropped")
	rep, err = a.VerifyGone(ctx, f.owner, snap)
	require.NoError(t, err)
	require.True(t, rep.Gone, "%v", rep.Remaining)
}

func TestOracleRefusesSystemUsers(t *testing.T) {
	f := newFixture(t)
	a := f.adapter(t)
	for _, name := range []string{"SYS", "SYSTEM", "XDB", "AUDSYS", "pdb:PDB$SEED"} {
		require.ErrorIs(t, a.Validate(itCtx(t), name), engine.ErrRefused, name)
	}
}

// archivedFixture cuts the fixture's access and archives it to a real MinIO, as the workflow does
// before the restore gate, and checks the archive.
func archivedFixture(t *testing.T, f *fixture, a *Adapter) (*archive.Store, string, archive.Manifest, engine.AccessSnapshot) {
	t.Helper()
	ctx := itCtx(t)
	snap, err := a.SnapshotAccess(ctx, f.owner, engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(ctx, snap)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Restore(context.Background(), snap) })
	srv := testservices.MinIO(t)
	store, err := archive.NewStore(ctx, archive.StoreConfig{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: "retire-oracle-it"})
	require.NoError(t, err)
	require.NoError(t, store.EnsureBucket(ctx))
	path := "oracle/" + f.owner + "/it"
	src, err := a.Source(ctx, f.owner, snap)
	require.NoError(t, err)
	_, err = archive.Export(ctx, src, store, path, f.owner, archive.ExportOptions{})
	require.NoError(t, err)
	require.NoError(t, src.Close())
	v, err := archive.Verify(ctx, store, path)
	require.NoError(t, err)
	require.True(t, v.OK, "%v", v.Problems)
	m, _, err := archive.ReadManifest(ctx, store, path)
	require.NoError(t, err)
	return store, path, m, snap
}

func tableNames(m archive.Manifest) []string {
	var out []string
	for _, t := range m.Tables {
		out = append(out, t.Name)
	}
	return out
}

// The restore of the archive under another name gives identical tables (the archive's
// checksum of every row, equal to the manifest's) and the same views, routines and
// triggers, rewritten to the new owner; an existing schema is never restored into.
func TestOracleRestoreFromTheArchiveAndChecksums(t *testing.T) {
	f := newFixture(t)
	a := f.adapter(t)
	ctx := itCtx(t)
	store, path, m, _ := archivedFixture(t, f, a)
	copyOwner := f.owner + "_R"

	rr, err := archive.Restore(ctx, store, path, a, copyOwner, archive.RestoreOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, rr.Tables)
	require.EqualValues(t, 3, rr.Rows)
	want, err := a.Checksums(ctx, f.owner, tableNames(m))
	require.NoError(t, err)
	got, err := a.Checksums(ctx, copyOwner, tableNames(m))
	require.NoError(t, err)
	require.Equal(t, want, got, "restored tables differ from the source")
	require.Equal(t, m.Tables[0].Checksum, got["EVERYTHING"], "the manifest's checksum")

	source, err := a.Inventory(ctx, f.owner)
	require.NoError(t, err)
	restored, err := a.Inventory(ctx, copyOwner)
	require.NoError(t, err)
	require.Equal(t, source.Views, restored.Views)
	require.Equal(t, source.Routines, restored.Routines)
	require.Equal(t, source.Triggers, restored.Triggers)
	// The trigger is on the copy's table, not on the source's.
	var on string
	require.NoError(t, f.admin.QueryRowContext(ctx, `SELECT table_owner FROM dba_triggers WHERE owner = :1 AND trigger_name = 'EVERYTHING_BIU'`, copyOwner).Scan(&on))
	require.Equal(t, copyOwner, on)
	var invalid int
	require.NoError(t, f.admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM dba_objects WHERE owner = :1 AND status <> 'VALID'`, copyOwner).Scan(&invalid))
	require.Zero(t, invalid, "every restored object compiles")

	_, err = archive.Restore(ctx, store, path, a, copyOwner, archive.RestoreOptions{})
	require.ErrorIs(t, err, engine.ErrRefused, "an existing schema is never restored into")
	require.ErrorIs(t, a.DropTarget(ctx, copyOwner), engine.ErrRefused, "only a scratch is ever dropped")
}

// The verify-restore gate's steps: a scratch RETIRE$V_<schema> with no login and a quota
// on the database default (the schema's tablespace is read-only since the cut, and stays
// so), the same checksums as the source, then dropped.
func TestOracleVerifyRestoreGate(t *testing.T) {
	f := newFixture(t)
	a := f.adapter(t)
	ctx := itCtx(t)
	store, path, m, _ := archivedFixture(t, f, a)
	scratch, err := a.ScratchName(f.owner)
	require.NoError(t, err)
	require.NoError(t, a.DropTarget(ctx, scratch))
	_, err = archive.Restore(ctx, store, path, a, scratch, archive.RestoreOptions{})
	require.NoError(t, err)
	var auth, ts string
	require.NoError(t, f.admin.QueryRowContext(ctx, `SELECT authentication_type, default_tablespace FROM dba_users WHERE username = :1`, scratch).Scan(&auth, &ts))
	require.Equal(t, "NONE", auth, "no password login (18c+)")
	require.NotEqual(t, f.ts, ts)
	var privs int
	require.NoError(t, f.admin.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM dba_sys_privs WHERE grantee = :1) + (SELECT COUNT(*) FROM dba_role_privs WHERE grantee = :2) FROM dual`, scratch, scratch).Scan(&privs))
	require.Zero(t, privs, "nothing granted")

	want, err := a.Checksums(ctx, f.owner, tableNames(m))
	require.NoError(t, err)
	got, err := a.Checksums(ctx, scratch, tableNames(m))
	require.NoError(t, err)
	require.Equal(t, want, got)

	require.NoError(t, a.DropTarget(ctx, scratch))
	require.NoError(t, a.DropTarget(ctx, scratch), "already gone counts as dropped")
	var left int
	require.NoError(t, f.admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM dba_users WHERE username = :1`, scratch).Scan(&left))
	require.Zero(t, left)
	require.Contains(t, f.access(t), f.ts+" READ ONLY", "the cut state was left alone")
	require.ErrorIs(t, a.DropTarget(ctx, f.owner), engine.ErrRefused)
}
