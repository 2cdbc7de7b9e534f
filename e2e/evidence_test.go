package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/dataretire/retire/workflows"
)

// TestSamplingForgetsNothingWhenTheWorkerDies kills -9 the worker right after it saw a
// client during sampling. The client was told to the workflow before the next look, so
// after the restart it is in the result and the gate waits for it; the seconds in which no
// worker looked are counted, shown, and in the record.
func TestSamplingForgetsNothingWhenTheWorkerDies(t *testing.T) {
	h := newChunkedHarness(t)
	db := "rt_e2e_evidence_" + randomHex(4)
	h.exec("CREATE DATABASE " + db)
	t.Cleanup(func() { h.exec("DROP DATABASE IF EXISTS " + db) })
	h.exec(fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY)", db))
	h.exec(fmt.Sprintf("INSERT INTO %s.t VALUES (1), (2), (3)", db))

	first := h.startWorker("worker-1.log")
	h.retire("start", "local", db, "--reason", "decommission", "--owner", "alice",
		"--requester", "dba", "--sample", "40s", "--observe", "10m")

	// A client without a default database reads the table by its qualified name, long
	// enough to be looked at.
	client, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/?timeout=5s")
	require.NoError(t, err)
	defer client.Close()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var n int
		_ = client.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) + SLEEP(3) FROM %s.t", db)).Scan(&n)
	}()
	require.Eventually(t, func() bool {
		return strings.Contains(h.log("worker-1.log"), "New client of the object, told the workflow")
	},
		30*time.Second, 50*time.Millisecond, "the worker never saw the client")
	require.NoError(t, first.Process.Kill()) // SIGKILL: no heartbeat after the signal
	_, _ = first.Process.Wait()
	killedAt := time.Now()

	time.Sleep(3 * time.Second)
	h.startWorker("worker-2.log")
	var st workflows.Status
	require.Eventually(t, func() bool {
		out, err := h.retireErr("status", "local", db, "-o", "json")
		if err != nil || json.Unmarshal([]byte(out), &st) != nil {
			return false
		}
		return st.Phase == workflows.PhaseSample && strings.HasPrefix(st.Waiting, "acknowledgement of the usage evidence")
	}, 2*time.Minute, 250*time.Millisecond, "the gate never waited")
	require.NotEmpty(t, st.Clients, "the client seen before the kill is gone")
	require.Contains(t, st.Clients[0].Via, "qualified name", "how it reached the database: %+v", st.Clients[0])
	require.NotNil(t, st.Evidence)
	require.NotEmpty(t, st.Evidence.Gaps, "the seconds nobody looked were not counted")
	var gap time.Duration
	for _, g := range st.Evidence.Gaps {
		gap += g.To.Sub(g.From)
	}
	require.GreaterOrEqual(t, gap, 3*time.Second, "gaps %v", st.Evidence.Gaps)
	require.Less(t, st.Evidence.Looked, st.Evidence.WindowUntil.Sub(st.Evidence.WindowFrom))
	require.Contains(t, st.Waiting, "nobody looked")
	t.Logf("killed at %s; evidence: looked %s, gaps %v", killedAt.UTC().Format(time.TimeOnly), st.Evidence.Looked, st.Evidence.Gaps)

	// Cancel: nothing was cut; the record shows the client and the gap.
	h.retire("cancel", "local", db, "--reason", "test over")
	h.waitClosed(db)
	record := h.retire("record", "local", db)
	require.Contains(t, record, "### Evidence")
	require.Contains(t, record, "nobody looked")
	require.Contains(t, record, "qualified name")
}

// waitClosed waits until the retirement of db has closed, and returns how it closed.
func (h *harness) waitClosed(db string) enumspb.WorkflowExecutionStatus {
	c, err := client.Dial(client.Options{HostPort: h.temporal.Address})
	require.NoError(h.t, err)
	defer c.Close()
	var closed enumspb.WorkflowExecutionStatus
	require.Eventually(h.t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, err := c.DescribeWorkflowExecution(ctx, workflows.WorkflowID("local", db), "")
		if err != nil {
			return false
		}
		closed = d.WorkflowExecutionInfo.Status
		return closed != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	}, 2*time.Minute, 250*time.Millisecond, "the retirement of %s never closed", db)
	return closed
}
