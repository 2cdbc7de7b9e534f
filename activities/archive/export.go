package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dataretire/retire/activities/engine"
)

const (
	// progressRows is how often (in rows) a chunk reports progress, so that the activity
	// heartbeats while a large chunk streams.
	progressRows = 50_000
	// DefaultChunkRows is how many rows a chunk holds when ExportOptions.ChunkRows is 0.
	DefaultChunkRows = 500_000
	// DefaultParallel is how many chunks are exported at once when ExportOptions.Parallel
	// is 0.
	DefaultParallel = 2
)

// maxPartBytes closes a chunk's Parquet part and starts the next one past this size, so a
// part stays well inside what a multipart upload can hold (10,000 parts of
// streamPartSize) even for a table that cannot be split. A variable for the tests.
var maxPartBytes int64 = 64 << 30

// now is the clock the manifest's created_at is read from; a variable for the tests.
var now = time.Now

// ExportOptions tunes an export.
type ExportOptions struct {
	// Done are tables finished by an earlier attempt (from Progress.Done). They are kept as
	// they are, provided their files are still in the store with the recorded sizes.
	Done []TableResult
	// DoneChunks are chunks of unfinished tables done by an earlier attempt (from
	// Progress.DoneChunks). Each is kept if its table still splits into the same chunk
	// (same index and bounds) and its files are still in the store with the recorded
	// sizes; every other chunk is exported (again), under the same keys, so a part half
	// written by the earlier attempt is overwritten and none is written twice.
	DoneChunks []ChunkResult
	// Progress is called after each chunk and every ~50k rows of a chunk, from one
	// goroutine at a time: keep it quick (a heartbeat).
	Progress func(Progress)
	// Parallel is how many chunks are exported at once, each on its own connection
	// (default 2).
	Parallel int
	// ChunkRows is the number of rows a chunk should hold (default 500,000), for sources
	// that implement engine.Chunker.
	ChunkRows int64
}

// Progress is a snapshot of a running export. Rows and Bytes count the whole archive so
// far, work of earlier attempts included. Done and DoneChunks are the checkpoint: hand
// them back as ExportOptions.Done and DoneChunks on retry.
type Progress struct {
	Table       string // the table being exported, or the one just finished
	TablesDone  int
	TablesTotal int
	// ChunksDone and ChunksTotal count the chunks of the tables planned so far (tables are
	// planned just before they are exported, so ChunksTotal grows).
	ChunksDone  int
	ChunksTotal int
	Rows        int64
	Bytes       int64
	Done        []TableResult // finished tables
	DoneChunks  []ChunkResult // finished chunks of tables not finished yet
}

// ExportResult is a complete, written archive. ManifestKey is relative to the store's prefix
// (usable with Store.Get; Store.FullKey gives the bucket key). Files and Bytes count every
// object of the archive, manifest.json included.
type ExportResult struct {
	Manifest       Manifest
	ManifestKey    string
	ManifestSHA256 string
	Tables         int
	Rows           int64
	Files          int
	Bytes          int64
	// URL is where the archive lies, s3://<bucket>/<store prefix>/<path>/, and ManifestURL
	// its manifest (Store.URL): what records and notices print.
	URL         string
	ManifestURL string
	// AbortedUploads counts the incomplete multipart uploads under the path (left by
	// interrupted attempts) that this export aborted; CleanupProblems says why some could
	// not be looked for or aborted (they never fail the export).
	AbortedUploads  int
	CleanupProblems []string
}

// Export writes object from src under path: the DDL, each table as Parquet (split into
// key-range chunks when src is an engine.Chunker, opts.Parallel chunks at a time), and
// manifest.json last. Any manifest already at path is removed first, so an archive being
// (re)written never has one and can never pass Verify half done.
//
// Chunks of a table are read on separate connections, not in one snapshot: the export
// relies on access having been cut (the quiesce phase) so that nothing changes the data
// while it runs.
func Export(ctx context.Context, src engine.Source, store *Store, path, object string, opts ExportOptions) (ExportResult, error) {
	p, err := archivePath(path)
	if err != nil {
		return ExportResult{}, err
	}
	if err := store.Remove(ctx, p+ManifestName); err != nil {
		return ExportResult{}, err
	}
	// Uploads an interrupted attempt left open under the path are aborted now (where the
	// store lists them by prefix) and key by key as the parts are written again.
	clean := newUploadCleaner(store)
	clean.abort(ctx, p)
	m := Manifest{Format: FormatV1, CreatedAt: NewTimestamp(now()), Source: src.Info(), Object: object, TextEncoding: TextUTF8}

	tables := src.Tables()
	if i := firstDuplicate(tables); i >= 0 {
		return ExportResult{}, fmt.Errorf("source lists table %q twice", tables[i])
	}
	if m.Files, err = exportObjectDDL(ctx, src, store, p, tables); err != nil {
		return ExportResult{}, err
	}
	done, err := stillStored(ctx, store, p, opts.Done)
	if err != nil {
		return ExportResult{}, err
	}
	kept, err := chunksStillStored(ctx, store, p, opts.DoneChunks, done)
	if err != nil {
		return ExportResult{}, err
	}
	e := newExporter(src, store, p, object, tables, opts)
	e.clean = clean
	if m.Tables, err = e.run(ctx, done, kept, m.Files); err != nil {
		clean.failed(ctx, p)
		return ExportResult{}, err
	}
	clean.abort(ctx, p) // what another, lost attempt may have begun meanwhile
	if err := removeStrays(ctx, store, p, m.Tables); err != nil {
		return ExportResult{}, err
	}

	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return ExportResult{}, err
	}
	sum, n, err := store.Put(ctx, p+ManifestName, bytes.NewReader(data), int64(len(data)), "application/json")
	if err != nil {
		return ExportResult{}, err
	}
	res := ExportResult{Manifest: m, ManifestKey: p + ManifestName, ManifestSHA256: sum,
		URL: store.URL(p), ManifestURL: store.URL(p + ManifestName)}
	res.AbortedUploads, res.CleanupProblems = clean.result()
	res.Tables, res.Rows, res.Files, res.Bytes = m.Totals()
	res.Files++
	res.Bytes += n
	return res, nil
}

// exporter runs one export: a planner goroutine walks the tables in order (DDL, chunks)
// and feeds their chunks to opts.Parallel workers.
type exporter struct {
	src       engine.Source
	chunker   engine.Chunker // nil: one Scan per table
	store     *Store
	p, object string
	tables    []string
	opts      ExportOptions
	chunkRows int64
	parallel  int
	clean     *uploadCleaner

	mu       sync.Mutex
	results  []*TableResult // by source position
	finished []TableResult  // in finishing order, for Progress.Done
	open     []*tableState  // planned, not finished, in source order
	inFlight map[*chunkJob][2]int64
	prog     Progress
}

// tableState is a table being exported.
type tableState struct {
	pos     int
	name    string
	ddl     File
	cols    []Column // from this attempt's scans
	chunks  []engine.Chunk
	results []*ChunkResult // by chunk index; nil until done
	left    int
}

type chunkJob struct {
	t *tableState
	c engine.Chunk
}

func newExporter(src engine.Source, store *Store, p, object string, tables []string, opts ExportOptions) *exporter {
	e := &exporter{src: src, store: store, p: p, object: object, tables: tables, opts: opts,
		chunkRows: opts.ChunkRows, parallel: opts.Parallel,
		results: make([]*TableResult, len(tables)), inFlight: map[*chunkJob][2]int64{}}
	e.chunker, _ = src.(engine.Chunker)
	if e.chunkRows <= 0 {
		e.chunkRows = DefaultChunkRows
	}
	if e.parallel <= 0 {
		e.parallel = DefaultParallel
	}
	e.prog.TablesTotal = len(tables)
	return e
}

// run exports the tables not already done and returns the manifest entries in the
// source's table order.
func (e *exporter) run(ctx context.Context, done map[string]TableResult, kept map[string][]ChunkResult, files []File) ([]TableResult, error) {
	for _, f := range files {
		e.prog.Bytes += f.Bytes
	}
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan *chunkJob)
	g.Go(func() error {
		defer close(jobs)
		for pos, name := range e.tables {
			if t, ok := done[name]; ok {
				e.finishTable(pos, t)
				continue
			}
			todo, err := e.plan(gctx, pos, name, kept[name])
			if err != nil {
				return fmt.Errorf("export %s.%s: %w", e.object, name, err)
			}
			for _, j := range todo {
				select {
				case jobs <- j:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
		}
		return nil
	})
	for range e.parallel {
		g.Go(func() error {
			for j := range jobs {
				if err := e.exportChunk(gctx, j); err != nil {
					return fmt.Errorf("export %s.%s chunk %d: %w", e.object, j.t.name, j.c.Index, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]TableResult, len(e.tables))
	for i, t := range e.results {
		if t == nil {
			return nil, fmt.Errorf("export %s.%s: not finished", e.object, e.tables[i]) // cannot happen
		}
		out[i] = *t
	}
	return out, nil
}

// plan writes a table's DDL, splits it into chunks and returns the chunks to export: all
// but those an earlier attempt finished (kept).
func (e *exporter) plan(ctx context.Context, pos int, name string, kept []ChunkResult) ([]*chunkJob, error) {
	ddl, err := e.src.TableDDL(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("DDL: %w", err)
	}
	t := &tableState{pos: pos, name: name}
	if t.ddl, err = putText(ctx, e.store, e.p, tableDDLKey(name), ddl); err != nil {
		return nil, err
	}
	t.chunks = []engine.Chunk{{Index: 0}}
	if e.chunker != nil {
		if t.chunks, err = e.chunker.Chunks(ctx, name, e.chunkRows); err != nil {
			return nil, fmt.Errorf("split into chunks: %w", err)
		}
		if err := checkChunks(t.chunks); err != nil {
			return nil, fmt.Errorf("split into chunks: %w", err)
		}
	}
	t.results = make([]*ChunkResult, len(t.chunks))
	var todo []*chunkJob
	for _, c := range t.chunks {
		i := slices.IndexFunc(kept, func(r ChunkResult) bool { return r.Chunk.Equal(c) && r.Table == name })
		if i >= 0 {
			t.results[c.Index] = &kept[i]
			continue
		}
		todo = append(todo, &chunkJob{t: t, c: c})
	}
	if len(todo) == 0 {
		// Every chunk was kept, yet the table was not finished (it split differently the
		// last time): export its last chunk again, which also tells the columns.
		last := t.chunks[len(t.chunks)-1]
		t.results[last.Index] = nil
		todo = append(todo, &chunkJob{t: t, c: last})
	}
	t.left = len(todo)

	e.mu.Lock()
	defer e.mu.Unlock()
	e.open = append(e.open, t)
	e.prog.ChunksTotal += len(t.chunks)
	e.prog.Bytes += t.ddl.Bytes
	for _, r := range t.results {
		if r != nil {
			e.prog.ChunksDone++
			e.prog.Rows += r.Rows
			for _, f := range r.Files {
				e.prog.Bytes += f.Bytes
			}
		}
	}
	return todo, nil
}

// checkChunks holds a Chunker to its contract, on which "every row exactly once" rests.
func checkChunks(chunks []engine.Chunk) error {
	if len(chunks) == 0 {
		return errors.New("no chunks")
	}
	first, last := chunks[0], chunks[len(chunks)-1]
	if first.Lower != nil || last.Upper != nil {
		return errors.New("the first chunk must start at the first row and the last end at the last")
	}
	for i, c := range chunks {
		if c.Index != i {
			return fmt.Errorf("chunk %d has index %d", i, c.Index)
		}
		if !slices.Equal(c.Key, first.Key) {
			return fmt.Errorf("chunk %d is on another key", i)
		}
		for _, b := range [][]string{c.Lower, c.Upper} {
			if b != nil && len(b) != len(c.Key) {
				return fmt.Errorf("chunk %d: a bound has %d values for %d key columns", i, len(b), len(c.Key))
			}
		}
		if i > 0 && (c.Lower == nil || !slices.Equal(c.Lower, chunks[i-1].Upper)) {
			return fmt.Errorf("chunk %d does not start where chunk %d ends", i, i-1)
		}
	}
	return nil
}

// exportChunk scans one chunk into one Parquet part (more past maxPartBytes), each
// streamed through a pipe into the store: memory holds one row group, never the chunk.
func (e *exporter) exportChunk(ctx context.Context, j *chunkJob) (err error) {
	var rows engine.Rows
	if e.chunker != nil {
		rows, err = e.chunker.ScanChunk(ctx, j.t.name, j.c)
	} else {
		rows, err = e.src.Scan(ctx, j.t.name)
	}
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	defer rows.Close()
	cols, err := manifestColumns(rows.Columns())
	if err != nil {
		return err
	}
	res := ChunkResult{Table: j.t.name, Chunk: j.c}
	var sum RowSum
	vals := make([][]byte, len(cols))
	pending := false // vals holds a row not written yet
	for part := 0; ; part++ {
		if part > 0 {
			if !rows.Next(vals) {
				break
			}
			pending = true
		}
		f, partSum, full, err := e.writePart(ctx, j, partKey(j.t.name, j.c.Index, part), cols, rows, vals, pending, res.Rows)
		if err != nil {
			return err
		}
		pending = false
		res.Files = append(res.Files, f)
		res.Rows += f.Rows
		sum.Add(&partSum)
		if !full {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	res.Checksum = sum.String()
	return e.chunkDone(j, res, cols)
}

// writePart writes rows into one part until they run out (full false) or the part reaches
// maxPartBytes (full true).
func (e *exporter) writePart(ctx context.Context, j *chunkJob, key string, cols []Column, rows engine.Rows, vals [][]byte, pending bool, before int64) (f DataFile, sum RowSum, full bool, err error) {
	pr, pw := io.Pipe()
	type putResult struct {
		sum string
		n   int64
		err error
	}
	uploaded := make(chan putResult, 1)
	// An earlier attempt may have left this key's upload open (it died while the part
	// streamed): abort it before writing the part again.
	e.clean.begin(ctx, e.p+key)
	go func() {
		sum, n, err := e.store.Put(ctx, e.p+key, pr, -1, parquetContentType)
		if err != nil {
			// Unblocks the writer when the upload fails half way.
			pr.CloseWithError(err)
		} else {
			e.clean.end(e.p + key)
		}
		uploaded <- putResult{sum, n, err}
	}()

	out := &countingWriter{w: pw}
	n, werr := func() (int64, error) {
		w, err := newPartWriter(out, j.t.name, cols)
		if err != nil {
			return 0, err
		}
		if pending {
			if err := w.Write(vals); err != nil {
				return 0, err
			}
		}
		for out.n < maxPartBytes {
			if !rows.Next(vals) {
				if err := rows.Err(); err != nil {
					return 0, fmt.Errorf("scan: %w", err)
				}
				break
			}
			if err := w.Write(vals); err != nil {
				return 0, err
			}
			if w.seen%progressRows == 0 {
				e.progress(j, before+w.seen, out.n)
			}
		}
		full = out.n >= maxPartBytes
		if err := w.Close(); err != nil {
			return 0, err
		}
		sum = w.sum
		return w.rows, nil
	}()
	// On a write error the upload reads that error instead of EOF and aborts the multipart
	// upload: no partial object is left behind.
	pw.CloseWithError(werr)
	up := <-uploaded
	switch {
	case up.err != nil:
		return DataFile{}, RowSum{}, false, up.err
	case werr != nil:
		return DataFile{}, RowSum{}, false, werr
	}
	return DataFile{Key: key, Bytes: up.n, SHA256: up.sum, Rows: n}, sum, full, nil
}

// progress records a chunk's rows and bytes so far and reports.
func (e *exporter) progress(j *chunkJob, rows, bytes int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.inFlight[j] = [2]int64{rows, bytes}
	e.report(j.t.name)
}

// chunkDone records a finished chunk, and its table if it was the last.
func (e *exporter) chunkDone(j *chunkJob, r ChunkResult, cols []Column) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := j.t
	if t.cols == nil {
		t.cols = cols
	} else if !slices.EqualFunc(t.cols, cols, func(a, b Column) bool { return a == b }) {
		return fmt.Errorf("table %s: its columns changed between two chunks", t.name)
	}
	delete(e.inFlight, j)
	t.results[j.c.Index] = &r
	t.left--
	e.prog.ChunksDone++
	e.prog.Rows += r.Rows
	for _, f := range r.Files {
		e.prog.Bytes += f.Bytes
	}
	if t.left > 0 {
		e.report(t.name)
		return nil
	}
	// The table is complete: its manifest entry adds up its chunks, in key order.
	tr := TableResult{Name: t.name, Columns: t.cols, DDL: t.ddl}
	var sum RowSum
	for _, c := range t.results {
		s, err := ParseRowSum(c.Checksum)
		if err != nil {
			return fmt.Errorf("table %s chunk %d: %w", t.name, c.Chunk.Index, err)
		}
		sum.Add(&s)
		tr.Rows += c.Rows
		tr.Files = append(tr.Files, c.Files...)
	}
	tr.Checksum = sum.String()
	e.open = slices.DeleteFunc(e.open, func(o *tableState) bool { return o == t })
	e.finishLocked(t.pos, tr)
	return nil
}

// finishTable records a table finished by an earlier attempt.
func (e *exporter) finishTable(pos int, t TableResult) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.prog.ChunksTotal += len(t.Files)
	e.prog.ChunksDone += len(t.Files)
	e.prog.Rows += t.Rows
	e.prog.Bytes += t.DDL.Bytes
	for _, f := range t.Files {
		e.prog.Bytes += f.Bytes
	}
	e.finishLocked(pos, t)
}

func (e *exporter) finishLocked(pos int, t TableResult) {
	e.results[pos] = &t
	e.finished = append(e.finished, t)
	e.prog.TablesDone++
	e.report(t.Name)
}

// report runs with mu held.
func (e *exporter) report(table string) {
	if e.opts.Progress == nil {
		return
	}
	p := e.prog
	p.Table = table
	for _, v := range e.inFlight {
		p.Rows += v[0]
		p.Bytes += v[1]
	}
	p.Done = slices.Clone(e.finished)
	for _, t := range e.open {
		for _, r := range t.results {
			if r != nil {
				p.DoneChunks = append(p.DoneChunks, *r)
			}
		}
	}
	e.opts.Progress(p)
}

// exportObjectDDL writes the object-level DDL files: the standard five always (empty when the
// object has none), plus any other file the engine provides, in name order.
func exportObjectDDL(ctx context.Context, src engine.Source, store *Store, p string, tables []string) ([]File, error) {
	ddl, err := src.ObjectDDL(ctx)
	if err != nil {
		return nil, fmt.Errorf("object DDL: %w", err)
	}
	names := slices.Clone(ObjectDDLFiles)
	var extra []string
	for name := range ddl {
		if !slices.Contains(names, name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	var files []File
	for _, name := range append(names, extra...) {
		if strings.Contains(name, "/") || checkKey(name) != nil {
			return nil, fmt.Errorf("object DDL: invalid file name %q", name)
		}
		for _, table := range tables {
			if tableDDLKey(table) == "schema/"+name {
				return nil, fmt.Errorf("object DDL file %q would overwrite the DDL of table %q", name, table)
			}
		}
		f, err := putText(ctx, store, p, "schema/"+name, ddl[name])
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func putText(ctx context.Context, store *Store, p, key, text string) (File, error) {
	sum, n, err := store.Put(ctx, p+key, strings.NewReader(text), int64(len(text)), "application/sql; charset=utf-8")
	if err != nil {
		return File{}, err
	}
	return File{Key: key, SHA256: sum, Bytes: n}, nil
}

// countingWriter counts the Parquet bytes handed to the upload, for progress.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// stillStored keeps the Done tables whose files are all still in the store with their
// recorded sizes; the others are exported again.
func stillStored(ctx context.Context, store *Store, p string, done []TableResult) (map[string]TableResult, error) {
	out := make(map[string]TableResult, len(done))
	for _, t := range done {
		files := []File{t.DDL}
		for _, f := range t.Files {
			files = append(files, File{Key: f.Key, Bytes: f.Bytes})
		}
		ok := t.Checksum != "" && len(t.Files) > 0 && len(t.Columns) > 0
		for _, c := range t.Columns {
			ok = ok && c.Encoding != ""
		}
		if ok {
			var err error
			if ok, err = allStored(ctx, store, p, files); err != nil {
				return nil, err
			}
		}
		if ok {
			out[t.Name] = t
		}
	}
	return out, nil
}

// chunksStillStored keeps, per table, the done chunks whose files are all still in the
// store with their recorded sizes, under the keys the chunk would write; chunks of tables
// already done as a whole are left out.
func chunksStillStored(ctx context.Context, store *Store, p string, chunks []ChunkResult, done map[string]TableResult) (map[string][]ChunkResult, error) {
	out := map[string][]ChunkResult{}
	for _, c := range chunks {
		if _, ok := done[c.Table]; ok {
			continue
		}
		if _, err := ParseRowSum(c.Checksum); err != nil || len(c.Files) == 0 {
			continue
		}
		var files []File
		var rows int64
		ok := true
		for i, f := range c.Files {
			ok = ok && f.Key == partKey(c.Table, c.Chunk.Index, i)
			files = append(files, File{Key: f.Key, Bytes: f.Bytes})
			rows += f.Rows
		}
		if !ok || rows != c.Rows || slices.ContainsFunc(out[c.Table], func(o ChunkResult) bool { return o.Chunk.Index == c.Chunk.Index }) {
			continue
		}
		stored, err := allStored(ctx, store, p, files)
		if err != nil {
			return nil, err
		}
		if stored {
			out[c.Table] = append(out[c.Table], c)
		}
	}
	return out, nil
}

func allStored(ctx context.Context, store *Store, p string, files []File) (bool, error) {
	for _, f := range files {
		info, err := store.Stat(ctx, p+f.Key)
		if errors.Is(err, ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if info.Size != f.Bytes {
			return false, nil
		}
	}
	return true, nil
}

// removeStrays deletes Parquet parts under data/ that the manifest does not list: parts of
// a split that changed since an earlier attempt, or of a table no longer there. An archive
// holds exactly what its manifest says.
func removeStrays(ctx context.Context, store *Store, p string, tables []TableResult) error {
	listed := map[string]bool{}
	for _, t := range tables {
		for _, f := range t.Files {
			listed[p+f.Key] = true
		}
	}
	objs, err := store.List(ctx, p+"data/")
	if err != nil {
		return err
	}
	for _, o := range objs {
		if !listed[o.Key] {
			if err := store.Remove(ctx, o.Key); err != nil {
				return err
			}
		}
	}
	return nil
}

func firstDuplicate(names []string) int {
	seen := make(map[string]bool, len(names))
	for i, n := range names {
		if seen[n] {
			return i
		}
		seen[n] = true
	}
	return -1
}
