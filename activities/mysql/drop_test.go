package mysql

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

var refusedNames = []string{
	"mysql", "MySQL", "information_schema", "INFORMATION_SCHEMA", "performance_schema", "sys",
	"a`b", "x; DROP", "", strings.Repeat("a", 65), "12345", "a b", "a.b", "a'b", "a\\b", "ä",
}

func TestRefusals(t *testing.T) {
	ctx := testCtx(t)
	a := newTestAdapter(t)
	for _, name := range refusedNames {
		require.ErrorIs(t, ValidIdentifier(name), engine.ErrRefused, "%q", name)
		require.ErrorIs(t, a.Validate(ctx, name), engine.ErrRefused, "%q", name)
		require.ErrorIs(t, a.Drop(ctx, name, engine.AccessSnapshot{}), engine.ErrRefused, "%q", name)
		_, err := a.Inventory(ctx, name)
		require.ErrorIs(t, err, engine.ErrRefused, "%q", name)
		_, err = a.SnapshotAccess(ctx, name, engine.StrategyRevoke)
		require.ErrorIs(t, err, engine.ErrRefused, "%q", name)
		_, err = a.Source(ctx, name, engine.AccessSnapshot{})
		require.ErrorIs(t, err, engine.ErrRefused, "%q", name)
		_, err = a.VerifyGone(ctx, name, engine.AccessSnapshot{})
		require.ErrorIs(t, err, engine.ErrRefused, "%q", name)
	}
	require.Contains(t, a.Validate(ctx, "mysql").Error(), "system schema")
	require.Contains(t, a.Validate(ctx, "Performance_Schema").Error(), "system schema")
	require.NotContains(t, a.Validate(ctx, "x; DROP").Error(), "\n")

	missing := uniqueName("missing")
	err := a.Validate(ctx, missing)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Equal(t, `database "`+missing+`" does not exist on this connection: refused`, err.Error())

	// Longest accepted name.
	require.NoError(t, ValidIdentifier(strings.Repeat("a", 64)))
	require.NoError(t, ValidIdentifier("app_2024$x"))
}

func TestValidateFindsDatabase(t *testing.T) {
	root := rootDB(t)
	a := newTestAdapter(t)
	db := createDB(t, root, "val")
	require.NoError(t, a.Validate(testCtx(t), db))
	err := a.Validate(testCtx(t), strings.ToUpper(db))
	require.ErrorIs(t, err, engine.ErrRefused, "names are exact")
	require.Contains(t, err.Error(), "did you mean")
}

func TestDropAndVerifyGone(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := smallDB(t, root, "drop")

	rep, err := a.VerifyGone(ctx, db, engine.AccessSnapshot{})
	require.NoError(t, err)
	require.False(t, rep.Gone)
	require.Contains(t, rep.Remaining, "database "+db)
	require.Contains(t, rep.Remaining, "table "+db+".parent")

	require.ErrorIs(t, a.Drop(ctx, db, engine.AccessSnapshot{Object: "other"}), engine.ErrRefused, "snapshot of another database")
	require.ErrorIs(t, a.Drop(ctx, db, engine.AccessSnapshot{Object: db, Strategy: engine.StrategyRename, Quarantine: "victim"}), engine.ErrRefused)

	require.NoError(t, a.Drop(ctx, db, engine.AccessSnapshot{Object: db, Strategy: engine.StrategyRevoke}))
	rep, err = a.VerifyGone(ctx, db, engine.AccessSnapshot{})
	require.NoError(t, err)
	require.True(t, rep.Gone, "%v", rep.Remaining)
	require.Empty(t, rep.Remaining)
	require.Zero(t, rep.BytesFreed)
	require.NoError(t, a.Drop(ctx, db, engine.AccessSnapshot{}), "already gone counts as dropped")
}

func TestDropRenamedDatabase(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := smallDB(t, root, "dropq")
	snap, err := a.SnapshotAccess(ctx, db, engine.StrategyRename)
	require.NoError(t, err)
	_, err = a.Cut(ctx, snap)
	require.NoError(t, err)

	rep, err := a.VerifyGone(ctx, db, snap)
	require.NoError(t, err)
	require.False(t, rep.Gone)
	require.Contains(t, rep.Remaining, "table "+snap.Quarantine+".parent")

	require.NoError(t, a.Drop(ctx, db, snap))
	rep, err = a.VerifyGone(ctx, db, snap)
	require.NoError(t, err)
	require.True(t, rep.Gone, "%v", rep.Remaining)
	require.Equal(t, int64(0), schemaCount(t, root, snap.Quarantine))
}
