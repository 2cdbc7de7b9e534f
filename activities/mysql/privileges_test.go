package mysql

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/activities/engine"
)

func isMariaDB(t *testing.T, root *sql.DB) bool {
	t.Helper()
	var v string
	require.NoError(t, root.QueryRowContext(t.Context(), "SELECT VERSION()").Scan(&v))
	return strings.Contains(strings.ToLower(v), "mariadb")
}

// adapterAs is an adapter that logs in as user.
func adapterAs(t *testing.T, user, password string) *Adapter {
	t.Helper()
	a, err := New(Config{Host: testHost, Port: testPort, User: user, Password: password, QueryTimeout: 20 * time.Second})
	require.NoError(t, err)
	return a
}

// privilegeStrings are the report's entries as the refusal prints them.
func privilegeStrings(rep engine.PrivilegeReport) []string {
	out := make([]string, len(rep.Missing))
	for i, m := range rep.Missing {
		out[i] = m.String()
	}
	return out
}

func TestCheckPrivilegesOfAnAdministratorFindsNothingMissing(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	db := smallDB(t, root, "privroot")
	for _, s := range []engine.Strategy{engine.StrategyRevoke, engine.StrategyRename} {
		rep, err := a.CheckPrivileges(ctx, db, s)
		require.NoError(t, err)
		assert.Empty(t, rep.Missing, "%s: %v", s, privilegeStrings(rep))
		assert.Regexp(t, `^'root'@'[^']+'$`, rep.Account)
		require.NoError(t, rep.Err())
	}
	_, err := a.CheckPrivileges(ctx, db, "sideways")
	require.ErrorIs(t, err, engine.ErrRefused)
	_, err = a.CheckPrivileges(ctx, "mysql", engine.StrategyRevoke)
	require.ErrorIs(t, err, engine.ErrRefused, "system schemas are refused first")
}

// The incident: an account with everything but DROP (and, here, PROCESS) planned, sampled,
// cut and archived, then was denied the drop and retried it for an hour with access cut.
// The probe names both up front, in one refusal; and the denied drop itself is a refusal,
// which the activities do not retry.
func TestCheckPrivilegesNamesDropAndProcess(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	db := smallDB(t, root, "privdrop")
	app := createUser(t, root, "privapp", "pw-app-1")
	retire := createUser(t, root, "privret", "pw-ret-1")
	kill := "CONNECTION_ADMIN"
	if isMariaDB(t, root) {
		kill = "CONNECTION ADMIN"
	}
	mustExec(t, root,
		fmt.Sprintf("GRANT SELECT, INSERT ON %s.* TO '%s'@'%%'", db, app),
		fmt.Sprintf("GRANT SELECT, INSERT, SHOW VIEW, TRIGGER, EVENT ON *.* TO '%s'@'%%' WITH GRANT OPTION", retire),
		fmt.Sprintf("GRANT CREATE USER, %s ON *.* TO '%s'@'%%'", kill, retire),
	)
	a := adapterAs(t, retire, "pw-ret-1")
	rep, err := a.CheckPrivileges(ctx, db, engine.StrategyRevoke)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("'%s'@'%%'", retire), rep.Account)
	require.Equal(t, []engine.MissingPrivilege{
		{Privilege: "PROCESS", NeededFor: "needed to see every client that connects during sampling, not only its own sessions"},
		{Privilege: "DROP", On: "`" + db + "`.*", NeededFor: "needed to drop it"},
	}, rep.Missing)
	err = rep.Err()
	require.ErrorIs(t, err, engine.ErrRefused)
	require.Contains(t, err.Error(), fmt.Sprintf("the retire account '%s'@'%%' lacks PROCESS (needed to see every client", retire))
	require.Contains(t, err.Error(), "DROP on `"+db+"`.* (needed to drop it)")

	// What happens without the probe: the drop is denied, and that is final.
	err = a.Drop(ctx, db, engine.AccessSnapshot{Object: db, Strategy: engine.StrategyRevoke})
	require.ErrorIs(t, err, engine.ErrRefused, "an access-denied error is not retried")
	require.EqualValues(t, 1044, mysqlErrno(err), "the server's error is kept: %v", err)
	require.EqualValues(t, 1, count(t, root, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db))

	// Granted, nothing is missing and the drop goes through.
	mustExec(t, root, fmt.Sprintf("GRANT DROP, PROCESS ON *.* TO '%s'@'%%' WITH GRANT OPTION", retire))
	rep, err = a.CheckPrivileges(ctx, db, engine.StrategyRevoke)
	require.NoError(t, err)
	require.Empty(t, rep.Missing, "%v", privilegeStrings(rep))
	require.NoError(t, a.Drop(ctx, db, engine.AccessSnapshot{Object: db, Strategy: engine.StrategyRevoke}))
}

// REVOKE needs the grant option and every privilege it revokes; the probe lists the ones the
// grants reaching the database hold now (ALL PRIVILEGES expanded) and says from whom.
func TestCheckPrivilegesNamesWhatTheCutMustRevoke(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	mariadb := isMariaDB(t, root)
	db := smallDB(t, root, "privrev")
	wide := createUser(t, root, "privwide", "pw-wide-1")
	col := createUser(t, root, "privcol", "pw-col-1")
	retire := createUser(t, root, "privret", "pw-ret-2")
	kill := "CONNECTION_ADMIN"
	if mariadb {
		kill = "CONNECTION ADMIN"
	}
	mustExec(t, root,
		fmt.Sprintf("GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%%'", db, wide),
		fmt.Sprintf("GRANT UPDATE (a) ON %s.parent TO '%s'@'%%'", db, col),
		fmt.Sprintf("GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, DROP, PROCESS, CREATE USER, %s ON *.* TO '%s'@'%%'", kill, retire),
	)
	a := adapterAs(t, retire, "pw-ret-2")
	rep, err := a.CheckPrivileges(ctx, db, engine.StrategyRevoke)
	require.NoError(t, err)
	on := "`" + db + "`.*"
	got := map[string]engine.MissingPrivilege{}
	for _, m := range rep.Missing {
		require.Equal(t, on, m.On, "%v", m)
		got[m.Privilege] = m
	}
	require.Contains(t, got, "GRANT OPTION")
	for _, p := range []string{"INSERT", "DELETE", "CREATE", "ALTER", "INDEX", "REFERENCES", "CREATE TEMPORARY TABLES", "LOCK TABLES",
		"EXECUTE", "CREATE VIEW", "CREATE ROUTINE", "ALTER ROUTINE"} {
		require.Contains(t, got, p, "ALL PRIVILEGES holds %s: %v", p, privilegeStrings(rep))
		require.Equal(t, "needed to revoke it from "+wide+"@% during the cut and give it back", got[p].NeededFor)
	}
	if mariadb {
		require.Contains(t, got, "DELETE HISTORY")
	}
	require.Equal(t, "needed to revoke it from "+col+"@%, "+wide+"@% during the cut and give it back", got["UPDATE"].NeededFor, "a column grant needs the privilege too")
	for _, p := range []string{"SELECT", "SHOW VIEW", "TRIGGER", "EVENT", "DROP"} {
		require.NotContains(t, got, p, "held globally")
	}

	// The strategy rename revokes nothing: it moves the tables, which needs other privileges.
	rep, err = a.CheckPrivileges(ctx, db, engine.StrategyRename)
	require.NoError(t, err)
	require.Equal(t, []string{
		"ALTER on `" + db + "`.* (needed to move its tables into the quarantine schema and back with RENAME TABLE)",
		"CREATE on `" + db + "`.* (needed to move its tables into the quarantine schema and back with RENAME TABLE)",
		"INSERT on `" + db + "`.* (needed to move its tables into the quarantine schema and back with RENAME TABLE)",
		"CREATE on `" + quarantineName(db) + "`.* (needed to create the quarantine schema, move the tables in and out, and drop it)",
		"ALTER on `" + quarantineName(db) + "`.* (needed to create the quarantine schema, move the tables in and out, and drop it)",
		"INSERT on `" + quarantineName(db) + "`.* (needed to create the quarantine schema, move the tables in and out, and drop it)",
	}, privilegeStrings(rep))
}

// Privileges held through a role count (the one a new session enables), and so do those of
// database patterns; grants on the database itself do not last past a revoke cut.
func TestCheckPrivilegesFollowsRolesPatternsAndTheCut(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	// MySQL spells two of the statements differently (RETIRE_TEST_MYSQL_DSN may point there).
	connectionAdmin, defaultRole := "CONNECTION ADMIN", "SET DEFAULT ROLE %s FOR '%s'@'%%'"
	if !isMariaDB(t, root) {
		connectionAdmin, defaultRole = "CONNECTION_ADMIN", "SET DEFAULT ROLE %s TO '%s'@'%%'"
	}
	db := smallDB(t, root, "privrole")
	retire := createUser(t, root, "privret", "pw-ret-3")
	role := uniqueName("privrole")
	mustExec(t, root, "CREATE ROLE "+role)
	t.Cleanup(func() { _, _ = root.Exec("DROP ROLE IF EXISTS " + role) })
	inner := uniqueName("privinner")
	mustExec(t, root, "CREATE ROLE "+inner)
	t.Cleanup(func() { _, _ = root.Exec("DROP ROLE IF EXISTS " + inner) })
	mustExec(t, root,
		"GRANT PROCESS, "+connectionAdmin+" ON *.* TO "+inner,
		"GRANT "+inner+" TO "+role,
		"GRANT SELECT ON mysql.* TO "+role,
		fmt.Sprintf("GRANT %s TO '%s'@'%%'", role, retire),
		fmt.Sprintf(defaultRole, role, retire),
		// A pattern that matches the database (and its quarantine schema: _ is a wildcard).
		fmt.Sprintf("GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, ALTER, CREATE, INSERT ON `%s`.* TO '%s'@'%%' WITH GRANT OPTION",
			strings.TrimSuffix(db, db[len(db)-8:])+"%", retire),
		fmt.Sprintf("GRANT ALTER, CREATE, INSERT ON `%s`.* TO '%s'@'%%'", strings.ReplaceAll(quarantineName(db), "_", `\_`), retire),
		// The database itself: gone after a revoke cut.
		fmt.Sprintf("GRANT DROP ON %s.* TO '%s'@'%%'", db, retire),
		fmt.Sprintf("GRANT CREATE USER ON *.* TO '%s'@'%%'", retire),
	)
	a := adapterAs(t, retire, "pw-ret-3")
	rep, err := a.CheckPrivileges(ctx, db, engine.StrategyRevoke)
	require.NoError(t, err)
	require.Equal(t, []engine.MissingPrivilege{{Privilege: "DROP", On: "`" + db + "`.*",
		NeededFor: "needed to drop it; the cut revokes the grants on `" + db + "`.* of every account, the retire account's own too, so hold it globally"}},
		rep.Missing, "PROCESS and CONNECTION ADMIN come through the roles, the rest through the pattern")

	rep, err = a.CheckPrivileges(ctx, db, engine.StrategyRename)
	require.NoError(t, err)
	require.Equal(t, []string{
		"DROP on `" + quarantineName(db) + "`.* (needed to create the quarantine schema, move the tables in and out, and drop it; needed to drop the quarantine schema with it)",
		"SELECT on `" + quarantineName(db) + "`.* (needed to export the tables from the quarantine schema)",
	}, privilegeStrings(rep), "a rename keeps the grants on the database itself; its tables are exported from the quarantine schema")
}

// deployments/grants-mysql.sql is the documented least-privilege account: the probe must
// not refuse it.
func TestCheckPrivilegesAcceptsTheDocumentedGrants(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	mariadb := isMariaDB(t, root)
	db := smallDB(t, root, "privdoc")
	app := createUser(t, root, "privapp", "pw-app-2")
	mustExec(t, root,
		fmt.Sprintf("GRANT ALL PRIVILEGES ON %s.* TO '%s'@'%%' WITH GRANT OPTION", db, app),
		fmt.Sprintf("GRANT EXECUTE ON PROCEDURE %s.p TO '%s'@'%%'", db, app),
	)
	retire := uniqueName("privdoc")
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", retire)) })
	data, err := os.ReadFile("../../deployments/grants-mysql.sql")
	require.NoError(t, err)
	for _, s := range documentedGrants(string(data), mariadb) {
		s = strings.ReplaceAll(s, "'retire'@'%'", fmt.Sprintf("'%s'@'%%'", retire))
		s = strings.ReplaceAll(s, "'change-me'", "'pw-doc-1'")
		mustExec(t, root, s)
	}
	a := adapterAs(t, retire, "pw-doc-1")
	for _, s := range []engine.Strategy{engine.StrategyRevoke, engine.StrategyRename} {
		rep, err := a.CheckPrivileges(ctx, db, s)
		require.NoError(t, err)
		require.Empty(t, rep.Missing, "%s: %v", s, privilegeStrings(rep))
	}
}

// documentedGrants are the statements of Part 1 and Part 2a (MySQL) or 2b (MariaDB).
func documentedGrants(file string, mariadb bool) []string {
	parts := map[string]string{}
	cur := ""
	part := regexp.MustCompile(`^-- Part (\w+):`)
	for _, line := range strings.Split(file, "\n") {
		if m := part.FindStringSubmatch(line); m != nil {
			cur = m[1]
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "--") || cur == "" {
			continue
		}
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		parts[cur] += line + "\n"
	}
	want := []string{"1", "2a"}
	if mariadb {
		want = []string{"1", "2b"}
	}
	var out []string
	for _, p := range want {
		for _, s := range strings.Split(parts[p], ";") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// SHOW GRANTS as MySQL 8 prints it (no server here runs it): dynamic privileges, partial
// revokes, roles' lines after USING.
func TestHoldingsReadMySQLGrants(t *testing.T) {
	h := readHoldings([]string{
		"GRANT SELECT, PROCESS, CREATE USER ON *.* TO `retire`@`%` WITH GRANT OPTION",
		"GRANT CONNECTION_ADMIN,SHOW_ROUTINE ON *.* TO `retire`@`%`",
		"REVOKE SELECT ON `payroll`.* FROM `retire`@`%`",
		"GRANT DROP ON `shop\\_%`.* TO `retire`@`%`",
		"GRANT INSERT ON `shop_2019`.`orders` TO `retire`@`%`",
		"GRANT `ops`@`%` TO `retire`@`%`",
		"GRANT EXECUTE ON PROCEDURE `shop_2019`.`p` TO `retire`@`%`",
		"GRANT USAGE ON *.* TO `ops`@`%`",
	})
	assert.True(t, h.onDB("shop_2019", "SELECT"))
	assert.False(t, h.onDB("payroll", "SELECT"), "partially revoked")
	assert.True(t, h.onDB("shop_2019", "DROP"), "escaped pattern shop\\_% matches shop_2019")
	assert.False(t, h.onDB("shopx2019", "DROP"), "an escaped _ is no wildcard")
	assert.False(t, h.onDB("Shop_2019", "DROP"), "names are compared case-sensitively")
	assert.True(t, h.global["CONNECTION_ADMIN"] && h.global["SHOW_ROUTINE"])
	assert.True(t, h.grantOptionOn("anything"))
	assert.True(t, h.onTable("shop_2019", "orders", "INSERT"))
	assert.False(t, h.onDB("shop_2019", "INSERT"))
	assert.True(t, h.onGrantObject(object{kind: "PROCEDURE", db: "shop_2019", name: "p"}, "shop_2019", "EXECUTE"))
	assert.False(t, h.onGrantObject(object{kind: "FUNCTION", db: "shop_2019", name: "p"}, "shop_2019", "EXECUTE"))
	after := h.withoutGrantsOn("shop_2019")
	assert.False(t, after.onTable("shop_2019", "orders", "INSERT"), "revoked by the cut")
	assert.True(t, after.onDB("shop_2019", "DROP"), "a pattern grant is not revoked by the cut")

	all := readHoldings([]string{"GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION"})
	assert.True(t, all.onDB("x", "DELETE HISTORY") && all.globalAll)

	assert.True(t, versionAtLeast("11.3.2-MariaDB", 11, 3))
	assert.True(t, versionAtLeast("11.10.1", 11, 3))
	assert.False(t, versionAtLeast("10.11.19-MariaDB-0+deb12u1", 11, 3))
	assert.Contains(t, allAt(serverInfo{engine: "mariadb", version: "11.4.2"}, object{db: "x"}), "SHOW CREATE ROUTINE")
	assert.NotContains(t, allAt(serverInfo{engine: "mysql", version: "8.4.0"}, object{db: "x"}), "DELETE HISTORY")
}

func TestAccessDeniedIsARefusal(t *testing.T) {
	for _, n := range []uint16{1044, 1045, 1095, 1142, 1143, 1227, 1370} {
		err := classify(fmt.Errorf("drop database x: %w", &driver.MySQLError{Number: n, Message: "denied"}))
		require.ErrorIs(t, err, engine.ErrRefused, "%d", n)
		require.EqualValues(t, n, mysqlErrno(err))
	}
	for _, err := range []error{&driver.MySQLError{Number: 1205, Message: "lock wait timeout"}, errors.New("connection reset"), sql.ErrNoRows} {
		require.NotErrorIs(t, classify(err), engine.ErrRefused)
		require.Equal(t, err, classify(err), "other errors pass unchanged")
	}
	require.NoError(t, classify(nil))

	// A wrong password is final too, and still never printed.
	rootDB(t)
	a := adapterAs(t, "rt_no_such_account", "s3cr3t-never-logged-2")
	err := a.Validate(testCtx(t), "anything")
	require.ErrorIs(t, err, engine.ErrRefused)
	require.NotContains(t, err.Error(), "s3cr3t-never-logged-2")
}

func TestServerIDIsTheServersOwn(t *testing.T) {
	ctx := testCtx(t)
	root := rootDB(t)
	a := newTestAdapter(t)
	id, err := a.ServerID(ctx)
	require.NoError(t, err)
	require.Regexp(t, `^(mysql|mariadb):[A-Za-z0-9._%:-]+$`, id, "printable, no spaces: safe in a workflow id")
	if isMariaDB(t, root) {
		var host, port, sid string
		require.NoError(t, root.QueryRowContext(t.Context(), "SELECT @@hostname, @@port, @@server_id").Scan(&host, &port, &sid))
		require.Equal(t, engine.FormatServerID("mariadb", host, port, sid), id)
	} else {
		var uuid string
		require.NoError(t, root.QueryRowContext(t.Context(), "SELECT @@server_uuid").Scan(&uuid))
		require.Equal(t, "mysql:"+uuid, id)
	}
	// Another profile (another address, another account) reaching the same server: the same id.
	user := createUser(t, root, "privsid", "pw-sid-1")
	other, err := New(Config{Host: "localhost", Port: testPort, User: user, Password: "pw-sid-1"})
	require.NoError(t, err)
	id2, err := other.ServerID(ctx)
	require.NoError(t, err)
	require.Equal(t, id, id2)
	id3, err := a.ServerID(ctx)
	require.NoError(t, err)
	require.Equal(t, id, id3, "stable")
}
