package mysql

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func baseTableCount(t *testing.T, root *sql.DB, schema string) int64 {
	return count(t, root, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", schema)
}

func schemaCount(t *testing.T, root *sql.DB, schema string) int64 {
	return count(t, root, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", schema)
}

func TestRenameMovesTablesAndBack(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := smallDB(t, root, "ren")
	mustExec(t, root, "CREATE VIEW "+db+".v AS SELECT id FROM "+db+".parent")

	snap, err := a.SnapshotAccess(ctx, db, engine.StrategyRename)
	require.NoError(t, err)
	q := "_retire_q_" + db
	require.Equal(t, q, snap.Quarantine)
	require.Equal(t, []string{"child", "parent"}, snap.Tables)
	require.Empty(t, snap.Grants)

	res, err := a.Cut(ctx, snap)
	require.NoError(t, err)
	require.Equal(t, 2, res.Moved)
	require.Equal(t, int64(0), baseTableCount(t, root, db))
	require.Equal(t, int64(2), baseTableCount(t, root, q))
	res, err = a.Cut(ctx, snap)
	require.NoError(t, err, "a second cut is harmless")
	require.Equal(t, 0, res.Moved)

	// The export reads the tables where they are now.
	src, err := a.Source(ctx, db, snap)
	require.NoError(t, err)
	require.Equal(t, []string{"child", "parent"}, src.Tables())
	rows, err := src.Scan(ctx, "child")
	require.NoError(t, err)
	dst := make([][]byte, len(rows.Columns()))
	n := 0
	for rows.Next(dst) {
		n++
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.Equal(t, 3, n)
	ddl, err := src.ObjectDDL(ctx)
	require.NoError(t, err)
	require.Contains(t, ddl["views.sql"], "VIEW `v`", "views stay in the database")
	require.NoError(t, src.Close())

	require.NoError(t, a.Restore(ctx, snap))
	require.NoError(t, a.Restore(ctx, snap), "a second restore is harmless")
	require.Equal(t, int64(2), baseTableCount(t, root, db))
	require.Equal(t, int64(0), schemaCount(t, root, q), "the quarantine schema is dropped once empty")
	require.Equal(t, int64(3), count(t, root, "SELECT COUNT(*) FROM "+db+".child JOIN "+db+".parent ON parent.id = child.parent_id"))
}

func TestRenameRefusals(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)

	trig := smallDB(t, root, "trig")
	mustExec(t, root, "CREATE TRIGGER "+trig+".tr BEFORE INSERT ON "+trig+".parent FOR EACH ROW SET NEW.b = 0")
	_, err := a.SnapshotAccess(ctx, trig, engine.StrategyRename)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), "trigger")

	sakila := loadSakila(t, root)
	_, err = a.SnapshotAccess(ctx, sakila, engine.StrategyRename)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), "6 trigger(s)")

	// A quarantine schema that already holds tables is someone else's.
	taken := smallDB(t, root, "taken")
	mustExec(t, root, "CREATE DATABASE "+quarantineName(taken), "CREATE TABLE "+quarantineName(taken)+".theirs (id INT)")
	_, err = a.SnapshotAccess(ctx, taken, engine.StrategyRename)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), "already exists")

	// A snapshot naming another quarantine schema is refused before anything moves.
	snap := engine.AccessSnapshot{Object: taken, Strategy: engine.StrategyRename, Quarantine: "elsewhere", Tables: []string{"parent"}}
	_, err = a.Cut(ctx, snap)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Equal(t, int64(2), baseTableCount(t, root, taken))

	_, err = a.SnapshotAccess(ctx, taken, engine.Strategy("shred"))
	require.ErrorIs(t, err, engine.ErrRefused)
}
