package engine

import "context"

// Loader rebuilds an object from an archive: `retire restore`, and the verify-restore gate
// that proves an archive restorable before the drop. An adapter implements it beside Adapter.
type Loader interface {
	// CreateTarget makes the empty object to restore into; an existing one is refused, so
	// a restore never writes into live data.
	CreateTarget(ctx context.Context, object string, info SourceInfo) error
	// RunScript runs DDL inside the object, as the archive's schema files hold it.
	RunScript(ctx context.Context, object, script string) error
	// LoadTable streams rows into an existing table. Values are the exact source values the
	// archive gives back (nil is NULL); columns are the archive's, in its order.
	LoadTable(ctx context.Context, object, table string, cols []Column, rows func(yield func(row [][]byte) error) error) (int64, error)
	// Checksums are per-table content checksums, comparable between two objects of the same
	// server with the same table definitions.
	Checksums(ctx context.Context, object string, tables []string) (map[string]string, error)
	// DropTarget removes an object made by CreateTarget (a scratch copy).
	DropTarget(ctx context.Context, object string) error
}
