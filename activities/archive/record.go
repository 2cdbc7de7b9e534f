package archive

import (
	"bytes"
	"context"
)

// Record file names under the archive path.
const (
	RecordJSONName     = "record.json"
	RecordMarkdownName = "record.md"
)

// PutRecord writes the retirement record beside the archive and returns the keys written
// (relative to the store's prefix). It may run again on retry: it overwrites.
func PutRecord(ctx context.Context, store *Store, path string, recordJSON, recordMarkdown []byte) (jsonKey, mdKey string, err error) {
	p, err := archivePath(path)
	if err != nil {
		return "", "", err
	}
	jsonKey, mdKey = p+RecordJSONName, p+RecordMarkdownName
	// A retirement that ends before its archive (cancelled, objected) still leaves its
	// record, perhaps in a store nothing was ever written to.
	if err := store.EnsureBucket(ctx); err != nil {
		return "", "", err
	}
	if _, _, err := store.Put(ctx, jsonKey, bytes.NewReader(recordJSON), int64(len(recordJSON)), "application/json"); err != nil {
		return "", "", err
	}
	if _, _, err := store.Put(ctx, mdKey, bytes.NewReader(recordMarkdown), int64(len(recordMarkdown)), "text/markdown; charset=utf-8"); err != nil {
		return "", "", err
	}
	return jsonKey, mdKey, nil
}
