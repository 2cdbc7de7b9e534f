package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// ReadTable streams table rows from an archive back as the exact source values: each
// value is the bytes the source engine printed for it (nil = NULL, an empty value is
// non-nil), i.e. exactly what engine.Rows.Next yielded at export, in the notation of its
// column's engine.Kind. Rows of all parts, in part order (which is key order for chunked
// tables); the row passed to fn is valid only during the call.
//
// This is the contract restore is written against, and Verify reads through the same
// code: every part is checked against its size and SHA-256 in the manifest before it is
// decoded, and the table against its row count and content checksum (recomputed from the
// values handed to fn). A mismatch is an error; rows already handed to fn are then not to
// be trusted (a restore drops what it loaded).
func ReadTable(ctx context.Context, store *Store, path string, table TableResult, fn func(row [][]byte) error) error {
	p, err := archivePath(path)
	if err != nil {
		return err
	}
	tr := tableReader{ctx: ctx, store: store, p: p}
	rows, sum, err := tr.read(table, fn)
	if err != nil {
		return err
	}
	if rows != table.Rows {
		return fmt.Errorf("table %s: %d rows read back, manifest says %d", table.Name, rows, table.Rows)
	}
	if got := sum.String(); got != table.Checksum {
		return fmt.Errorf("table %s: content checksum mismatch: read back %s, manifest says %s", table.Name, got, table.Checksum)
	}
	return nil
}

// damage is a difference between the archive and its manifest (a file missing, of another
// size or hash, undecodable, with other rows): Verify reports it as a problem, ReadTable
// fails with it. Other errors (the store unreachable) are returned as they are.
type damage struct{ msg string }

func (d *damage) Error() string { return d.msg }

func damaged(format string, args ...any) error { return &damage{fmt.Sprintf(format, args...)} }

// tableReader reads parts back; files and bytes count what it downloaded. With keepGoing,
// a damaged part is reported to problem and the next part is read.
type tableReader struct {
	ctx   context.Context
	store *Store
	p     string // archive path, with its trailing slash
	mu    sync.Mutex
	files int64
	bytes int64
	// problem, when set, receives each damaged part and reading goes on.
	problem func(msg string)
}

// read decodes every part of t in order through fn and returns the rows and their sum.
// With problem set, a damaged part is reported and skipped, and intact parts are still
// read: the error is then always nil or a store error, and the caller must not compare
// totals if a problem was reported.
func (tr *tableReader) read(t TableResult, fn func([][]byte) error) (int64, RowSum, error) {
	var sum RowSum
	var rows int64
	for _, f := range t.Files {
		n, err := tr.part(t, f, &sum, fn)
		rows += n
		var d *damage
		if errors.As(err, &d) && tr.problem != nil {
			tr.problem(d.msg)
			continue
		}
		if err != nil {
			return rows, sum, err
		}
	}
	return rows, sum, nil
}

func (tr *tableReader) part(t TableResult, f DataFile, sum *RowSum, fn func([][]byte) error) (int64, error) {
	tmp, err := os.CreateTemp("", "retire-read-*.parquet")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := tr.fetch(f.Key, f.Bytes, f.SHA256, tmp); err != nil {
		return 0, err
	}
	// The part's rows count only once they all decoded: a damaged part adds nothing.
	var part RowSum
	n, err := decodePart(tmp, f.Bytes, t.Name, t.Columns, &part, fn)
	var fe *fnError
	switch {
	case errors.As(err, &fe):
		return n, fmt.Errorf("%s: %w", f.Key, fe.err) // the caller's own error, not damage
	case err != nil:
		return 0, damaged("%s: %v", f.Key, err)
	}
	if n != f.Rows {
		return 0, damaged("%s: %d rows, manifest says %d", f.Key, n, f.Rows)
	}
	sum.Add(&part)
	return n, nil
}

// fetch copies key to w while hashing it, and checks size and SHA-256.
func (tr *tableReader) fetch(key string, size int64, sha string, w io.Writer) error {
	if checkKey(key) != nil {
		return damaged("%s: invalid key in manifest", key)
	}
	r, err := tr.store.Get(tr.ctx, tr.p+key)
	if errors.Is(err, ErrNotFound) {
		return damaged("%s: missing (listed in the manifest, not in the store)", key)
	}
	if err != nil {
		return err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, w), r)
	if err != nil {
		return fmt.Errorf("read %s: %w", tr.p+key, err)
	}
	tr.mu.Lock()
	tr.files++
	tr.bytes += n
	tr.mu.Unlock()
	switch {
	case n != size:
		return damaged("%s: %d bytes, manifest says %d (archive corrupted?)", key, n, size)
	case hex.EncodeToString(h.Sum(nil)) != sha:
		return damaged("%s: sha256 mismatch (archive corrupted?)", key)
	}
	return nil
}

// getIn opens a file of the archive at `at` by its manifest key.
func getIn(ctx context.Context, store *Store, at, key string) (io.ReadCloser, error) {
	p, err := archivePath(at)
	if err != nil {
		return nil, err
	}
	return store.Get(ctx, p+key)
}
