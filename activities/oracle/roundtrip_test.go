package oracle

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	go_ora "github.com/sijms/go-ora/v2"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/testservices"
)

// These tests put the scripted server's rows through the real archive: Export writes
// Parquet to a real MinIO, Verify reads it back, Restore loads it through the Loader side
// of the adapter, and the test reads the bind values the INSERTs got.

func minioStore(t *testing.T) *archive.Store {
	t.Helper()
	srv := testservices.MinIO(t)
	s, err := archive.NewStore(t.Context(), archive.StoreConfig{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Bucket: "retire-oracle"})
	require.NoError(t, err)
	require.NoError(t, s.EnsureBucket(t.Context()))
	return s
}

// everyType is a table with a column of every Oracle type the archive holds.
var everyType = [][]any{
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
	{"CODE", "CHAR", nil, "4", "4", "B", nil, nil, "Y"},
	{"NAME", "VARCHAR2", nil, "80", "20", "C", nil, nil, "Y"},
	{"NCODE", "NCHAR", nil, "6", "3", "C", nil, nil, "Y"},
	{"NNAME", "NVARCHAR2", nil, "40", "20", "C", nil, nil, "Y"},
	{"NOTES", "CLOB", nil, "4000", "0", nil, nil, nil, "Y"},
	{"NNOTES", "NCLOB", nil, "4000", "0", nil, nil, nil, "Y"},
	{"PHOTO", "BLOB", nil, "4000", "0", nil, nil, nil, "Y"},
	{"TAG", "RAW", nil, "16", "0", nil, nil, nil, "Y"},
}

// everyTypeRows are what go-ora hands database/sql for the scan's select items (the
// columns, then the fix-ups of AMOUNT, NOTES, NNOTES and PHOTO).
var everyTypeRows = [][]any{
	{"1", "12345678901234567890123456789012345678", 0.10000000149011612, math.NaN(), " 2024-02-29 13:45:59", " 2024-02-29 13:45:59.123456789",
		" 2024-07-01 10:00:00.000000000 EUROPE/PARIS", " 2024-07-01 08:00:00.000000000", "+01-02", "+01 02:03:04.123456",
		"ab  ", "Zoë", go_ora.NVarChar("日本 "), go_ora.NVarChar("日本"), "a\x00b", "ñ", []byte{0, 1}, []byte{0xff},
		nil, int64(1), int64(1), int64(1)},
	// 1E-130 (go-ora reads 0; DUMP says otherwise), -Inf, BC dates, negative intervals, an
	// empty CLOB (go-ora reads NULL; the fix-up says empty), NULLs.
	{"2", "0", -3.4028234663852886e+38, math.Inf(-1), "-4712-01-01 00:00:00", "-0001-12-31 23:59:59.000000001",
		" 2024-01-01 00:00:00.000000000 -03:30", nil, "-00-01", "-00 00:00:00.000001",
		nil, "", nil, nil, nil, nil, nil, nil,
		"Typ=2 Len=2: 128,2", int64(1), int64(0), int64(0)},
}

const everyTypeInsert = `INSERT INTO "SCOTT_COPY"."EVERYTHING" ("ID", "AMOUNT", "RATIO", "MEASURE", "BORN", "SEEN", "SEEN_TZ", "SEEN_LTZ", "TENURE", "WAIT", ` +
	`"CODE", "NAME", "NCODE", "NNAME", "NOTES", "NNOTES", "PHOTO", "TAG") VALUES (:1, :2, TO_BINARY_FLOAT(:3), TO_BINARY_DOUBLE(:4), ` +
	`TO_DATE(:5, 'SYYYY-MM-DD HH24:MI:SS'), TO_TIMESTAMP(:6, 'SYYYY-MM-DD HH24:MI:SS.FF9'), TO_TIMESTAMP_TZ(:7, 'SYYYY-MM-DD HH24:MI:SS.FF9 TZR'), ` +
	`TO_TIMESTAMP_TZ(:8, 'SYYYY-MM-DD HH24:MI:SS.FF9 TZR'), TO_YMINTERVAL(:9), TO_DSINTERVAL(:10), :11, :12, :13, :14, `

// everyTypeWorld is SCOTT with the one table EVERYTHING.
func everyTypeWorld(t *testing.T) (*world, *Adapter) {
	w := scott(t)
	w.f.on(qTables, []any{"EVERYTHING", "0"})
	w.f.on(qColumns, everyType...)
	w.f.onPrefix(`SELECT "ID", "AMOUNT", TO_BINARY_DOUBLE("RATIO")`, func([]any) ([][]any, error) { return everyTypeRows, nil })
	// DDL as a server without the EMIT_SCHEMA transform prints it: the restore renames it.
	w.f.on(qGetDDL, []any{`CREATE TABLE "SCOTT"."EVERYTHING" ("ID" NUMBER(10,0) NOT NULL ENABLE) ;`})
	for _, query := range []string{qPLSQLObjects, qSequences, qIndexes, qOwnSynonyms, qRefConstraintTables} {
		w.f.on(query)
	}
	return w, w.adapter(Config{})
}

func TestEveryOracleTypeRoundTripsThroughTheArchiveIntoLoadTableBinds(t *testing.T) {
	w, a := everyTypeWorld(t)
	store := minioStore(t)
	ctx := t.Context()
	const path = "oracle/SCOTT/run-1"

	src, err := a.Source(ctx, "SCOTT", engine.AccessSnapshot{})
	require.NoError(t, err)
	res, err := archive.Export(ctx, src, store, path, "SCOTT", archive.ExportOptions{})
	require.NoError(t, err)
	require.NoError(t, src.Close())
	require.EqualValues(t, 2, res.Rows)
	v, err := archive.Verify(ctx, store, path)
	require.NoError(t, err)
	require.True(t, v.OK, "%v", v.Problems)

	// The source's checksum, computed the Loader way, is the manifest's.
	m, _, err := archive.ReadManifest(ctx, store, path)
	require.NoError(t, err)
	require.Equal(t, "SCOTT_DATA", m.Source.Tablespace)
	sums, err := a.Checksums(ctx, "SCOTT", []string{"EVERYTHING"})
	require.NoError(t, err)
	require.Equal(t, m.Tables[0].Checksum, sums["EVERYTHING"])

	w.f.reset()
	rr, err := archive.Restore(ctx, store, path, a, "SCOTT_COPY", archive.RestoreOptions{})
	require.NoError(t, err)
	require.EqualValues(t, 2, rr.Rows)
	require.Equal(t, []string{"sequences.sql", "indexes.sql", "constraints.sql", "synonyms.sql", "views.sql", "routines.sql", "triggers.sql"}, rr.Scripts)

	var inserts []call
	var ddl []string
	for _, c := range w.f.calls {
		switch {
		case c.Exec && strings.HasPrefix(c.SQL, "INSERT"):
			inserts = append(inserts, c)
		case c.Exec && strings.HasPrefix(c.SQL, "CREATE"):
			ddl = append(ddl, c.SQL)
		}
	}
	require.Equal(t, []string{
		`CREATE USER "SCOTT_COPY" NO AUTHENTICATION DEFAULT TABLESPACE "SCOTT_DATA" QUOTA UNLIMITED ON "SCOTT_DATA"`,
		`CREATE TABLE "SCOTT_COPY"."EVERYTHING" ("ID" NUMBER(10,0) NOT NULL ENABLE)`,
	}, ddl, "the schema's own tablespace still exists and is writable here; the DDL is renamed")
	require.Len(t, inserts, 2, "the row with an empty CLOB goes alone")
	require.Equal(t, everyTypeInsert+`:15, :16, :17, :18)`, inserts[0].SQL)
	require.Equal(t, everyTypeInsert+`EMPTY_CLOB(), :15, :16, :17)`, inserts[1].SQL)

	one := func(c call, i int) any {
		vals := c.Args[i].([]any)
		require.Len(t, vals, 1)
		return vals[0]
	}
	number := func(v any) string {
		s, err := v.(*go_ora.Number).String()
		require.NoError(t, err)
		return s
	}
	r1 := inserts[0]
	require.Equal(t, int64(1), one(r1, 0))
	require.Equal(t, "12345678901234567890123456789012345678", number(one(r1, 1)))
	require.Equal(t, "0.10000000149011612", one(r1, 2), "BINARY_FLOAT, exact through the widened double")
	require.Equal(t, "NaN", one(r1, 3))
	require.Equal(t, "2024-02-29 13:45:59", one(r1, 4))
	require.Equal(t, "2024-02-29 13:45:59.123456789", one(r1, 5), "nanoseconds")
	require.Equal(t, "2024-07-01 10:00:00.000000000 EUROPE/PARIS", one(r1, 6), "the region, not an offset")
	require.Equal(t, "2024-07-01 08:00:00.000000000 +00:00", one(r1, 7), "LTZ in UTC")
	require.Equal(t, "+01-02", one(r1, 8))
	require.Equal(t, "+01 02:03:04.123456", one(r1, 9))
	require.Equal(t, "ab  ", one(r1, 10), "CHAR keeps its padding")
	require.Equal(t, "Zoë", one(r1, 11))
	require.Equal(t, go_ora.NVarChar("日本 "), one(r1, 12))
	require.Equal(t, go_ora.NVarChar("日本"), one(r1, 13))
	require.Equal(t, go_ora.Clob{String: "a\x00b", Valid: true}, one(r1, 14))
	require.Equal(t, go_ora.NClob{String: "ñ", Valid: true}, one(r1, 15))
	require.Equal(t, go_ora.Blob{Data: []byte{0, 1}}, one(r1, 16))
	require.Equal(t, []byte{0xff}, one(r1, 17))

	r2 := inserts[1]
	require.Len(t, r2.Args, 17, "the empty CLOB is a literal, not a bind")
	require.Equal(t, int64(2), r2.Args[0])
	// 1E-130 exact: Oracle's own bytes for it, as DUMP printed them (go-ora's decoder, which
	// String uses, reads them as 0: the bug the DUMP fix-up works around).
	require.Equal(t, "{[128 2]}", fmt.Sprint(*r2.Args[1].(*go_ora.Number)))
	require.Equal(t, "-3.4028234663852886e+38", r2.Args[2])
	require.Equal(t, "-INF", r2.Args[3])
	require.Equal(t, "-4712-01-01 00:00:00", r2.Args[4], "4712 BC")
	require.Equal(t, "-0001-12-31 23:59:59.000000001", r2.Args[5])
	require.Equal(t, "2024-01-01 00:00:00.000000000 -03:30", r2.Args[6])
	require.Nil(t, r2.Args[7])
	require.Equal(t, "-00-01", r2.Args[8])
	require.Equal(t, "-00 00:00:00.000001", r2.Args[9])
	require.Nil(t, r2.Args[10])
	require.Equal(t, "", r2.Args[11], "an empty VARCHAR2 as go-ora gives it")
	for i := 12; i < 17; i++ {
		require.Nil(t, r2.Args[i], i)
	}
	noCallWithoutDeadline(t, w.f)
}

// TestVerifyRestoreGateSteps runs what activities.TestRestore does with an Oracle
// connection, step by step: scratch name, clear a leftover, restore, compare, drop.
func TestVerifyRestoreGateSteps(t *testing.T) {
	w, a := everyTypeWorld(t)
	ctx := t.Context()
	snap, err := a.SnapshotAccess(ctx, "SCOTT", engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(ctx, snap)
	require.NoError(t, err)
	store := minioStore(t)
	const path = "oracle/SCOTT/run-2"
	src, err := a.Source(ctx, "SCOTT", snap)
	require.NoError(t, err)
	_, err = archive.Export(ctx, src, store, path, "SCOTT", archive.ExportOptions{})
	require.NoError(t, err)
	m, _, err := archive.ReadManifest(ctx, store, path)
	require.NoError(t, err)

	w.f.reset()
	before := w.state()
	scratch, err := a.ScratchName("SCOTT")
	require.NoError(t, err)
	require.NoError(t, a.DropTarget(ctx, scratch), "no leftover: nothing to drop")
	_, err = archive.Restore(ctx, store, path, a, scratch, archive.RestoreOptions{})
	require.NoError(t, err)
	want, err := a.Checksums(ctx, "SCOTT", []string{"EVERYTHING"})
	require.NoError(t, err)
	got, err := a.Checksums(ctx, scratch, []string{"EVERYTHING"})
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, m.Tables[0].Checksum, got["EVERYTHING"], "and both are the manifest's")
	require.NoError(t, a.DropTarget(ctx, scratch))

	changes := w.f.changes()
	require.Equal(t, `CREATE USER "RETIRE$V_SCOTT" NO AUTHENTICATION DEFAULT TABLESPACE "USERS" QUOTA UNLIMITED ON "USERS"`, changes[0],
		"SCOTT_DATA is read-only since the cut: the scratch goes to the database default")
	require.Equal(t, `DROP USER "RETIRE$V_SCOTT" CASCADE`, changes[len(changes)-1])
	for _, c := range changes {
		require.NotContains(t, c, `"SCOTT".`, "nothing was created against the source")
		require.False(t, strings.HasPrefix(c, "ALTER TABLESPACE"), "the cut state is left alone: %s", c)
	}
	require.Equal(t, before, w.state(), "the source's access state is as the cut left it, the scratch gone")

	// A value that did not come back shows as a different checksum.
	w.f.onPrefix(`SELECT "ID", "AMOUNT", TO_BINARY_DOUBLE("RATIO"), "MEASURE", TO_CHAR("BORN", 'SYYYY-MM-DD HH24:MI:SS'), TO_CHAR("SEEN", 'SYYYY-MM-DD HH24:MI:SS.FF9'), TO_CHAR("SEEN_TZ", 'SYYYY-MM-DD HH24:MI:SS.FF9 TZR'), TO_CHAR(SYS_EXTRACT_UTC(CAST("SEEN_LTZ" AS TIMESTAMP WITH TIME ZONE)), 'SYYYY-MM-DD HH24:MI:SS.FF9'), TO_CHAR("TENURE"), TO_CHAR("WAIT"), "CODE", "NAME", "NCODE", "NNAME", "NOTES", "NNOTES", "PHOTO", "TAG", CASE WHEN "AMOUNT" > 0 AND "AMOUNT" < 1E-127 THEN DUMP("AMOUNT") END, CASE WHEN "NOTES" IS NULL THEN 0 ELSE 1 END, CASE WHEN "NNOTES" IS NULL THEN 0 ELSE 1 END, CASE WHEN "PHOTO" IS NULL THEN 0 ELSE 1 END FROM "RETIRE$V_SCOTT"`,
		func([]any) ([][]any, error) {
			rows := [][]any{slices.Clone(everyTypeRows[0]), everyTypeRows[1]}
			rows[0][6] = " 2024-07-01 10:00:00.000000000 +02:00" // the region lost
			return rows, nil
		})
	w.user("RETIRE$V_SCOTT", "OPEN", "USERS")
	got, err = a.Checksums(ctx, scratch, []string{"EVERYTHING"})
	require.NoError(t, err)
	require.NotEqual(t, want, got)
}
