package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"
)

var (
	// ErrNoManifest means there is no manifest.json at the path: the archive was never
	// completed, or it was deleted.
	ErrNoManifest = errors.New("no manifest.json (archive incomplete or deleted)")
	// ErrBadManifest means manifest.json exists but is not a v1 manifest.
	ErrBadManifest = errors.New("manifest.json is not a valid retire-archive/v1 manifest")
)

// maxManifestBytes guards against reading something that is not a manifest into memory.
const maxManifestBytes = 64 << 20

// Verification is the outcome of reading an archive back. A mismatch is a Problem, not an
// error: errors are for the store being unreachable, which a retry may fix.
type Verification struct {
	OK     bool
	Tables int64
	Rows   int64 // rows decoded from the Parquet files
	Files  int64 // files re-read, manifest.json included
	Bytes  int64
	// Problems are one line each, naming the file or table.
	Problems       []string
	ManifestSHA256 string
}

// ReadManifest reads path's manifest and returns it with its SHA-256 (hex), so a caller can
// check that it is still there and unchanged. A missing manifest is ErrNoManifest, an
// unreadable one ErrBadManifest (both wrapped).
func ReadManifest(ctx context.Context, store *Store, path string) (Manifest, string, error) {
	m, sum, _, err := readManifest(ctx, store, path)
	return m, sum, err
}

func readManifest(ctx context.Context, store *Store, path string) (Manifest, string, int64, error) {
	p, err := archivePath(path)
	if err != nil {
		return Manifest{}, "", 0, err
	}
	r, err := store.Get(ctx, p+ManifestName)
	if errors.Is(err, ErrNotFound) {
		return Manifest{}, "", 0, fmt.Errorf("%s: %w", p, ErrNoManifest)
	}
	if err != nil {
		return Manifest{}, "", 0, err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxManifestBytes+1))
	if err != nil {
		return Manifest{}, "", 0, fmt.Errorf("read %s%s: %w", p, ManifestName, err)
	}
	sum := sha256.Sum256(data)
	var m Manifest
	switch err := json.Unmarshal(data, &m); {
	case len(data) > maxManifestBytes:
		return Manifest{}, "", 0, fmt.Errorf("%s: %w: larger than %d bytes", p, ErrBadManifest, maxManifestBytes)
	case err != nil:
		return Manifest{}, "", 0, fmt.Errorf("%s: %w: %v", p, ErrBadManifest, err)
	case m.Format != FormatV1:
		return Manifest{}, "", 0, fmt.Errorf("%s: %w: format %q", p, ErrBadManifest, m.Format)
	}
	return m, hex.EncodeToString(sum[:]), int64(len(data)), nil
}

// Verify reads the whole archive back: every file's size and SHA-256, every Parquet part's
// schema and row count, and each table's content checksum recomputed from the values
// ReadTable decodes (the very code a restore reads through). Each part is downloaded to a
// temporary file (Parquet needs random access; one download serves both the hash and the
// decoding), verifyParallel parts at a time; the content checksum does not depend on row
// order, so the parts' sums add up whatever order they finish in.
func Verify(ctx context.Context, store *Store, path string) (v Verification, err error) {
	m, sum, size, err := readManifest(ctx, store, path)
	if errors.Is(err, ErrNoManifest) || errors.Is(err, ErrBadManifest) {
		v.Problems = append(v.Problems, err.Error())
		return v, nil
	}
	if err != nil {
		return v, err
	}
	p, _ := archivePath(path)
	v.ManifestSHA256 = sum
	var mu sync.Mutex
	tr := &tableReader{ctx: ctx, store: store, p: p, files: 1, bytes: size, problem: func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		v.Problems = append(v.Problems, msg)
	}}
	defer func() { v.Files, v.Bytes = tr.files, tr.bytes }()

	for _, f := range m.Files {
		if err := tr.checkFile(f); err != nil {
			return v, err
		}
	}
	for _, t := range m.Tables {
		if err := tr.checkFile(t.DDL); err != nil {
			return v, err
		}
	}
	parts, err := tr.readParts(m.Tables)
	if err != nil {
		return v, err
	}
	for i, t := range m.Tables {
		v.Tables++
		v.checkTable(t, parts[i])
	}
	sort.Strings(v.Problems) // parts finish in any order; the report should not
	v.OK = len(v.Problems) == 0
	return v, nil
}

// verifyParallel parts are read at once: on two cores one download hashes while another
// part decodes.
const verifyParallel = 2

// partRead is what one part gave back; damaged parts were reported through problem.
type partRead struct {
	rows    int64
	sum     RowSum
	damaged bool
}

// readParts reads every part of every table, verifyParallel at a time.
func (tr *tableReader) readParts(tables []TableResult) ([][]partRead, error) {
	out := make([][]partRead, len(tables))
	g, gctx := errgroup.WithContext(tr.ctx)
	g.SetLimit(verifyParallel)
	parent := tr.ctx
	tr.ctx = gctx
	defer func() { tr.ctx = parent }()
	for i, t := range tables {
		out[i] = make([]partRead, len(t.Files))
		for j, f := range t.Files {
			g.Go(func() error {
				r := &out[i][j]
				n, err := tr.part(t, f, &r.sum, nil)
				var d *damage
				if errors.As(err, &d) {
					tr.problem(d.msg)
					r.damaged = true
					return nil
				}
				r.rows = n
				return err
			})
		}
	}
	return out, g.Wait()
}

// checkFile re-reads a small file and compares its size and SHA-256.
func (tr *tableReader) checkFile(f File) error {
	err := tr.fetch(f.Key, f.Bytes, f.SHA256, io.Discard)
	var d *damage
	if errors.As(err, &d) {
		tr.problem(d.msg)
		return nil
	}
	return err
}

// checkTable checks a table's row count and content checksum against what its parts gave.
func (v *Verification) checkTable(t TableResult, parts []partRead) {
	if len(t.Files) == 0 {
		v.problem("table %s: no data files in the manifest", t.Name)
		return
	}
	var listed, rows int64
	var sum RowSum
	damaged := false
	for i, f := range t.Files {
		listed += f.Rows
		rows += parts[i].rows
		sum.Add(&parts[i].sum)
		damaged = damaged || parts[i].damaged
	}
	v.Rows += rows
	if damaged {
		return // the part's problem says it all; totals below would only repeat it
	}
	if rows != t.Rows || listed != t.Rows {
		v.problem("table %s: %d rows read back, manifest says %d", t.Name, rows, t.Rows)
	}
	if got := sum.String(); got != t.Checksum {
		v.problem("table %s: content checksum mismatch: read back %s, manifest says %s", t.Name, got, t.Checksum)
	}
}

func (v *Verification) problem(format string, args ...any) {
	v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
}
