package archive

import (
	"sync"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"golang.org/x/sync/errgroup"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// progressRows is how often (in rows) a long table reports progress, so that the activity
// heartbeats while a large table streams.
const progressRows = 50_000

// ExportOptions tunes an export.
type ExportOptions struct {
	// Done are tables finished by an earlier attempt (from Progress.Done). They are kept as
	// they are, provided their files are still in the store with the recorded sizes.
	Done []TableResult
	// Progress is called after each table and every ~50k rows. It runs on the exporting
	// goroutine: keep it quick (a heartbeat).
	Progress func(Progress)
	// Parallel is how many tables are exported at once, each on its own connection
	// (default 2).
	Parallel int
}

// Progress is a snapshot of a running export. Rows and Bytes count the whole archive so
// far, tables done in earlier attempts included.
type Progress struct {
	Table       string // the table being exported, or the one just finished
	TablesDone  int
	TablesTotal int
	Rows        int64
	Bytes       int64
	Done        []TableResult // hand back as ExportOptions.Done on retry
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
}

// Export writes object from src under path: the DDL, each table as Parquet, and
// manifest.json last. Any manifest already at path is removed first, so an archive being
// (re)written never has one and can never pass Verify half done.
func Export(ctx context.Context, src engine.Source, store *Store, path, object string, opts ExportOptions) (ExportResult, error) {
	p, err := archivePath(path)
	if err != nil {
		return ExportResult{}, err
	}
	if err := store.Remove(ctx, p+ManifestName); err != nil {
		return ExportResult{}, err
	}
	m := Manifest{Format: FormatV1, CreatedAt: time.Now().UTC(), Source: src.Info(), Object: object}

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
	m.Tables, err = exportTables(ctx, src, store, p, object, tables, done, m.Files, opts)
	if err != nil {
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
	res := ExportResult{Manifest: m, ManifestKey: p + ManifestName, ManifestSHA256: sum}
	res.Tables, res.Rows, res.Files, res.Bytes = m.Totals()
	res.Files++
	res.Bytes += n
	return res, nil
}

// exportTables exports the tables not already done, opts.Parallel at a time, each on its
// own connection, and returns the manifest entries in the source's table order. Progress
// is reported from one goroutine at a time.
func exportTables(ctx context.Context, src engine.Source, store *Store, p, object string, tables []string, done map[string]TableResult, files []File, opts ExportOptions) ([]TableResult, error) {
	parallel := opts.Parallel
	if parallel <= 0 {
		parallel = 2
	}
	var (
		mu       sync.Mutex
		results  = make([]*TableResult, len(tables))
		finished []TableResult
		inFlight = map[string][2]int64{} // table -> rows, bytes so far
		prog     = Progress{TablesTotal: len(tables)}
	)
	for _, f := range files {
		prog.Bytes += f.Bytes
	}
	// report runs with mu held.
	report := func(table string) {
		if opts.Progress == nil {
			return
		}
		p := prog
		p.Table = table
		for _, v := range inFlight {
			p.Rows += v[0]
			p.Bytes += v[1]
		}
		p.Done = slices.Clone(finished)
		opts.Progress(p)
	}
	finish := func(i int, t TableResult) {
		mu.Lock()
		defer mu.Unlock()
		results[i] = &t
		finished = append(finished, t)
		delete(inFlight, t.Name)
		prog.TablesDone++
		prog.Rows += t.Rows
		prog.Bytes += t.DDL.Bytes
		for _, f := range t.Files {
			prog.Bytes += f.Bytes
		}
		report(t.Name)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for i, name := range tables {
		if t, ok := done[name]; ok {
			finish(i, t)
			continue
		}
		g.Go(func() error {
			t, err := exportTable(gctx, src, store, p, name, func(rows, bytes int64) {
				mu.Lock()
				defer mu.Unlock()
				inFlight[name] = [2]int64{rows, bytes}
				report(name)
			})
			if err != nil {
				return fmt.Errorf("export %s.%s: %w", object, name, err)
			}
			finish(i, t)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]TableResult, len(tables))
	for i, t := range results {
		out[i] = *t
	}
	return out, nil
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

// exportTable writes one table's DDL and data. The Parquet file streams through a pipe into
// the store, so memory holds one row group, never the table.
func exportTable(ctx context.Context, src engine.Source, store *Store, p, table string, progress func(rows, bytes int64)) (TableResult, error) {
	ddl, err := src.TableDDL(ctx, table)
	if err != nil {
		return TableResult{}, fmt.Errorf("DDL: %w", err)
	}
	t := TableResult{Name: table}
	if t.DDL, err = putText(ctx, store, p, tableDDLKey(table), ddl); err != nil {
		return TableResult{}, err
	}
	rows, err := src.Scan(ctx, table)
	if err != nil {
		return TableResult{}, fmt.Errorf("scan: %w", err)
	}
	defer rows.Close()
	t.Columns = slices.Clone(rows.Columns())

	key := partKey(table, 0)
	pr, pw := io.Pipe()
	type putResult struct {
		sum string
		n   int64
		err error
	}
	uploaded := make(chan putResult, 1)
	go func() {
		sum, n, err := store.Put(ctx, p+key, pr, -1, parquetContentType)
		if err != nil {
			// Unblocks the writer when the upload fails half way.
			pr.CloseWithError(err)
		}
		uploaded <- putResult{sum, n, err}
	}()

	counter := &countingWriter{w: pw}
	n, sum, werr := writeRows(rows, t.Columns, table, counter, progress)
	// On a write error the upload reads that error instead of EOF and aborts the multipart
	// upload: no partial object is left behind.
	pw.CloseWithError(werr)
	up := <-uploaded
	switch {
	case up.err != nil:
		return TableResult{}, up.err
	case werr != nil:
		return TableResult{}, werr
	}
	t.Rows = n
	t.Checksum = sum
	t.Files = []DataFile{{Key: key, Bytes: up.n, SHA256: up.sum, Rows: n}}
	return t, nil
}

// writeRows streams the cursor into one Parquet part; it returns the rows and their RowSum.
func writeRows(rows engine.Rows, cols []engine.Column, table string, out *countingWriter, progress func(rows, bytes int64)) (int64, string, error) {
	w, err := newPartWriter(out, table, cols)
	if err != nil {
		return 0, "", err
	}
	vals := make([][]byte, len(cols))
	var n int64
	for rows.Next(vals) {
		if err := w.Write(vals); err != nil {
			return 0, "", err
		}
		if n++; n%progressRows == 0 {
			progress(n, out.n)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, "", fmt.Errorf("scan: %w", err)
	}
	if err := w.Close(); err != nil {
		return 0, "", err
	}
	return w.rows, w.sum.String(), nil
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
		ok := t.Checksum != "" && len(t.Files) > 0
		for _, f := range files {
			if !ok {
				break
			}
			info, err := store.Stat(ctx, p+f.Key)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			ok = err == nil && info.Size == f.Bytes
		}
		if ok {
			out[t.Name] = t
		}
	}
	return out, nil
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
