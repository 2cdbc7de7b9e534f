package activities

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/testservices"
)

// watchers starts n SampleClients watches at once and waits for them all.
func watchers(ctx workflow.Context, n int, conn string, until time.Time) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour, HeartbeatTimeout: 4 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var a *Activities
	var fs []workflow.Future
	for i := range n {
		fs = append(fs, workflow.ExecuteActivity(ctx, a.SampleClients, SampleInput{
			Target: Target{Connection: conn, Object: fmt.Sprintf("rt_detach_db_%d", i)}, Until: until}))
	}
	for _, f := range fs {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// A watch holds no activity slot: on a worker with one slot, three retirements sample at
// once (each subscribed to the server's looks), and a workflow that is cancelled stops its
// detached watches (their heartbeats learn it) so that no poller is left behind.
func TestWatchesHoldNoActivitySlot(t *testing.T) {
	testservices.MariaDB(t)
	srv := testservices.Temporal(t)
	c, err := client.Dial(client.Options{HostPort: srv.Address})
	require.NoError(t, err)
	t.Cleanup(c.Close)

	cfg, err := config.Parse([]byte(`connections:
  detach: {engine: mysql, host: 127.0.0.1, port: 3306, user: root, poll_interval: 100ms}
`))
	require.NoError(t, err)
	stop, stopWatches := context.WithCancel(context.Background())
	acts := New(cfg, DevPolicy, Detach(c, stop))
	const queue = "detach-test"
	w := worker.New(c, queue, worker.Options{MaxConcurrentActivityExecutionSize: 1})
	w.RegisterWorkflow(watchers)
	w.RegisterActivity(acts)
	require.NoError(t, w.Start())
	t.Cleanup(func() {
		w.Stop()
		stopWatches()
		WaitForWatches(acts, 10*time.Second)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 3
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue}, watchers, n, "detach", time.Now().Add(time.Hour))
	require.NoError(t, err)

	require.Eventually(t, func() bool { return acts.hub.subscribers("detach") == n }, time.Minute, 50*time.Millisecond,
		"with one activity slot, %d watches must run at once", n)
	require.NoError(t, c.CancelWorkflow(ctx, run.GetID(), run.GetRunID()))
	require.Error(t, run.Get(ctx, nil))
	// A heartbeat is at most a second away (a quarter of the 4 s timeout): it learns of the
	// cancellation and the watch leaves the poller.
	require.Eventually(t, func() bool { return acts.hub.subscribers("detach") == 0 }, time.Minute, 50*time.Millisecond,
		"cancelled watches must stop")
}
