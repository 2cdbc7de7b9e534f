package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

// No MySQL 8 server runs here: these tests pin the statements the adapter sends to one,
// through a scripted database/sql driver that answers by exact statement text.

type answer struct {
	cols []string
	rows [][]driver.Value
	err  error
}

type scripted struct {
	mu      sync.Mutex
	answers map[string]answer
	once    map[string][]answer // answered first, one each time, before answers
	calls   []string
	args    [][]driver.NamedValue
}

// then queues an answer given once, the next time query is sent.
func (s *scripted) then(query string, cols []string, rows ...[]driver.Value) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.once == nil {
		s.once = map[string][]answer{}
	}
	s.once[query] = append(s.once[query], answer{cols: cols, rows: rows})
}

func (s *scripted) on(query string, cols []string, rows ...[]driver.Value) {
	s.answers[query] = answer{cols: cols, rows: rows}
}

func (s *scripted) fail(query string, errno uint16) {
	s.answers[query] = answer{err: &mysqldrv.MySQLError{Number: errno, Message: "scripted"}}
}

func (s *scripted) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.calls
	s.calls = nil
	return out
}

func (s *scripted) Connect(context.Context) (driver.Conn, error) { return scriptedConn{s}, nil }
func (s *scripted) Driver() driver.Driver                        { return nil }

type scriptedConn struct{ s *scripted }

func (c scriptedConn) Prepare(string) (driver.Stmt, error) { return nil, fmt.Errorf("not scripted") }
func (c scriptedConn) Close() error                        { return nil }
func (c scriptedConn) Begin() (driver.Tx, error)           { return nil, fmt.Errorf("not scripted") }

func (c scriptedConn) QueryContext(_ context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.calls = append(c.s.calls, query)
	c.s.args = append(c.s.args, args)
	a, ok := c.s.answers[query]
	if q := c.s.once[query]; len(q) > 0 {
		a, ok = q[0], true
		c.s.once[query] = q[1:]
	}
	if !ok {
		return nil, fmt.Errorf("unscripted statement: %s", query)
	}
	if a.err != nil {
		return nil, a.err
	}
	return &scriptedRows{cols: a.cols, rows: a.rows}, nil
}

type scriptedRows struct {
	cols []string
	rows [][]driver.Value
}

func (r *scriptedRows) Columns() []string { return r.cols }
func (r *scriptedRows) Close() error      { return nil }
func (r *scriptedRows) Next(dest []driver.Value) error {
	if len(r.rows) == 0 {
		return io.EOF
	}
	copy(dest, r.rows[0])
	r.rows = r.rows[1:]
	return nil
}

func mysql8(t *testing.T) (*Adapter, *scripted, *sql.DB) {
	s := &scripted{answers: map[string]answer{}}
	db := sql.OpenDB(s)
	t.Cleanup(func() { db.Close() })
	a := &Adapter{cfg: Config{QueryTimeout: 5 * time.Second, PollInterval: time.Second},
		server: &serverInfo{engine: "mysql", version: "8.0.36"}}
	return a, s, db
}

func cols(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("c%d", i)
	}
	return out
}

func TestMySQL8LookIsOneStatementOverPerformanceSchema(t *testing.T) {
	a, s, db := mysql8(t)
	ctx := testCtx(t)
	// The statement text, pinned: performance_schema.threads for the sessions, metadata_locks
	// and table_handles joined to them for what each holds.
	const wantLook = "SELECT 'session', t.PROCESSLIST_ID, t.PROCESSLIST_USER, t.PROCESSLIST_HOST, t.PROCESSLIST_DB, t.PROCESSLIST_COMMAND, LEFT(t.PROCESSLIST_INFO, 2048), NULL, NULL, NULL " +
		"FROM performance_schema.threads t WHERE t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID() " +
		"UNION ALL SELECT 'lock', t.PROCESSLIST_ID, NULL, NULL, NULL, NULL, NULL, m.OBJECT_TYPE, m.OBJECT_SCHEMA, m.OBJECT_NAME " +
		"FROM performance_schema.metadata_locks m JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID " +
		"WHERE t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID() AND m.OBJECT_SCHEMA <> '' " +
		"UNION ALL SELECT 'lock', t.PROCESSLIST_ID, NULL, NULL, NULL, NULL, NULL, 'TABLE', h.OBJECT_SCHEMA, h.OBJECT_NAME " +
		"FROM performance_schema.table_handles h JOIN performance_schema.threads t ON t.THREAD_ID = h.OWNER_THREAD_ID " +
		"WHERE t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID() AND h.OBJECT_TYPE = 'TABLE' " +
		"UNION ALL SELECT 'server', (SELECT COUNT(*) FROM performance_schema.setup_instruments WHERE NAME = 'wait/io/table/sql/handler' AND ENABLED = 'YES'), " +
		"NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
	require.Equal(t, wantLook, lookMySQL)
	const wantCaps = "SELECT @@lower_case_table_names, @@performance_schema, TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', 'SYSTEM'))"
	require.Equal(t, wantCaps, capsMySQL)

	s.on(wantCaps, cols(3), []driver.Value{int64(0), int64(1), int64(0)})
	s.on(wantLook, cols(10),
		[]driver.Value{"session", int64(11), "app", "10.0.0.7:5555", nil, "Query", "SELECT COUNT(*) FROM shop.orders", nil, nil, nil},
		[]driver.Value{"session", int64(12), "idle", "10.0.0.8", "other", "Sleep", nil, nil, nil, nil},
		[]driver.Value{"session", int64(13), "event_scheduler", "localhost", nil, "Daemon", nil, nil, nil, nil},
		[]driver.Value{"session", int64(14), "bystander", "10.0.0.9", "other", "Sleep", nil, nil, nil, nil},
		[]driver.Value{"lock", int64(11), nil, nil, nil, nil, nil, "TABLE", "shop", "orders"},
		[]driver.Value{"lock", int64(11), nil, nil, nil, nil, nil, "TABLE", "shop", "orders"}, // metadata_locks and table_handles
		[]driver.Value{"lock", int64(12), nil, nil, nil, nil, nil, "TABLE", "shop", "lines"},
		[]driver.Value{"lock", int64(12), nil, nil, nil, nil, nil, "SCHEMA", "shop", nil},
		[]driver.Value{"lock", int64(14), nil, nil, nil, nil, nil, "USER LEVEL LOCK", "shop", nil}, // GET_LOCK('shop'): no table
		[]driver.Value{"lock", int64(99), nil, nil, nil, nil, nil, "TABLE", "shop", "gone"},        // its session ended in between
		[]driver.Value{"server", int64(1), nil, nil, nil, nil, nil, nil, nil, nil},                 // the table I/O instrument counts
	)
	look, err := a.lookServer(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{wantCaps, wantLook}, s.sent())
	require.Len(t, look.Sessions, 3, "the event scheduler is the server's own")
	require.False(t, look.CountersOff)
	require.Zero(t, look.NameCase)
	require.Equal(t, engine.SessionRow{ID: 11, User: "app", Host: "10.0.0.7", Command: "Query", Info: "SELECT COUNT(*) FROM shop.orders",
		Locked: []engine.TableRef{{Schema: "shop", Table: "orders"}}}, look.Sessions[0])
	require.Equal(t, []engine.TableRef{{Schema: "shop"}, {Schema: "shop", Table: "lines"}}, look.Sessions[1].Locked)
	require.Empty(t, look.Sessions[2].Locked)

	got := a.Reaching(look, "shop")
	require.Len(t, got, 2)
	require.Equal(t, []string{engine.ViaLock, engine.ViaStatement}, got[0].Via)
	require.Equal(t, []string{"orders"}, got[0].Tables)
	require.Equal(t, "idle", got[1].User)
	require.Equal(t, []string{engine.ViaLock}, got[1].Via)

	// The next look is one statement: what the server offers is known. It sees the
	// instrument switched off.
	s.on(wantLook, cols(10), []driver.Value{"server", int64(0), nil, nil, nil, nil, nil, nil, nil, nil})
	look, err = a.lookServer(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{wantLook}, s.sent())
	require.True(t, look.CountersOff)
	require.Empty(t, look.Sessions)

	// performance_schema not readable: the processlist alone, from then on.
	s.fail(wantLook, 1142)
	s.on(lookProcesslist, cols(10), []driver.Value{"session", int64(11), "app", "10.0.0.7:5555", "shop", "Sleep", nil, nil, nil, nil})
	look, err = a.lookServer(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{wantLook, lookProcesslist}, s.sent())
	require.False(t, look.CountersOff, "the processlist alone cannot tell")
	require.Equal(t, []string{engine.ViaDefaultDB}, a.Reaching(look, "shop")[0].Via)
	_, err = a.lookServer(ctx, db)
	require.NoError(t, err)
	require.Equal(t, []string{lookProcesslist}, s.sent())
}

func TestMySQL8CountersReadPerformanceSchemaOnly(t *testing.T) {
	a, s, db := mysql8(t)
	ctx := testCtx(t)
	const (
		wantEpoch = "SELECT @@performance_schema, UNIX_TIMESTAMP() - (SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Uptime'), " +
			"(SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Com_truncate'), " +
			"(SELECT ENABLED FROM performance_schema.setup_instruments WHERE NAME = 'wait/io/table/sql/handler')"
		wantTables = "SELECT OBJECT_NAME, COUNT_READ, COUNT_WRITE FROM performance_schema.table_io_waits_summary_by_table WHERE OBJECT_TYPE = 'TABLE' AND " +
			"(OBJECT_SCHEMA = ? AND CAST(OBJECT_SCHEMA AS BINARY) = CAST(? AS BINARY)) ORDER BY OBJECT_NAME"
		wantAccounts = "SELECT USER, ERROR_NUMBER, SUM(SUM_ERROR_RAISED) FROM performance_schema.events_errors_summary_by_account_by_error " +
			"WHERE ERROR_NUMBER IN (1044, 1045, 1142, 1143, 1146, 1227, 1370, 3118, 3955) AND USER IN (?, ?) GROUP BY USER, ERROR_NUMBER"
	)
	s.on(wantEpoch, cols(4), []driver.Value{int64(1), int64(1767225600), int64(7), "YES"})
	s.on(wantTables, cols(3), []driver.Value{"lines", int64(10), int64(0)}, []driver.Value{"orders", int64(7), int64(3)})
	s.on(wantAccounts, cols(3),
		[]driver.Value{"app", int64(1142), "3"}, []driver.Value{"app", int64(1045), "2"}, []driver.Value{"gone", int64(3118), "4"},
		[]driver.Value{"gone", int64(1146), "5"}) // on the old names after strategy rename
	accounts := []engine.AccountRef{{User: "app", Host: "%"}, {User: "app", Host: "10.%"}, {User: "gone", Host: "%"}}
	c, err := a.counters(ctx, db, "shop", accounts)
	require.NoError(t, err)
	require.Equal(t, []string{wantEpoch, wantTables, wantAccounts, wantEpoch}, s.sent(), "the epoch again after the counters")
	require.Equal(t, countersMySQL, c.Source)
	require.Equal(t, "mysql-started:1767225600,truncates:7", c.Epoch)
	require.True(t, c.On)
	require.Equal(t, []engine.TableCounter{{Table: "lines", Reads: 10}, {Table: "orders", Reads: 7, Writes: 3}}, c.Tables)
	require.Equal(t, []engine.AccountCounter{
		{AccountRef: accounts[0], DeniedLogins: 2, RefusedStatements: 3},
		{AccountRef: accounts[1], DeniedLogins: 2, RefusedStatements: 3},
		{AccountRef: accounts[2], DeniedLogins: 4, RefusedStatements: 5},
	}, c.Accounts)

	// The instrument off: nothing counted, nothing read.
	s.on(wantEpoch, cols(4), []driver.Value{int64(1), int64(1767225600), int64(7), "NO"})
	c, err = a.counters(ctx, db, "shop", nil)
	require.NoError(t, err)
	require.False(t, c.On)
	require.Equal(t, []string{wantEpoch}, s.sent())
}

func TestMySQL8EvidenceSources(t *testing.T) {
	a, s, db := mysql8(t)
	ctx := testCtx(t)
	s.on("SELECT ROLE_NAME, ROLE_HOST FROM information_schema.ENABLED_ROLES", cols(2))
	s.on("SHOW GRANTS", cols(1), []driver.Value{"GRANT SELECT, PROCESS ON *.* TO `retire`@`%`"})
	s.on("SELECT @@performance_schema", cols(1), []driver.Value{int64(1)})
	const instruments = "SELECT NAME, ENABLED FROM performance_schema.setup_instruments WHERE NAME IN ('wait/lock/metadata/sql/mdl', 'wait/io/table/sql/handler')"
	s.on(instruments, cols(2), []driver.Value{"wait/lock/metadata/sql/mdl", "YES"}, []driver.Value{"wait/io/table/sql/handler", "NO"})
	src, err := a.evidenceSources(ctx, db)
	require.NoError(t, err)
	states := map[string]string{}
	for _, x := range src {
		states[x.Name] = x.State
		require.NotEmpty(t, x.Sees, x.Name)
		require.False(t, x.Dynamic, "nothing is switched on by retire on MySQL")
	}
	require.Equal(t, map[string]string{
		engine.SourceSessions: engine.SourceAvailable, engine.SourceLocks: engine.SourceAvailable,
		engine.SourceTableCounters: engine.SourceOff, engine.SourceAttempts: engine.SourceAvailable,
		engine.SourceAuditLog: engine.SourceUnsupported,
	}, states)
	require.Contains(t, src[2].Detail, "wait/io/table/sql/handler")
	require.Empty(t, src[3].Blind, "3118 (locked) and 1146 (renamed away) are counted per account")

	s.on("SELECT @@performance_schema", cols(1), []driver.Value{int64(0)})
	src, err = a.evidenceSources(ctx, db)
	require.NoError(t, err)
	require.Equal(t, engine.SourceOff, src[1].State)
	require.Contains(t, src[1].Detail, "performance_schema=ON")

	s.on("SELECT @@performance_schema", cols(1), []driver.Value{int64(1)})
	s.fail(instruments, 1142)
	src, err = a.evidenceSources(ctx, db)
	require.NoError(t, err)
	require.Equal(t, engine.SourceNotPermitted, src[2].State)

	s.sent()
	_, err = a.enableSource(ctx, db, engine.SourceTableCounters)
	require.ErrorIs(t, err, engine.ErrRefused, "nothing on MySQL is retire's to switch on")
	_, err = a.EnableSource(ctx, engine.SourceLocks)
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Empty(t, s.sent(), "refused without a statement")
}
