// Package e2e retires a real MariaDB database through a real Temporal dev server, a real
// MinIO, the real retire-worker and the real retire CLI, as a DBA and an owner would.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/notify"
	"github.com/dataretire/retire/testservices"
	"github.com/dataretire/retire/workflows"
)

type harness struct {
	t        *testing.T
	bin      string // holds retire and retire-worker
	dir      string // the test's config and logs
	cfg      string // the worker's config file
	env      []string
	temporal testservices.TemporalServer
	s3       testservices.MinIOServer
	db       *sql.DB
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// buildBinaries builds the retire CLI and the worker once for all the tests of the package.
func buildBinaries(t *testing.T) string {
	root := testservices.ModuleRoot(t)
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "retire-e2e-bin-"); buildErr != nil {
			return
		}
		for pkg, name := range map[string]string{"./starter": "retire", "./worker": "retire-worker"} {
			if out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, name), filepath.Join(root, pkg)).CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v: %s", pkg, err, out)
				return
			}
		}
	})
	require.NoError(t, buildErr)
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func TestRetireEndToEnd(t *testing.T) {
	h := &harness{t: t, bin: buildBinaries(t)}
	h.temporal = testservices.TemporalWithUI(t)
	s3 := testservices.MinIO(t)
	h.db = testservices.MariaDB(t)
	// The profile lets retire switch userstat on for the retirement; it must be off again after.
	testservices.SetGlobal(t, h.db, "userstat", "OFF")

	// The retire account has a password, and so has the application account: neither, nor
	// the hash of the application's, may appear in the workflow history.
	suffix := randomHex(4)
	dbName, retireUser, appUser := "rt_e2e_"+suffix, "rt_e2e_retire_"+suffix, "rt_e2e_app_"+suffix
	dbPassword, appPassword := "Db-"+randomHex(12), "App-"+randomHex(12)
	h.exec(fmt.Sprintf("CREATE DATABASE %s", dbName))
	t.Cleanup(func() { h.exec("DROP DATABASE IF EXISTS " + dbName) })
	h.exec(fmt.Sprintf("CREATE TABLE %s.orders (id BIGINT UNSIGNED PRIMARY KEY, total DECIMAL(10,2), note VARCHAR(40) CHARACTER SET utf8mb4, placed DATETIME(6), blobby BLOB)", dbName))
	h.exec(fmt.Sprintf("INSERT INTO %s.orders SELECT seq, seq * 1.25, IF(seq %% 7 = 0, NULL, CONCAT('order ', seq, ' 🚚')), TIMESTAMP('2020-01-01') + INTERVAL seq SECOND, UNHEX('00FF00') FROM %s.seq_1_to_5000", dbName, dbName))
	h.exec(fmt.Sprintf("CREATE TABLE %s.customers (id INT PRIMARY KEY, name VARCHAR(20))", dbName))
	h.exec(fmt.Sprintf("INSERT INTO %s.customers VALUES (1, 'ann'), (2, NULL)", dbName))
	for _, u := range []struct{ name, pw string }{{retireUser, dbPassword}, {appUser, appPassword}} {
		h.exec(fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY '%s'", u.name, u.pw))
		t.Cleanup(func() { h.exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'127.0.0.1'", u.name)) })
	}
	h.exec(fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO '%s'@'127.0.0.1' WITH GRANT OPTION", retireUser))
	h.exec(fmt.Sprintf("GRANT SELECT, INSERT ON %s.* TO '%s'@'127.0.0.1'", dbName, appUser))
	var appHash string
	require.NoError(t, h.db.QueryRow("SELECT PASSWORD(?)", appPassword).Scan(&appHash))

	// Owners are told through a Slack-compatible webhook: a local receiver keeps every post.
	// Its URL holds a token, a secret like the passwords.
	type post struct{ Event, Key, Text string }
	var (
		postsMu sync.Mutex
		posts   []post
	)
	hookToken := "hook-" + randomHex(12)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Text string `json:"text"`
		}
		if r.URL.Path != "/services/"+hookToken || json.NewDecoder(r.Body).Decode(&body) != nil {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		postsMu.Lock()
		posts = append(posts, post{r.Header.Get("X-Retire-Event"), r.Header.Get(notify.IdempotencyHeader), body.Text})
		postsMu.Unlock()
	}))
	t.Cleanup(receiver.Close)

	cfg := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`connections:
  local:
    engine: mysql
    host: 127.0.0.1
    port: 3306
    user: %s
    password_env: RT_E2E_DB_PASSWORD
    poll_interval: 100ms
    sampling: {enable: [table-counters]}
stores:
  e2e:
    endpoint: %s
    bucket: retire-e2e
    prefix: archive
    access_key_env: RT_E2E_S3_ACCESS
    secret_key_env: RT_E2E_S3_SECRET
notify:
  ui_url: http://%s
  webhook: {url_env: RT_E2E_WEBHOOK}
`, retireUser, s3.Endpoint, h.temporal.UI)), 0o600))
	h.env = append(os.Environ(), "TEMPORAL_ADDRESS="+h.temporal.Address, "TEMPORAL_NAMESPACE=default",
		"RT_E2E_DB_PASSWORD="+dbPassword, "RT_E2E_S3_ACCESS="+s3.AccessKey, "RT_E2E_S3_SECRET="+s3.SecretKey,
		"RT_E2E_WEBHOOK="+receiver.URL+"/services/"+hookToken)

	workerLog := filepath.Join(t.TempDir(), "worker.log")
	logFile, err := os.Create(workerLog)
	require.NoError(t, err)
	// The worker serves /healthz, /readyz and /metrics on a free port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	workerHTTP := "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	httpGet := func(path string) (int, string) {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(workerHTTP + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	w := exec.Command(filepath.Join(h.bin, "retire-worker"), "--dev", "--config", cfg, "--listen", strings.TrimPrefix(workerHTTP, "http://"))
	w.Env, w.Stdout, w.Stderr = h.env, logFile, logFile
	require.NoError(t, w.Start())
	t.Cleanup(func() { _ = w.Process.Kill(); _, _ = w.Process.Wait() })
	// Ready once it polls its task queue.
	require.Eventually(t, func() bool { code, _ := httpGet("/readyz"); return code == http.StatusOK }, time.Minute, 100*time.Millisecond,
		"the worker never became ready")
	code, _ := httpGet("/healthz")
	require.Equal(t, http.StatusOK, code)

	// A DBA starts the retirement; the plan comes back before the command returns.
	out := h.retire("start", "local", dbName, "--reason", "decommission", "--owner", "alice", "--owner", "bob",
		"--requester", "dba", "--ticket", "E2E-1", "--sample", "3s", "--observe", "5s")
	require.Contains(t, out, "tables: 2 (5,002 rows")

	// A second retirement of the same database is refused while this one runs.
	out, err = h.retireErr("start", "local", dbName, "--reason", "migration", "--requester", "dba")
	require.Error(t, err)
	require.Contains(t, out, "already running")

	h.waitPhase(dbName, "observe", time.Minute)
	// Access is cut: the application account can no longer read the database.
	appDB, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(127.0.0.1:3306)/?timeout=5s", appUser, appPassword))
	require.NoError(t, err)
	_, err = appDB.Exec("SELECT COUNT(*) FROM " + dbName + ".orders")
	require.Error(t, err, "the application still reads the database during observation")
	appDB.Close()

	// Three views of "who waits out an observation window" agree: `retire list --phase
	// observe`, the filter an operator types into the Temporal UI (asked through the UI's own
	// HTTP API, with the backquoted attribute the UI writes), and the retire_retirements gauge.
	id := workflows.WorkflowID("local", dbName)
	var listed, filtered []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		listed = listedIDs(t, h.retire("list", "--phase", "observe", "-o", "json"))
		filtered = uiFilter(t, h.temporal.UI, "`RetirePhase`=\"observe\"")
		if slices.Equal(listed, []string{id}) && slices.Equal(filtered, []string{id}) {
			break
		}
		require.False(t, time.Now().After(deadline), "retire list --phase observe: %v, UI filter: %v, want [%s]", listed, filtered, id)
	}
	require.Empty(t, listedIDs(t, h.retire("list", "--phase", "archive", "-o", "json")))
	require.Empty(t, uiFilter(t, h.temporal.UI, "`RetirePhase`=\"archive\""))
	require.Eventually(t, func() bool {
		_, body := httpGet("/metrics")
		return slices.Equal(sample(body, `retire_retirements{phase="observe"}`), []float64{1})
	}, 30*time.Second, 500*time.Millisecond, "retire_retirements{phase=\"observe\"} never counted the run")

	// The requester cannot sign off; an owner can.
	out, err = h.retireErr("approve", "local", dbName, "--as", "dba")
	require.Error(t, err)
	require.Contains(t, out, "cannot sign it off")
	h.retire("approve", "local", dbName, "--as", "alice", "--comment", "shop is closed")
	// The cut locked the application's account, and MariaDB without its audit log counts no
	// logins of locked accounts: the drop waits until somebody acknowledges that.
	h.acknowledgeAttemptsWhenAsked(dbName, "the shop's servers are switched off")

	h.waitPhase(dbName, "done", 3*time.Minute)
	var schemas int
	require.NoError(t, h.db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", dbName).Scan(&schemas))
	require.Zero(t, schemas, "the database is still there")

	// The archive is in MinIO and verifies on its own.
	var st workflows.Status
	require.NoError(t, json.Unmarshal([]byte(h.retire("status", "local", dbName, "-o", "json")), &st))
	require.NotNil(t, st.Archive)
	store, err := archive.NewStore(context.Background(), archive.StoreConfig{Endpoint: s3.Endpoint, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey, Bucket: "retire-e2e", Prefix: "archive"})
	require.NoError(t, err)
	v, err := archive.Verify(context.Background(), store, st.Archive.Path)
	require.NoError(t, err)
	require.True(t, v.OK, "archive problems: %v", v.Problems)
	require.EqualValues(t, 5002, v.Rows)
	require.Equal(t, "alice", st.Signoffs[0].By)
	// The counters retire switched on served the window and the count after the cut, and
	// are off again.
	require.NotNil(t, st.Evidence)
	require.True(t, st.Evidence.Counted)
	require.Len(t, st.Evidence.Changes, 1)
	require.True(t, st.Evidence.SettingsRestored)
	for _, src := range st.Evidence.Sources {
		if src.Name == "table-counters" || src.Name == "attempts" {
			require.Equal(t, "available", src.State, "%s: %s", src.Name, src.Detail)
		}
	}
	var userstat int
	require.NoError(t, h.db.QueryRow("SELECT @@global.userstat").Scan(&userstat))
	require.Zero(t, userstat, "userstat was not put back")
	record := h.retire("record", "local", dbName)
	require.Contains(t, record, "verified gone")

	// The owners heard of the cut and of the drop, once each, with what to do and where the
	// archive is; the record says so.
	postsMu.Lock()
	got := slices.Clone(posts)
	postsMu.Unlock()
	byEvent := map[string][]post{}
	keys := map[string]int{}
	for _, p := range got {
		byEvent[p.Event] = append(byEvent[p.Event], p)
		keys[p.Key]++
	}
	for key, n := range keys {
		require.Equal(t, 1, n, "notice %s posted %d times", key, n)
	}
	require.Len(t, byEvent["access-cut"], 1, "posts: %v", got)
	require.Contains(t, byEvent["access-cut"][0].Text, "retire object local "+dbName+" --as alice")
	require.Contains(t, byEvent["access-cut"][0].Text, "http://"+h.temporal.UI+"/namespaces/default/workflows/")
	require.Len(t, byEvent["dropped"], 1, "posts: %v", got)
	require.Contains(t, byEvent["dropped"][0].Text, st.Archive.Path)
	require.Empty(t, byEvent["aborted"])
	told := map[string]bool{}
	for _, n := range st.Notices {
		require.Empty(t, n.Error, "notice %s", n.Kind)
		told[string(n.Kind)] = n.Sent
	}
	require.True(t, told["access-cut"] && told["dropped"], "notices in the status: %+v", st.Notices)
	require.Regexp(t, `\| access-cut \| [^|]+ \| dba, alice, bob \| yes \|`, record)

	// /metrics has the SDK's metrics and ours (tally hands them over every second).
	var scraped string
	require.Eventually(t, func() bool {
		code, body := httpGet("/metrics")
		scraped = body
		freed := sample(body, "retire_bytes_freed_total")
		return code == http.StatusOK && len(freed) == 1 && freed[0] > 0
	}, 15*time.Second, 250*time.Millisecond, "retire_bytes_freed_total never reached /metrics")
	var sdk float64 // the SDK's own: its calls to Temporal, and what it timed
	for _, name := range []string{"temporal_request_total", "temporal_activity_execution_latency_seconds_count"} {
		for _, v := range sample(scraped, name) {
			sdk += v
		}
	}
	require.Positive(t, sdk, "no Temporal SDK metric in /metrics:\n%s", scraped)
	require.Equal(t, []float64{5002}, sample(scraped, "retire_archived_rows_total"), "rows archived by the one Archive attempt")
	for _, name := range []string{"retire_archived_bytes_total", "retire_bytes_freed_total"} {
		vs := sample(scraped, name)
		require.Len(t, vs, 1, name)
		require.Positive(t, vs[0], name)
	}
	require.Len(t, sample(scraped, "retire_retirements"), 8, "retire_retirements, one line per running phase:\n%s", scraped)
	require.Equal(t, []float64{0}, sample(scraped, "retire_visibility_errors_total"))

	// No secret in the history, nor in the worker's log.
	history := h.history(workflows.WorkflowID("local", dbName))
	logged, err := os.ReadFile(workerLog)
	require.NoError(t, err)
	for what, secret := range map[string]string{"database password": dbPassword, "S3 secret key": s3.SecretKey,
		"application password": appPassword, "webhook token": hookToken, "application password hash": appHash, "hash prefix": strings.TrimPrefix(appHash, "*")} {
		require.NotContains(t, string(history), secret, "%s in the workflow history", what)
		require.NotContains(t, string(logged), secret, "%s in the worker log", what)
	}

	h.requireReplays(history)
	if dest := os.Getenv("RETIRE_SAVE_HISTORY"); dest != "" {
		require.NoError(t, os.WriteFile(dest, history, 0o644))
	}
}

// sample is the values of a metric in a Prometheus text page: every series of name, or the
// one series when name carries its labels (retire_retirements{phase="observe"}).
func sample(body, name string) []float64 {
	var vs []float64
	for _, m := range regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(name)+`(?:\{[^}]*\})? (\S+)$`).FindAllStringSubmatch(body, -1) {
		if v, err := strconv.ParseFloat(m[1], 64); err == nil {
			vs = append(vs, v)
		}
	}
	return vs
}

// listedIDs are the workflow IDs in `retire list -o json`.
func listedIDs(t *testing.T, out string) []string {
	var rows []struct {
		WorkflowID string `json:"workflow_id"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rows), out)
	ids := []string{}
	for _, r := range rows {
		ids = append(ids, r.WorkflowID)
	}
	slices.Sort(ids)
	return ids
}

// uiFilter lists workflows the way the Temporal UI's workflow page does when an operator
// filters it: GET /api/v1/namespaces/<ns>/workflows?query=..., the UI server's API.
func uiFilter(t *testing.T, ui, query string) []string {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + ui + "/api/v1/namespaces/default/workflows?query=" + url.QueryEscape(query))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "UI API: %s", body)
	var page struct {
		Executions []struct {
			Execution struct {
				WorkflowID string `json:"workflowId"`
			} `json:"execution"`
		} `json:"executions"`
	}
	require.NoError(t, json.Unmarshal(body, &page), string(body))
	ids := []string{}
	for _, e := range page.Executions {
		ids = append(ids, e.Execution.WorkflowID)
	}
	slices.Sort(ids)
	return ids
}

func (h *harness) exec(query string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := h.db.ExecContext(ctx, query)
	require.NoError(h.t, err, query)
}

func (h *harness) retireErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(h.bin, "retire"), args...)
	cmd.Env = h.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (h *harness) retire(args ...string) string {
	out, err := h.retireErr(args...)
	require.NoError(h.t, err, "retire %s: %s", strings.Join(args, " "), out)
	return out
}

// acknowledgeAttemptsWhenAsked waits until the retirement of db waits for an
// acknowledgement of the attempts after the cut, or has gone past the observation.
func (h *harness) acknowledgeAttemptsWhenAsked(db, note string) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var st workflows.Status
		out, err := h.retireErr("status", "local", db, "-o", "json")
		if err == nil && json.Unmarshal([]byte(out), &st) == nil {
			switch {
			case strings.HasPrefix(st.Waiting, "acknowledgement of the access attempts"):
				h.retire("acknowledge-attempts", "local", db, "--as", "dba", "--note", note)
				return
			case st.Phase != workflows.PhaseObserve && st.Phase != workflows.PhaseQuiesce && st.Phase != workflows.PhaseSample:
				return
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	h.t.Fatalf("the retirement of %s never asked about attempts after the cut nor went on", db)
}

// waitPhase waits until the retirement of db is in phase. An ended phase (done, failed, ...)
// counts once Temporal closed the run too: the status query of a run whose last workflow task
// is not yet accepted may already say done, and a later one say the phase before it.
func (h *harness) waitPhase(db, phase string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	var out string
	for time.Now().Before(deadline) {
		out, _ = h.retireErr("status", "local", db)
		if strings.Contains(out, "phase: "+phase+"\n") && (!workflows.Phase(phase).Ended() || !strings.Contains(out, ", Running)")) {
			return
		}
		if strings.Contains(out, "phase: failed") || strings.Contains(out, "phase: aborted") {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	h.t.Fatalf("never reached phase %s; last status:\n%s", phase, out)
}

// requireReplays replays a history against today's workflow code (determinism), as the run
// it was: the workflow checks proofs against its own workflow and run ids, which the
// replayer would otherwise make up.
func (h *harness) requireReplays(history []byte) {
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflow(workflows.RetireDatabase)
	hist, err := client.HistoryFromJSON(bytes.NewReader(history), client.HistoryJSONOptions{})
	require.NoError(h.t, err)
	started := hist.Events[0].GetWorkflowExecutionStartedEventAttributes()
	require.NotNil(h.t, started)
	run := workflow.Execution{ID: started.GetWorkflowId(), RunID: started.GetOriginalExecutionRunId()}
	require.NotEmpty(h.t, run.ID, "the history does not name its workflow")
	require.NoError(h.t, replayer.ReplayWorkflowHistoryWithOptions(nil, hist, worker.ReplayWorkflowHistoryOptions{OriginalExecution: run}))
}

// history exports the workflow history the way an auditor would, as JSON through the SDK.
func (h *harness) history(id string) []byte {
	c, err := client.Dial(client.Options{HostPort: h.temporal.Address})
	require.NoError(h.t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return testservices.HistoryJSON(h.t, ctx, c, id)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
