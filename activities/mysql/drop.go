package mysql

import (
	"context"
	"fmt"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// Drop removes the database (and its quarantine schema under strategy rename). The caller
// has re-checked every gate; this only refuses what must never be dropped. Already gone
// counts as dropped.
func (a *Adapter) Drop(ctx context.Context, db string, snap engine.AccessSnapshot) error {
	schemas, err := schemasOf(db, snap)
	if err != nil {
		return err
	}
	pool, err := a.open()
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := a.conn(ctx, pool)
	if err != nil {
		return err
	}
	defer conn.Close()
	// A session still using a table would otherwise keep the drop waiting on its metadata
	// lock long after our deadline gave up.
	secs := max(1, int(a.cfg.QueryTimeout/time.Second))
	if err := a.exec(ctx, conn, fmt.Sprintf("SET SESSION lock_wait_timeout = %d", secs)); err != nil {
		return fmt.Errorf("set lock_wait_timeout: %w", err)
	}
	for _, s := range schemas {
		if err := a.exec(ctx, conn, "DROP DATABASE IF EXISTS "+quoteIdent(s)); err != nil {
			return fmt.Errorf("drop database %s: %w", s, err)
		}
	}
	return nil
}

// schemasOf is the database and, under strategy rename, its quarantine schema, each checked
// again here: a snapshot read back from history must not name anything else.
func schemasOf(db string, snap engine.AccessSnapshot) ([]string, error) {
	if err := ValidIdentifier(db); err != nil {
		return nil, err
	}
	if snap.Object != "" && snap.Object != db {
		return nil, fmt.Errorf("snapshot is for database %q, not %q: %w", snap.Object, db, engine.ErrRefused)
	}
	out := []string{db}
	if snap.Strategy == engine.StrategyRename && snap.Quarantine != "" {
		if snap.Quarantine != quarantineName(db) {
			return nil, fmt.Errorf("snapshot quarantine schema %q is not %q: %w", snap.Quarantine, quarantineName(db), engine.ErrRefused)
		}
		out = append(out, snap.Quarantine)
	}
	return out, nil
}

// VerifyGone proves that neither the database nor its quarantine schema is left, in the
// dictionary or as tables. BytesFreed is the caller's to fill.
func (a *Adapter) VerifyGone(ctx context.Context, db string, snap engine.AccessSnapshot) (engine.GoneReport, error) {
	schemas, err := schemasOf(db, snap)
	if err != nil {
		return engine.GoneReport{}, err
	}
	pool, err := a.open()
	if err != nil {
		return engine.GoneReport{}, err
	}
	defer pool.Close()
	var remaining []string
	for _, s := range schemas {
		ok, _, _, err := a.schemaExists(ctx, pool, s)
		if err != nil {
			return engine.GoneReport{}, err
		}
		if ok {
			remaining = append(remaining, "database "+s)
		}
		tables, err := a.names(ctx, pool, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE "+nameIs("TABLE_SCHEMA"), s)
		if err != nil {
			return engine.GoneReport{}, fmt.Errorf("list tables of %q: %w", s, err)
		}
		for _, t := range tables {
			remaining = append(remaining, "table "+s+"."+t)
		}
	}
	return engine.GoneReport{Gone: len(remaining) == 0, Remaining: remaining}, nil
}
