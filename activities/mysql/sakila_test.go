package mysql

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/testservices"
)

// The integration tests run against the machine's MariaDB (root, empty password).
const (
	testHost  = "127.0.0.1"
	testPort  = 3306
	startHint = "start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// rootDB connects as root and fails the test, saying how to start MariaDB, when it cannot.
func rootDB(t *testing.T) *sql.DB {
	t.Helper()
	db := connectAs(t, "root", "", "")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("MariaDB is not reachable on %s:%d as root (%v); %s", testHost, testPort, err, startHint)
	}
	return db
}

// connectAs opens a pool as user, closed at the end of the test; the caller pings or
// queries it.
func connectAs(t *testing.T, user, password, dbName string) *sql.DB {
	t.Helper()
	db, err := openAs(user, password, dbName)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func openAs(user, password, dbName string) (*sql.DB, error) {
	cfg := driver.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, password, "tcp", fmt.Sprintf("%s:%d", testHost, testPort), dbName
	cfg.Timeout = 5 * time.Second
	c, err := driver.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func newTestAdapter(t *testing.T) *Adapter {
	t.Helper()
	rootDB(t)
	a, err := New(Config{Host: testHost, Port: testPort, User: "root", QueryTimeout: 30 * time.Second})
	require.NoError(t, err)
	return a
}

// uniqueName is rt_<what>_<random>, so parallel runs and leftovers never collide.
func uniqueName(what string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "rt_" + what + "_" + hex.EncodeToString(b)
}

func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		_, err := db.ExecContext(t.Context(), s)
		require.NoError(t, err, s)
	}
}

// createDB makes an empty database dropped at the end of the test.
func createDB(t *testing.T, root *sql.DB, what string) string {
	t.Helper()
	name := uniqueName(what)
	mustExec(t, root, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4")
	t.Cleanup(func() { dropQuietly(root, name) })
	return name
}

func dropQuietly(root *sql.DB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = root.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name))
	_, _ = root.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(quarantineName(name)))
}

// createUser makes 'name'@'%' with a password, dropped at the end of the test.
func createUser(t *testing.T, root *sql.DB, what, password string) string {
	t.Helper()
	name := uniqueName(what)
	mustExec(t, root, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", name, password))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = root.ExecContext(ctx, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", name))
	})
	return name
}

// loadSakila loads the Sakila fixture under a new name and returns that name.
func loadSakila(t *testing.T, root *sql.DB) string {
	t.Helper()
	name := uniqueName("sakila")
	t.Cleanup(func() { dropQuietly(root, name) })
	testservices.LoadSakila(t, root, name)
	return name
}

// runClient pipes SQL to the mariadb command-line client as root.
func runClient(t *testing.T, script string) {
	t.Helper()
	testservices.RunClient(t, script)
}

func count(t *testing.T, db *sql.DB, query string, args ...any) int64 {
	t.Helper()
	var n int64
	require.NoError(t, db.QueryRowContext(t.Context(), query, args...).Scan(&n), query)
	return n
}

// grantsOf is SHOW GRANTS as root sees it.
func grantsOf(t *testing.T, root *sql.DB, user string) []string {
	t.Helper()
	rows, err := root.QueryContext(t.Context(), fmt.Sprintf("SHOW GRANTS FOR '%s'@'%%'", user))
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func lockedAccount(t *testing.T, root *sql.DB, user string) bool {
	t.Helper()
	var s string
	require.NoError(t, root.QueryRowContext(t.Context(), fmt.Sprintf("SHOW CREATE USER '%s'@'%%'", user)).Scan(&s))
	return lockedIn(s)
}
