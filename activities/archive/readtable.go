package archive

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/parquet-go/parquet-go"

	"github.com/dataretire/retire/activities/engine"
)

// ReadTable streams a table's rows back from an archive as the exact source values: each
// value is the bytes the source engine printed for it (nil = NULL), i.e. what engine.Rows
// yielded at export; floats come back as the shortest text that parses to the same double.
// Rows of all parts, in part order. Every part is checked against its size and SHA-256,
// and the table against its row count and content checksum, so what a restore loads is
// exactly what verification proved. The row passed to fn is valid only during the call.
func ReadTable(ctx context.Context, store *Store, at string, t TableResult, fn func(row [][]byte) error) error {
	kinds := kindsOf(t.Columns)
	var sum RowSum
	var rows int64
	out := make([][]byte, len(t.Columns))
	var buf []byte
	for _, f := range t.Files {
		tmp, err := fetchChecked(ctx, store, at, f)
		if err != nil {
			return err
		}
		n, err := readPart(tmp, f.Bytes, t.Name, t.Columns, func(row parquet.Row) error {
			if err := sum.AddRow(kinds, row); err != nil {
				return err
			}
			buf = buf[:0]
			for i, v := range row {
				if v.IsNull() {
					out[i] = nil
					continue
				}
				start := len(buf)
				switch kinds[i] {
				case engine.KindInt64:
					buf = strconv.AppendInt(buf, v.Int64(), 10)
				case engine.KindUint64:
					buf = strconv.AppendUint(buf, v.Uint64(), 10)
				case engine.KindFloat64:
					buf = strconv.AppendFloat(buf, v.Double(), 'g', -1, 64)
				default:
					out[i] = v.ByteArray()
					continue
				}
				out[i] = buf[start:len(buf):len(buf)]
			}
			return fn(out)
		})
		tmp.Close()
		os.Remove(tmp.Name())
		if err != nil {
			return fmt.Errorf("%s: %w", f.Key, err)
		}
		rows += n
	}
	if rows != t.Rows {
		return fmt.Errorf("table %s: %d rows read back, manifest says %d", t.Name, rows, t.Rows)
	}
	if got := sum.String(); got != t.Checksum {
		return fmt.Errorf("table %s: content checksum mismatch: read back %s, manifest says %s", t.Name, got, t.Checksum)
	}
	return nil
}

// fetchChecked downloads a part to a temporary file (Parquet is read from its footer, so it
// needs random access) and refuses it unless size and SHA-256 match the manifest.
func fetchChecked(ctx context.Context, store *Store, at string, f DataFile) (*os.File, error) {
	rc, err := getIn(ctx, store, at, f.Key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp("", "retire-read-*.parquet")
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), rc)
	if err == nil && (n != f.Bytes || hex.EncodeToString(h.Sum(nil)) != f.SHA256) {
		err = fmt.Errorf("%s: does not match the manifest (size or sha256): archive corrupted?", f.Key)
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	return tmp, nil
}

// getIn opens a file of the archive at `at` by its manifest key.
func getIn(ctx context.Context, store *Store, at, key string) (io.ReadCloser, error) {
	p, err := archivePath(at)
	if err != nil {
		return nil, err
	}
	return store.Get(ctx, p+key)
}
