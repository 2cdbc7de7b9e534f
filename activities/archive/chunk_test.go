package archive

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func chunkedTestSource() *chunkedSource { return &chunkedSource{fakeSource: testSource()} }

// A chunked table becomes one part per chunk, in key order, and reads back exactly.
func TestExportChunks(t *testing.T) {
	s, _ := testStore(t)
	src := chunkedTestSource()
	var last Progress
	res := export(t, s, src, ExportOptions{ChunkRows: 30_000, Parallel: 3, Progress: func(p Progress) { last = p }})
	pay := res.Manifest.Tables[2]
	require.Equal(t, "payment", pay.Name)
	require.Len(t, pay.Files, 4)
	var rows int64
	for i, f := range pay.Files {
		require.Equal(t, partKey("payment", i, 0), f.Key)
		rows += f.Rows
	}
	require.EqualValues(t, bigRows, rows)
	require.Equal(t, map[int]int{0: 1, 1: 1, 2: 1, 3: 1}, src.scannedChunks("payment"))
	require.Equal(t, 3, last.TablesDone)
	require.Equal(t, 6, last.ChunksTotal)
	require.Equal(t, 6, last.ChunksDone)
	require.Empty(t, last.DoneChunks)

	// The same rows as an export in one piece: same checksum, whatever the split.
	whole := export(t, s, testSource(), ExportOptions{})
	require.Equal(t, whole.Manifest.Tables[2].Checksum, pay.Checksum)

	res = export(t, s, src, ExportOptions{ChunkRows: 30_000})
	v, err := Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)
	for _, tbl := range src.tables {
		checkValues(t, s, tbl, res.Manifest)
	}
}

// An export cancelled after some chunks resumes from them: finished chunks are neither read
// nor written again, unfinished ones are written under the same keys, and nothing else is
// left in the store.
func TestExportResumesFromChunks(t *testing.T) {
	s, _ := testStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var last Progress
	_, err := Export(ctx, chunkedTestSource(), s, testPath, "shop", ExportOptions{ChunkRows: 10_000, Parallel: 2, Progress: func(p Progress) {
		last = p
		if len(p.DoneChunks) >= 4 {
			cancel()
		}
	}})
	require.Error(t, err) // context.Canceled, or the error a cancelled scan or upload ends with
	require.ErrorIs(t, ctx.Err(), context.Canceled)
	require.Len(t, last.Done, 2, "the two small tables")
	require.GreaterOrEqual(t, len(last.DoneChunks), 4)
	var keys []string
	for _, c := range last.DoneChunks {
		require.Equal(t, "payment", c.Table)
		require.Len(t, c.Files, 1)
		keys = append(keys, c.Files[0].Key)
	}
	before := statAll(t, s, keys...)
	// A stray part of a chunk that will be exported again, as a crash could leave one.
	_, _, err = s.Put(t.Context(), testPath+"data/payment/part-00009.parquet", strings.NewReader("half"), 4, "")
	require.NoError(t, err)
	_, _, err = s.Put(t.Context(), testPath+"data/payment/part-00099.parquet", strings.NewReader("stray"), 5, "")
	require.NoError(t, err)

	time.Sleep(1100 * time.Millisecond) // LastModified has one-second resolution
	src := chunkedTestSource()
	res := export(t, s, src, ExportOptions{ChunkRows: 10_000, Done: last.Done, DoneChunks: last.DoneChunks})
	require.Equal(t, 0, src.scanned("odd name/ü")+src.scanned("empty"))
	scans := src.scannedChunks("payment")
	for _, c := range last.DoneChunks {
		require.Zero(t, scans[c.Chunk.Index], "chunk %d was done", c.Chunk.Index)
	}
	require.Len(t, scans, 10-len(last.DoneChunks))
	after := statAll(t, s, keys...)
	for i := range before {
		require.Equal(t, before[i].ETag, after[i].ETag, before[i].Key)
		require.Equal(t, before[i].LastModified, after[i].LastModified, before[i].Key)
	}
	v, err := Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)
	require.EqualValues(t, bigRows+3, v.Rows)
	checkValues(t, s, src.tables[2], res.Manifest)
	_, err = s.Stat(t.Context(), testPath+"data/payment/part-00099.parquet")
	require.ErrorIs(t, err, ErrNotFound, "parts the manifest does not list are removed")

	// A done chunk whose part is gone is exported again.
	src = chunkedTestSource()
	gone := last.DoneChunks[0]
	require.NoError(t, s.Remove(t.Context(), testPath+gone.Files[0].Key))
	res = export(t, s, src, ExportOptions{ChunkRows: 10_000, DoneChunks: last.DoneChunks})
	require.Equal(t, 1, src.scannedChunks("payment")[gone.Chunk.Index])
	require.Len(t, src.scannedChunks("payment"), 10-len(last.DoneChunks)+1)
	v, err = Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)

	// Done chunks that no longer match the split (another chunk size) are exported again.
	src = chunkedTestSource()
	export(t, s, src, ExportOptions{ChunkRows: 20_000, DoneChunks: last.DoneChunks})
	require.Len(t, src.scannedChunks("payment"), 5)

	// Every chunk done, but the table not (say it split differently last time): the last
	// chunk is read again, which tells the columns. The chunk results are those the
	// progress reported, plus the one finished last, summed here from the source rows.
	seen := map[int]ChunkResult{}
	res = export(t, s, chunkedTestSource(), ExportOptions{ChunkRows: 10_000, Parallel: 1, Progress: func(p Progress) {
		for _, c := range p.DoneChunks {
			seen[c.Chunk.Index] = c
		}
	}})
	plan := src.plan(t, "payment", 10_000)
	require.Len(t, seen, len(plan)-1)
	lastChunk := plan[len(plan)-1]
	var sum RowSum
	for i := 90_000; i < bigRows; i++ {
		require.NoError(t, sum.AddRow(bigRow(i)))
	}
	files := res.Manifest.Tables[2].Files
	seen[lastChunk.Index] = ChunkResult{Table: "payment", Chunk: lastChunk, Rows: 10_000, Checksum: sum.String(), Files: files[len(files)-1:]}
	var all []ChunkResult
	for _, c := range seen {
		all = append(all, c)
	}
	src = chunkedTestSource()
	again := export(t, s, src, ExportOptions{ChunkRows: 10_000, DoneChunks: all})
	require.Equal(t, map[int]int{lastChunk.Index: 1}, src.scannedChunks("payment"))
	require.Equal(t, res.Manifest.Tables[2], again.Manifest.Tables[2])
}

// plan returns the chunks the fake splits a table into.
func (s *chunkedSource) plan(t *testing.T, table string, target int64) []engine.Chunk {
	c, err := s.Chunks(t.Context(), table, target)
	require.NoError(t, err)
	return c
}

// A chunk past maxPartBytes continues in a next part of the same chunk.
func TestExportSplitsLargeChunks(t *testing.T) {
	old := maxPartBytes
	maxPartBytes = 1 << 20
	t.Cleanup(func() { maxPartBytes = old })
	s, _ := testStore(t)
	res := export(t, s, testSource(), ExportOptions{})
	pay := res.Manifest.Tables[2]
	require.Len(t, pay.Files, 2, "a row group is 64k rows; the part is full after the first")
	require.EqualValues(t, rowGroupRows, pay.Files[0].Rows)
	require.Equal(t, "data/payment/part-00000.parquet", pay.Files[0].Key)
	require.Equal(t, "data/payment/part-00000-001.parquet", pay.Files[1].Key)
	v, err := Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)
	checkValues(t, s, testSource().tables[2], res.Manifest)
}

// A failing chunk fails the export, with no manifest and no part of it left.
func TestExportChunkFailure(t *testing.T) {
	s, _ := testStore(t)
	src := chunkedTestSource()
	var scans atomic.Int32
	src.failScan = func(table string, c engine.Chunk) error {
		if table == "payment" && c.Index == 2 && scans.Add(1) > 0 {
			return errors.New("connection lost")
		}
		return nil
	}
	_, err := Export(t.Context(), src, s, testPath, "shop", ExportOptions{ChunkRows: 30_000})
	require.ErrorContains(t, err, "export shop.payment chunk 2")
	require.ErrorContains(t, err, "connection lost")
	_, err = s.Stat(t.Context(), testPath+"manifest.json")
	require.ErrorIs(t, err, ErrNotFound)
	_, err = s.Stat(t.Context(), testPath+partKey("payment", 2, 0))
	require.ErrorIs(t, err, ErrNotFound)
}

func TestCheckChunks(t *testing.T) {
	k := []string{"id"}
	ok := []engine.Chunk{{Index: 0, Key: k, Upper: []string{"10"}}, {Index: 1, Key: k, Lower: []string{"10"}, Upper: []string{"20"}}, {Index: 2, Key: k, Lower: []string{"20"}}}
	require.NoError(t, checkChunks(ok))
	require.NoError(t, checkChunks([]engine.Chunk{{}}))
	for name, bad := range map[string][]engine.Chunk{
		"none":            nil,
		"gap":             {ok[0], {Index: 1, Key: k, Lower: []string{"11"}, Upper: []string{"20"}}, ok[2]},
		"open start":      {{Index: 0, Key: k, Lower: []string{"1"}, Upper: []string{"10"}}, ok[1], ok[2]},
		"open end":        {ok[0], ok[1], {Index: 2, Key: k, Lower: []string{"20"}, Upper: []string{"30"}}},
		"index":           {ok[0], ok[2]},
		"key":             {ok[0], {Index: 1, Key: []string{"x"}, Lower: []string{"10"}, Upper: []string{"20"}}, ok[2]},
		"width":           {ok[0], {Index: 1, Key: k, Lower: []string{"10"}, Upper: []string{"20", "1"}}, ok[2]},
		"one with bounds": {{Index: 0, Key: k, Upper: []string{"10"}}},
	} {
		require.Error(t, checkChunks(bad), name)
	}
}
