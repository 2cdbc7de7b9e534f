package archive

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	osexec "os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/testservices"
)

// These tests run the archive against the real MariaDB source (activities/mysql) and a
// real MinIO.

// mysqlDB creates a database of the test's own, dropped at the end.
func mysqlDB(t *testing.T, root *sql.DB, what string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	db := "rt_arc_" + what + "_" + hex.EncodeToString(b)
	exec(t, root, "CREATE DATABASE "+db+" CHARACTER SET utf8mb4")
	t.Cleanup(func() { _, _ = root.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	return db
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		_, err := db.ExecContext(context.Background(), q)
		require.NoError(t, err, q)
	}
}

func openSource(t *testing.T, db string) engine.Source {
	t.Helper()
	src, err := mysqlAdapter(t).Source(t.Context(), db, engine.AccessSnapshot{})
	require.NoError(t, err)
	t.Cleanup(func() { src.Close() })
	return src
}

// scanAll reads a table with a fresh Scan of the source: the values restore must get back.
func scanAll(t *testing.T, src engine.Source, table string) [][][]byte {
	t.Helper()
	rows, err := src.Scan(t.Context(), table)
	require.NoError(t, err)
	defer rows.Close()
	var out [][][]byte
	dst := make([][]byte, len(rows.Columns()))
	for rows.Next(dst) {
		out = append(out, cloneRow(dst))
	}
	require.NoError(t, rows.Err())
	return out
}

func cloneRow(row [][]byte) [][]byte {
	c := make([][]byte, len(row))
	for i, v := range row {
		if v != nil {
			c[i] = append([]byte{}, v...)
		}
	}
	return c
}

// independentSum is the RowSum and row count of a whole-table scan of the source, without
// chunks and without Parquet.
func independentSum(t *testing.T, src engine.Source, table string) (string, int64) {
	t.Helper()
	rows, err := src.Scan(t.Context(), table)
	require.NoError(t, err)
	defer rows.Close()
	var sum RowSum
	var n int64
	dst := make([][]byte, len(rows.Columns()))
	for rows.Next(dst) {
		require.NoError(t, sum.AddRow(dst))
		n++
	}
	require.NoError(t, rows.Err())
	return sum.String(), n
}

func readBack(t *testing.T, s *Store, path string, table TableResult) [][][]byte {
	t.Helper()
	var out [][][]byte
	require.NoError(t, ReadTable(t.Context(), s, path, table, func(row [][]byte) error {
		out = append(out, cloneRow(row))
		return nil
	}))
	return out
}

func tableOf(t *testing.T, m Manifest, name string) TableResult {
	t.Helper()
	i := slices.IndexFunc(m.Tables, func(r TableResult) bool { return r.Name == name })
	require.GreaterOrEqual(t, i, 0, name)
	return m.Tables[i]
}

func mustVerify(t *testing.T, s *Store, path string) Verification {
	t.Helper()
	v, err := Verify(t.Context(), s, path)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)
	return v
}

// Every MariaDB type and edge value goes through Export (the real source, several chunks),
// Parquet and the manifest, and ReadTable gives back byte for byte what a fresh scan of
// the source gives.
func TestMySQLTypeTorture(t *testing.T) {
	root := testservices.MariaDB(t)
	s, _ := testStore(t)
	db := mysqlDB(t, root, "torture")
	exec(t, root, "CREATE TABLE "+db+`.t (
		id INT NOT NULL PRIMARY KEY,
		ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, izf INT(6) ZEROFILL,
		bi BIGINT, bu BIGINT UNSIGNED,
		d65 DECIMAL(65,30), d12 DECIMAL(12,2), d5 DECIMAL(5,0), d38 DECIMAL(38,10), d20u DECIMAL(20,0) UNSIGNED, dzf DECIMAL(6,2) ZEROFILL,
		f FLOAT, f74 FLOAT(7,4), dbl DOUBLE, d102 DOUBLE(10,2),
		b1 BIT(1), b7 BIT(7), b64 BIT(64),
		d DATE, dt DATETIME(6), dt0 DATETIME, ts TIMESTAMP(6) NULL, tm TIME(6), tm0 TIME, y YEAR,
		l1 VARCHAR(20) CHARACTER SET latin1, ch CHAR(10) CHARACTER SET latin1, u8 VARCHAR(40) CHARACTER SET utf8mb4, tx TEXT, ltx LONGTEXT CHARACTER SET utf8mb4,
		bin BINARY(4), vb VARBINARY(10), bl BLOB,
		en ENUM('','a','b'), st SET('a','b','c'), js JSON, geo GEOMETRY, pt POINT,
		gv INT AS (id + 1) VIRTUAL, gs VARCHAR(50) AS (CONCAT(u8, '!')) STORED
	) CHARACTER SET utf8mb4`)
	cols := "id,ti,tu,si,mi,i,iu,izf,bi,bu,d65,d12,d5,d38,d20u,dzf,f,f74,dbl,d102,b1,b7,b64,d,dt,dt0,ts,tm,tm0,y,l1,ch,u8,tx,ltx,bin,vb,bl,en,st,js,geo,pt"
	exec(t, root, "SET STATEMENT sql_mode = '', time_zone = '+00:00' FOR INSERT INTO "+db+".t ("+cols+`) VALUES
		(1, 127, 255, 32767, 16777215, 2147483647, 4294967295, 42, 9223372036854775807, 18446744073709551615,
		 '99999999999999999999999999999999999.999999999999999999999999999999', 9999999999.99, 99999, '9999999999999999999999999999.9999999999', 99999999999999999999, 12.5,
		 1.2345678, 123.4567, 1.7976931348623157e308, 12345678.91,
		 b'1', b'1111111', b'1111111111111111111111111111111111111111111111111111111111111111',
		 '9999-12-31', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999', '838:59:59.000000', '838:59:59', 2155,
		 'café é', 'àéîõü', 'emoji 😀 tab	here', 'line1\nline2\\back\r\0nul', REPEAT('ü😀', 5000),
		 X'FFFFFFFF', X'00FF005C0A09', X'00010200FF', 'b', 'a,c', '{"k": "ü", "n": [1, 2.5], "e": "😀"}', ST_GeomFromText('LINESTRING(0 0, 1 1)'), ST_GeomFromText('POINT(1 2)')),
		(2, -128, 0, -32768, 0, -2147483648, 0, 0, -9223372036854775808, 0,
		 '-99999999999999999999999999999999999.999999999999999999999999999999', -9999999999.99, -99999, '-9999999999999999999999999999.9999999999', 0, 0,
		 -3.4028234e38, -999.9999, -0.0, -0.01,
		 b'0', b'0', b'0',
		 '0000-00-00', '0000-00-00 00:00:00.000000', '0000-00-00 00:00:00', '1970-01-01 00:00:01.000000', '-838:59:59.000000', '-00:00:01', 1901,
		 '', '', '', '', '',
		 X'00000000', X'', X'', '', '', 'null', ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POINT(-1.5 1e-30)')),
		(3, 0, 1, 0, 1, 0, 1, 7, 0, 9223372036854775808,
		 '0.000000000000000000000000000001', 0.00, 0, '0.0000000001', 1, 0.01,
		 16777216, 0.0001, 0.1, 0,
		 b'1', b'1010101', b'1000000000000000000000000000000000000000000000000000000000000001',
		 '2020-00-15', '2020-02-00 12:00:00.5', '2024-02-29 23:59:59', NULL, '00:00:00.000001', '-838:59:59', 0,
		 ' é ', 'é', '  trailing  ', '\t', NULL,
		 X'00', X'5C', X'00', 'a', 'a,b,c', '[]', NULL, NULL),
		(4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		 NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`)

	src := openSource(t, db)
	want := scanAll(t, src, "t")
	require.Len(t, want, 4)
	// ChunkRows 1 splits even this table (by its integer key): several parts, several scans.
	res, err := Export(t.Context(), src, s, testPath, db, ExportOptions{ChunkRows: 1})
	require.NoError(t, err)
	tbl := tableOf(t, res.Manifest, "t")
	require.Greater(t, len(tbl.Files), 1, "chunked")
	require.Equal(t, want, readBack(t, s, testPath, tbl), "ReadTable gives back the source's values")
	mustVerify(t, s, testPath)
	m, _, err := ReadManifest(t.Context(), s, testPath)
	require.NoError(t, err)
	require.Equal(t, "utf-8", m.TextEncoding)
	require.Equal(t, "+00:00", m.Source.TimeZone)
	require.Equal(t, "mariadb", m.Source.Engine)

	// The manifest says how each column is stored, and which are generated.
	enc := map[string]string{}
	gen := map[string]bool{}
	for _, c := range tbl.Columns {
		enc[c.Name] = c.Encoding
		gen[c.Name] = c.Generated
	}
	require.Equal(t, map[string]string{
		"id": "int64", "ti": "int64", "tu": "int64", "si": "int64", "mi": "int64", "i": "int64", "iu": "int64", "izf": "int64",
		"bi": "int64", "bu": "uint64",
		"d65": "text", "d12": "decimal(12,2)", "d5": "decimal(5,0)", "d38": "decimal(38,10)", "d20u": "decimal(20,0)", "dzf": "text",
		"f": "float", "f74": "float", "dbl": "double", "d102": "double",
		"b1": "bytes", "b7": "bytes", "b64": "bytes",
		"d": "text", "dt": "text", "dt0": "text", "ts": "text", "tm": "text", "tm0": "text", "y": "text",
		"l1": "text", "ch": "text", "u8": "text", "tx": "text", "ltx": "text",
		"bin": "bytes", "vb": "bytes", "bl": "bytes",
		"en": "text", "st": "text", "js": "text", "geo": "bytes", "pt": "bytes",
		"gv": "int64", "gs": "text",
	}, enc)
	require.Equal(t, map[string]bool{"gv": true, "gs": true}, mapTrue(gen))
	require.Equal(t, "decimal(65,30)", tbl.Columns[slices.IndexFunc(tbl.Columns, func(c Column) bool { return c.Name == "d65" })].Type)

	// The Parquet types, as parquet-go reads the schema of a part.
	data := get(t, s, testPath+tbl.Files[0].Key)
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	types := map[string]string{}
	for i, field := range f.Schema().Fields() {
		typ := field.Type()
		lt := "-"
		if l := typ.LogicalType(); l != nil {
			lt = l.String()
		}
		types[field.Name()] = typ.Kind().String() + " " + lt
		checkParquetType(t, tbl.Columns[i], typ)
	}
	require.Equal(t, "INT64 INT(64,true)", types["bi"])
	require.Equal(t, "INT64 INT(64,false)", types["bu"])
	require.Equal(t, "INT64 DECIMAL(12,2)", types["d12"])
	require.Equal(t, "INT32 DECIMAL(5,0)", types["d5"])
	require.Equal(t, "FIXED_LEN_BYTE_ARRAY DECIMAL(38,10)", types["d38"])
	require.Equal(t, "FIXED_LEN_BYTE_ARRAY DECIMAL(20,0)", types["d20u"])
	require.Equal(t, "BYTE_ARRAY STRING", types["d65"])
	require.Equal(t, "FLOAT -", types["f"])
	require.Equal(t, "DOUBLE -", types["dbl"])
	require.Equal(t, "BYTE_ARRAY -", types["b64"])
	require.Equal(t, "BYTE_ARRAY STRING", types["dt"])

	// And the values are the server's, where the server's text is exact.
	got := readBack(t, s, testPath, tbl)
	col := func(name string) int {
		return slices.IndexFunc(tbl.Columns, func(c Column) bool { return c.Name == name })
	}
	v := func(row int, name string) string { return string(got[row][col(name)]) }
	require.Equal(t, "18446744073709551615", v(0, "bu"))
	require.Equal(t, "99999999999999999999999999999999999.999999999999999999999999999999", v(0, "d65"))
	require.Equal(t, "-99999999999999999999999999999999999.999999999999999999999999999999", v(1, "d65"))
	require.Equal(t, "0.000000000000000000000000000001", v(2, "d65"))
	require.Equal(t, "-9999999999999999999999999999.9999999999", v(1, "d38"))
	require.Equal(t, "99999999999999999999", v(0, "d20u"))
	require.Equal(t, "-9999999999.99", v(1, "d12"))
	require.Equal(t, "0012.50", v(0, "dzf"), "ZEROFILL decimals keep their zeros (stored as text)")
	require.Equal(t, "1.2345678", v(0, "f"), "FLOAT keeps every bit (the server would print 1.23457)")
	require.Equal(t, "1.6777216e+07", v(2, "f"))
	require.Equal(t, "1.7976931348623157e+308", v(0, "dbl"))
	require.Equal(t, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, got[0][col("b64")])
	require.Equal(t, []byte{0x80, 0, 0, 0, 0, 0, 0, 1}, got[2][col("b64")])
	require.Equal(t, []byte{0x01}, got[0][col("b1")])
	require.Equal(t, "0000-00-00", v(1, "d"))
	require.Equal(t, "2020-00-15", v(2, "d"))
	require.Equal(t, "0000-00-00 00:00:00.000000", v(1, "dt"))
	require.Equal(t, "-838:59:59.000000", v(1, "tm"))
	require.Equal(t, "838:59:59", v(0, "tm0"))
	require.Equal(t, "2038-01-19 03:14:07.999999", v(0, "ts"), "TIMESTAMP in UTC")
	require.Equal(t, "2155", v(0, "y"))
	require.Equal(t, "1901", v(1, "y"))
	require.Equal(t, "0000", v(2, "y"))
	require.Equal(t, "café é", v(0, "l1"), "latin1 comes back as the same characters, in UTF-8")
	require.Equal(t, "àéîõü", v(0, "ch"))
	require.Equal(t, " é", v(2, "l1")[:3])
	require.Equal(t, "emoji 😀 tab\there", v(0, "u8"))
	require.Equal(t, "line1\nline2\\back\r\x00nul", v(0, "tx"))
	require.Equal(t, strings.Repeat("ü😀", 5000), v(0, "ltx"))
	require.Equal(t, []byte{0, 1, 2, 0, 0xff}, got[0][col("bl")])
	require.NotNil(t, got[1][col("vb")], "an empty VARBINARY is not NULL")
	require.Empty(t, got[1][col("vb")])
	require.Equal(t, "", v(1, "en"))
	require.NotNil(t, got[1][col("en")])
	require.Equal(t, "a,c", v(0, "st"))
	require.Equal(t, `{"k": "ü", "n": [1, 2.5], "e": "😀"}`, v(0, "js"))
	require.Equal(t, "2", v(0, "gv"))
	require.Equal(t, "emoji 😀 tab\there!", v(0, "gs"))
	for i, c := range tbl.Columns {
		if c.Name != "id" && c.Name != "gv" {
			require.Nil(t, got[3][i], "row 4 %s is NULL", c.Name)
		}
	}

	// Exact against the server itself: text read by a plain utf8mb4 client, FLOAT widened
	// to DOUBLE by the server, POINT as the server's WKB.
	var l1, d65, dt, tm, js string
	var fd float64
	var pt []byte
	require.NoError(t, root.QueryRowContext(t.Context(), "SELECT l1, d65, CAST(dt AS CHAR), tm, js, CAST(f AS DOUBLE), pt FROM "+db+".t WHERE id = 1").Scan(&l1, &d65, &dt, &tm, &js, &fd, &pt))
	require.Equal(t, []string{l1, d65, dt, tm, js}, []string{v(0, "l1"), v(0, "d65"), v(0, "dt"), v(0, "tm"), v(0, "js")})
	f32, err := strconv.ParseFloat(v(0, "f"), 32)
	require.NoError(t, err)
	require.Equal(t, math.Float64bits(fd), math.Float64bits(f32))
	require.Equal(t, pt, got[0][col("pt")])

	// An independent reader (DuckDB) sees the typed columns with their Parquet types:
	// decimals as DECIMAL (negative ones too, on FIXED_LEN_BYTE_ARRAY), BIGINT UNSIGNED as
	// UBIGINT, FLOAT as FLOAT.
	dir := t.TempDir()
	for _, f := range tbl.Files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f.Key)), get(t, s, testPath+f.Key), 0o644))
	}
	rows := duckQuery(t, dir, `SELECT id::VARCHAR AS id, d12::VARCHAR AS d12, d38::VARCHAR AS d38, d20u::VARCHAR AS d20u, d5::VARCHAR AS d5,
		bu::VARCHAR AS bu, typeof(d38) AS t38, typeof(bu) AS tbu, typeof(f) AS tf, (f = 1.2345678::FLOAT)::VARCHAR AS feq, l1
		FROM read_parquet('$DIR/*.parquet') ORDER BY id`)
	require.Len(t, rows, 4)
	require.Equal(t, map[string]any{"id": "1", "d12": "9999999999.99", "d38": "9999999999999999999999999999.9999999999", "d20u": "99999999999999999999",
		"d5": "99999", "bu": "18446744073709551615", "t38": "DECIMAL(38,10)", "tbu": "UBIGINT", "tf": "FLOAT", "feq": "true", "l1": "café é"}, rows[0])
	require.Equal(t, "-9999999999999999999999999999.9999999999", rows[1]["d38"])
	require.Equal(t, "-9999999999.99", rows[1]["d12"])
	require.Equal(t, "0.0000000001", rows[2]["d38"])
	require.Nil(t, rows[3]["d38"])
}

// duckQuery runs a query in DuckDB (tools/duckdb, from npm: `make tools`), $DIR being dir.
func duckQuery(t *testing.T, dir, query string) []map[string]any {
	t.Helper()
	script := filepath.Join(testservices.ModuleRoot(t), "tools", "duckdb", "query.mjs")
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules")); err != nil {
		t.Fatalf("DuckDB reader not installed: run `make tools` (npm install in tools/duckdb)")
	}
	out, err := osexec.Command("node", script, dir, query).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal(out, &rows), "%s", out)
	return rows
}

// sampleMemory samples the memory the Go runtime holds (heap in use, stacks, runtime
// structures; not what it returned to the OS) every 5ms until the returned function is
// called, which returns the peak.
func sampleMemory(t *testing.T) func() uint64 {
	runtime.GC()
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(samples)
			used := samples[0].Value.Uint64() - samples[1].Value.Uint64() - samples[2].Value.Uint64()
			if used > peak.Load() {
				peak.Store(used)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	finish := func() uint64 {
		once.Do(func() { close(stop); <-done })
		t.Logf("peak Go memory: %.1f MiB", float64(peak.Load())/(1<<20))
		return peak.Load()
	}
	t.Cleanup(func() { finish() })
	return finish
}

func mapTrue(m map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k, v := range m {
		if v {
			out[k] = true
		}
	}
	return out
}

// A 300k-row table in chunks of 50k: several parts exported in parallel, verified, and the
// same rows and checksum as an independent scan of the whole table.
func TestMySQLChunkedExport(t *testing.T) {
	root := testservices.MariaDB(t)
	s, _ := testStore(t)
	db := mysqlDB(t, root, "chunks")
	sysbenchTable(t, db, "sb", 300_000)
	exec(t, root, "ANALYZE TABLE "+db+".sb")
	src := openSource(t, db)

	chunks, err := src.(engine.Chunker).Chunks(t.Context(), "sb", 50_000)
	require.NoError(t, err)
	require.Greater(t, len(chunks), 4)
	require.Equal(t, []string{"id"}, chunks[1].Key)

	peak := sampleMemory(t)
	res, err := Export(t.Context(), src, s, testPath, db, ExportOptions{ChunkRows: 50_000, Parallel: 2})
	require.NoError(t, err)
	// Memory does not grow with the table: two workers, each one row group and one upload
	// part (16 MiB) in memory, plus what the garbage collector has not reclaimed yet.
	require.Less(t, peak(), uint64(160<<20), "Go memory while exporting")
	sb := tableOf(t, res.Manifest, "sb")
	require.Len(t, sb.Files, len(chunks))
	wantSum, wantRows := independentSum(t, src, "sb")
	require.EqualValues(t, 300_000, wantRows)
	require.Equal(t, wantRows, sb.Rows)
	require.Equal(t, wantSum, sb.Checksum)
	v := mustVerify(t, s, testPath)
	require.EqualValues(t, 300_000, v.Rows)

	// Each part holds its chunk's rows: the counts the server gives for the same ranges.
	for i, c := range chunks {
		q := "SELECT COUNT(*) FROM " + db + ".sb WHERE TRUE"
		if c.Lower != nil {
			q += " AND id >= " + c.Lower[0]
		}
		if c.Upper != nil {
			q += " AND id < " + c.Upper[0]
		}
		var n int64
		require.NoError(t, root.QueryRowContext(t.Context(), q).Scan(&n))
		require.Equal(t, n, sb.Files[i].Rows, "chunk %d", i)
	}
}

// An export cancelled after a few chunks resumes from them: the finished parts are not
// written again, the half-written ones are, and the archive is complete and exact.
func TestMySQLExportResumes(t *testing.T) {
	root := testservices.MariaDB(t)
	s, _ := testStore(t)
	db := mysqlDB(t, root, "resume")
	sysbenchTable(t, db, "sb", 300_000)
	exec(t, root, "ANALYZE TABLE "+db+".sb")
	src := &countingChunks{Source: openSource(t, db)}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var last Progress
	_, err := Export(ctx, src, s, testPath, db, ExportOptions{ChunkRows: 50_000, Parallel: 2, Progress: func(p Progress) {
		last = p
		if p.ChunksDone >= 3 {
			cancel()
		}
	}})
	require.Error(t, err) // context.Canceled, or the error a cancelled scan or upload ends with
	require.ErrorIs(t, ctx.Err(), context.Canceled)
	require.GreaterOrEqual(t, len(last.DoneChunks), 3)
	var keys []string
	for _, c := range last.DoneChunks {
		keys = append(keys, c.Files[0].Key)
	}
	before := statAll(t, s, keys...)
	v, err := Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.False(t, v.OK, "a half-written archive never verifies")

	time.Sleep(1100 * time.Millisecond) // LastModified has one-second resolution
	src.scans = map[int]int{}
	res, err := Export(t.Context(), src, s, testPath, db, ExportOptions{ChunkRows: 50_000, Parallel: 2, Done: last.Done, DoneChunks: last.DoneChunks})
	require.NoError(t, err)
	for _, c := range last.DoneChunks {
		require.Zero(t, src.scans[c.Chunk.Index], "chunk %d was done", c.Chunk.Index)
	}
	after := statAll(t, s, keys...)
	for i := range before {
		require.Equal(t, before[i].ETag, after[i].ETag, before[i].Key)
		require.Equal(t, before[i].LastModified, after[i].LastModified, before[i].Key)
	}
	mustVerify(t, s, testPath)
	sb := tableOf(t, res.Manifest, "sb")
	wantSum, wantRows := independentSum(t, src, "sb")
	require.Equal(t, wantRows, sb.Rows)
	require.Equal(t, wantSum, sb.Checksum)
}

// countingChunks counts ScanChunk calls per chunk index.
type countingChunks struct {
	engine.Source
	mu    sync.Mutex
	scans map[int]int
}

func (c *countingChunks) Chunks(ctx context.Context, table string, target int64) ([]engine.Chunk, error) {
	return c.Source.(engine.Chunker).Chunks(ctx, table, target)
}

func (c *countingChunks) ScanChunk(ctx context.Context, table string, ch engine.Chunk) (engine.Rows, error) {
	c.mu.Lock()
	if c.scans == nil {
		c.scans = map[int]int{}
	}
	c.scans[ch.Index]++
	c.mu.Unlock()
	return c.Source.(engine.Chunker).ScanChunk(ctx, table, ch)
}

// Tables without a usable key are one chunk; composite and string keys are sampled. All
// come back exactly, whatever their keys hold (case, accents, emoji, bytes that are not
// UTF-8, NUL, negative and unsigned extremes).
func TestMySQLKeys(t *testing.T) {
	root := testservices.MariaDB(t)
	s, _ := testStore(t)
	db := mysqlDB(t, root, "keys")
	exec(t, root,
		"CREATE TABLE "+db+".nopk (a INT, b VARCHAR(10))",
		"CREATE TABLE "+db+".comp (region VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL, "+
			"code VARCHAR(20) CHARACTER SET latin1 NOT NULL, n INT, PRIMARY KEY (region, code))",
		"CREATE TABLE "+db+".bin (k VARBINARY(8) NOT NULL PRIMARY KEY, n INT)",
		"CREATE TABLE "+db+".neg (k BIGINT NOT NULL PRIMARY KEY, n INT)",
		"CREATE TABLE "+db+".uns (k BIGINT UNSIGNED NOT NULL, n INT, UNIQUE KEY (k))",
		"CREATE TABLE "+db+".nullkey (k INT NULL, n INT, UNIQUE KEY (k))",
	)
	digits := "(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
	nums := "(SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d AS n FROM " + digits + " a, " + digits + " b, " + digits + " c, " + digits + " e) x"
	exec(t, root,
		"INSERT INTO "+db+".nopk SELECT n % 100, IF(n % 7 = 0, NULL, CONCAT('v', n % 13)) FROM "+nums,
		"INSERT INTO "+db+".comp SELECT ELT(1 + n % 5, 'é', 'É-x', 'a😀', 'Zz', ''), CONCAT(CHAR(224 + n % 20 USING latin1), n), n FROM "+nums,
		"INSERT INTO "+db+".bin SELECT UNHEX(LPAD(HEX(n * 2654435761 % 4294967296), 8, '0')), n FROM "+nums,
		"INSERT INTO "+db+".bin VALUES (X'', -1), (X'00', -2), (X'FF', -3), (X'0000', -4)",
		"INSERT INTO "+db+".neg SELECT (n - 5000) * 1844674407370955, n FROM "+nums,
		"INSERT INTO "+db+".neg VALUES (-9223372036854775808, -1), (9223372036854775807, -2)",
		"INSERT INTO "+db+".uns SELECT CAST(n AS UNSIGNED) * 1844674407370955, n FROM "+nums,
		"INSERT INTO "+db+".uns VALUES (18446744073709551615, -1)",
		"INSERT INTO "+db+".nullkey SELECT IF(n % 10 = 0, NULL, n), n FROM "+nums,
	)
	for _, tb := range []string{"nopk", "comp", "bin", "neg", "uns", "nullkey"} {
		exec(t, root, "ANALYZE TABLE "+db+"."+tb)
	}
	src := openSource(t, db)
	ch := src.(engine.Chunker)
	split := map[string][]engine.Chunk{}
	for _, tb := range src.Tables() {
		c, err := ch.Chunks(t.Context(), tb, 700)
		require.NoError(t, err)
		split[tb] = c
	}
	require.Len(t, split["nopk"], 1, "no key: one chunk")
	require.Len(t, split["nullkey"], 1, "a unique key on a nullable column is no key")
	require.Greater(t, len(split["comp"]), 5)
	require.Equal(t, []string{"region", "code"}, split["comp"][1].Key)
	require.True(t, strings.HasPrefix(split["comp"][1].Lower[0], "0x"), split["comp"][1].Lower)
	require.Greater(t, len(split["bin"]), 5)
	require.Greater(t, len(split["neg"]), 5)
	require.Greater(t, len(split["uns"]), 5, "a unique NOT NULL key serves when there is no primary key")

	res, err := Export(t.Context(), src, s, testPath, db, ExportOptions{ChunkRows: 700, Parallel: 2})
	require.NoError(t, err)
	mustVerify(t, s, testPath)
	for _, tb := range src.Tables() {
		got := tableOf(t, res.Manifest, tb)
		require.Len(t, got.Files, len(split[tb]), tb)
		wantSum, wantRows := independentSum(t, src, tb)
		require.Equal(t, wantRows, got.Rows, tb)
		require.Equal(t, wantSum, got.Checksum, tb)
		var n int64
		require.NoError(t, root.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+db+"."+tb).Scan(&n))
		require.Equal(t, n, got.Rows, tb)
		// Read back, the rows are the source's, as a multiset (part order is key order).
		back := readBack(t, s, testPath, got)
		want := scanAll(t, src, tb)
		require.ElementsMatch(t, rowStrings(want), rowStrings(back), tb)
	}

	// A chunk on a key the table no longer has, or with bounds that are not what Chunks
	// prints, is refused: bounds come back from heartbeats and go into SQL.
	c := split["comp"][1]
	for _, bad := range []engine.Chunk{
		{Index: 1, Key: []string{"code", "region"}, Lower: c.Lower, Upper: c.Upper},
		{Index: 1, Key: c.Key, Lower: []string{"0x41", "' OR 1=1 -- "}},
		{Index: 1, Key: c.Key, Lower: []string{"0x4", "0x41"}},
		{Index: 1, Key: c.Key, Lower: []string{"0x41"}},
	} {
		_, err := ch.ScanChunk(t.Context(), "comp", bad)
		require.ErrorIs(t, err, engine.ErrRefused, "%v", bad)
	}
	_, err = ch.ScanChunk(t.Context(), "neg", engine.Chunk{Index: 1, Key: []string{"k"}, Lower: []string{"1 OR 1=1"}})
	require.ErrorIs(t, err, engine.ErrRefused)
	_, err = ch.ScanChunk(t.Context(), "neg", engine.Chunk{Index: 1, Key: []string{"k"}, Lower: []string{"01"}})
	require.ErrorIs(t, err, engine.ErrRefused)
}

func rowStrings(rows [][][]byte) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%q", r)
	}
	return out
}

// MinIO stops while chunks upload: the export fails, the half-written archive never
// verifies, and a retry with the progress's checkpoint completes it.
func TestMySQLExportSurvivesStoreOutage(t *testing.T) {
	root := testservices.MariaDB(t)
	s, srv := testStore(t)
	db := mysqlDB(t, root, "outage")
	sysbenchTable(t, db, "sb", 200_000)
	exec(t, root, "ANALYZE TABLE "+db+".sb")
	src := openSource(t, db)

	var last Progress
	stopped := false
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	_, err := Export(ctx, src, s, testPath, db, ExportOptions{ChunkRows: 25_000, Parallel: 2, Progress: func(p Progress) {
		last = p
		if p.ChunksDone >= 2 && !stopped {
			stopped = true
			srv.Stop()
		}
	}})
	require.Error(t, err)
	require.True(t, stopped)
	require.NotEmpty(t, last.DoneChunks)

	srv.Start()
	v, err := Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.False(t, v.OK, "no manifest: never verified")

	res, err := Export(t.Context(), src, s, testPath, db, ExportOptions{ChunkRows: 25_000, Parallel: 2, Done: last.Done, DoneChunks: last.DoneChunks})
	require.NoError(t, err)
	mustVerify(t, s, testPath)
	wantSum, wantRows := independentSum(t, src, "sb")
	sb := tableOf(t, res.Manifest, "sb")
	require.Equal(t, wantRows, sb.Rows)
	require.Equal(t, wantSum, sb.Checksum)

	// One flipped byte in any part fails verification.
	part := sb.Files[len(sb.Files)/2].Key
	data := get(t, s, testPath+part)
	data[len(data)/3] ^= 0x20
	_, _, err = s.Put(t.Context(), testPath+part, bytes.NewReader(data), int64(len(data)), "")
	require.NoError(t, err)
	v, err = Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.False(t, v.OK)
	require.Equal(t, []string{part + ": sha256 mismatch (archive corrupted?)"}, v.Problems)
	require.ErrorContains(t, ReadTable(t.Context(), s, testPath, sb, func([][]byte) error { return nil }), "sha256 mismatch")
}
