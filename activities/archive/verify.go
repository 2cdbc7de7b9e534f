package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dataretire/retire/activities/engine"
	"github.com/parquet-go/parquet-go"
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
// schema and row count, and each table's content checksum recomputed from the decoded
// values. Parts are downloaded to a temporary file one at a time (Parquet needs random
// access; one download serves both the hash and the decoding).
func Verify(ctx context.Context, store *Store, path string) (Verification, error) {
	var v Verification
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
	v.Files, v.Bytes = 1, size

	for _, f := range m.Files {
		if err := v.checkFile(ctx, store, p, f); err != nil {
			return v, err
		}
	}
	for _, t := range m.Tables {
		v.Tables++
		if err := v.checkFile(ctx, store, p, t.DDL); err != nil {
			return v, err
		}
		if err := v.checkTable(ctx, store, p, t); err != nil {
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
func (v *Verification) checkFile(ctx context.Context, store *Store, p string, f File) error {
	_, err := v.fetch(ctx, store, p, f.Key, f.Bytes, f.SHA256, io.Discard)
	return err
}

// fetch copies key to w while hashing it; it records a problem and returns false when the
// object is missing or differs from what the manifest says.
func (v *Verification) fetch(ctx context.Context, store *Store, p, key string, size int64, sha string, w io.Writer) (bool, error) {
	if checkKey(key) != nil {
		v.problem("%s: invalid key in manifest", key)
		return false, nil
	}
	r, err := store.Get(ctx, p+key)
	if errors.Is(err, ErrNotFound) {
		v.problem("%s: missing (listed in the manifest, not in the store)", key)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, w), r)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", p+key, err)
	}
	v.Files++
	v.Bytes += n
	switch {
	case n != size:
		v.problem("%s: %d bytes, manifest says %d (archive corrupted?)", key, n, size)
		return false, nil
	case hex.EncodeToString(h.Sum(nil)) != sha:
		v.problem("%s: sha256 mismatch (archive corrupted?)", key)
		return false, nil
	}
	return true, nil
}

// checkTable checks every part of a table, then the table's row count and checksum.
func (v *Verification) checkTable(ctx context.Context, store *Store, p string, t TableResult) error {
	if len(t.Files) == 0 {
		v.problem("table %s: no data files in the manifest", t.Name)
		return nil
	}
	kinds := kindsOf(t.Columns)
	var sum RowSum
	var rows, listed int64
	intact := true
	for _, f := range t.Files {
		listed += f.Rows
		n, ok, err := v.checkPart(ctx, store, p, t, f, kinds, &sum)
		if err != nil {
			return err
		}
		rows += n
		intact = intact && ok
	}
	v.Rows += rows
	if !intact {
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

func (v *Verification) checkPart(ctx context.Context, store *Store, p string, t TableResult, f DataFile, kinds []engine.Kind, sum *RowSum) (int64, bool, error) {
	tmp, err := os.CreateTemp("", "retire-verify-*.parquet")
	if err != nil {
		return 0, false, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	ok, err := v.fetch(ctx, store, p, f.Key, f.Bytes, f.SHA256, tmp)
	if err != nil || !ok {
		return 0, false, err
	}
	var part RowSum
	n, err := readPart(tmp, f.Bytes, t.Name, t.Columns, func(row parquet.Row) error {
		return part.AddRow(kinds, row)
	})
	if err != nil {
		v.problem("%s: %v", f.Key, err)
		return n, false, nil
	}
	if n != f.Rows {
		v.problem("%s: %d rows, manifest says %d", f.Key, n, f.Rows)
		return n, false, nil
	}
	sum.Add(&part)
	return n, true, nil
}
