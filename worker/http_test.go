package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/dataretire/retire/metrics"
)

func get(t *testing.T, srv *httptest.Server, path string) (int, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestHealthzAndReadyzFollowTheWorker(t *testing.T) {
	var r readiness
	srv := httptest.NewServer(newHTTPHandler(&r, nil, false))
	defer srv.Close()

	for _, step := range []struct {
		state int32
		ready int
		body  string
	}{
		{stateStarting, http.StatusServiceUnavailable, "starting\n"}, // dialing Temporal, registering
		{stateReady, http.StatusOK, "ready\n"},                       // w.Start() returned: polling
		{stateStopping, http.StatusServiceUnavailable, "stopping\n"}, // SIGTERM: finishing activities
	} {
		r.set(step.state)
		code, body := get(t, srv, "/healthz")
		assert.Equal(t, http.StatusOK, code, "healthz while %s", step.body)
		assert.Equal(t, "ok\n", body)
		code, body = get(t, srv, "/readyz")
		assert.Equal(t, step.ready, code, "readyz while %s", step.body)
		assert.Equal(t, step.body, body)
	}

	code, _ := get(t, srv, "/metrics")
	assert.Equal(t, http.StatusNotFound, code, "no metrics handler, no /metrics")
	resp, err := srv.Client().Post(srv.URL+"/healthz", "text/plain", strings.NewReader(""))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	code, _ = get(t, srv, "/debug/pprof/heap")
	assert.Equal(t, http.StatusNotFound, code, "profiles are off unless --pprof")
}

// --pprof serves the runtime's profiles beside the probes.
func TestProfilesOnlyWhenAskedFor(t *testing.T) {
	var r readiness
	srv := httptest.NewServer(newHTTPHandler(&r, nil, true))
	defer srv.Close()
	code, body := get(t, srv, "/debug/pprof/heap?debug=1")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "heap profile")
	code, body = get(t, srv, "/debug/pprof/goroutine?debug=1")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "goroutine profile")
	code, _ = get(t, srv, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code, "the probes are still there")
}

// What goes through the SDK metrics handler (as the SDK, activities and workflows record)
// comes out of /metrics, with the running retirements by phase beside it.
func TestMetricsServesTheSDKHandlerAndRetirementsByPhase(t *testing.T) {
	pm := newPromMetrics(zap.NewNop(), time.Second)
	defer pm.Close()
	counts := map[string]int64{"observe": 2, "archive": 1}
	pm.registry.MustRegister(newRetirementsCollector(func(_ context.Context, q string) (int64, error) {
		phase := regexp.MustCompile(`RetirePhase = '(\w+)'`).FindStringSubmatch(q)[1]
		return counts[phase], nil
	}, zap.NewNop()))
	var r readiness
	srv := httptest.NewServer(newHTTPHandler(&r, pm.httpHandler(), false))
	defer srv.Close()

	// Tagged the way the SDK tags an activity's handler.
	h := pm.handler.WithTags(map[string]string{"activity_type": "Archive", "task_queue": "retire"})
	metrics.Archived(h, 5002, 123456, time.Second)
	metrics.Freed(h, 98304)
	metrics.PhaseEntered(pm.handler.WithTags(map[string]string{"workflow_type": "RetireDatabase"}), "archive")
	metrics.GateFailed(pm.handler, "archive-verified")
	pm.handler.Timer("temporal_activity_execution_latency").Record(1500 * time.Millisecond)

	want := []string{
		`retire_archived_rows_total{activity_type="Archive",task_queue="retire"} 5002`,
		`retire_archived_bytes_total{activity_type="Archive",task_queue="retire"} 123456`,
		`retire_archive_rate_bytes_per_second{activity_type="Archive",task_queue="retire"} 123456`,
		`retire_bytes_freed_total{activity_type="Archive",task_queue="retire"} 98304`,
		`retire_phase_entered_total{phase="archive",workflow_type="RetireDatabase"} 1`,
		`retire_gate_failures_total{gate="archive_verified"} 1`, // tag values are sanitized to [a-zA-Z0-9_]
		`temporal_activity_execution_latency_seconds_bucket{le="2"} 1`,
		`retire_retirements{phase="observe"} 2`,
		`retire_retirements{phase="archive"} 1`,
		`retire_retirements{phase="plan"} 0`,
		`retire_visibility_errors_total 0`,
		`go_goroutines `,
	}
	var body string
	require.Eventually(t, func() bool {
		code, b := get(t, srv, "/metrics")
		require.Equal(t, http.StatusOK, code)
		body = b
		for _, w := range want {
			if !strings.Contains(body, w) {
				return false
			}
		}
		return true
	}, 5*time.Second, 20*time.Millisecond, "tally reports every 10ms")
	for _, w := range want {
		assert.Contains(t, body, w)
	}
	assert.NotContains(t, body, "tally_internal", "tally's own series are left out")
	assert.Contains(t, body, "# TYPE retire_archived_rows_total counter")
	assert.Contains(t, body, "# TYPE retire_retirements gauge")
	assert.Contains(t, body, "# TYPE temporal_activity_execution_latency_seconds histogram")
}
