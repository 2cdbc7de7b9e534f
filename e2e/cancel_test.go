package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/workflows"
)

// TestCancelInTheMiddleOfTheObservationWindow cancels a retirement while its observation
// window runs, through the real CLI, worker and dev server. Once it was cancelled, the
// observation loop spun without yielding (a new timer on a cancelled context is ready at
// once), so the worker reported a deadlock, access stayed cut and no record was written;
// the time-skipping test suite did not see it. Access must come back exactly, the record
// must be written, and the run must close as cancelled.
func TestCancelInTheMiddleOfTheObservationWindow(t *testing.T) {
	h := newChunkedHarness(t)
	db := "rt_e2e_cancel_" + randomHex(4)
	app, appPassword := "rt_e2e_capp_"+randomHex(4), "App-"+randomHex(12)
	h.exec("CREATE DATABASE " + db)
	t.Cleanup(func() { h.exec("DROP DATABASE IF EXISTS " + db) })
	h.exec(fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY)", db))
	h.exec(fmt.Sprintf("INSERT INTO %s.t VALUES (1), (2), (3)", db))
	h.exec(fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", app, appPassword))
	t.Cleanup(func() { h.exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1'", app)) })
	h.exec(fmt.Sprintf("GRANT SELECT, INSERT ON %s.* TO '%s'@'127.0.0.1'", db, app))
	grantsBefore := h.grants(app)

	// A second team's profile reaches the same server under another name.
	cfg, err := os.ReadFile(h.cfg)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(h.cfg, []byte(strings.Replace(string(cfg), "connections:\n", `connections:
  other-team:
    engine: mysql
    host: 127.0.0.1
    port: 3306
    user: root
    password_env: RT_E2E_DB_PASSWORD
`, 1)), 0o600))

	h.startWorker("worker.log")
	h.retire("start", "local", db, "--reason", "decommission", "--owner", "alice",
		"--requester", "dba", "--sample", "1s", "--observe", "10m")
	h.waitPhase(db, "observe", 2*time.Minute)

	// One object, one retirement, whatever the profile: the second is refused in its plan,
	// before it looks at or changes anything.
	out, err := h.retireErr("start", "other-team", db, "--reason", "migration", "--requester", "dba2", "--sample", "1s", "--observe", "10m", "--plan-timeout", "1m")
	other, _ := h.retireErr("status", "other-team", db)
	require.Error(t, err, out)
	require.Contains(t, out, "another retirement of "+db+" on the same server", "status of the second:\n%s", other)
	require.NotContains(t, out, "started the retirement")
	appReads := func() error {
		conn, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/?timeout=5s", app, appPassword))
		require.NoError(t, err)
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var n int
		return conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+db+".t").Scan(&n)
	}
	require.Error(t, appReads(), "access was not cut during observation")

	// A few seconds into the window, well before its end.
	time.Sleep(3 * time.Second)
	h.retire("cancel", "local", db, "--reason", "wrong database")

	closed := h.waitClosed(db)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, closed)

	// Access is back exactly as it was.
	require.NoError(t, appReads(), "the application cannot read the database after the cancellation")
	require.Equal(t, grantsBefore, h.grants(app))

	// The status says so, and the record is in the store.
	var st workflows.Status
	require.NoError(t, json.Unmarshal([]byte(h.retire("status", "local", db, "-o", "json")), &st))
	require.Equal(t, workflows.PhaseCancelled, st.Phase)
	require.True(t, st.AccessRestored, "outcome: %s", st.Outcome)
	require.Contains(t, h.retire("record", "local", db), "cancelled")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := archive.NewStore(ctx, archive.StoreConfig{Endpoint: h.s3.Endpoint, AccessKey: h.s3.AccessKey, SecretKey: h.s3.SecretKey, Bucket: "retire-e2e", Prefix: "archive"})
	require.NoError(t, err)
	objects, err := store.List(ctx, fmt.Sprintf("local/%s/%s/", db, st.RunID))
	require.NoError(t, err)
	var keys []string
	for _, o := range objects {
		keys = append(keys, o.Key)
	}
	require.Contains(t, fmt.Sprint(keys), "record.json", "no record in the store: %v", keys)
	require.NotContains(t, h.log("worker.log"), "TMPRL1101", "the worker saw a workflow that does not yield")
}

// grants is what SHOW GRANTS prints for an application account at 127.0.0.1.
func (h *harness) grants(user string) []string {
	rows, err := h.db.Query(fmt.Sprintf("SHOW GRANTS FOR '%s'@'127.0.0.1'", user))
	require.NoError(h.t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		require.NoError(h.t, rows.Scan(&g))
		out = append(out, g)
	}
	require.NoError(h.t, rows.Err())
	return out
}
