package deployments

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/mysql"
	"github.com/dataretire/retire/testservices"
)

const (
	lpRetire = "rt_lp_retire" // the account grants-mysql.sql makes, under a test name
	lpApp    = "rt_lp_app"    // reaches only the retired database: locked by the cut
	lpWide   = "rt_lp_wide"   // ALL on it, and more elsewhere: revoked, not locked
	lpShop   = "rt_lp_shop"   // retired with strategy revoke (it has triggers)
	lpHold   = "rt_lp_hold"   // retired with strategy rename
	lpOther  = "rt_lp_other"
	lpCopy   = "rt_lp_copy" // scratch database of a test restore
)

// grantScript returns the statements of grants-mysql.sql for this server: Part 1, then Part
// 2a (MySQL) or 2b (MariaDB), for account user@host with password pw.
func grantScript(t *testing.T, mariadb bool, user, host, pw string) []string {
	t.Helper()
	data, err := os.ReadFile("grants-mysql.sql")
	require.NoError(t, err)
	parts := map[string]string{}
	cur := ""
	for _, line := range strings.Split(string(data), "\n") {
		if m := regexp.MustCompile(`^-- Part (\w+):`).FindStringSubmatch(line); m != nil {
			cur = m[1]
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "--") || cur == "" {
			continue
		}
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i] // a comment after a statement (the file has no "--" inside SQL)
		}
		parts[cur] += line + "\n"
	}
	want := []string{"1", "2a"}
	if mariadb {
		want = []string{"1", "2b"}
	}
	require.Contains(t, parts, "2a")
	require.Contains(t, parts, "2b")
	var stmts []string
	for _, p := range want {
		for _, s := range strings.Split(parts[p], ";") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			require.Contains(t, s, "'retire'@'%'", "every statement is for the placeholder account: %s", s)
			s = strings.ReplaceAll(s, "'retire'@'%'", fmt.Sprintf("'%s'@'%s'", user, host))
			s = strings.ReplaceAll(s, "'change-me'", "'"+pw+"'")
			stmts = append(stmts, s)
		}
	}
	return stmts
}

// Parts 1 and 2 of grants-mysql.sql are enough for everything retire does to a MySQL or
// MariaDB database: the account they make plans, samples, cuts access both ways and gives it
// back exactly, exports, restores into a scratch database, drops and verifies.
func TestGrantsMySQLAreEnoughForARetirement(t *testing.T) {
	root := testservices.MariaDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := root.ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	var version string
	require.NoError(t, root.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version))
	mariadb := strings.Contains(strings.ToLower(version), "mariadb")

	// The client host the server sees for us (127.0.0.1, or localhost on some builds).
	dsn, err := driver.ParseDSN(testservices.MariaDBDSN())
	require.NoError(t, err)
	host, portText, err := net.SplitHostPort(dsn.Addr)
	require.NoError(t, err)
	port, err := strconv.Atoi(portText)
	require.NoError(t, err)
	acctHost := "127.0.0.1"

	// Its own deadline: the test's ctx is cancelled when the test returns, before t.Cleanup
	// runs, which left the accounts and databases behind.
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rows, err := root.QueryContext(ctx, `SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'rt\_lp\_%'`)
		if err == nil {
			var dbs []string
			for rows.Next() {
				var d string
				_ = rows.Scan(&d)
				dbs = append(dbs, d)
			}
			rows.Close()
			for _, d := range dbs {
				_, _ = root.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+d+"`")
			}
		}
		for _, u := range []string{lpRetire, lpApp, lpWide} {
			_, _ = root.ExecContext(ctx, fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", u, acctHost))
		}
	}
	cleanup()
	t.Cleanup(cleanup)

	// The retire account, exactly as the file makes it.
	pw := randomPassword(t)
	for _, s := range grantScript(t, mariadb, lpRetire, acctHost, pw) {
		exec(s)
	}
	retireAcct := fmt.Sprintf("'%s'@'%s'", lpRetire, acctHost)

	// A database with tables, a foreign key, a view, routines, a trigger and an event (defined
	// by the retire account: objects of other definers need Part 4), and accounts reaching it.
	exec("CREATE DATABASE " + lpShop)
	exec("CREATE DATABASE " + lpHold)
	exec("CREATE DATABASE " + lpOther)
	exec("CREATE TABLE " + lpShop + ".customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL)")
	exec("CREATE TABLE " + lpShop + ".orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT NOT NULL, amount DECIMAL(10,2), at DATETIME, note TEXT, " +
		"FOREIGN KEY (customer_id) REFERENCES customers(id))")
	exec("INSERT INTO " + lpShop + ".customers VALUES (1, 'ann'), (2, 'bo'), (3, 'zoë')")
	for i := range 50 {
		exec("INSERT INTO "+lpShop+".orders (customer_id, amount, at, note) VALUES (?, ?, '2024-01-02 03:04:05', ?)", i%3+1, fmt.Sprintf("%d.%02d", i, i), fmt.Sprintf("order %d", i))
	}
	exec("CREATE DEFINER = " + retireAcct + " VIEW " + lpShop + ".big_orders AS SELECT id, amount FROM " + lpShop + ".orders WHERE amount > 10")
	exec("CREATE DEFINER = " + retireAcct + " PROCEDURE " + lpShop + ".order_count(OUT n INT) SELECT COUNT(*) INTO n FROM orders")
	exec("CREATE DEFINER = " + retireAcct + " FUNCTION " + lpShop + ".twice(x INT) RETURNS INT DETERMINISTIC RETURN 2 * x")
	// Unqualified, from inside the database: SHOW CREATE TRIGGER gives back the statement as
	// written, and a schema-qualified trigger name would be replayed into the source database.
	inShop, err := root.Conn(ctx)
	require.NoError(t, err)
	_, err = inShop.ExecContext(ctx, "USE "+lpShop)
	require.NoError(t, err)
	_, err = inShop.ExecContext(ctx, "CREATE DEFINER = "+retireAcct+" TRIGGER orders_note BEFORE INSERT ON orders FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'none')")
	require.NoError(t, err)
	require.NoError(t, inShop.Close())
	exec("CREATE DEFINER = " + retireAcct + " EVENT " + lpShop + ".nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM orders WHERE id < 0")
	exec("CREATE TABLE " + lpHold + ".ledger (id INT PRIMARY KEY, v VARCHAR(10))")
	exec("INSERT INTO " + lpHold + ".ledger VALUES (1, 'a'), (2, 'b')")

	appPW := randomPassword(t)
	exec(fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", lpApp, acctHost, appPW))
	exec(fmt.Sprintf("GRANT SELECT, INSERT, UPDATE ON %s.* TO '%s'@'%s'", lpShop, lpApp, acctHost))
	exec(fmt.Sprintf("GRANT EXECUTE ON PROCEDURE %s.order_count TO '%s'@'%s'", lpShop, lpApp, acctHost))
	exec(fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", lpWide, acctHost, randomPassword(t)))
	exec(fmt.Sprintf("GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%s' WITH GRANT OPTION", lpShop, lpWide, acctHost))
	exec(fmt.Sprintf("GRANT SELECT (id, amount), UPDATE (note) ON %s.orders TO '%s'@'%s'", lpShop, lpWide, acctHost))
	exec(fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%s'", lpOther, lpWide, acctHost))
	grantsBefore := map[string][]string{lpApp: showGrants(t, root, lpApp, acctHost), lpWide: showGrants(t, root, lpWide, acctHost)}

	// From here on, everything runs as the least-privileged account.
	ad, err := mysql.New(mysql.Config{Host: host, Port: port, User: lpRetire, Password: pw, QueryTimeout: 20 * time.Second, PollInterval: 50 * time.Millisecond})
	require.NoError(t, err)

	// Plan.
	require.NoError(t, ad.Validate(ctx, lpShop))
	inv, err := ad.Inventory(ctx, lpShop)
	require.NoError(t, err, "inventory as %s", lpRetire)
	require.Len(t, inv.Tables, 2)
	assert.EqualValues(t, 53, inv.TotalRows)
	assert.Equal(t, []string{"big_orders"}, inv.Views)
	assert.Len(t, inv.Routines, 2)
	assert.Equal(t, []string{"orders_note"}, inv.Triggers)
	assert.Equal(t, []string{"nightly"}, inv.Events)
	accts := map[string]engine.Account{}
	for _, a := range inv.Accounts {
		accts[a.User] = a
	}
	require.Contains(t, accts, lpApp, "the plan sees other accounts' grants: %+v", inv.Accounts)
	require.Contains(t, accts, lpWide)
	assert.True(t, accts[lpApp].OnlyThisObject)
	assert.False(t, accts[lpWide].OnlyThisObject)

	// Sample: a client of another account is seen (PROCESS).
	app := appConn(t, host, port, lpApp, appPW, lpShop)
	seen, err := ad.Sessions(ctx, lpShop)
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(seen, func(s engine.Session) bool { return s.User == lpApp }), "sessions: %+v", seen)

	// Cut by revoke: grants revoked (GRANT OPTION + the privileges), account locked (CREATE
	// USER), its session killed (CONNECTION ADMIN).
	snap, err := ad.SnapshotAccess(ctx, lpShop, engine.StrategyRevoke)
	require.NoError(t, err)
	cut, err := ad.Cut(ctx, snap)
	require.NoError(t, err, "cut as %s", lpRetire)
	assert.Positive(t, cut.Revoked)
	assert.Equal(t, []string{lpApp + "@" + acctHost}, cut.Locked)
	assert.GreaterOrEqual(t, cut.KilledSessions, 1)
	require.Error(t, app.PingContext(ctx), "the application's session was killed")
	for u := range grantsBefore {
		for _, g := range showGrants(t, root, u, acctHost) {
			assert.NotContains(t, g, lpShop, "%s still reaches %s after the cut", u, lpShop)
		}
	}
	_, err = openAs(host, port, lpApp, appPW, "").Exec("SELECT 1")
	require.Error(t, err, "the locked account cannot log in")

	// An objection: everything back exactly.
	require.NoError(t, ad.Restore(ctx, snap), "restore access as %s", lpRetire)
	for u, before := range grantsBefore {
		assert.ElementsMatch(t, before, showGrants(t, root, u, acctHost), "%s's grants after restore", u)
	}
	_, err = appConn(t, host, port, lpApp, appPW, lpShop).ExecContext(ctx, "SELECT COUNT(*) FROM orders")
	require.NoError(t, err, "the account is unlocked and reaches the database again")

	// Cut again (the retirement goes on), then export.
	_, err = ad.Cut(ctx, snap)
	require.NoError(t, err)
	src, err := ad.Source(ctx, lpShop, snap)
	require.NoError(t, err, "open for export as %s", lpRetire)
	defer src.Close()
	ddl, err := src.ObjectDDL(ctx)
	require.NoError(t, err, "views, routines, triggers, events as %s", lpRetire)
	assert.Contains(t, ddl["views.sql"], "big_orders")
	assert.Contains(t, ddl["routines.sql"], "order_count")
	assert.Contains(t, ddl["routines.sql"], "twice")
	assert.Contains(t, ddl["triggers.sql"], "orders_note")
	assert.Contains(t, ddl["events.sql"], "nightly")

	// Restore into a scratch database (the verify-restore gate, `retire restore`).
	var loader engine.Loader = ad
	require.NoError(t, loader.CreateTarget(ctx, lpCopy, src.Info()))
	for _, table := range []string{"customers", "orders"} {
		tddl, err := src.TableDDL(ctx, table)
		require.NoError(t, err)
		require.NoError(t, loader.RunScript(ctx, lpCopy, tddl), "create %s as %s", table, lpRetire)
	}
	for _, table := range src.Tables() {
		rows, err := src.Scan(ctx, table)
		require.NoError(t, err)
		cols := rows.Columns()
		n, err := loader.LoadTable(ctx, lpCopy, table, cols, func(yield func([][]byte) error) error {
			dst := make([][]byte, len(cols))
			for rows.Next(dst) {
				if err := yield(dst); err != nil {
					return err
				}
			}
			return rows.Err()
		})
		require.NoError(t, err, "load %s as %s", table, lpRetire)
		require.NoError(t, rows.Close())
		assert.Positive(t, n)
	}
	for _, f := range []string{"views.sql", "routines.sql", "triggers.sql", "events.sql"} {
		require.NoError(t, loader.RunScript(ctx, lpCopy, ddl[f]), "%s as %s", f, lpRetire)
	}
	orig, err := loader.Checksums(ctx, lpShop, src.Tables())
	require.NoError(t, err)
	copied, err := loader.Checksums(ctx, lpCopy, src.Tables())
	require.NoError(t, err)
	require.Equal(t, orig, copied, "the scratch copy is identical")
	require.NoError(t, loader.DropTarget(ctx, lpCopy))

	// Drop and verify.
	require.NoError(t, ad.Drop(ctx, lpShop, snap), "DROP DATABASE as %s", lpRetire)
	gone, err := ad.VerifyGone(ctx, lpShop, snap)
	require.NoError(t, err)
	require.True(t, gone.Gone, "%v", gone.Remaining)

	// Strategy rename, both ways: CREATE, ALTER, DROP, INSERT.
	hold, err := ad.SnapshotAccess(ctx, lpHold, engine.StrategyRename)
	require.NoError(t, err)
	cut, err = ad.Cut(ctx, hold)
	require.NoError(t, err, "rename cut as %s", lpRetire)
	assert.Equal(t, 1, cut.Moved)
	require.NoError(t, ad.Restore(ctx, hold), "rename back as %s", lpRetire)
	var n int
	require.NoError(t, root.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+lpHold+".ledger").Scan(&n))
	assert.Equal(t, 2, n)
	var quarantines int
	require.NoError(t, root.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '%rt\_lp\_hold%' AND SCHEMA_NAME <> ?`, lpHold).Scan(&quarantines))
	assert.Zero(t, quarantines, "the empty quarantine schema is dropped")

	// And the account holds nothing beyond the file: no SUPER, no FILE, no SYSTEM_USER.
	for _, g := range showGrants(t, root, lpRetire, acctHost) {
		for _, p := range []string{"SUPER", "FILE", "SYSTEM_USER", "RELOAD", "SHUTDOWN", "SET USER", "SET_ANY_DEFINER", "ALL PRIVILEGES"} {
			assert.NotRegexp(t, `\b`+p+`\b`, g, "the retire account must not hold %s", p)
		}
	}
}

func showGrants(t *testing.T, db *sql.DB, user, host string) []string {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf("SHOW GRANTS FOR '%s'@'%s'", user, host))
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		require.NoError(t, rows.Scan(&g))
		out = append(out, g)
	}
	require.NoError(t, rows.Err())
	return out
}

func openAs(host string, port int, user, pw, db string) *sql.DB {
	c := driver.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = user, pw, "tcp", net.JoinHostPort(host, strconv.Itoa(port)), db
	c.Timeout = 5 * time.Second
	conn, _ := driver.NewConnector(c)
	return sql.OpenDB(conn)
}

// appConn is one open session of an application account, inside db.
func appConn(t *testing.T, host string, port int, user, pw, db string) *sql.Conn {
	t.Helper()
	pool := openAs(host, port, user, pw, db)
	t.Cleanup(func() { pool.Close() })
	conn, err := pool.Conn(context.Background())
	require.NoError(t, err)
	require.NoError(t, conn.PingContext(context.Background()))
	t.Cleanup(func() { conn.Close() })
	return conn
}

func randomPassword(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "Rt-" + hex.EncodeToString(b)
}
