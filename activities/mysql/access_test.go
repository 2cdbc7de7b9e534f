package mysql

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// smallDB makes a database with two tables, a procedure and some rows.
func smallDB(t *testing.T, root *sql.DB, what string) string {
	t.Helper()
	db := createDB(t, root, what)
	mustExec(t, root,
		"CREATE TABLE "+db+".parent (id INT PRIMARY KEY, a VARCHAR(10), b INT) ENGINE=InnoDB",
		"CREATE TABLE "+db+".child (id INT PRIMARY KEY, parent_id INT, FOREIGN KEY (parent_id) REFERENCES "+db+".parent(id)) ENGINE=InnoDB",
		"INSERT INTO "+db+".parent VALUES (1, 'x', 1), (2, 'y', 2)",
		"INSERT INTO "+db+".child VALUES (10, 1), (11, 2), (12, 2)",
		"CREATE PROCEDURE "+db+".p() SELECT 1",
	)
	return db
}

func authString(t *testing.T, root *sql.DB, user string) string {
	t.Helper()
	var s string
	require.NoError(t, root.QueryRowContext(t.Context(), "SELECT authentication_string FROM mysql.user WHERE User = ? AND Host = '%'", user).Scan(&s))
	require.NotEmpty(t, s)
	return s
}

// canUse says whether user can log in and use db.
func canUse(t *testing.T, user, password, db string) error {
	t.Helper()
	c := connectAs(t, user, password, db)
	defer c.Close()
	var n int
	return c.QueryRowContext(t.Context(), "SELECT 1").Scan(&n)
}

func TestRevokeThenRestoreIsExact(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := smallDB(t, root, "rev")
	other := createDB(t, root, "other")

	only := createUser(t, root, "only", "pw-only-1")       // database level, only this db
	mixed := createUser(t, root, "mixed", "pw-mixed-1")    // table, column, routine, plus another db
	asleep := createUser(t, root, "asleep", "pw-asleep-1") // only this db, locked before we came
	mustExec(t, root,
		fmt.Sprintf("GRANT SELECT, INSERT ON %s.* TO '%s'@'%%' WITH GRANT OPTION", db, only),
		fmt.Sprintf("GRANT SELECT ON %s.child TO '%s'@'%%'", db, mixed),
		fmt.Sprintf("GRANT SELECT (a), UPDATE (b) ON %s.parent TO '%s'@'%%'", db, mixed),
		fmt.Sprintf("GRANT EXECUTE ON PROCEDURE %s.p TO '%s'@'%%'", db, mixed),
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", other, mixed),
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", db, asleep),
		fmt.Sprintf("ALTER USER '%s'@'%%' ACCOUNT LOCK", asleep),
	)
	users := []string{only, mixed, asleep}
	grantsBefore := map[string][]string{}
	lockedBefore := map[string]bool{}
	for _, u := range users {
		grantsBefore[u] = grantsOf(t, root, u)
		lockedBefore[u] = lockedAccount(t, root, u)
	}
	require.True(t, lockedBefore[asleep])
	require.NoError(t, canUse(t, only, "pw-only-1", db))

	snap, err := a.SnapshotAccess(ctx, db, engine.StrategyRevoke)
	require.NoError(t, err)
	require.Equal(t, db, snap.Object)
	require.Equal(t, engine.StrategyRevoke, snap.Strategy)
	require.Len(t, snap.Grants, 5, "%+v", snap.Grants)
	require.ElementsMatch(t, []engine.AccountLock{
		{User: only, Host: "%", WasLocked: false},
		{User: asleep, Host: "%", WasLocked: true},
	}, snap.Lock)

	// The snapshot goes into workflow history: no password, no hash.
	js, err := json.Marshal(snap)
	require.NoError(t, err)
	for _, u := range users {
		require.NotContains(t, string(js), authString(t, root, u))
	}
	require.NotContains(t, strings.ToUpper(string(js)), "PASSWORD")
	require.NotContains(t, strings.ToUpper(string(js)), "IDENTIFIED")
	require.NotRegexp(t, `\*[0-9A-F]{40}`, string(js))

	// A session of the account to lock, connected to the database, is killed by the cut.
	live := connectAs(t, only, "pw-only-1", db)
	conn, err := live.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.PingContext(ctx))

	res, err := a.Cut(ctx, snap)
	require.NoError(t, err)
	require.Equal(t, 5, res.Revoked)
	require.ElementsMatch(t, []string{only + "@%", asleep + "@%"}, res.Locked)
	require.GreaterOrEqual(t, res.KilledSessions, 1)
	var one int
	require.Error(t, conn.QueryRowContext(ctx, "SELECT 1").Scan(&one), "the session must have been killed")

	for _, u := range users {
		for _, g := range grantsOf(t, root, u) {
			require.NotContains(t, g, "`"+db+"`", "grant left after the cut: %s", g)
		}
	}
	require.True(t, lockedAccount(t, root, only))
	err = canUse(t, only, "pw-only-1", db)
	require.Error(t, err)
	require.Error(t, canUse(t, mixed, "pw-mixed-1", db), "mixed can log in but not use the database")
	require.NoError(t, canUse(t, mixed, "pw-mixed-1", other), "mixed keeps its other database")

	res, err = a.Cut(ctx, snap)
	require.NoError(t, err, "a second cut is harmless")
	require.Equal(t, 0, res.Revoked)

	require.NoError(t, a.Restore(ctx, snap))
	require.NoError(t, a.Restore(ctx, snap), "a second restore is harmless")
	for _, u := range users {
		require.Equal(t, grantsBefore[u], grantsOf(t, root, u), u)
		require.Equal(t, lockedBefore[u], lockedAccount(t, root, u), u)
	}
	require.NoError(t, canUse(t, only, "pw-only-1", db))
}

func TestRestoreSkipsDroppedAccount(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := smallDB(t, root, "gone")
	keep := createUser(t, root, "keep", "pw-keep-1")
	lost := createUser(t, root, "lost", "pw-lost-1")
	mustExec(t, root,
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", db, keep),
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", db, lost))
	snap, err := a.SnapshotAccess(ctx, db, engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = a.Cut(ctx, snap)
	require.NoError(t, err)
	mustExec(t, root, fmt.Sprintf("DROP USER '%s'@'%%'", lost))

	err = a.Restore(ctx, snap)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), lost+"@%")
	require.Equal(t, int64(0), count(t, root, "SELECT COUNT(*) FROM mysql.user WHERE User = ?", lost), "restore must not recreate a dropped account")
	require.NoError(t, canUse(t, keep, "pw-keep-1", db))
}

func TestSnapshotRefusesTamperedGrant(t *testing.T) {
	ctx := testCtx(t)
	a := newTestAdapter(t)
	db := smallDB(t, rootDB(t), "tamper")
	for _, g := range []engine.Grant{
		{User: "u", Host: "%", Privileges: "SELECT", On: "`mysql`.*"},
		{User: "u", Host: "%", Privileges: "SELECT; DROP DATABASE x", On: "`" + db + "`.*"},
		{User: "u", Host: "%", Privileges: "SELECT", On: "`" + db + "`.* TO x; --"},
		{User: `u\`, Host: "%", Privileges: "SELECT", On: "`" + db + "`.*"},
	} {
		_, err := a.Cut(ctx, engine.AccessSnapshot{Object: db, Strategy: engine.StrategyRevoke, Grants: []engine.Grant{g}})
		require.ErrorIs(t, err, engine.ErrRefused, "%+v", g)
		require.ErrorIs(t, a.Restore(ctx, engine.AccessSnapshot{Object: db, Strategy: engine.StrategyRevoke, Grants: []engine.Grant{g}}), engine.ErrRefused)
	}
}
