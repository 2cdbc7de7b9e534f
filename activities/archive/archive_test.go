package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/testservices"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	"github.com/stretchr/testify/require"
)

const testPath = "archive/local/shop/run-1/"

func testStore(t *testing.T) (*Store, testservices.MinIOServer) {
	t.Helper()
	srv := testservices.MinIO(t)
	ctx := t.Context()
	s, err := NewStore(ctx, StoreConfig{
		Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		Bucket: "retire-test", Prefix: "/team-a/",
	})
	require.NoError(t, err)
	require.NoError(t, s.EnsureBucket(ctx))
	require.NoError(t, s.EnsureBucket(ctx), "EnsureBucket is idempotent")
	return s, srv
}

func export(t *testing.T, s *Store, src engine.Source, opts ExportOptions) ExportResult {
	t.Helper()
	res, err := Export(t.Context(), src, s, testPath, "shop", opts)
	require.NoError(t, err)
	return res
}

func get(t *testing.T, s *Store, key string) []byte {
	t.Helper()
	r, err := s.Get(t.Context(), key)
	require.NoError(t, err)
	defer r.Close()
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	return data
}

func TestExportVerify(t *testing.T) {
	s, _ := testStore(t)
	src := testSource()
	var progress []Progress
	res := export(t, s, src, ExportOptions{Progress: func(p Progress) { progress = append(progress, p) }})

	// 5 object DDL files + 3 table DDL + 3 parts + manifest.
	require.Equal(t, 3, res.Tables)
	require.EqualValues(t, bigRows+3, res.Rows)
	require.Equal(t, 12, res.Files)
	require.Equal(t, testPath+"manifest.json", res.ManifestKey)
	require.Len(t, res.ManifestSHA256, 64)

	v, err := Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)
	require.Empty(t, v.Problems)
	require.EqualValues(t, 3, v.Tables)
	require.EqualValues(t, bigRows+3, v.Rows)
	require.EqualValues(t, 12, v.Files)
	require.Equal(t, res.Bytes, v.Bytes)
	require.Equal(t, res.ManifestSHA256, v.ManifestSHA256)

	m, sum, err := ReadManifest(t.Context(), s, testPath)
	require.NoError(t, err)
	require.Equal(t, res.ManifestSHA256, sum)
	require.Equal(t, res.Manifest.Tables, m.Tables)

	// Exactly the archive's objects, all under the store prefix and the path.
	objs, err := s.List(t.Context(), testPath)
	require.NoError(t, err)
	var keys []string
	for _, o := range objs {
		keys = append(keys, strings.TrimPrefix(o.Key, testPath))
	}
	require.ElementsMatch(t, []string{
		"manifest.json",
		"schema/views.sql", "schema/routines.sql", "schema/triggers.sql", "schema/events.sql", "schema/grants.sql",
		"schema/odd@20name@2f@c3@bc.sql", "schema/empty.sql", "schema/payment.sql",
		"data/odd@20name@2f@c3@bc/part-00000.parquet", "data/empty/part-00000.parquet", "data/payment/part-00000.parquet",
	}, keys)
	require.Equal(t, "team-a/"+testPath+"manifest.json", s.FullKey(res.ManifestKey))
	require.Equal(t, "", string(get(t, s, testPath+"schema/events.sql")))
	require.Contains(t, string(get(t, s, testPath+"schema/payment.sql")), "CREATE TABLE `payment`")

	// Progress: every table reported, rows grow, the last report carries all tables as done.
	require.NotEmpty(t, progress)
	last := progress[len(progress)-1]
	require.Equal(t, 3, last.TablesDone)
	require.Equal(t, 3, last.TablesTotal)
	require.EqualValues(t, bigRows+3, last.Rows)
	require.Len(t, last.Done, 3)
	midTable := 0
	for i, p := range progress {
		if i > 0 {
			require.GreaterOrEqual(t, p.Rows, progress[i-1].Rows)
		}
		if p.Table == "payment" && p.TablesDone == 2 {
			midTable++
		}
	}
	require.GreaterOrEqual(t, midTable, bigRows/progressRows, "progress while the big table streams")

	// Every value reads back exactly, decoded independently of Verify.
	for _, tbl := range src.tables {
		checkValues(t, s, tbl, m)
	}
}

// TestManifestJSON pins the manifest's JSON shape: other tools read it.
func TestManifestJSON(t *testing.T) {
	s, _ := testStore(t)
	export(t, s, testSource(), ExportOptions{})
	var m map[string]any
	require.NoError(t, json.Unmarshal(get(t, s, testPath+"manifest.json"), &m))
	keysOf := func(v any) []string {
		var ks []string
		for k := range v.(map[string]any) {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	require.Equal(t, []string{"created_at", "files", "format", "object", "source", "tables", "text_encoding"}, keysOf(m))
	require.Equal(t, "utf-8", m["text_encoding"])
	require.Equal(t, "retire-archive/v1", m["format"])
	require.Equal(t, "shop", m["object"])
	_, err := time.Parse(time.RFC3339Nano, m["created_at"].(string))
	require.NoError(t, err)
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$`, m["created_at"], "fixed width: all nine digits, UTC")
	require.Equal(t, map[string]any{"engine": "fake", "version": "1.0", "charset": "utf8mb4"}, m["source"])

	files := m["files"].([]any)
	require.Len(t, files, 5)
	for i, name := range ObjectDDLFiles {
		f := files[i].(map[string]any)
		require.Equal(t, []string{"bytes", "key", "sha256"}, keysOf(f))
		require.Equal(t, "schema/"+name, f["key"])
	}

	tables := m["tables"].([]any)
	require.Len(t, tables, 3)
	pay := tables[2].(map[string]any)
	require.Equal(t, []string{"checksum", "columns", "ddl", "files", "name", "rows"}, keysOf(pay))
	require.Equal(t, "payment", pay["name"])
	require.EqualValues(t, bigRows, pay["rows"])
	require.True(t, strings.HasPrefix(pay["checksum"].(string), "rowsum-sha256:"))
	col := pay["columns"].([]any)[2].(map[string]any)
	require.Equal(t, map[string]any{"name": "counter", "type": "bigint(20) unsigned", "kind": "uint64", "nullable": true, "encoding": "uint64"}, col)
	fee := pay["columns"].([]any)[7].(map[string]any)
	require.Equal(t, map[string]any{"name": "fee", "type": "decimal(12,2)", "kind": "decimal", "precision": 12.0, "scale": 2.0, "nullable": true, "encoding": "decimal(12,2)"}, fee)
	price := pay["columns"].([]any)[6].(map[string]any)
	require.Equal(t, "text", price["encoding"])
	ddl := pay["ddl"].(map[string]any)
	require.Equal(t, []string{"bytes", "key", "sha256"}, keysOf(ddl))
	require.Equal(t, "schema/payment.sql", ddl["key"])
	part := pay["files"].([]any)[0].(map[string]any)
	require.Equal(t, []string{"bytes", "key", "rows", "sha256"}, keysOf(part))
	require.Equal(t, "data/payment/part-00000.parquet", part["key"])
	require.EqualValues(t, bigRows, part["rows"])
}

// checkValues reads a table back with ReadTable (the restore contract) and compares every
// value with what the source gave, byte for byte; it also checks each part's Parquet
// schema with parquet-go directly, and decodes the plain encodings independently.
func checkValues(t *testing.T, s *Store, tbl *fakeTable, m Manifest) {
	t.Helper()
	i := slices.IndexFunc(m.Tables, func(r TableResult) bool { return r.Name == tbl.name })
	require.GreaterOrEqual(t, i, 0, tbl.name)
	mt := m.Tables[i]
	n := 0
	require.NoError(t, ReadTable(t.Context(), s, testPath, mt, func(row [][]byte) error {
		want := tbl.row(n)
		for j := range row {
			if want[j] == nil {
				require.Nil(t, row[j], "%s row %d %s: want NULL", tbl.name, n, tbl.cols[j].Name)
				continue
			}
			require.NotNil(t, row[j], "%s row %d %s: got NULL", tbl.name, n, tbl.cols[j].Name)
			require.Equal(t, string(want[j]), string(row[j]), "%s row %d %s", tbl.name, n, tbl.cols[j].Name)
		}
		n++
		return nil
	}))
	require.Equal(t, tbl.n, n)

	first := 0
	for _, part := range mt.Files {
		data := get(t, s, testPath+part.Key)
		f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
		require.NoError(t, err)
		require.EqualValues(t, part.Rows, f.NumRows())

		var names [][]string
		for _, c := range tbl.cols {
			names = append(names, []string{c.Name})
		}
		require.Equal(t, names, f.Schema().Columns(), "columns keep the source's order")
		for _, rg := range f.Metadata().RowGroups {
			require.LessOrEqual(t, rg.NumRows, int64(rowGroupRows), "row groups are bounded")
			for _, c := range rg.Columns {
				require.Equal(t, format.Zstd, c.MetaData.Codec, "zstd")
			}
		}
		for j, field := range f.Schema().Fields() {
			require.True(t, field.Optional(), "every column is optional")
			checkParquetType(t, mt.Columns[j], field.Type())
		}
		if part.Rows > rowGroupRows {
			require.Greater(t, len(f.RowGroups()), 1)
		}

		// Plain encodings decoded with parquet-go alone.
		r := parquet.NewReader(bytes.NewReader(data))
		rows := make([]parquet.Row, 1)
		for k := first; ; k++ {
			c, err := r.ReadRows(rows)
			if c == 0 {
				require.ErrorIs(t, err, io.EOF)
				require.EqualValues(t, part.Rows, k-first)
				first = k
				break
			}
			want := tbl.row(k)
			for j, v := range rows[0] {
				if want[j] == nil {
					require.True(t, v.IsNull())
					continue
				}
				var got string
				switch mt.Columns[j].Encoding {
				case "int64":
					got = strconv.FormatInt(v.Int64(), 10)
				case "uint64":
					got = strconv.FormatUint(v.Uint64(), 10)
				case "double":
					f, err := strconv.ParseFloat(string(want[j]), 64)
					require.NoError(t, err)
					require.Equal(t, math.Float64bits(f), math.Float64bits(v.Double()))
					continue
				case "text", "bytes":
					got = string(v.ByteArray())
				default:
					continue
				}
				require.Equal(t, string(want[j]), got, "%s row %d %s", tbl.name, k, tbl.cols[j].Name)
			}
		}
		r.Close()
	}
}

// checkParquetType checks a column's Parquet physical and logical type against its
// manifest encoding.
func checkParquetType(t *testing.T, c Column, typ parquet.Type) {
	t.Helper()
	lt := ""
	if l := typ.LogicalType(); l != nil {
		lt = l.String()
	}
	switch c.Encoding {
	case "int64":
		require.Equal(t, parquet.Int64, typ.Kind(), c.Name)
		require.Equal(t, "INT(64,true)", lt, c.Name)
	case "uint64":
		require.Equal(t, parquet.Int64, typ.Kind(), c.Name)
		require.Equal(t, "INT(64,false)", lt, c.Name)
	case "float":
		require.Equal(t, parquet.Float, typ.Kind(), c.Name)
		require.Empty(t, lt, c.Name)
	case "double":
		require.Equal(t, parquet.Double, typ.Kind(), c.Name)
		require.Empty(t, lt, c.Name)
	case "text":
		require.Equal(t, parquet.ByteArray, typ.Kind(), c.Name)
		require.Equal(t, "STRING", lt, c.Name)
	case "bytes":
		require.Equal(t, parquet.ByteArray, typ.Kind(), c.Name)
		require.Empty(t, lt, c.Name)
	default:
		require.Equal(t, fmt.Sprintf("DECIMAL(%d,%d)", c.Precision, c.Scale), lt, c.Name)
		require.Equal(t, "decimal"+lt[len("DECIMAL"):], c.Encoding)
		switch {
		case c.Precision <= 9:
			require.Equal(t, parquet.Int32, typ.Kind(), c.Name)
		case c.Precision <= 18:
			require.Equal(t, parquet.Int64, typ.Kind(), c.Name)
		default:
			require.Equal(t, parquet.FixedLenByteArray, typ.Kind(), c.Name)
			require.Equal(t, decimalBytes(c.Precision), typ.Length(), c.Name)
		}
	}
}

func TestExportResume(t *testing.T) {
	s, _ := testStore(t)
	ctx := t.Context()
	first := export(t, s, testSource(), ExportOptions{})
	done := first.Manifest.Tables[:1]
	small := done[0]
	before := statAll(t, s, small.DDL.Key, small.Files[0].Key, "data/payment/part-00000.parquet")

	time.Sleep(1100 * time.Millisecond) // LastModified has one-second resolution
	src := testSource()
	res := export(t, s, src, ExportOptions{Done: done})
	require.Equal(t, 0, src.scanned(small.Name), "a done table is not read again")
	require.Equal(t, 1, src.scanned("payment"))
	after := statAll(t, s, small.DDL.Key, small.Files[0].Key, "data/payment/part-00000.parquet")
	for i := range 2 {
		require.Equal(t, before[i].ETag, after[i].ETag, before[i].Key)
		require.Equal(t, before[i].LastModified, after[i].LastModified, before[i].Key)
	}
	require.True(t, after[2].LastModified.After(before[2].LastModified), "other tables were rewritten")
	require.Equal(t, first.Manifest.Tables, res.Manifest.Tables)

	v, err := Verify(ctx, s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)
	require.EqualValues(t, bigRows+3, v.Rows)

	// A done table whose part vanished since is exported again rather than trusted.
	require.NoError(t, s.Remove(ctx, testPath+small.Files[0].Key))
	src = testSource()
	export(t, s, src, ExportOptions{Done: done})
	require.Equal(t, 1, src.scanned(small.Name))
	v, err = Verify(ctx, s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)
}

func statAll(t *testing.T, s *Store, keys ...string) []ObjectInfo {
	t.Helper()
	var out []ObjectInfo
	for _, k := range keys {
		info, err := s.Stat(t.Context(), testPath+k)
		require.NoError(t, err)
		out = append(out, info)
	}
	return out
}

func TestVerifyDetectsDamage(t *testing.T) {
	s, _ := testStore(t)
	ctx := t.Context()
	res := export(t, s, testSource(), ExportOptions{})
	const part = "data/payment/part-00000.parquet"
	original := get(t, s, testPath+part)

	put := func(key string, data []byte) {
		t.Helper()
		_, _, err := s.Put(ctx, testPath+key, bytes.NewReader(data), int64(len(data)), "")
		require.NoError(t, err)
	}
	verify := func() Verification {
		t.Helper()
		v, err := Verify(ctx, s, testPath)
		require.NoError(t, err, "damage is a problem, not an error")
		return v
	}

	t.Run("flipped byte", func(t *testing.T) {
		bad := bytes.Clone(original)
		bad[len(bad)/2] ^= 0x01
		put(part, bad)
		v := verify()
		require.False(t, v.OK)
		require.Equal(t, []string{part + ": sha256 mismatch (archive corrupted?)"}, v.Problems)
		put(part, original)
		require.True(t, verify().OK)
	})

	t.Run("truncated", func(t *testing.T) {
		put(part, original[:len(original)-10])
		v := verify()
		require.False(t, v.OK)
		require.Len(t, v.Problems, 1)
		require.Contains(t, v.Problems[0], part)
		put(part, original)
	})

	t.Run("missing part", func(t *testing.T) {
		require.NoError(t, s.Remove(ctx, testPath+part))
		v := verify()
		require.False(t, v.OK)
		require.Equal(t, []string{part + ": missing (listed in the manifest, not in the store)"}, v.Problems)
		put(part, original)
	})

	t.Run("changed DDL", func(t *testing.T) {
		put("schema/views.sql", []byte("CREATE VIEW `v` AS SELECT 2;\n"))
		v := verify()
		require.False(t, v.OK)
		require.Equal(t, []string{"schema/views.sql: sha256 mismatch (archive corrupted?)"}, v.Problems)
		put("schema/views.sql", []byte("CREATE VIEW `v` AS SELECT 1;\n"))
	})

	// A manifest that disagrees with intact data: the content checksum and row count are
	// really recomputed from the decoded values, not copied.
	t.Run("content checksum", func(t *testing.T) {
		m := res.Manifest
		m.Tables = slices.Clone(m.Tables)
		m.Tables[2].Checksum = "rowsum-sha256:" + strings.Repeat("0", 64)
		data, err := json.Marshal(m)
		require.NoError(t, err)
		put("manifest.json", data)
		v := verify()
		require.False(t, v.OK)
		require.Len(t, v.Problems, 1)
		require.Contains(t, v.Problems[0], "table payment: content checksum mismatch")
		require.Contains(t, v.Problems[0], res.Manifest.Tables[2].Checksum, "the recomputed sum is the exported one")

		m.Tables[2].Checksum = res.Manifest.Tables[2].Checksum
		m.Tables[2].Rows++
		data, err = json.Marshal(m)
		require.NoError(t, err)
		put("manifest.json", data)
		v = verify()
		require.False(t, v.OK)
		require.Equal(t, []string{"table payment: 100000 rows read back, manifest says 100001"}, v.Problems)
	})

	t.Run("no manifest", func(t *testing.T) {
		require.NoError(t, s.Remove(ctx, testPath+"manifest.json"))
		v := verify()
		require.False(t, v.OK)
		require.Len(t, v.Problems, 1)
		require.Contains(t, v.Problems[0], "no manifest.json")
		_, _, err := ReadManifest(ctx, s, testPath)
		require.ErrorIs(t, err, ErrNoManifest)
	})

	t.Run("not a manifest", func(t *testing.T) {
		put("manifest.json", []byte(`{"format":"retire-archive/v9"}`))
		v := verify()
		require.False(t, v.OK)
		require.Len(t, v.Problems, 1)
		require.Contains(t, v.Problems[0], "retire-archive/v9")
		_, _, err := ReadManifest(ctx, s, testPath)
		require.ErrorIs(t, err, ErrBadManifest)
	})
}

// A value the archive cannot store exactly fails the export and leaves no part behind.
func TestExportRefusesBadValue(t *testing.T) {
	s, _ := testStore(t)
	ctx := t.Context()
	src := testSource()
	src.tables[2].row = func(i int) [][]byte {
		r := bigRow(i)
		if i == 70_000 {
			r[2] = []byte("18446744073709551616") // uint64 max + 1
		}
		return r
	}
	_, err := Export(ctx, src, s, testPath, "shop", ExportOptions{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "payment")
	require.Contains(t, err.Error(), "row 70001")
	require.Contains(t, err.Error(), "out of range for uint64")

	_, err = s.Stat(ctx, testPath+"data/payment/part-00000.parquet")
	require.ErrorIs(t, err, ErrNotFound, "the failed upload was aborted")
	_, err = s.Stat(ctx, testPath+"manifest.json")
	require.ErrorIs(t, err, ErrNotFound)

	src.tables[2].row = func(i int) [][]byte {
		r := bigRow(i)
		r[3] = []byte("1,5")
		return r
	}
	_, err = Export(ctx, src, s, testPath, "shop", ExportOptions{})
	require.ErrorContains(t, err, `"1,5" is not a valid float64`)
}

// Re-exporting over a complete archive removes its manifest first: if the new export fails
// half way, the mix of old and new files is never reported verified.
func TestFailedReexportHasNoManifest(t *testing.T) {
	s, _ := testStore(t)
	ctx := t.Context()
	export(t, s, testSource(), ExportOptions{})
	src := testSource()
	src.tables[2].row = func(i int) [][]byte {
		r := bigRow(i)
		r[0] = []byte("x")
		return r
	}
	_, err := Export(ctx, src, s, testPath, "shop", ExportOptions{})
	require.ErrorContains(t, err, `"x" is not a valid int64`)
	v, err := Verify(ctx, s, testPath)
	require.NoError(t, err)
	require.False(t, v.OK)
	require.Contains(t, v.Problems[0], "no manifest.json")
}

// MinIO dies while the big table streams: the export fails, and a retry with the progress's
// Done list skips the finished tables and completes a verified archive.
func TestExportResumesAfterStoreOutage(t *testing.T) {
	s, srv := testStore(t)
	var last Progress
	stopped := false
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, err := Export(ctx, testSource(), s, testPath, "shop", ExportOptions{Progress: func(p Progress) {
		last = p
		if p.Table == "payment" && p.Rows > 0 && !stopped {
			stopped = true
			srv.Stop()
		}
	}})
	require.Error(t, err)
	require.True(t, stopped)
	require.Len(t, last.Done, 2)

	srv.Start()
	src := testSource()
	res := export(t, s, src, ExportOptions{Done: last.Done})
	require.Equal(t, 0, src.scanned("odd name/ü"))
	require.Equal(t, 0, src.scanned("empty"))
	require.Equal(t, 1, src.scanned("payment"))
	v, err := Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)
	require.Equal(t, res.ManifestSHA256, v.ManifestSHA256)
}

// A store that is down is an error (the activity retries), never a verdict on the archive.
func TestStoreDown(t *testing.T) {
	s, srv := testStore(t)
	export(t, s, testSource(), ExportOptions{})

	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	_, err := Verify(ctx, s, testPath)
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrNoManifest))
	require.NotContains(t, err.Error(), srv.SecretKey)

	srv.Start()
	v, err := Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)
}

// A table named like an object DDL file keeps both files.
func TestTableNamedViews(t *testing.T) {
	s, _ := testStore(t)
	src := testSource()
	src.tables[0].name = "views"
	res := export(t, s, src, ExportOptions{})
	require.Equal(t, "schema/@76iews.sql", res.Manifest.Tables[0].DDL.Key)
	require.Equal(t, "CREATE VIEW `v` AS SELECT 1;\n", string(get(t, s, testPath+"schema/views.sql")))
	require.Contains(t, string(get(t, s, testPath+"schema/@76iews.sql")), "CREATE TABLE `views`")
	v, err := Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)
}

func TestPutRecord(t *testing.T) {
	s, _ := testStore(t)
	jsonKey, mdKey, err := PutRecord(t.Context(), s, testPath, []byte(`{"ok":true}`), []byte("# Retired\n"))
	require.NoError(t, err)
	require.Equal(t, testPath+"record.json", jsonKey)
	require.Equal(t, testPath+"record.md", mdKey)
	require.Equal(t, `{"ok":true}`, string(get(t, s, jsonKey)))
	require.Equal(t, "# Retired\n", string(get(t, s, mdKey)))
}

// An upload of unknown size that ends within smallPut goes as one object (no part buffer);
// a longer one is streamed in parts. Both arrive whole, with the hash of what was sent.
// (S3 gives a multipart object the ETag "<md5 of the parts' md5s>-<parts>".)
func TestPutOfUnknownSizeSendsASmallFileInOneRequest(t *testing.T) {
	s, _ := testStore(t)
	ctx := t.Context()
	for _, tc := range []struct {
		size      int
		multipart bool
	}{{0, false}, {10, false}, {smallPut, true}, {smallPut + 1, true}} {
		data := bytes.Repeat([]byte{'r'}, tc.size)
		key := fmt.Sprintf("unknown/%d", tc.size)
		sum, n, err := s.Put(ctx, key, bytes.NewReader(data), -1, "")
		require.NoError(t, err, tc.size)
		require.EqualValues(t, tc.size, n)
		want := sha256.Sum256(data)
		require.Equal(t, hex.EncodeToString(want[:]), sum)
		require.Equal(t, data, get(t, s, key), tc.size)
		info, err := s.Stat(ctx, key)
		require.NoError(t, err)
		require.Equal(t, tc.multipart, strings.Contains(info.ETag, "-"), "size %d: ETag %s", tc.size, info.ETag)
	}
}

// A reader that fails before smallPut fails the upload: nothing half read is stored.
func TestPutOfUnknownSizeFailsWithItsReader(t *testing.T) {
	s, _ := testStore(t)
	broken := io.MultiReader(strings.NewReader("half a table"), iotest.ErrReader(errors.New("connection lost")))
	_, _, err := s.Put(t.Context(), "unknown/broken", broken, -1, "")
	require.ErrorContains(t, err, "connection lost")
	_, err = s.Stat(t.Context(), "unknown/broken")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestStoreKeys(t *testing.T) {
	s, _ := testStore(t)
	ctx := t.Context()
	for _, k := range []string{"", "/abs", "a//b", "a/../b", "./a"} {
		_, _, err := s.Put(ctx, k, strings.NewReader("x"), 1, "")
		require.Error(t, err, k)
	}
	sum, n, err := s.Put(ctx, "x/a", strings.NewReader("abc"), -1, "")
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	require.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", sum)
	_, _, err = s.Put(ctx, "x/b", strings.NewReader("abc"), 4, "")
	require.Error(t, err, "short read is an error")
	_, err = s.Get(ctx, "x/nope")
	require.ErrorIs(t, err, ErrNotFound)

	require.Error(t, s.RemovePrefix(ctx, ""))
	require.NoError(t, s.RemovePrefix(ctx, "x/"))
	objs, err := s.List(ctx, "x/")
	require.NoError(t, err)
	require.Empty(t, objs)
}
