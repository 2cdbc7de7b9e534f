package workflows

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
)

var userstatOn = engine.SettingChange{Source: engine.SourceTableCounters, Variable: "userstat", Before: "OFF", After: "ON"}

// keeperEnv is a setting keeper in the test suite whose switching is counted.
func keeperEnv(t *testing.T) (env *testsuite.TestWorkflowEnvironment, switched, restored *int, update func(at time.Duration, name string, arg any)) {
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
	return env, switched, restored, update
}

func holdBy(who string) activities.Hold {
	return activities.Hold{Holder: who, Connection: "db1", Source: engine.SourceTableCounters}
}

// The first hold switches the setting on, the last release puts it back, and nothing in
// between touches it, whatever the order and however often one retirement holds.
func TestTheSettingKeeperSwitchesOnceEachWay(t *testing.T) {
	env, switched, restored, update := keeperEnv(t)
	update(time.Second, activities.UpdateHoldSetting, holdBy("retire:db1:a"))
	update(2*time.Second, activities.UpdateHoldSetting, holdBy("retire:db1:b"))
	update(3*time.Second, activities.UpdateHoldSetting, holdBy("retire:db1:b")) // twice is once
	update(4*time.Second, activities.UpdateReleaseSetting, "retire:db1:a")
	env.RegisterDelayedCallback(func() {
		require.Equal(t, 1, *switched)
		require.Zero(t, *restored, "a release while another retirement holds it must not put it back")
	}, 5*time.Second)
	update(6*time.Second, activities.UpdateReleaseSetting, "retire:db1:b")
	env.ExecuteWorkflow(SettingKeeper, activities.KeeperState{})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError(), "the keeper ends with its last holder")
	require.Equal(t, 1, *switched)
	require.Equal(t, 1, *restored)
}

// A keeper that started over (continue-as-new) carries its holders and how the setting
// was: the next run neither switches it again nor forgets to put it back.
func TestTheSettingKeeperCarriesItsHoldersOver(t *testing.T) {
	env, switched, restored, update := keeperEnv(t)
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
	var released error
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(activities.UpdateHoldSetting, "", &testsuite.TestUpdateCallback{OnReject: func(error) {}, OnAccept: func() {}, OnComplete: func(any, error) {}}, holdBy("retire:db1:a"))
	}, time.Second)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(activities.UpdateReleaseSetting, "", &testsuite.TestUpdateCallback{OnReject: func(error) {}, OnAccept: func() {},
			OnComplete: func(_ any, err error) { released = err }}, "retire:db1:a")
	}, 2*time.Second)
	env.ExecuteWorkflow(SettingKeeper, activities.KeeperState{})
	require.Error(t, released, "the holder is told it was not put back")
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, 2, tries, "tried again, and ended once it was put back")
}

// A retirement that ends without releasing (an operator terminated it) is found by the
// keeper's hourly look and released, so that the setting does not stay on for ever.
func TestTheSettingKeeperReleasesAHolderThatVanished(t *testing.T) {
	env, switched, restored, update := keeperEnv(t)
	env.OnActivity(a.CheckFleetChildren, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FleetChildrenInput) (activities.FleetChildrenResult, error) {
		require.Equal(t, []activities.FleetChildRun{{WorkflowID: "retire:db1:a", RunID: "run-a"}}, in.Children)
		return activities.FleetChildrenResult{Closed: []activities.ClosedChild{{WorkflowID: "retire:db1:a", RunID: "run-a", Status: activities.ChildTerminated, Reason: "terminated by an operator"}}}, nil
	})
	h := holdBy("retire:db1:a")
	h.RunID = "run-a"
	update(time.Second, activities.UpdateHoldSetting, h)
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
