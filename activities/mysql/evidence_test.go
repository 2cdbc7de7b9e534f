package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/testservices"
)

// Integration tests of the usage evidence against the machine's MariaDB: one per way a
// client reaches a database's tables that the old look (sessions whose default database is
// the target) cannot see. Each checks that the old look misses it and that the new sources
// catch it: a session in LookServer + Reaching, a counter delta, audit log events.
//
// Global settings (userstat, server_audit_*, event_scheduler) are put back as found;
// plugins are installed when missing and never uninstalled; statistics are never flushed.

func setGlobal(t *testing.T, root *sql.DB, name, value string) {
	testservices.SetGlobal(t, root, name, value)
}

func ensurePlugin(t *testing.T, root *sql.DB, name, soname string) {
	testservices.EnsurePlugin(t, root, name, soname)
}

// withUserstat switches userstat on for the test.
func withUserstat(t *testing.T, root *sql.DB) { setGlobal(t, root, "userstat", "ON") }

// withAudit has server_audit log connections, statements and tables to a file of the test's
// own, and returns its path.
func withAudit(t *testing.T, root *sql.DB) string { return testservices.AuditLog(t, root) }

// evTarget is a target database with a table t of three rows, a database of another
// application beside it, and a client account that may use only the other one.
type evTarget struct {
	root          *sql.DB
	db, other     string
	client, pw    string
	a             *Adapter
	auditPath     string
	start         engine.Counters
	cursor        string
	clientID      int64
	clientAccount []engine.AccountRef
}

func newEvTarget(t *testing.T, audit bool) *evTarget {
	t.Helper()
	root := rootDB(t)
	require.True(t, isMariaDB(t, root), "these tests need MariaDB")
	ensurePlugin(t, root, "METADATA_LOCK_INFO", "metadata_lock_info")
	withUserstat(t, root)
	e := &evTarget{root: root, db: createDB(t, root, "ev"), other: createDB(t, root, "ev_other"), pw: "pw-ev-client-1"}
	e.client = createUser(t, root, "ev_cl", e.pw)
	e.clientAccount = []engine.AccountRef{{User: e.client, Host: "%"}}
	mustExec(t, root,
		"CREATE TABLE "+e.db+".t (id INT PRIMARY KEY, v INT) ENGINE=InnoDB",
		"INSERT INTO "+e.db+".t VALUES (1, 1), (2, 2), (3, 3)",
		fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'%%'", e.other, e.client))
	if audit {
		e.auditPath = withAudit(t, root)
	}
	var err error
	e.a, err = New(Config{Host: testHost, Port: testPort, User: "root", QueryTimeout: 20 * time.Second, AuditLogPath: e.auditPath})
	require.NoError(t, err)
	e.begin(t)
	return e
}

// begin opens the window: the first counter reading and the audit log's end.
func (e *evTarget) begin(t *testing.T) {
	t.Helper()
	ctx := testCtx(t)
	var err error
	e.start, err = e.a.Counters(ctx, e.db, e.clientAccount)
	require.NoError(t, err)
	require.True(t, e.start.On)
	if e.auditPath != "" {
		_, e.cursor, err = e.a.AuditEvents(ctx, e.db, e.clientAccount, "")
		require.NoError(t, err)
	}
}

// access is what the counters saw on the target's tables since begin.
func (e *evTarget) access(t *testing.T) map[string]engine.TableAccess {
	t.Helper()
	end, err := e.a.Counters(testCtx(t), e.db, e.clientAccount)
	require.NoError(t, err)
	require.Equal(t, "information_schema.TABLE_STATISTICS", end.Source)
	require.Equal(t, e.start.Epoch, end.Epoch)
	acc, ok := engine.AccessBetween(e.start, end)
	require.True(t, ok, "the readings compare")
	out := map[string]engine.TableAccess{}
	for _, x := range acc {
		out[x.Table] = x
	}
	return out
}

// auditUntil reads the audit log until want is satisfied (or 10 s have passed) and returns
// the events since begin.
func (e *evTarget) auditUntil(t *testing.T, accounts []engine.AccountRef, want func([]engine.AuditEvent) bool) []engine.AuditEvent {
	t.Helper()
	var all []engine.AuditEvent
	deadline := time.Now().Add(10 * time.Second)
	for {
		events, next, err := e.a.AuditEvents(testCtx(t), e.db, accounts, e.cursor)
		require.NoError(t, err)
		e.cursor = next
		all = append(all, events...)
		if want(all) || time.Now().After(deadline) {
			return all
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countEvents(events []engine.AuditEvent, user, op, table string, code int) int {
	n := 0
	for _, ev := range events {
		if ev.User == user && ev.Op == op && (table == "" || ev.Table == table) && ev.Code == code {
			n++
		}
	}
	return n
}

// clientConn is one connection of the client account, with db as its default database
// ("" for none), and its connection id.
func (e *evTarget) clientConn(t *testing.T, db string) (*sql.Conn, int64) {
	t.Helper()
	pool := connectAs(t, e.client, e.pw, db)
	c, err := pool.Conn(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	var id int64
	require.NoError(t, c.QueryRowContext(t.Context(), "SELECT CONNECTION_ID()").Scan(&id))
	return c, id
}

// oldLook is the statement the sampler used before usage evidence: sessions whose default
// database is db. Every test shows it misses the client.
func oldLook(t *testing.T, root *sql.DB, db string) []int64 {
	t.Helper()
	var ids []int64
	rows, err := root.QueryContext(t.Context(), "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND "+nameIs("DB"), db, db)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

// reachingNow looks until the connection id reaches the target (or 5 s have passed), and
// checks at the same moment that the old look does not see it.
func (e *evTarget) reachingNow(t *testing.T, id int64) engine.Session {
	t.Helper()
	ctx := testCtx(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		look, err := e.a.LookServer(ctx)
		require.NoError(t, err)
		require.NotContains(t, oldLook(t, e.root, e.db), id, "the old look would have seen it")
		for _, s := range e.a.Reaching(look, e.db) {
			if s.ID == id {
				require.Equal(t, look.At, s.FirstSeen)
				require.Equal(t, look.At, s.LastSeen)
				require.Equal(t, 1, s.Count)
				require.Equal(t, e.client, s.User)
				require.Equal(t, "127.0.0.1", s.Host)
				return s
			}
		}
		require.True(t, time.Now().Before(deadline), "the session %d was never seen reaching %s", id, e.db)
		time.Sleep(50 * time.Millisecond)
	}
}

// (a) A connection without a default database that names target.t in a long statement.
func TestEvidenceLongStatementWithoutDefaultDB(t *testing.T) {
	e := newEvTarget(t, true)
	mustExec(t, e.root, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", e.db, e.client))
	c, id := e.clientConn(t, "")
	done := make(chan error, 1)
	go func() {
		var x int
		done <- c.QueryRowContext(t.Context(), fmt.Sprintf("SELECT SLEEP(2) FROM %s.t LIMIT 1", e.db)).Scan(&x)
	}()
	s := e.reachingNow(t, id)
	require.Equal(t, []string{engine.ViaLock, engine.ViaStatement}, s.Via)
	require.Equal(t, []string{"t"}, s.Tables)

	// Sessions, one look through LookServer and Reaching, sees it too.
	got, err := e.a.Sessions(testCtx(t), e.db)
	require.NoError(t, err)
	i := slices.IndexFunc(got, func(x engine.Session) bool { return x.ID == id })
	require.GreaterOrEqual(t, i, 0)
	require.Equal(t, e.client, got[i].User)
	require.Contains(t, got[i].Via, engine.ViaStatement)
	require.NoError(t, <-done)

	require.Greater(t, e.access(t)["t"].Reads, int64(0))
	events := e.auditUntil(t, nil, func(ev []engine.AuditEvent) bool { return countEvents(ev, e.client, "READ", "t", 0) > 0 })
	require.Equal(t, 1, countEvents(events, e.client, "READ", "t", 0), "%+v", events)
	require.Equal(t, 1, countEvents(events, e.client, "QUERY", "t", 0), "%+v", events)
}

// (b) Connections shorter than the poll interval, with the target as default database.
func TestEvidenceShortConnectionsBetweenLooks(t *testing.T) {
	e := newEvTarget(t, true)
	mustExec(t, e.root, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", e.db, e.client))
	ctx := testCtx(t)
	before, err := e.a.LookServer(ctx)
	require.NoError(t, err)
	const n = 20
	for range n {
		c, err := openAs(e.client, e.pw, e.db)
		require.NoError(t, err)
		var k int
		require.NoError(t, c.QueryRowContext(ctx, "SELECT COUNT(v) FROM t").Scan(&k))
		require.Equal(t, 3, k)
		require.NoError(t, c.Close())
	}
	after, err := e.a.LookServer(ctx)
	require.NoError(t, err)
	for _, look := range []engine.ServerLook{before, after} {
		for _, s := range e.a.Reaching(look, e.db) {
			require.NotEqual(t, e.client, s.User, "the looks are too far apart to see them")
		}
	}
	require.Empty(t, oldLook(t, e.root, e.db))

	require.GreaterOrEqual(t, e.access(t)["t"].Reads, int64(n*3), "every row read by every connection")
	events := e.auditUntil(t, nil, func(ev []engine.AuditEvent) bool { return countEvents(ev, e.client, "READ", "t", 0) >= n })
	require.Equal(t, n, countEvents(events, e.client, "CONNECT", "", 0), "connections into the database")
	require.Equal(t, n, countEvents(events, e.client, "READ", "t", 0))
	require.Equal(t, n, countEvents(events, e.client, "QUERY", "", 0), "statements run in it")
}

// (c) A view in another database selecting from the target's tables.
func TestEvidenceViewInAnotherDB(t *testing.T) {
	e := newEvTarget(t, true)
	mustExec(t, e.root, fmt.Sprintf("CREATE SQL SECURITY DEFINER VIEW %s.v AS SELECT id, v FROM %s.t", e.other, e.db))
	c, id := e.clientConn(t, e.other)
	done := make(chan error, 1)
	go func() {
		var x int
		done <- c.QueryRowContext(t.Context(), "SELECT SLEEP(2) FROM v LIMIT 1").Scan(&x)
	}()
	s := e.reachingNow(t, id)
	require.Equal(t, []string{engine.ViaLock}, s.Via, "the statement names only the view")
	require.Equal(t, []string{"t"}, s.Tables)
	require.NoError(t, <-done)

	require.Greater(t, e.access(t)["t"].Reads, int64(0))
	events := e.auditUntil(t, nil, func(ev []engine.AuditEvent) bool { return countEvents(ev, e.client, "READ", "t", 0) > 0 })
	require.Equal(t, 1, countEvents(events, e.client, "READ", "t", 0), "%+v", events)
}

// (d) A stored routine in another database writing the target's tables.
func TestEvidenceRoutineInAnotherDB(t *testing.T) {
	e := newEvTarget(t, true)
	mustExec(t, e.root, fmt.Sprintf("CREATE PROCEDURE %s.bump() SQL SECURITY DEFINER UPDATE %s.t SET v = v + 1 WHERE id = 2", e.other, e.db))
	c, id := e.clientConn(t, e.other)
	_, err := c.ExecContext(t.Context(), "CALL bump()")
	require.NoError(t, err)
	require.NotContains(t, oldLook(t, e.root, e.db), id)

	acc := e.access(t)["t"]
	require.Equal(t, int64(1), acc.Writes)
	events := e.auditUntil(t, nil, func(ev []engine.AuditEvent) bool { return countEvents(ev, e.client, "WRITE", "t", 0) > 0 })
	require.Equal(t, 1, countEvents(events, e.client, "WRITE", "t", 0), "the connection's login, not the routine's definer: %+v", events)
	require.Zero(t, countEvents(events, "root", "WRITE", "t", 0), "%+v", events)

	// Inside an open transaction the routine's writes hold the table until the commit.
	_, err = c.ExecContext(t.Context(), "BEGIN")
	require.NoError(t, err)
	_, err = c.ExecContext(t.Context(), "CALL bump()")
	require.NoError(t, err)
	s := e.reachingNow(t, id)
	require.Equal(t, []string{engine.ViaLock}, s.Via)
	_, err = c.ExecContext(t.Context(), "COMMIT")
	require.NoError(t, err)
}

// (e) An event of another database writing the target's tables (event scheduler).
func TestEvidenceEventInAnotherDB(t *testing.T) {
	e := newEvTarget(t, true)
	mustExec(t, e.root, fmt.Sprintf("CREATE EVENT %s.tick ON SCHEDULE EVERY 1 SECOND DO UPDATE %s.t SET v = v + 1 WHERE id = 3", e.other, e.db))
	setGlobal(t, e.root, "event_scheduler", "ON")
	var writes int64
	deadline := time.Now().Add(15 * time.Second)
	for writes == 0 && time.Now().Before(deadline) {
		require.Empty(t, oldLook(t, e.root, e.db))
		time.Sleep(200 * time.Millisecond)
		writes = e.access(t)["t"].Writes
	}
	require.Greater(t, writes, int64(0), "the event's writes are counted")
	mustExec(t, e.root, fmt.Sprintf("ALTER EVENT %s.tick DISABLE", e.other))
	events := e.auditUntil(t, nil, func(ev []engine.AuditEvent) bool {
		return slices.ContainsFunc(ev, func(x engine.AuditEvent) bool { return x.Op == "WRITE" && x.Table == "t" })
	})
	require.Positive(t, countEvents(events, "event_scheduler", "WRITE", "t", 0), "the event's thread logs in as event_scheduler: %+v", events)
}

// (f) A trigger on another database's table writing into the target.
func TestEvidenceTriggerInAnotherDB(t *testing.T) {
	e := newEvTarget(t, true)
	mustExec(t, e.root,
		"CREATE TABLE "+e.other+".src (id INT)",
		fmt.Sprintf("CREATE TRIGGER %s.src_ai AFTER INSERT ON %s.src FOR EACH ROW INSERT INTO %s.t VALUES (NEW.id, 0)", e.other, e.other, e.db))
	c, id := e.clientConn(t, e.other)
	_, err := c.ExecContext(t.Context(), "INSERT INTO src VALUES (10), (11)")
	require.NoError(t, err)
	require.NotContains(t, oldLook(t, e.root, e.db), id)

	require.Equal(t, int64(2), e.access(t)["t"].Writes)
	events := e.auditUntil(t, nil, func(ev []engine.AuditEvent) bool { return countEvents(ev, e.client, "WRITE", "t", 0) > 0 })
	require.GreaterOrEqual(t, countEvents(events, e.client, "WRITE", "t", 0), 1, "%+v", events)
}

// (g) An open transaction that read the target, gone idle with another default database:
// no statement, but the metadata lock is held until it ends.
func TestEvidenceIdleTransactionInAnotherDB(t *testing.T) {
	e := newEvTarget(t, false)
	mustExec(t, e.root, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", e.db, e.client))
	c, id := e.clientConn(t, e.other)
	_, err := c.ExecContext(t.Context(), "BEGIN")
	require.NoError(t, err)
	var n int
	require.NoError(t, c.QueryRowContext(t.Context(), fmt.Sprintf("SELECT COUNT(*) FROM %s.t", e.db)).Scan(&n))
	s := e.reachingNow(t, id)
	require.Equal(t, []string{engine.ViaLock}, s.Via)
	require.Equal(t, []string{"t"}, s.Tables)
	_, err = c.ExecContext(t.Context(), "ROLLBACK")
	require.NoError(t, err)

	// Once it ends, nothing holds the table: the looks stop seeing it.
	look, err := e.a.LookServer(testCtx(t))
	require.NoError(t, err)
	require.False(t, slices.ContainsFunc(e.a.Reaching(look, e.db), func(x engine.Session) bool { return x.ID == id }))
}

// (h) HANDLER ... OPEN from another default database: the table stays open between reads,
// which the metadata locks show; the table counters do not count HANDLER reads.
func TestEvidenceHandlerInAnotherDB(t *testing.T) {
	e := newEvTarget(t, false)
	mustExec(t, e.root, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", e.db, e.client))
	c, id := e.clientConn(t, e.other)
	_, err := c.ExecContext(t.Context(), fmt.Sprintf("HANDLER %s.t OPEN AS h", e.db))
	require.NoError(t, err)
	rows, err := c.QueryContext(t.Context(), "HANDLER h READ FIRST")
	require.NoError(t, err)
	require.NoError(t, rows.Close())
	s := e.reachingNow(t, id)
	require.Equal(t, []string{engine.ViaLock}, s.Via)
	require.Equal(t, []string{"t"}, s.Tables)
	require.NotContains(t, e.access(t), "t", "the counters do not count HANDLER reads")
	_, err = c.ExecContext(t.Context(), "HANDLER h CLOSE")
	require.NoError(t, err)
}

// (i) A foreign key from the target into another database, ON DELETE CASCADE: deleting the
// other database's row deletes the target's. The metadata lock and the audit log show it;
// the table counters do not (InnoDB does the cascade itself), as EvidenceSources says.
func TestEvidenceForeignKeyCascadeFromAnotherDB(t *testing.T) {
	e := newEvTarget(t, true)
	mustExec(t, e.root,
		"CREATE TABLE "+e.other+".parent (id INT PRIMARY KEY) ENGINE=InnoDB",
		"INSERT INTO "+e.other+".parent VALUES (1), (2)",
		fmt.Sprintf("CREATE TABLE %s.child (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES %s.parent (id) ON DELETE CASCADE) ENGINE=InnoDB", e.db, e.other),
		"INSERT INTO "+e.db+".child VALUES (1, 1), (2, 2)")
	t.Cleanup(func() { _, _ = e.root.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+e.db+".child") }) // before the databases
	e.begin(t)
	c, id := e.clientConn(t, e.other)
	_, err := c.ExecContext(t.Context(), "BEGIN")
	require.NoError(t, err)
	_, err = c.ExecContext(t.Context(), "DELETE FROM parent WHERE id = 1")
	require.NoError(t, err)
	s := e.reachingNow(t, id)
	require.Equal(t, []string{engine.ViaLock}, s.Via)
	require.Equal(t, []string{"child"}, s.Tables)
	_, err = c.ExecContext(t.Context(), "COMMIT")
	require.NoError(t, err)

	require.NotContains(t, e.access(t), "child", "the counters do not see a cascade")
	events := e.auditUntil(t, nil, func(ev []engine.AuditEvent) bool { return countEvents(ev, e.client, "WRITE", "child", 0) > 0 })
	require.Equal(t, 1, countEvents(events, e.client, "WRITE", "child", 0), "%+v", events)
	require.Equal(t, int64(1), count(t, e.root, "SELECT COUNT(*) FROM "+e.db+".child"), "the cascade happened")
}

// After the cut: a locked account and an account whose grants were revoked keep trying.
// USER_STATISTICS counts the revoked account's refusals and nothing of the locked one's
// logins (error 4151): only the audit log shows those.
func TestEvidenceAttemptsAfterTheCut(t *testing.T) {
	e := newEvTarget(t, true)
	ctx := testCtx(t)
	only := createUser(t, e.root, "ev_only", "pw-ev-only-1") // only the target: the cut locks it
	both := createUser(t, e.root, "ev_both", "pw-ev-both-1") // the target and another: the cut revokes
	mustExec(t, e.root,
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", e.db, only),
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", e.db, both),
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", e.other, both))
	// Both have logged in before (USER_STATISTICS has rows for them).
	require.NoError(t, canUse(t, only, "pw-ev-only-1", e.db))
	require.NoError(t, canUse(t, both, "pw-ev-both-1", e.db))

	snap, err := e.a.SnapshotAccess(ctx, e.db, engine.StrategyRevoke)
	require.NoError(t, err)
	_, err = e.a.Cut(ctx, snap)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.a.Restore(context.Background(), snap) })
	require.True(t, lockedAccount(t, e.root, only))

	accounts := []engine.AccountRef{{User: only, Host: "%"}, {User: both, Host: "%"}}
	start, err := e.a.Counters(ctx, e.db, accounts)
	require.NoError(t, err)
	_, e.cursor, err = e.a.AuditEvents(ctx, e.db, accounts, "")
	require.NoError(t, err)

	for range 3 {
		require.ErrorContains(t, canUse(t, only, "pw-ev-only-1", ""), "locked")
	}
	for range 2 {
		require.ErrorContains(t, canUse(t, both, "pw-ev-both-1", e.db), "Access denied") // 1044 at login
		c := connectAs(t, both, "pw-ev-both-1", "")
		var n int
		require.ErrorContains(t, c.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+e.db+".t").Scan(&n), "denied") // 1142
		require.NoError(t, c.Close())
	}

	end, err := e.a.Counters(ctx, e.db, accounts)
	require.NoError(t, err)
	require.Equal(t, start.Epoch, end.Epoch)
	delta := map[string][2]int64{}
	for i, acct := range end.Accounts {
		require.Equal(t, accounts[i], acct.AccountRef)
		delta[acct.User] = [2]int64{acct.DeniedLogins - start.Accounts[i].DeniedLogins, acct.RefusedStatements - start.Accounts[i].RefusedStatements}
	}
	require.Equal(t, int64(4), delta[both][1], "ACCESS_DENIED: two refused logins into the database, two refused statements")
	require.GreaterOrEqual(t, delta[both][0], int64(4), "DENIED_CONNECTIONS counts them too, some more than once")
	require.Equal(t, [2]int64{0, 0}, delta[only], "a locked account's logins are counted nowhere in userstat")

	events := e.auditUntil(t, accounts, func(ev []engine.AuditEvent) bool {
		return countEvents(ev, only, "FAILED_CONNECT", "", 4151) >= 3 && countEvents(ev, both, "QUERY", "", 1142) >= 2
	})
	require.Equal(t, 3, countEvents(events, only, "FAILED_CONNECT", "", 4151), "%+v", events)
	require.Equal(t, 2, countEvents(events, both, "FAILED_CONNECT", "", 1044), "%+v", events)
	require.Equal(t, 2, countEvents(events, both, "QUERY", "t", 1142), "%+v", events)
	for _, ev := range events {
		require.Equal(t, "127.0.0.1", ev.Host)
		require.WithinDuration(t, time.Now(), ev.At, time.Minute, "the server's local time read in its zone")
	}
}

func TestEvidenceSourcesOnMariaDB(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	require.True(t, isMariaDB(t, root))
	ensurePlugin(t, root, "METADATA_LOCK_INFO", "metadata_lock_info")
	db := createDB(t, root, "ev_src")
	setGlobal(t, root, "userstat", "OFF")
	path := withAudit(t, root)

	byName := func(src []engine.EvidenceSource) map[string]engine.EvidenceSource {
		m := map[string]engine.EvidenceSource{}
		for _, s := range src {
			require.NotEmpty(t, s.Sees, s.Name)
			m[s.Name] = s
		}
		require.Len(t, m, 5)
		return m
	}
	a := newTestAdapter(t) // no audit_log in its profile
	src, err := a.EvidenceSources(ctx, db)
	require.NoError(t, err)
	m := byName(src)
	require.Equal(t, engine.SourceAvailable, m[engine.SourceSessions].State)
	require.Equal(t, engine.SourceAvailable, m[engine.SourceLocks].State)
	require.Equal(t, engine.SourceOff, m[engine.SourceTableCounters].State)
	require.True(t, m[engine.SourceTableCounters].Dynamic)
	require.Contains(t, m[engine.SourceTableCounters].Detail, "SET GLOBAL userstat=1")
	require.Equal(t, engine.SourceOff, m[engine.SourceAttempts].State)
	require.Equal(t, []string{engine.BlindLockedLogins, engine.BlindRenamed}, m[engine.SourceAttempts].Blind,
		"userstat counts neither (TestEvidenceAttemptsAfterTheCut, TestEvidenceAttemptsAfterARename)")
	require.Equal(t, engine.SourceOff, m[engine.SourceAuditLog].State)
	require.Contains(t, m[engine.SourceAuditLog].Detail, "audit_log in the connection profile")
	require.Empty(t, m[engine.SourceAuditLog].Blind, "CONNECT and QUERY are logged")
	require.Contains(t, m[engine.SourceAuditLog].Detail, path, "it says where the server writes")

	// Counters while userstat is off say so.
	c, err := a.Counters(ctx, db, nil)
	require.NoError(t, err)
	require.False(t, c.On)

	// retire switches userstat on for the window and back.
	ch, err := a.EnableSource(ctx, engine.SourceTableCounters)
	require.NoError(t, err)
	require.Equal(t, engine.SettingChange{Source: engine.SourceTableCounters, Variable: "userstat", Before: "OFF", After: "ON"}, ch)
	again, err := a.EnableSource(ctx, engine.SourceAttempts)
	require.NoError(t, err)
	require.False(t, again.Changed(), "on already")
	m = byName(must(a.EvidenceSources(ctx, db)))
	require.Equal(t, engine.SourceAvailable, m[engine.SourceTableCounters].State)
	require.Equal(t, engine.SourceAvailable, m[engine.SourceAttempts].State)
	require.NoError(t, a.RestoreSetting(ctx, ch))
	require.NoError(t, a.RestoreSetting(ctx, ch), "idempotent")
	require.NoError(t, a.RestoreSetting(ctx, again))
	var on int
	require.NoError(t, root.QueryRowContext(ctx, "SELECT @@global.userstat").Scan(&on))
	require.Zero(t, on)
	_, err = a.EnableSource(ctx, engine.SourceLocks)
	require.ErrorIs(t, err, engine.ErrRefused, "plugins are the DBA's")
	require.ErrorIs(t, a.RestoreSetting(ctx, engine.SettingChange{Variable: "general_log", Before: "ON", After: "OFF"}), engine.ErrRefused)
	require.ErrorIs(t, a.RestoreSetting(ctx, engine.SettingChange{Variable: "userstat", Before: "1; DROP DATABASE x", After: "ON"}), engine.ErrRefused)

	// With the log in its profile the audit log is available; logging off, it is off.
	withLog, err := New(Config{Host: testHost, Port: testPort, User: "root", AuditLogPath: path})
	require.NoError(t, err)
	_, _, err = withLog.AuditEvents(ctx, db, nil, "") // the file exists once something was logged
	require.NoError(t, err)
	m = byName(must(withLog.EvidenceSources(ctx, db)))
	require.Equal(t, engine.SourceAvailable, m[engine.SourceAuditLog].State, m[engine.SourceAuditLog].Detail)
	require.Empty(t, m[engine.SourceAuditLog].Blind)
	mustExec(t, root, "SET GLOBAL server_audit_events = 'CONNECT,TABLE'")
	m = byName(must(withLog.EvidenceSources(ctx, db)))
	require.Equal(t, engine.SourceAvailable, m[engine.SourceAuditLog].State)
	require.Equal(t, []string{engine.BlindRenamed}, m[engine.SourceAuditLog].Blind, "a statement on a missing table opens no table: no TABLE event")
	mustExec(t, root, "SET GLOBAL server_audit_events = ''")
	m = byName(must(withLog.EvidenceSources(ctx, db)))
	require.Equal(t, engine.SourceAvailable, m[engine.SourceAuditLog].State)
	require.Empty(t, m[engine.SourceAuditLog].Blind, "an empty list logs every event")
	mustExec(t, root, "SET GLOBAL server_audit_events = 'CONNECT,QUERY,TABLE'")
	mustExec(t, root, "SET GLOBAL server_audit_logging = OFF")
	m = byName(must(withLog.EvidenceSources(ctx, db)))
	require.Equal(t, engine.SourceOff, m[engine.SourceAuditLog].State)
	require.Contains(t, m[engine.SourceAuditLog].Detail, "server_audit_logging=ON")
	mustExec(t, root, "SET GLOBAL server_audit_logging = ON", "SET GLOBAL server_audit_events = 'QUERY_DDL'")
	m = byName(must(withLog.EvidenceSources(ctx, db)))
	require.Equal(t, engine.SourceOff, m[engine.SourceAuditLog].State)
	require.Contains(t, m[engine.SourceAuditLog].Detail, "CONNECT,TABLE")
	require.Equal(t, []string{engine.BlindLockedLogins, engine.BlindRenamed}, m[engine.SourceAuditLog].Blind)

	// An account without PROCESS sees only itself: the sources that need it say so.
	user := createUser(t, root, "ev_noproc", "pw-ev-noproc-1")
	mustExec(t, root, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", db, user))
	m = byName(must(adapterAs(t, user, "pw-ev-noproc-1").EvidenceSources(ctx, db)))
	for _, name := range []string{engine.SourceSessions, engine.SourceLocks} {
		require.Equal(t, engine.SourceNotPermitted, m[name].State, name)
		require.Contains(t, m[name].Detail, "PROCESS", name)
	}
	require.Contains(t, m[engine.SourceTableCounters].Detail, "SUPER", "it could not switch userstat on itself")

	_, err = a.EvidenceSources(ctx, "mysql")
	require.ErrorIs(t, err, engine.ErrRefused)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The parser reads what the server here writes: every line of a log of tricky statements
// parses, and a statement's text comes back exactly.
func TestAuditLogOfTheRealServer(t *testing.T) {
	e := newEvTarget(t, true)
	mustExec(t, e.root, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", e.db, e.client))
	c, _ := e.clientConn(t, e.other)
	tricky := []string{
		fmt.Sprintf("SELECT 'it''s, \"x\" \\\\ %s.t', v FROM %s.t WHERE id = 1", e.db, e.db),
		fmt.Sprintf("SELECT v\nFROM `%s`.`t` -- a comment, with commas\nWHERE id = 2", e.db),
		fmt.Sprintf("SELECT /* %s.t */ 1, ',', '\\n' FROM DUAL", e.db),
	}
	for _, q := range tricky {
		rows, err := c.QueryContext(t.Context(), q)
		require.NoError(t, err, q)
		require.NoError(t, rows.Close())
	}
	events := e.auditUntil(t, nil, func(ev []engine.AuditEvent) bool { return countEvents(ev, e.client, "QUERY", "t", 0) >= 2 })
	require.Equal(t, 2, countEvents(events, e.client, "QUERY", "t", 0), "the third names the table in a comment only: %+v", events)
	require.Equal(t, 2, countEvents(events, e.client, "READ", "t", 0))

	data, err := os.ReadFile(e.auditPath)
	require.NoError(t, err)
	var objects []string
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	require.NotEmpty(t, lines)
	for _, l := range lines {
		r, ok := parseAuditLine(l)
		require.True(t, ok, "a line the parser does not read: %q", l)
		if r.User == e.client && r.Op == "QUERY" {
			objects = append(objects, r.Object)
		}
	}
	for _, q := range tricky {
		require.Contains(t, objects, q)
	}
}

// Without the lock table (metadata_lock_info not installed) a look is the processlist alone:
// the default database and the statement still tell.
func TestLookServerWithoutTheLockTable(t *testing.T) {
	e := newEvTarget(t, false)
	mustExec(t, e.root, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", e.db, e.client))
	e.a.caps = &lookCaps{at: time.Now()} // as if the plugin were not there
	c, id := e.clientConn(t, e.other)
	_, err := c.ExecContext(t.Context(), "BEGIN")
	require.NoError(t, err)
	var n int
	require.NoError(t, c.QueryRowContext(t.Context(), fmt.Sprintf("SELECT COUNT(*) FROM %s.t", e.db)).Scan(&n))
	look, err := e.a.LookServer(testCtx(t))
	require.NoError(t, err)
	i := slices.IndexFunc(look.Sessions, func(s engine.SessionRow) bool { return s.ID == id })
	require.GreaterOrEqual(t, i, 0)
	require.Empty(t, look.Sessions[i].Locked)
	require.Equal(t, e.other, look.Sessions[i].DB)
	require.False(t, slices.ContainsFunc(e.a.Reaching(look, e.db), func(s engine.Session) bool { return s.ID == id }),
		"an idle transaction is seen by its locks only")
	_, err = c.ExecContext(t.Context(), "ROLLBACK")
	require.NoError(t, err)

	other, err := e.a.Sessions(testCtx(t), e.other)
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(other, func(s engine.Session) bool {
		return s.ID == id && slices.Equal(s.Via, []string{engine.ViaDefaultDB})
	}))
}

// After a rename cut, an account that keeps its grants fails on the old names with 1146:
// USER_STATISTICS counts none of it (the attempts source is blind to it), the audit log
// has every statement as a QUERY event with retcode 1146, qualified or in the database.
func TestEvidenceAttemptsAfterARename(t *testing.T) {
	e := newEvTarget(t, true)
	ctx := testCtx(t)
	mustExec(t, e.root, fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", e.db, e.client))
	require.NoError(t, canUse(t, e.client, e.pw, e.db)) // USER_STATISTICS has a row for it

	snap, err := e.a.SnapshotAccess(ctx, e.db, engine.StrategyRename)
	require.NoError(t, err)
	_, err = e.a.Cut(ctx, snap)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.a.Restore(context.Background(), snap) })

	start, err := e.a.Counters(ctx, e.db, e.clientAccount)
	require.NoError(t, err)
	_, e.cursor, err = e.a.AuditEvents(ctx, e.db, e.clientAccount, "")
	require.NoError(t, err)

	var n int
	for range 2 {
		c := connectAs(t, e.client, e.pw, "")
		require.ErrorContains(t, c.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+e.db+".t").Scan(&n), "doesn't exist") // 1146
		require.NoError(t, c.Close())
	}
	c := connectAs(t, e.client, e.pw, e.db)
	require.ErrorContains(t, c.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n), "doesn't exist")
	require.NoError(t, c.Close())

	end, err := e.a.Counters(ctx, e.db, e.clientAccount)
	require.NoError(t, err)
	require.Equal(t, start.Epoch, end.Epoch)
	require.Equal(t, start.Accounts[0].DeniedLogins, end.Accounts[0].DeniedLogins, "1146 is counted nowhere in userstat")
	require.Equal(t, start.Accounts[0].RefusedStatements, end.Accounts[0].RefusedStatements, "1146 is counted nowhere in userstat")

	events := e.auditUntil(t, e.clientAccount, func(ev []engine.AuditEvent) bool {
		return countEvents(ev, e.client, "QUERY", "", 1146) >= 3
	})
	require.Equal(t, 2, countEvents(events, e.client, "QUERY", "t", 1146), "the qualified old name: %+v", events)
	require.Equal(t, 3, countEvents(events, e.client, "QUERY", "", 1146), "and the one run in the database: %+v", events)
	for _, ev := range events {
		if ev.Code == 1146 {
			require.Equal(t, e.db, ev.DB)
		}
	}
}

// A look says how the server compares names and whether userstat counts now, which is
// what a sampler needs to tell a switch off and on between two readings of Counters.
func TestLookServerSaysWhetherCountersCount(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	require.True(t, isMariaDB(t, root))
	var lctn int
	require.NoError(t, root.QueryRowContext(ctx, "SELECT @@lower_case_table_names").Scan(&lctn))
	setGlobal(t, root, "userstat", "ON")
	look, err := newTestAdapter(t).LookServer(ctx)
	require.NoError(t, err)
	require.False(t, look.CountersOff)
	require.Equal(t, lctn, look.NameCase)
	require.NotEmpty(t, look.Sessions, "root's own pool is connected")

	setGlobal(t, root, "userstat", "OFF")
	look, err = newTestAdapter(t).LookServer(ctx)
	require.NoError(t, err)
	require.True(t, look.CountersOff)
	require.NotEmpty(t, look.Sessions)
}

// Any FLUSH starts a new epoch: FLUSH TABLE_STATISTICS resets the counters (not run here,
// where other tests read them; on a server of its own, Com_flush went up by one for FLUSH
// TABLE_STATISTICS, FLUSH USER_STATISTICS and mariadb-admin flush-table-statistics alike,
// and FLUSH STATUS did not reset it), and FLUSH of the test's own table shows the mechanism.
func TestCountersEpochChangesOnFlush(t *testing.T) {
	e := newEvTarget(t, false)
	ctx := testCtx(t)
	var flushes int64
	require.NoError(t, e.root.QueryRowContext(ctx, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'COM_FLUSH'").Scan(&flushes))
	require.True(t, strings.HasPrefix(e.start.Epoch, "mariadb-started:"), e.start.Epoch)
	require.Contains(t, e.start.Epoch, ",flushes:")
	mustExec(t, e.root, "FLUSH TABLES "+e.db+".t")
	after, err := e.a.Counters(ctx, e.db, nil)
	require.NoError(t, err)
	require.NotEqual(t, e.start.Epoch, after.Epoch)
	started := func(epoch string) string { return strings.SplitN(epoch, ",", 2)[0] }
	require.Equal(t, started(e.start.Epoch), started(after.Epoch), "the server did not restart")
	var n int64
	_, err = fmt.Sscanf(strings.SplitN(after.Epoch, ",flushes:", 2)[1], "%d", &n)
	require.NoError(t, err)
	require.Greater(t, n, flushes, "the FLUSH counted")
	_, ok := engine.AccessBetween(e.start, after)
	require.False(t, ok)
}
