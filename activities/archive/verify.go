package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
// ReadTable decodes (the very code a restore reads through). Parts are downloaded to a
// temporary file one at a time (Parquet needs random access; one download serves both
// the hash and the decoding).
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
	tr := &tableReader{ctx: ctx, store: store, p: p, files: 1, bytes: size, problem: func(msg string) { v.Problems = append(v.Problems, msg) }}
	defer func() { v.Files, v.Bytes = tr.files, tr.bytes }()

	for _, f := range m.Files {
		if err := tr.checkFile(f); err != nil {
			return v, err
		}
	}
	for _, t := range m.Tables {
		v.Tables++
		if err := tr.checkFile(t.DDL); err != nil {
			return v, err
		}
		if err := v.checkTable(tr, t); err != nil {
			return v, err
		}
	}
	v.OK = len(v.Problems) == 0
	return v, nil
}

func (v *Verification) problem(format string, args ...any) {
	v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
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

// checkTable reads every part of a table back, then checks the table's row count and
// content checksum.
func (v *Verification) checkTable(tr *tableReader, t TableResult) error {
	if len(t.Files) == 0 {
		v.problem("table %s: no data files in the manifest", t.Name)
		return nil
	}
	var listed int64
	for _, f := range t.Files {
		listed += f.Rows
	}
	before := len(v.Problems)
	rows, sum, err := tr.read(t, nil)
	v.Rows += rows
	if err != nil {
		return err
	}
	if len(v.Problems) > before {
		return nil // the part's problem says it all; totals below would only repeat it
	}
	if rows != t.Rows || listed != t.Rows {
		v.problem("table %s: %d rows read back, manifest says %d", t.Name, rows, t.Rows)
	}
	if got := sum.String(); got != t.Checksum {
		v.problem("table %s: content checksum mismatch: read back %s, manifest says %s", t.Name, got, t.Checksum)
	}
	return nil
}
