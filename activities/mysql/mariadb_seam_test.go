package mysql

import (
	"database/sql"
	"database/sql/driver"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// The statements the adapter sends to MariaDB, pinned through the scripted driver of
// mysql8_seam_test.go (evidence_test.go runs them against the server here).

func mariadbScripted(t *testing.T) (*Adapter, *scripted, *sql.DB) {
	s := &scripted{answers: map[string]answer{}}
	db := sql.OpenDB(s)
	t.Cleanup(func() { db.Close() })
	a := &Adapter{cfg: Config{QueryTimeout: 5 * time.Second, PollInterval: time.Second},
		server: &serverInfo{engine: "mariadb", version: "10.11.19-MariaDB"}}
	return a, s, db
}

// One look is one statement that also says whether userstat counts, and the look says how
// names compare, so that an Adapter that never looked itself (activities.Connect makes a
// new one per call) matches names as the server does.
func TestMariaDBLookSaysHowNamesCompareAndWhetherCountersCount(t *testing.T) {
	a, s, db := mariadbScripted(t)
	ctx := testCtx(t)
	require.Equal(t, lookProcesslist+" UNION ALL SELECT 'server', @@global.userstat, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL", lookProcesslistMariaDB)
	require.True(t, strings.HasPrefix(lookMariaDB, lookProcesslistMariaDB+" UNION ALL SELECT 'lock', THREAD_ID"))

	s.on(capsMariaDB, cols(3), []driver.Value{int64(1), int64(1), int64(0)}) // lower_case_table_names=1, the lock table is there
	s.on(lookMariaDB, cols(10),
		[]driver.Value{"session", int64(5), "up", "10.0.0.5:4000", "other", "Query", "SELECT * FROM SHOP.orders", nil, nil, nil},
		[]driver.Value{"server", int64(0), nil, nil, nil, nil, nil, nil, nil, nil},
		[]driver.Value{"lock", int64(5), nil, nil, nil, nil, nil, "Table metadata lock", "SHOP", "orders"},
	)
	look, err := a.lookServer(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{capsMariaDB, lookMariaDB}, s.sent())
	require.Equal(t, 1, look.NameCase)
	require.True(t, look.CountersOff, "userstat is off")
	require.Len(t, look.Sessions, 1)

	fresh := &Adapter{} // never looked: nothing cached
	got := fresh.Reaching(look, "shop")
	require.Len(t, got, 1)
	require.Equal(t, []string{engine.ViaLock, engine.ViaStatement}, got[0].Via)
	require.Equal(t, []string{"orders"}, got[0].Tables)
	look.NameCase = 0
	require.Empty(t, fresh.Reaching(look, "shop"), "as written under lower_case_table_names=0")

	// The next look is one statement still; userstat on.
	s.on(lookMariaDB, cols(10), []driver.Value{"server", int64(1), nil, nil, nil, nil, nil, nil, nil, nil})
	look, err = a.lookServer(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{lookMariaDB}, s.sent())
	require.False(t, look.CountersOff)
	require.Equal(t, 1, look.NameCase)

	// The lock table gone (plugin uninstalled): the processlist with the server row.
	s.fail(lookMariaDB, errUnknownTableInSchema)
	s.on(lookProcesslistMariaDB, cols(10),
		[]driver.Value{"session", int64(5), "up", "10.0.0.5:4000", "SHOP", "Sleep", nil, nil, nil, nil},
		[]driver.Value{"server", int64(0), nil, nil, nil, nil, nil, nil, nil, nil})
	look, err = a.lookServer(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{lookMariaDB, lookProcesslistMariaDB}, s.sent())
	require.True(t, look.CountersOff)
	require.Equal(t, []string{engine.ViaDefaultDB}, fresh.Reaching(look, "shop")[0].Via)
}

// The epoch is the server's start and its count of FLUSH statements, read again after the
// counters: a FLUSH while they are read makes the reading start over.
func TestMariaDBCountersEpochCountsFlushes(t *testing.T) {
	a, s, db := mariadbScripted(t)
	ctx := testCtx(t)
	const wantEpoch = "SELECT @@global.userstat, UNIX_TIMESTAMP() - (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'), " +
		"(SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'COM_FLUSH')"
	require.Equal(t, wantEpoch, epochMariaDB)
	epoch := func(on, flushes int64) []driver.Value { return []driver.Value{on, int64(1767225600), flushes} }
	s.on(wantEpoch, cols(3), epoch(1, 4))
	s.on(tablesMariaDB, cols(3), []driver.Value{"t", int64(30), int64(2)})
	c, err := a.counters(ctx, db, "shop", nil)
	require.NoError(t, err)
	require.Equal(t, []string{wantEpoch, tablesMariaDB, wantEpoch}, s.sent())
	require.Equal(t, "mariadb-started:1767225600,flushes:4", c.Epoch)
	require.True(t, c.On)
	require.Equal(t, []engine.TableCounter{{Table: "t", Reads: 30, Writes: 2}}, c.Tables)

	// A FLUSH between the two epoch readings: read again, in the new epoch.
	s.then(wantEpoch, cols(3), epoch(1, 4))
	s.then(wantEpoch, cols(3), epoch(1, 5))
	s.on(wantEpoch, cols(3), epoch(1, 5))
	c2, err := a.counters(ctx, db, "shop", nil)
	require.NoError(t, err)
	require.Equal(t, []string{wantEpoch, tablesMariaDB, wantEpoch, wantEpoch, tablesMariaDB, wantEpoch}, s.sent())
	require.Equal(t, "mariadb-started:1767225600,flushes:5", c2.Epoch)
	_, ok := engine.AccessBetween(c, c2)
	require.False(t, ok, "across a FLUSH the readings do not compare")

	// Flushed again and again while read: an epoch of its own, comparable with nothing.
	for n := range int64(2 * epochReads) {
		s.then(wantEpoch, cols(3), epoch(1, 10+n))
	}
	c3, err := a.counters(ctx, db, "shop", nil)
	require.NoError(t, err)
	require.Len(t, s.sent(), 3*epochReads)
	require.True(t, strings.HasPrefix(c3.Epoch, "mariadb-started:1767225600,flushes:"), c3.Epoch)
	require.Contains(t, c3.Epoch, ",unsettled:")
	s.once = nil

	// userstat switched off while read: the reading says it is off.
	s.then(wantEpoch, cols(3), epoch(1, 5))
	s.then(wantEpoch, cols(3), epoch(0, 5))
	c4, err := a.counters(ctx, db, "shop", nil)
	require.NoError(t, err)
	require.False(t, c4.On)
	require.Equal(t, []string{wantEpoch, tablesMariaDB, wantEpoch}, s.sent())
}

// One reading serves many databases: one statement for their tables (each database gets
// only rows of its exact name), the accounts of all of them, and the epoch around it.
func TestMariaDBCountersOfManyIsOneReading(t *testing.T) {
	a, s, db := mariadbScripted(t)
	ctx := testCtx(t)
	epoch := []driver.Value{int64(1), int64(1767225600), int64(4)}
	tables := tablesManyMariaDB + "(?, ?) ORDER BY 1, 2"
	accounts := accountsMariaDB + "(?, ?)"
	s.on(epochMariaDB, cols(3), epoch)
	s.on(tables, cols(4),
		[]driver.Value{"billing", "inv", int64(5), int64(1)},
		[]driver.Value{"SHOP", "t", int64(99), int64(99)}, // another database, as IN compares case-insensitively
		[]driver.Value{"shop", "t", int64(30), int64(2)})
	s.on(accounts, cols(3), []driver.Value{"app", int64(2), int64(3)}, []driver.Value{"bill", int64(0), int64(1)})
	refs := []engine.AccountRef{{User: "app", Host: "%"}, {User: "bill", Host: "%"}}
	got, err := a.countersOfMany(ctx, db, []string{"billing", "shop"}, refs)
	require.NoError(t, err)
	require.Equal(t, []string{epochMariaDB, tables, accounts, epochMariaDB}, s.sent())
	require.Equal(t, []engine.TableCounter{{Table: "t", Reads: 30, Writes: 2}}, got["shop"].Tables)
	require.Equal(t, []engine.TableCounter{{Table: "inv", Reads: 5, Writes: 1}}, got["billing"].Tables)
	require.Equal(t, "mariadb-started:1767225600,flushes:4", got["shop"].Epoch)
	require.Equal(t, got["shop"].Accounts, got["billing"].Accounts)
	require.Equal(t, []engine.AccountCounter{{AccountRef: refs[0], DeniedLogins: 2, RefusedStatements: 3}, {AccountRef: refs[1], RefusedStatements: 1}}, got["shop"].Accounts)
}
