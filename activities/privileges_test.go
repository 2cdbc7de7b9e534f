package activities

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/testservices"
)

// limitedAccount makes an account with everything a retirement needs but DROP, as the
// profile of the incident had, and returns its name; its password is in RT_ACT_NODROP_PW.
func limitedAccount(t *testing.T, root *sql.DB) string {
	t.Helper()
	var version string
	require.NoError(t, root.QueryRow("SELECT VERSION()").Scan(&version))
	kill := "CONNECTION_ADMIN"
	if strings.Contains(strings.ToLower(version), "mariadb") {
		kill = "CONNECTION ADMIN"
	}
	user := uniqueName("rt_nodrop_")
	const pw = "Rt-nodrop-pw-1"
	t.Setenv("RT_ACT_NODROP_PW", pw)
	for _, s := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, pw),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE, SHOW VIEW, TRIGGER, EVENT ON *.* TO '%s'@'%%' WITH GRANT OPTION", user),
		fmt.Sprintf("GRANT PROCESS, CREATE USER, %s ON *.* TO '%s'@'%%'", kill, user),
	} {
		_, err := root.Exec(s)
		require.NoError(t, err, s)
	}
	t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })
	return user
}

// smallShop is a database of two tables, dropped at the end of the test.
func smallShop(t *testing.T, root *sql.DB) string {
	t.Helper()
	db := uniqueName("rt_privact_")
	for _, s := range []string{
		"CREATE DATABASE " + db,
		"CREATE TABLE " + db + ".customers (id INT PRIMARY KEY, name VARCHAR(20))",
		"CREATE TABLE " + db + ".orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10,2))",
		"INSERT INTO " + db + ".customers VALUES (1, 'ann'), (2, 'bo')",
		"INSERT INTO " + db + ".orders VALUES (1, 1, 9.50), (2, 2, 12.00), (3, 1, 0.99)",
	} {
		_, err := root.Exec(s)
		require.NoError(t, err, s)
	}
	t.Cleanup(func() { _, _ = root.Exec("DROP DATABASE IF EXISTS " + db) })
	return db
}

func applicationError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	require.Error(t, err)
	var app *temporal.ApplicationError
	require.ErrorAs(t, err, &app)
	return app
}

// The plan refuses, up front and for good, a profile whose account could not drop: the
// incident's drop was denied only after weeks, with access cut. A plan that passes names
// the server by its own identity.
func TestPlanRefusesAnAccountThatCannotDrop(t *testing.T) {
	root := testservices.MariaDB(t)
	db := smallShop(t, root)
	user := limitedAccount(t, root)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`connections:
  local: {engine: mysql, host: 127.0.0.1, port: 3306, user: root}
  nodrop: {engine: mysql, host: 127.0.0.1, port: 3306, user: %s, password_env: RT_ACT_NODROP_PW}
stores:
  s: {endpoint: x, bucket: b}
`, user)))
	require.NoError(t, err)
	acts := New(cfg, DevPolicy)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(acts)

	for _, s := range []engine.Strategy{engine.StrategyRevoke, engine.StrategyRename} {
		_, err = env.ExecuteActivity(acts.Plan, PlanInput{Target: Target{Connection: "nodrop", Object: db}, Strategy: s, SampleWindow: 1e9, ObserveWindow: 1e9})
		app := applicationError(t, err)
		require.Equal(t, "Refused", app.Type())
		require.True(t, app.NonRetryable(), "no retry can grant a privilege")
		require.Contains(t, app.Error(), fmt.Sprintf("the retire account '%s'@'%%' lacks ", user))
		require.Contains(t, app.Error(), fmt.Sprintf("DROP on `%s`.* (needed to", db))
		require.NotContains(t, app.Error(), "PROCESS", "only what is missing is named")
		if s == engine.StrategyRevoke {
			require.Contains(t, app.Error(), fmt.Sprintf("the retire account '%s'@'%%' lacks DROP on `%s`.* (needed to drop it); grant them", user, db))
		} else {
			require.Contains(t, app.Error(), "ALTER on `"+db+"`.* (needed to move its tables into the quarantine schema", "rename needs more")
		}
	}

	v, err := env.ExecuteActivity(acts.Plan, PlanInput{Target: Target{Connection: "local", Object: db}, Strategy: engine.StrategyRevoke, SampleWindow: 1e9, ObserveWindow: 1e9})
	require.NoError(t, err)
	var plan Plan
	require.NoError(t, v.Get(&plan))
	ad, err := Connect(cfg, "nodrop")
	require.NoError(t, err)
	id, err := ad.ServerID(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, plan.ServerID)
	require.Equal(t, id, plan.ServerID, "two profiles, one server, one id")
	require.NotContains(t, plan.ServerID, " ")
}

// A drop the server refuses that destroyed nothing ends as DropRefusedIntact (final), so
// the workflow can give access back; one that left the object incomplete does not.
func TestDropRefusedWithTheObjectWholeIsDropRefusedIntact(t *testing.T) {
	root := testservices.MariaDB(t)
	s3 := testservices.MinIO(t)
	db := smallShop(t, root)
	user := limitedAccount(t, root)
	cfg := localConfig(t, s3)
	nodrop, err := config.Parse([]byte(fmt.Sprintf("connections:\n  nodrop: {engine: mysql, host: 127.0.0.1, port: 3306, user: %s, password_env: RT_ACT_NODROP_PW}\nstores:\n  s: {endpoint: x, bucket: b}\n", user)))
	require.NoError(t, err)
	cfg.Connections["nodrop"] = nodrop.Connections["nodrop"]

	acts := New(cfg, DevPolicy)
	run, env := activityRunner(t, acts)
	tgt := Target{Connection: "local", Object: db}
	var snap engine.AccessSnapshot
	run(acts.SnapshotAccess, AccessInput{Target: tgt, Strategy: engine.StrategyRevoke}, &snap)
	path := "local/" + db + "/run-1/"
	var res ArchiveResult
	run(acts.Archive, ArchiveInput{Target: tgt, Store: "test", Path: path, Snapshot: snap}, &res)
	require.Equal(t, 2, res.Tables)
	var v Verification
	run(acts.VerifyArchive, VerifyInput{Store: "test", Path: path, ManifestSHA256: res.ManifestSHA256}, &v)
	require.True(t, v.OK, "problems: %v", v.Problems)

	// The drop through the profile that lacks DROP: denied, and nothing was destroyed.
	in := DropInput{Target: Target{Connection: "nodrop", Object: db}, Snapshot: snap, Archive: res}
	_, err = env.ExecuteActivity(acts.Drop, in)
	app := applicationError(t, err)
	require.Equal(t, ErrTypeDropRefusedIntact, app.Type(), "%v", err)
	require.True(t, app.NonRetryable())
	require.Contains(t, app.Error(), "destroyed nothing (all 2 archived table(s) are still there)")
	require.Contains(t, app.Error(), "1044", "the server's own error is kept")
	var tables int
	require.NoError(t, root.QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", db).Scan(&tables))
	require.Equal(t, 2, tables)

	// The same refusal with a table gone since the archive: the object is not whole, so
	// nobody is told that giving access back is safe; it is still final.
	_, err = root.Exec("DROP TABLE " + db + ".orders")
	require.NoError(t, err)
	_, err = env.ExecuteActivity(acts.Drop, in)
	app = applicationError(t, err)
	require.Equal(t, "Refused", app.Type(), "%v", err)
	require.True(t, app.NonRetryable())

	// The retirement's own profile drops it.
	run(acts.Drop, DropInput{Target: tgt, Snapshot: snap, Archive: res}, nil)
}
