package oracle

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// allTypes is a table with a column of every archived type, as dba_tab_cols describes it.
var allTypes = [][]any{
	// column_name, data_type, data_type_owner, data_length, char_length, char_used, data_precision, data_scale, nullable
	{"ID", "NUMBER", nil, "22", "0", nil, "10", "0", "N"},
	{"AMOUNT", "NUMBER", nil, "22", "0", nil, nil, nil, "Y"},
	{"RATIO", "BINARY_FLOAT", nil, "4", "0", nil, nil, nil, "Y"},
	{"MEASURE", "BINARY_DOUBLE", nil, "8", "0", nil, nil, nil, "Y"},
	{"BORN", "DATE", nil, "7", "0", nil, nil, nil, "Y"},
	{"SEEN", "TIMESTAMP(9)", nil, "11", "0", nil, nil, "9", "Y"},
	{"SEEN_TZ", "TIMESTAMP(6) WITH TIME ZONE", nil, "13", "0", nil, nil, "6", "Y"},
	{"SEEN_LTZ", "TIMESTAMP(6) WITH LOCAL TIME ZONE", nil, "11", "0", nil, nil, "6", "Y"},
	{"TENURE", "INTERVAL YEAR(2) TO MONTH", nil, "5", "0", nil, "2", "0", "Y"},
	{"WAIT", "INTERVAL DAY(2) TO SECOND(6)", nil, "11", "0", nil, "2", "6", "Y"},
	{"NAME", "VARCHAR2", nil, "80", "20", "C", nil, nil, "Y"},
	{"NNAME", "NVARCHAR2", nil, "40", "20", "C", nil, nil, "Y"},
	{"NOTES", "CLOB", nil, "4000", "0", nil, nil, nil, "Y"},
	{"PHOTO", "BLOB", nil, "4000", "0", nil, nil, nil, "Y"},
	{"TAG", "RAW", nil, "16", "0", nil, nil, nil, "Y"},
}

const allTypesSelect = `SELECT "ID", "AMOUNT", TO_BINARY_DOUBLE("RATIO"), "MEASURE", TO_CHAR("BORN", 'SYYYY-MM-DD HH24:MI:SS'), ` +
	`TO_CHAR("SEEN", 'SYYYY-MM-DD HH24:MI:SS.FF9'), TO_CHAR("SEEN_TZ", 'SYYYY-MM-DD HH24:MI:SS.FF9 TZR'), ` +
	`TO_CHAR(SYS_EXTRACT_UTC(CAST("SEEN_LTZ" AS TIMESTAMP WITH TIME ZONE)), 'SYYYY-MM-DD HH24:MI:SS.FF9'), TO_CHAR("TENURE"), TO_CHAR("WAIT"), ` +
	`"NAME", "NNAME", "NOTES", "PHOTO", "TAG", ` +
	`CASE WHEN "AMOUNT" > 0 AND "AMOUNT" < 1E-127 THEN DUMP("AMOUNT") END, ` +
	`CASE WHEN "NOTES" IS NULL THEN 0 ELSE 1 END, CASE WHEN "PHOTO" IS NULL THEN 0 ELSE 1 END ` +
	`FROM "SCOTT"."EVERYTHING"`

func sourceWorld(t *testing.T) (*world, *Adapter) {
	w := scott(t)
	w.f.on(qTables, []any{"DEPT", "65536"}, []any{"EMP", "196608"}, []any{"EVERYTHING", "0"})
	w.f.onFunc(qColumns, func(a []any) ([][]any, error) {
		switch a[1] {
		case "EVERYTHING":
			return allTypes, nil
		case "DEPT":
			return rowsOf([]any{"DEPTNO", "NUMBER", nil, "22", "0", nil, "2", "0", "N"}, []any{"DNAME", "VARCHAR2", nil, "14", "14", "B", nil, nil, "Y"}), nil
		}
		return nil, nil
	})
	return w, w.adapter(Config{LOBPrefetchRows: 3})
}

func TestSourceInfoAndTables(t *testing.T) {
	w, a := sourceWorld(t)
	src, err := a.Source(bg(), "SCOTT", engine.AccessSnapshot{})
	require.NoError(t, err)
	defer src.Close()
	require.Equal(t, engine.SourceInfo{Engine: "oracle", Version: "19.0.0.0.0", Charset: "AL32UTF8", Tablespace: "SCOTT_DATA"}, src.Info(),
		"the default tablespace travels in the manifest, for the restore")
	require.Equal(t, []string{"DEPT", "EMP", "EVERYTHING"}, src.Tables())
	require.Zero(t, w.f.open, "no session is held between calls")

	_, err = a.Source(bg(), "pdb:SALESPDB", engine.AccessSnapshot{})
	require.ErrorIs(t, err, engine.ErrRefused, "this connection is not in CDB$ROOT")
	_, err = a.Source(bg(), "SCOTT", engine.AccessSnapshot{Object: "HR"})
	require.ErrorIs(t, err, engine.ErrRefused)
}

func TestTableDDLComesFromDBMSMetadataWithItsTransforms(t *testing.T) {
	w, a := sourceWorld(t)
	w.f.onFunc(qGetDDL, func(args []any) ([][]any, error) {
		require.Equal(t, []any{"TABLE", "DEPT", "SCOTT"}, args)
		return rowsOf([]any{"\n  CREATE TABLE \"DEPT\" \n   (\t\"DEPTNO\" NUMBER(2,0), \n\t\"DNAME\" VARCHAR2(14)\n   ) ;"}), nil
	})
	src, err := a.Source(bg(), "SCOTT", engine.AccessSnapshot{})
	require.NoError(t, err)
	w.f.reset()
	ddl, err := src.TableDDL(bg(), "DEPT")
	require.NoError(t, err)
	require.Equal(t, "-- retire: schema \"SCOTT\"\nCREATE TABLE \"DEPT\" \n   (\t\"DEPTNO\" NUMBER(2,0), \n\t\"DNAME\" VARCHAR2(14)\n   ) ;\n", ddl,
		"the DDL names the schema it was printed for, so that a restore elsewhere can rewrite it")
	sqls := sqlsOf(w.f)
	require.Equal(t, []string{qTransforms, qGetDDL}, sqls, "the transforms are set on the same session first")
	for _, p := range []string{"'SQLTERMINATOR', TRUE", "'STORAGE', FALSE", "'SEGMENT_ATTRIBUTES', FALSE", "'REF_CONSTRAINTS', FALSE", "'EMIT_SCHEMA', FALSE"} {
		require.Contains(t, qTransforms, p)
	}
	_, err = src.TableDDL(bg(), `DEPT" ; DROP`)
	require.ErrorIs(t, err, engine.ErrRefused)
	noCallWithoutDeadline(t, w.f)
}

func TestObjectDDLFiles(t *testing.T) {
	w, a := sourceWorld(t)
	w.f.on(qViews, []any{"EMP_V"})
	w.f.on(qPLSQLObjects, []any{"ADDR_T", "TYPE"}, []any{"PAY", "PACKAGE"})
	w.f.on(qTriggers, []any{"EMP_BIU"})
	w.f.on(qSequences, []any{"EMP_SEQ"})
	w.f.on(qIndexes, []any{"EMP_NAME_IX", "EMP"}, []any{"BIN$IX", "BIN$XYZ"})
	w.f.on(qOwnSynonyms)
	w.f.on(qRefConstraintTables, []any{"EMP"})
	w.f.on(qJobs, []any{"NIGHTLY"})
	w.f.onFunc(qGetDDL, func(a []any) ([][]any, error) {
		return rowsOf([]any{"CREATE " + a[0].(string) + " " + a[1].(string) + ";"}), nil
	})
	w.f.onFunc(qGetDependentDDL, func(a []any) ([][]any, error) {
		require.Equal(t, []any{"REF_CONSTRAINT", "EMP", "SCOTT"}, a)
		return rowsOf([]any{`ALTER TABLE "EMP" ADD CONSTRAINT "FK_DEPTNO" FOREIGN KEY ("DEPTNO") REFERENCES "DEPT" ("DEPTNO") ENABLE;`}), nil
	})
	snap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(bg(), snap)
	require.NoError(t, err)
	src, err := a.Source(bg(), "SCOTT", snap)
	require.NoError(t, err)

	files, err := src.ObjectDDL(bg())
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"views.sql", "routines.sql", "triggers.sql", "sequences.sql", "indexes.sql", "synonyms.sql",
		"constraints.sql", "jobs.sql", "events.sql", "grants.sql"}, keys(files))
	require.Contains(t, files["views.sql"], "-- retire: schema \"SCOTT\"\nCREATE VIEW EMP_V;", "the schema the DDL was printed for, for a restore elsewhere")
	require.Contains(t, files["routines.sql"], "CREATE TYPE ADDR_T;\n\nCREATE PACKAGE PAY;")
	require.Contains(t, files["indexes.sql"], "CREATE INDEX EMP_NAME_IX;")
	require.NotContains(t, files["indexes.sql"], "BIN$", "indexes of tables not exported are left out")
	require.Contains(t, files["constraints.sql"], `FOREIGN KEY ("DEPTNO")`)
	require.Contains(t, files["jobs.sql"], "NOT replayed")
	// The grants were revoked by the cut: they come from the snapshot.
	require.Contains(t, files["grants.sql"], `GRANT SELECT ON "SCOTT"."EMP" TO "APP" WITH GRANT OPTION;`)
	require.Contains(t, files["grants.sql"], `GRANT UPDATE ("COMM", "SAL") ON "SCOTT"."EMP" TO "REPORTS";`)
	noCallWithoutDeadline(t, w.f)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestScanSelectsExactTextAndStreamsRows(t *testing.T) {
	w, a := sourceWorld(t)
	tinyDump := "Typ=2 Len=2: 128,2"
	w.f.onPrefix("SELECT ", func([]any) ([][]any, error) {
		return rowsOf(
			// What go-ora hands database/sql for each select item.
			[]any{"1", "12345678901234567890123456789012345678", 0.10000000149011612, 1e308, " 2024-02-29 13:45:59", " 2024-02-29 13:45:59.123456789",
				" 2024-07-01 10:00:00.000000000 EUROPE/PARIS", " 2024-07-01 08:00:00.000000000", "+01-02", "+01 02:03:04.123456",
				"Zoë", "日本", "a\x00b", []byte{0, 1}, []byte{0xff}, nil, int64(1), int64(1)},
			// go-ora reads 1e-130 as 0 and empty LOBs as NULL; the fix-up columns say otherwise.
			[]any{"2", "0", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, tinyDump, int64(1), int64(1)},
			[]any{"3", nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, int64(0), int64(0)},
		), nil
	})
	src, err := a.Source(bg(), "SCOTT", engine.AccessSnapshot{})
	require.NoError(t, err)
	w.f.reset()
	rows, err := src.Scan(bg(), "EVERYTHING")
	require.NoError(t, err)
	cols := rows.Columns()
	require.Len(t, cols, 15)
	require.Equal(t, engine.Column{Name: "ID", Type: "NUMBER(10)", Kind: engine.KindInt64}, cols[0])
	require.Equal(t, engine.Column{Name: "NAME", Type: "VARCHAR2(20 CHAR)", Kind: engine.KindText, Nullable: true}, cols[10])

	dst := make([][]byte, len(cols))
	var got [][]string
	for rows.Next(dst) {
		var r []string
		for _, v := range dst {
			if v == nil {
				r = append(r, "NULL")
			} else {
				r = append(r, string(v))
			}
		}
		got = append(got, r)
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, []string{"1", "12345678901234567890123456789012345678", "0.10000000149011612", "1e+308", "2024-02-29 13:45:59",
		"2024-02-29 13:45:59.123456789", "2024-07-01 10:00:00.000000000 EUROPE/PARIS", "2024-07-01 08:00:00.000000000 +00:00",
		"+01-02", "+01 02:03:04.123456", "Zoë", "日本", "a\x00b", "\x00\x01", "\xff"}, got[0])
	require.Equal(t, "0."+strings.Repeat("0", 129)+"1", got[1][1], "the DUMP fix-up")
	require.Equal(t, "", got[1][12], "an empty CLOB is empty, not NULL")
	require.Equal(t, "", got[1][13], "an empty BLOB is empty, not NULL")
	require.Equal(t, "NULL", got[2][12])
	require.Equal(t, "NULL", got[2][1])

	var scans []string
	for _, c := range w.f.calls {
		if strings.Contains(c.SQL, `FROM "SCOTT"."EVERYTHING"`) {
			scans = append(scans, c.SQL)
		}
	}
	require.Equal(t, []string{allTypesSelect}, scans)
	require.Equal(t, []connOptions{{}, {PrefetchRows: 3}}, w.f.dials, "LOB tables are fetched a few rows at a time")
	require.Zero(t, w.f.open)

	// A table without LOBs lets go-ora size its fetches.
	w.f.reset()
	rows, err = src.Scan(bg(), "DEPT")
	require.NoError(t, err)
	require.NoError(t, rows.Close())
	require.Equal(t, []connOptions{{}, {}}, w.f.dials)
}

func TestScanRefusesWhatTheArchiveCannotHold(t *testing.T) {
	w, a := sourceWorld(t)
	w.f.onFunc(qColumns, func([]any) ([][]any, error) {
		return rowsOf([]any{"ADDR", "ADDRESS_T", "SCOTT", "1", "0", nil, nil, nil, "Y"}), nil
	})
	src, err := a.Source(bg(), "SCOTT", engine.AccessSnapshot{})
	require.NoError(t, err)
	_, err = src.Scan(bg(), "EMP")
	require.ErrorIs(t, err, engine.ErrRefused)
	require.ErrorContains(t, err, "object type SCOTT.ADDRESS_T")
	_, err = src.Scan(bg(), "NOT_A_TABLE")
	require.ErrorIs(t, err, engine.ErrRefused)
}

func TestScanStopsEarlyWithoutReadingTheRest(t *testing.T) {
	w, a := sourceWorld(t)
	w.f.onPrefix("SELECT ", func([]any) ([][]any, error) { return rowsOf([]any{"10", "A"}, []any{"20", "B"}), nil })
	src, err := a.Source(bg(), "SCOTT", engine.AccessSnapshot{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(bg())
	defer cancel()
	rows, err := src.Scan(ctx, "DEPT")
	require.NoError(t, err)
	dst := make([][]byte, 2)
	require.True(t, rows.Next(dst))
	require.Equal(t, "10", string(dst[0]))
	require.NoError(t, rows.Close(), "closing early is not an error")
	require.False(t, rows.Next(dst))
	require.Zero(t, w.f.open)
}

func TestOfflineTablespacesAreReadableForTheArchive(t *testing.T) {
	w := scott(t)
	w.f.on(qTables)
	a := w.adapter(Config{TablespaceMode: "offline"})
	snap, err := a.SnapshotAccess(bg(), "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(bg(), snap)
	require.NoError(t, err)
	w.f.reset()
	_, err = a.Source(bg(), "SCOTT", snap)
	require.NoError(t, err)
	require.Equal(t, []string{
		`ALTER TABLESPACE "SCOTT_DATA" ONLINE`, `ALTER TABLESPACE "SCOTT_DATA" READ ONLY`, `ALTER TABLESPACE "SCOTT_HIST" ONLINE`,
	}, w.f.changes())
	require.Equal(t, "READ ONLY", w.status("SCOTT_DATA"))

	// A restore after the archive still puts back what was there before.
	require.NoError(t, a.Restore(bg(), snap))
	require.Equal(t, "ONLINE", w.status("SCOTT_DATA"))
	require.Equal(t, "READ ONLY", w.status("SCOTT_HIST"))
}
