package archive

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// leaveUpload starts a multipart upload of key (relative to the store's prefix) and sends
// one part without completing it, as a worker killed in the middle of a part leaves it.
func leaveUpload(t *testing.T, s *Store, key string) {
	t.Helper()
	core := minio.Core{Client: s.client}
	id, err := core.NewMultipartUpload(t.Context(), s.bucket, s.FullKey(key), minio.PutObjectOptions{ContentType: parquetContentType})
	require.NoError(t, err)
	part := bytes.Repeat([]byte("parquet?"), 1<<17) // 1 MiB
	_, err = core.PutObjectPart(t.Context(), s.bucket, s.FullKey(key), id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{})
	require.NoError(t, err)
}

// incomplete counts the incomplete uploads of key, asked by its exact name: MinIO lists
// them no other way.
func incomplete(t *testing.T, s *Store, key string) int {
	t.Helper()
	n := 0
	for u := range s.client.ListIncompleteUploads(t.Context(), s.bucket, s.FullKey(key), true) {
		require.NoError(t, u.Err)
		if u.Key == s.FullKey(key) {
			n++
		}
	}
	return n
}

// The retry of an interrupted export aborts what the interrupted attempt left open: parts
// it was streaming when it died, two of one key when it died twice.
func TestExportAbortsUploadsLeftByInterruptedAttempts(t *testing.T) {
	s, _ := testStore(t)
	payment, empty := testPath+partKey("payment", 0, 0), testPath+partKey("empty", 0, 0)
	leaveUpload(t, s, payment)
	leaveUpload(t, s, payment)
	leaveUpload(t, s, empty)
	require.Equal(t, 2, incomplete(t, s, payment), "the uploads are there to begin with")
	require.Equal(t, 1, incomplete(t, s, empty))

	res := export(t, s, testSource(), ExportOptions{})
	require.Zero(t, incomplete(t, s, payment))
	require.Zero(t, incomplete(t, s, empty))
	require.Equal(t, 3, res.AbortedUploads)
	require.Empty(t, res.CleanupProblems)
	v, err := Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)

	// Nothing left, nothing to abort the next time.
	res = export(t, s, testSource(), ExportOptions{})
	require.Zero(t, res.AbortedUploads)
}

// A chunked export resumed from its checkpoint writes again only the chunks that were not
// done, and aborts the upload of the one that was under way when the attempt died.
func TestResumedExportAbortsTheChunkUnderWay(t *testing.T) {
	s, _ := testStore(t)
	var checkpoint Progress
	export(t, s, chunkedTestSource(), ExportOptions{ChunkRows: 10_000, Parallel: 1, Progress: func(p Progress) {
		if checkpoint.DoneChunks == nil && len(p.DoneChunks) >= 3 {
			checkpoint = p
		}
	}})
	require.Len(t, checkpoint.Done, 2, "the two small tables")
	next := len(checkpoint.DoneChunks) // one worker: chunks finish in order
	underWay := testPath + partKey("payment", next, 0)
	leaveUpload(t, s, underWay)

	src := chunkedTestSource()
	res := export(t, s, src, ExportOptions{ChunkRows: 10_000, Done: checkpoint.Done, DoneChunks: checkpoint.DoneChunks})
	require.Equal(t, 1, src.scannedChunks("payment")[next], "the chunk under way is written again")
	require.Zero(t, incomplete(t, s, underWay))
	require.Equal(t, 1, res.AbortedUploads)
	v, err := Verify(t.Context(), s, testPath)
	require.NoError(t, err)
	require.True(t, v.OK, "problems: %v", v.Problems)
}

// AbortUploads aborts the uploads of the keys named and those listed under the prefix,
// never any elsewhere.
func TestAbortUploads(t *testing.T) {
	s, _ := testStore(t)
	ctx := t.Context()
	a, b, elsewhere := testPath+"data/t/part-00000.parquet", testPath+"data/u/part-00003-001.parquet", "archive/local/other/run-9/data/t/part-00000.parquet"
	leaveUpload(t, s, a)
	leaveUpload(t, s, a)
	leaveUpload(t, s, b)
	leaveUpload(t, s, elsewhere)

	n, err := s.AbortUploads(ctx, "", b)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, incomplete(t, s, b))
	require.Equal(t, 2, incomplete(t, s, a), "only the key named")

	n, err = s.AbortUploads(ctx, testPath, a, b)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Zero(t, incomplete(t, s, a))
	require.Equal(t, 1, incomplete(t, s, elsewhere), "an upload outside the path is left alone")

	n, err = s.AbortUploads(ctx, "")
	require.NoError(t, err)
	require.Zero(t, n, "an empty prefix lists nothing")
	require.Equal(t, 1, incomplete(t, s, elsewhere))
	_, err = s.AbortUploads(ctx, "", "../x")
	require.Error(t, err)
	_, err = s.AbortUploads(ctx, "/abs/")
	require.Error(t, err)
}

// The store goes away while a part streams: the upload can be neither finished nor
// aborted, and stays open. The retry, once the store is back, aborts it.
func TestExportAfterAStoreOutageLeavesNoUpload(t *testing.T) {
	// The stall comes before the Parquet writer flushed anything: without the read-ahead,
	// the upload begins before the first byte, as a large table's does.
	was := smallPut
	smallPut = 0
	t.Cleanup(func() { smallPut = was })
	s, srv := testStore(t)
	key := testPath + partKey("payment", 0, 0)
	src := &stallingSource{fakeSource: testSource(), table: "payment", after: 1000, stall: make(chan struct{}), stalled: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	failed := make(chan error, 1)
	go func() {
		_, err := Export(ctx, src, s, testPath, "shop", ExportOptions{})
		failed <- err
	}()
	select {
	case <-src.stalled:
	case err := <-failed:
		t.Fatalf("the export ended before it stalled: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the export never reached the stall")
	}
	require.Eventually(t, func() bool { return incomplete(t, s, key) == 1 }, 30*time.Second, 50*time.Millisecond, "the part's upload is open")
	srv.Stop()
	cancel() // the worker gives up (heartbeat timeout), the store still gone
	close(src.stall)
	select {
	case err := <-failed:
		require.Error(t, err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the export did not end")
	}
	srv.Start()
	require.Equal(t, 1, incomplete(t, s, key), "the outage left the upload open")

	res := export(t, s, testSource(), ExportOptions{})
	for _, table := range src.Tables() { // the small tables may have been streaming too
		require.Zero(t, incomplete(t, s, testPath+partKey(table, 0, 0)), table)
	}
	require.GreaterOrEqual(t, res.AbortedUploads, 1)
}

// stallingSource stops in the middle of one table's scan until stall is closed.
type stallingSource struct {
	*fakeSource
	table   string
	after   int
	stall   chan struct{}
	stalled chan struct{}
	once    sync.Once
}

func (s *stallingSource) Scan(ctx context.Context, name string) (engine.Rows, error) {
	rows, err := s.fakeSource.Scan(ctx, name)
	if err != nil || name != s.table {
		return rows, err
	}
	return &stallingRows{Rows: rows, s: s}, nil
}

type stallingRows struct {
	engine.Rows
	s *stallingSource
	n int
}

func (r *stallingRows) Next(dst [][]byte) bool {
	if r.n++; r.n == r.s.after {
		r.s.once.Do(func() { close(r.s.stalled) })
		<-r.s.stall
	}
	return r.Rows.Next(dst)
}
