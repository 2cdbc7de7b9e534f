package workflows

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
)

var userstatOn = engine.SettingChange{Source: engine.SourceTableCounters, Variable: "userstat", Before: "OFF", After: "ON"}

// keeperEnv is a setting keeper in the test suite whose switching is counted. send signals
// it at a moment; update sends an Update (as retirements did before the signals).
func keeperEnv(t *testing.T) (env *testsuite.TestWorkflowEnvironment, switched, restored *int, send, update func(at time.Duration, name string, arg any)) {
	var ts testsuite.WorkflowTestSuite
	env = ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(a)
	switched, restored = new(int), new(int)
	env.OnActivity(a.SwitchSourceOn, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.Hold) (engine.SettingChange, error) {
		*switched++
		return userstatOn, nil
	})
	env.OnActivity(a.RestoreSettings, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RestoreSettingsInput) error {
		require.Equal(t, []engine.SettingChange{userstatOn}, in.Changes, "put back as the first hold found it")
		*restored++
		return nil
	})
	update = func(at time.Duration, name string, arg any) {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
				OnReject: func(err error) { t.Errorf("%s %v refused: %v", name, arg, err) }, OnAccept: func() {},
				OnComplete: func(_ any, err error) {
					if err != nil {
						t.Errorf("%s %v failed: %v", name, arg, err)
					}
				},
			}, arg)
		}, at)
	}
	send = func(at time.Duration, name string, arg any) {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(name, arg) }, at)
	}
	return env, switched, restored, send, update
}

// keptOnceEachWay runs the keeper to its end, which must come with its last holder, having
// switched the setting once and put it back once.
func keptOnceEachWay(t *testing.T, env *testsuite.TestWorkflowEnvironment, switched, restored *int) {
	t.Helper()
	env.ExecuteWorkflow(SettingKeeper, activities.KeeperState{})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "the keeper ends with its last holder")
	require.Equal(t, 1, *switched)
	require.Equal(t, 1, *restored)
}

// holding asks the keeper what the query "holding" says of holder.
func holding(t *testing.T, env *testsuite.TestWorkflowEnvironment, holder string) activities.HoldingAnswer {
	v, err := env.QueryWorkflow(activities.QueryHolding, holder)
	require.NoError(t, err)
	var ans activities.HoldingAnswer
	require.NoError(t, v.Get(&ans))
	return ans
}

func holdBy(who string) activities.Hold {
	return activities.Hold{Holder: who, Connection: "db1", Source: engine.SourceTableCounters}
}

// The first hold switches the setting on, the last release puts it back, and nothing in
// between touches it, whatever the order and however often one retirement holds.
func TestTheSettingKeeperSwitchesOnceEachWay(t *testing.T) {
	env, switched, restored, send, _ := keeperEnv(t)
	send(time.Second, activities.SignalHoldSetting, holdBy("retire:db1:a"))
	env.RegisterDelayedCallback(func() {
		require.Equal(t, activities.HoldingAnswer{Held: true, Change: userstatOn}, holding(t, env, "retire:db1:a"), "a hold that is in says so, with the change")
		require.Equal(t, activities.HoldingAnswer{}, holding(t, env, "retire:db1:b"), "one not yet sent is not held")
	}, 1500*time.Millisecond)
	send(2*time.Second, activities.SignalHoldSetting, holdBy("retire:db1:b"))
	send(3*time.Second, activities.SignalHoldSetting, holdBy("retire:db1:b")) // twice is once
	send(4*time.Second, activities.SignalReleaseSetting, "retire:db1:a")
	env.RegisterDelayedCallback(func() {
		require.Equal(t, 1, *switched)
		require.Zero(t, *restored, "a release while another retirement holds it must not put it back")
		require.False(t, holding(t, env, "retire:db1:a").Held, "released")
	}, 5*time.Second)
	send(6*time.Second, activities.SignalReleaseSetting, "retire:db1:b")
	keptOnceEachWay(t, env, switched, restored)
}

// A thousand retirements that hold at the same moment, then release at the same moment:
// every hold is answered, no hold or release is lost, and the setting is switched once
// and put back once.
func TestTheSettingKeeperTakesAThousandHoldsAtOnce(t *testing.T) {
	env, switched, restored, _, _ := keeperEnv(t)
	const n = 1000
	holder := func(i int) string { return fmt.Sprintf("retire:db1:t%04d", i) }
	env.RegisterDelayedCallback(func() {
		for i := range n {
			env.SignalWorkflow(activities.SignalHoldSetting, holdBy(holder(i)))
		}
	}, time.Second)
	env.RegisterDelayedCallback(func() {
		for i := range n {
			require.True(t, holding(t, env, holder(i)).Held, holder(i))
		}
		for i := range n {
			env.SignalWorkflow(activities.SignalReleaseSetting, holder(i))
		}
	}, 10*time.Second)
	keptOnceEachWay(t, env, switched, restored)
}

// A hold whose switch fails is refused, and the holder learns why from the query; a later
// hold of the same retirement tries again.
func TestTheSettingKeeperSaysWhyAHoldWasRefused(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(a)
	tries := 0
	env.OnActivity(a.SwitchSourceOn, mock.Anything, mock.Anything).Return(func(context.Context, activities.Hold) (engine.SettingChange, error) {
		tries++
		if tries == 1 {
			return engine.SettingChange{}, temporal.NewNonRetryableApplicationError("SUPER privilege required", "Refused", nil)
		}
		return userstatOn, nil
	})
	env.OnActivity(a.RestoreSettings, mock.Anything, mock.Anything).Return(nil)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(activities.SignalHoldSetting, holdBy("retire:db1:a")) }, time.Second)
	env.RegisterDelayedCallback(func() {
		ans := holding(t, env, "retire:db1:a")
		require.False(t, ans.Held)
		require.Contains(t, ans.Refused, "SUPER privilege required")
		env.SignalWorkflow(activities.SignalHoldSetting, holdBy("retire:db1:a"))
	}, 2*time.Second)
	env.RegisterDelayedCallback(func() {
		require.Equal(t, activities.HoldingAnswer{Held: true, Change: userstatOn}, holding(t, env, "retire:db1:a"))
		env.SignalWorkflow(activities.SignalReleaseSetting, "retire:db1:a")
	}, 3*time.Second)
	env.ExecuteWorkflow(SettingKeeper, activities.KeeperState{})
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, 2, tries)
}

// A keeper that started over (continue-as-new) carries its holders and how the setting
// was: the next run neither switches it again nor forgets to put it back. (Its holders
// here still send Updates, as before the signals: a keeper takes both.)
func TestTheSettingKeeperCarriesItsHoldersOver(t *testing.T) {
	env, switched, restored, _, update := keeperEnv(t)
	carried := activities.KeeperState{Holders: map[string]activities.Holding{"retire:db1:b": {RunID: "run-b", Connection: "db1"}}, Change: userstatOn, On: true, Connection: "db1", Holds: 1200}
	update(time.Second, activities.UpdateHoldSetting, holdBy("retire:db1:c"))
	update(2*time.Second, activities.UpdateReleaseSetting, "retire:db1:b")
	env.RegisterDelayedCallback(func() { require.Zero(t, *restored) }, 3*time.Second)
	update(4*time.Second, activities.UpdateReleaseSetting, "retire:db1:c")
	env.ExecuteWorkflow(SettingKeeper, carried)
	require.NoError(t, env.GetWorkflowError())
	require.Zero(t, *switched, "it was on already")
	require.Equal(t, 1, *restored)
}

// A last release that cannot put the setting back (the server did not answer) leaves the
// keeper running, and it tries again until the setting is as it was.
func TestTheSettingKeeperTriesAgainToPutItBack(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterActivity(a)
	env.OnActivity(a.SwitchSourceOn, mock.Anything, mock.Anything).Return(userstatOn, nil)
	tries := 0
	env.OnActivity(a.RestoreSettings, mock.Anything, mock.Anything).Return(func(context.Context, activities.RestoreSettingsInput) error {
		tries++
		if tries == 1 {
			return temporal.NewNonRetryableApplicationError("server gone", "Refused", nil)
		}
		return nil
	})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(activities.SignalHoldSetting, holdBy("retire:db1:a")) }, time.Second)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(activities.SignalReleaseSetting, "retire:db1:a") }, 2*time.Second)
	env.RegisterDelayedCallback(func() {
		require.Equal(t, 1, tries)
		v, err := env.QueryWorkflow("setting")
		require.NoError(t, err)
		var st activities.KeeperState
		require.NoError(t, v.Get(&st))
		require.True(t, st.On, "still on, and still the keeper's to put back")
		require.Empty(t, st.Holders)
	}, 3*time.Second)
	env.ExecuteWorkflow(SettingKeeper, activities.KeeperState{})
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, 2, tries, "tried again, and ended once it was put back")
}

// A retirement that ends without releasing (an operator terminated it) is found by the
// keeper's hourly look and released, so that the setting does not stay on for ever.
func TestTheSettingKeeperReleasesAHolderThatVanished(t *testing.T) {
	env, switched, restored, send, _ := keeperEnv(t)
	env.OnActivity(a.CheckFleetChildren, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FleetChildrenInput) (activities.FleetChildrenResult, error) {
		require.Equal(t, []activities.FleetChildRun{{WorkflowID: "retire:db1:a", RunID: "run-a"}}, in.Children)
		return activities.FleetChildrenResult{Closed: []activities.ClosedChild{{WorkflowID: "retire:db1:a", RunID: "run-a", Status: activities.ChildTerminated, Reason: "terminated by an operator"}}}, nil
	})
	h := holdBy("retire:db1:a")
	h.RunID = "run-a"
	send(time.Second, activities.SignalHoldSetting, h)
	env.RegisterDelayedCallback(func() { require.Zero(t, *restored, "held, and not yet looked at") }, 30*time.Minute)
	env.ExecuteWorkflow(SettingKeeper, activities.KeeperState{})
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, 1, *switched)
	require.Equal(t, 1, *restored, "put back once the holder was found gone")
}

// Histories of real setting keepers (recorded from make bench-fleet) must replay against
// today's code.
func TestReplaySettingKeeperHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/keeper-*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no recorded keeper histories in workflows/testdata")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(SettingKeeper, workflow.RegisterOptions{Name: SettingKeeperName})
			require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, f))
		})
	}
}

// A hold that arrives while the keeper is due to start over (continue-as-new) is carried
// to the next run. Regression: the signal was handed straight to the coroutine waiting on
// it, so the channel looked empty, the keeper took itself for quiet and started over
// without it; at N=1000 one retirement then waited for its hold for ever.
func TestTheSettingKeeperLosesNoHoldWhenItStartsOver(t *testing.T) {
	env, _, _, send, _ := keeperEnv(t)
	send(time.Second, activities.SignalHoldSetting, holdBy("retire:db1:a"))
	env.RegisterDelayedCallback(func() {
		// Both queued, so that the suggestion and the signal reach the keeper in one
		// workflow task, as a history past its length does on the server: the suggestion
		// set here would otherwise be seen in the task of this timer, before the signal.
		env.RegisterDelayedCallback(func() { env.SetContinueAsNewSuggested(true) }, 0)
		env.SignalWorkflow(activities.SignalHoldSetting, holdBy("retire:db1:b"))
	}, 2*time.Second)
	env.ExecuteWorkflow(SettingKeeper, activities.KeeperState{})
	var can *workflow.ContinueAsNewError
	require.ErrorAs(t, env.GetWorkflowError(), &can, "the keeper started over")
	var next activities.KeeperState
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Contains(t, next.Holders, "retire:db1:a")
	require.Contains(t, next.Holders, "retire:db1:b", "the hold that came as it started over")
	require.Equal(t, 2, next.Holds)
}
