package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/metrics"
)

// Archive exports the object to the store. It heartbeats the tables and chunks it has
// finished, and a retry (after a crash or a lost worker) continues from them.
func (a *Activities) Archive(ctx context.Context, in ArchiveInput) (ArchiveResult, error) {
	start := time.Now()
	store, err := a.store(ctx, in.Store)
	if err != nil {
		return ArchiveResult{}, err
	}
	if err := store.EnsureBucket(ctx); err != nil {
		return ArchiveResult{}, err
	}
	ad, err := a.adapter(in.Connection)
	if err != nil {
		return ArchiveResult{}, err
	}
	var resume ArchiveProgress
	if activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &resume) == nil {
		activity.GetLogger(ctx).Info("Resuming the archive from the last heartbeat",
			"tables_done", len(resume.Done), "chunks_done", len(resume.DoneChunks), "rows_done", resume.Rows)
	}
	carriedRows, carriedBytes := checkpointed(resume)
	src, err := ad.Source(ctx, in.Object, in.Snapshot)
	if err != nil {
		return ArchiveResult{}, classify(err)
	}
	defer src.Close()

	// The export calls Progress from one goroutine at a time; the keep-alive reads it from
	// another.
	var mu sync.Mutex
	defer keepAliveWith(ctx, func() any { mu.Lock(); defer mu.Unlock(); return resume })()
	defer a.reportEvery(ctx, func() ArchiveCounts { mu.Lock(); defer mu.Unlock(); return resume.ArchiveCounts })()
	last := time.Time{}
	res, err := archive.Export(ctx, src, store, in.Path, in.Object, archive.ExportOptions{
		Done:       resume.Done,
		DoneChunks: resume.DoneChunks,
		ChunkRows:  a.cfg.Archive.ChunkRows,
		Parallel:   a.cfg.Archive.Parallel,
		Progress: func(p archive.Progress) {
			mu.Lock()
			defer mu.Unlock()
			// Checkpoints (a table or a chunk finished) always go out; row ticks at most
			// every few seconds.
			checkpoint := len(p.Done) != len(resume.Done) || p.ChunksDone != resume.ChunksDone
			if !checkpoint && time.Since(last) < 5*time.Second {
				return
			}
			last = time.Now()
			resume = ArchiveProgress{
				ArchiveCounts: ArchiveCounts{Table: p.Table, TablesDone: p.TablesDone, TablesTotal: p.TablesTotal,
					ChunksDone: p.ChunksDone, ChunksTotal: p.ChunksTotal, Rows: p.Rows, Bytes: p.Bytes},
				Done: p.Done, DoneChunks: p.DoneChunks,
			}
			activity.RecordHeartbeat(ctx, resume)
		},
	})
	if err != nil {
		return ArchiveResult{}, classify(err)
	}
	log := activity.GetLogger(ctx)
	log.Info("Archive written", "url", res.URL, "tables", res.Tables, "rows", res.Rows, "bytes", res.Bytes)
	if res.AbortedUploads > 0 {
		log.Info("Aborted incomplete uploads left by interrupted attempts", "url", res.URL, "uploads", res.AbortedUploads)
	}
	for _, p := range res.CleanupProblems {
		log.Warn("Could not clean up incomplete uploads under the archive (they only take space)", "url", res.URL, "problem", p)
	}
	// What this attempt wrote: an earlier attempt's finished tables and chunks were kept.
	metrics.Archived(activity.GetMetricsHandler(ctx), max(res.Rows-carriedRows, 0), max(res.Bytes-carriedBytes, 0), time.Since(start))
	out := ArchiveResult{
		Store: in.Store, Bucket: store.Bucket(), Path: in.Path, URL: res.URL,
		ManifestKey: store.FullKey(res.ManifestKey), ManifestURL: res.ManifestURL,
		ManifestSHA256: res.ManifestSHA256, Tables: res.Tables, Rows: res.Rows, Bytes: res.Bytes, Files: res.Files,
	}
	// What the drop will free, measured now that access is cut and the data exported.
	if fp, ok := ad.(footprinter); ok {
		if n, method, err := fp.Footprint(ctx, in.Object, in.Snapshot); err != nil {
			log.Warn("Could not measure the object on disk; the plan's count stands for the bytes freed", "error", err)
		} else {
			out.OnDiskBytes, out.OnDiskMethod = n, method
		}
	}
	return out, nil
}

// footprinter is an adapter that measures what dropping the object frees on disk, and
// says how it counted (MySQL/MariaDB: tablespace file sizes).
type footprinter interface {
	Footprint(ctx context.Context, object string, snap engine.AccessSnapshot) (bytes int64, method string, err error)
}

// checkpointed counts the rows and bytes of the finished tables and chunks in a checkpoint,
// which a resumed export keeps rather than writes again.
func checkpointed(p ArchiveProgress) (rows, bytes int64) {
	for _, t := range p.Done {
		rows += t.Rows
		bytes += t.DDL.Bytes
		for _, f := range t.Files {
			bytes += f.Bytes
		}
	}
	for _, c := range p.DoneChunks {
		rows += c.Rows
		for _, f := range c.Files {
			bytes += f.Bytes
		}
	}
	return rows, bytes
}

// VerifyArchive reads every object of the archive back and checks sizes, SHA-256, row
// counts and content checksums. A mismatch is a result (OK false), not an error.
func (a *Activities) VerifyArchive(ctx context.Context, in VerifyInput) (Verification, error) {
	store, err := a.store(ctx, in.Store)
	if err != nil {
		return Verification{}, err
	}
	defer keepAlive(ctx)()
	v, err := archive.Verify(ctx, store, in.Path)
	if err != nil {
		return Verification{}, err
	}
	out := Verification{OK: v.OK, Tables: v.Tables, Rows: v.Rows, Files: v.Files, Bytes: v.Bytes, Problems: v.Problems}
	if in.ManifestSHA256 != "" && v.ManifestSHA256 != in.ManifestSHA256 {
		out.OK = false
		out.Problems = append(out.Problems, "manifest.json: not the manifest the export wrote (sha256 "+v.ManifestSHA256+")")
	}
	return out, nil
}
