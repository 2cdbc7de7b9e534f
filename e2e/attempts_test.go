package e2e

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dataretire/retire/testservices"
	"github.com/dataretire/retire/workflows"
)

// TestAttemptsAfterTheCutHoldTheDrop: after the cut, the application's locked account keeps
// trying to log in. The server's audit log shows it; the owners hear of it at once, the
// status and the record show it, and the drop waits until a DBA acknowledges it.
func TestAttemptsAfterTheCutHoldTheDrop(t *testing.T) {
	h := newChunkedHarness(t)
	auditLog := testservices.AuditLog(t, h.db)
	var mu sync.Mutex
	var posts []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		posts = append(posts, r.Header.Get("X-Retire-Event"))
		mu.Unlock()
	}))
	t.Cleanup(receiver.Close)
	cfg, err := os.ReadFile(h.cfg)
	require.NoError(t, err)
	text := strings.Replace(string(cfg), "    sampling: {enable: [table-counters]}\n",
		fmt.Sprintf("    sampling: {enable: [table-counters], audit_log: %s}\n", auditLog), 1)
	require.NoError(t, os.WriteFile(h.cfg, []byte(text+"notify:\n  webhook: {url_env: RT_E2E_WEBHOOK}\n"), 0o600))
	h.env = append(h.env, "RT_E2E_WEBHOOK="+receiver.URL)

	db, app, pw := "rt_e2e_knock_"+randomHex(4), "rt_e2e_knocker_"+randomHex(4), "Knock-"+randomHex(8)
	h.exec("CREATE DATABASE " + db)
	t.Cleanup(func() { h.exec("DROP DATABASE IF EXISTS " + db) })
	h.exec(fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY)", db))
	h.exec(fmt.Sprintf("INSERT INTO %s.t VALUES (1)", db))
	h.exec(fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", app, pw))
	t.Cleanup(func() { h.exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1'", app)) })
	h.exec(fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'127.0.0.1'", db, app))

	h.startWorker("worker.log")
	h.retire("start", "local", db, "--reason", "migration", "--requester", "dba", "--sample", "2s", "--observe", "15s")
	h.waitPhase(db, "observe", 2*time.Minute)

	// The application has not heard: it keeps trying, and its account is locked.
	for range 3 {
		conn, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/%s?timeout=5s", app, pw, db))
		require.NoError(t, err)
		require.ErrorContains(t, conn.Ping(), "locked")
		conn.Close()
	}

	status := func() workflows.Status {
		var st workflows.Status
		out, err := h.retireErr("status", "local", db, "-o", "json")
		if err == nil {
			_ = json.Unmarshal([]byte(out), &st)
		}
		return st
	}
	var st workflows.Status
	require.Eventually(t, func() bool {
		st = status()
		return st.Evidence != nil && len(st.Evidence.Attempts) > 0
	}, time.Minute, 250*time.Millisecond, "the attempts never reached the status")
	require.Contains(t, st.Evidence.Attempts[0].Account, app)
	require.GreaterOrEqual(t, st.Evidence.Attempts[0].DeniedLogins, int64(3))
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(strings.Join(posts, " "), "access-attempts")
	}, 30*time.Second, 250*time.Millisecond, "the owners were never told")

	// The window ends; the drop waits for a person.
	require.Eventually(t, func() bool {
		st = status()
		return strings.HasPrefix(st.Waiting, "acknowledgement of the access attempts")
	}, time.Minute, 250*time.Millisecond, "the retirement never waited for the attempts to be acknowledged")
	time.Sleep(2 * time.Second)
	st = status()
	require.Equal(t, workflows.PhaseObserve, st.Phase, "it went on while somebody still knocked")
	require.Nil(t, st.Archive)

	h.retire("acknowledge-attempts", "local", db, "--as", "dba", "--note", "the old shop's cron, removed in CHG-7")
	h.waitPhase(db, "done", 3*time.Minute)
	record := h.retire("record", "local", db)
	require.Contains(t, record, "Attempts after the cut")
	require.Contains(t, record, app)
	require.Contains(t, record, "the old shop's cron")
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, strings.Count(strings.Join(posts, " "), "access-attempts"), "posts: %v", posts)
}
