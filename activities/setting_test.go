package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/testservices"
	"github.com/dataretire/retire/workflows"
)

// window is a retirement's sampling window as far as settings go: it opens (holding what
// it switches on), waits to be told to end, and puts back what it changed.
func window(ctx workflow.Context, object string) ([]string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var a *activities.Activities
	var start activities.SamplingStart
	in := activities.StartSamplingInput{Target: activities.Target{Connection: "keep", Object: object}, Keep: true, ServerID: "keep-test"}
	if err := workflow.ExecuteActivity(ctx, a.StartSampling, in).Get(ctx, &start); err != nil {
		return nil, err
	}
	workflow.GetSignalChannel(ctx, "end").Receive(ctx, nil)
	var keepers []string
	for _, ch := range start.Changes {
		keepers = append(keepers, ch.Keeper)
	}
	err := workflow.ExecuteActivity(ctx, a.RestoreSettings, activities.RestoreSettingsInput{Target: in.Target, Changes: start.Changes}).Get(ctx, nil)
	return keepers, err
}

// Two retirements on one server each need userstat for their window: the one that ends
// first must not switch it off under the other, and the last one puts it back as the first
// found it. (Before the keeper, the first to end switched it off, and its neighbour's
// evidence said the counters were off.)
func TestTheLastRetirementOnAServerPutsTheSettingBack(t *testing.T) {
	root := testservices.MariaDB(t)
	testservices.SetGlobal(t, root, "userstat", "OFF")
	for _, db := range []string{"rt_keep_a", "rt_keep_b"} {
		_, err := root.Exec("CREATE DATABASE IF NOT EXISTS " + db)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = root.Exec("DROP DATABASE IF EXISTS " + db) })
	}
	userstat := func() string {
		var v string
		require.NoError(t, root.QueryRow("SELECT IF(@@global.userstat, 'ON', 'OFF')").Scan(&v))
		return v
	}

	srv := testservices.Temporal(t)
	c, err := client.Dial(client.Options{HostPort: srv.Address})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	cfg, err := config.Parse([]byte(`connections:
  keep:
    engine: mysql
    host: 127.0.0.1
    port: 3306
    user: root
    sampling: {enable: [table-counters, attempts]}
`))
	require.NoError(t, err)
	const queue = "keep-test"
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(window)
	w.RegisterWorkflowWithOptions(workflows.SettingKeeper, workflow.RegisterOptions{Name: workflows.SettingKeeperName})
	w.RegisterActivity(activities.New(cfg, activities.DevPolicy, activities.Keep(c, queue)))
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	keeperID := activities.SettingKeeperID("keep-test", "userstat")
	start := func(id, object string) client.WorkflowRun {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, window, object)
		require.NoError(t, err)
		return run
	}
	holders := func() int {
		v, err := c.QueryWorkflow(ctx, keeperID, "", "setting")
		if err != nil {
			return -1
		}
		var st activities.KeeperState
		require.NoError(t, v.Get(&st))
		return len(st.Holders)
	}
	a := start("window-a", "rt_keep_a")
	require.Eventually(t, func() bool { return holders() == 1 }, time.Minute, 50*time.Millisecond)
	require.Equal(t, "ON", userstat(), "the first hold switches it on")
	b := start("window-b", "rt_keep_b")
	require.Eventually(t, func() bool { return holders() == 2 }, time.Minute, 50*time.Millisecond)

	end := func(run client.WorkflowRun) {
		require.NoError(t, c.SignalWorkflow(ctx, run.GetID(), "", "end", nil))
		var keepers []string
		require.NoError(t, run.Get(ctx, &keepers))
		require.Equal(t, []string{keeperID}, keepers, "both sources are one variable, held once")
	}
	// A release is a signal, and the retirement waits until the keeper took it: the last
	// one ends with the setting back.
	end(a)
	require.Equal(t, 1, holders())
	require.Equal(t, "ON", userstat(), "the first to end must not switch it off under its neighbour")
	end(b)
	require.Equal(t, "OFF", userstat(), "the last to end puts it back as the first hold found it")

	// The keeper ends with its last holder; a later retirement starts a new one.
	require.NoError(t, c.GetWorkflow(ctx, keeperID, "").Get(ctx, nil))
	again := start("window-again", "rt_keep_a")
	require.Eventually(t, func() bool { return holders() == 1 }, time.Minute, 50*time.Millisecond)
	require.Equal(t, "ON", userstat())
	end(again)
	require.Equal(t, "OFF", userstat())
}
