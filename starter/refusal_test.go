package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dataretire/retire/workflows"
)

func TestStartRefusesSystemNamesOfAnyEngineWithoutDialling(t *testing.T) {
	for name, rule := range map[string]string{
		"mysql":              `"mysql" is a MySQL/MariaDB system schema (mysql, sys, information_schema, performance_schema): an engine's own schemas and users are never retired`,
		"Information_Schema": `"Information_Schema" is a MySQL/MariaDB system schema`,
		"PERFORMANCE_SCHEMA": `"PERFORMANCE_SCHEMA" is a MySQL/MariaDB system schema`,
		"sys":                `"sys" is a MySQL/MariaDB system schema (mysql, sys, information_schema, performance_schema) and an Oracle-maintained user: `,
		"SYSTEM":             `"SYSTEM" is an Oracle-maintained user: an engine's own schemas and users are never retired`,
		"ctxsys":             `"ctxsys" is an Oracle-maintained user`,
		"APEX_230100":        `"APEX_230100" is an Oracle-maintained user`,
	} {
		t.Run(name, func(t *testing.T) {
			a, out, errOut := testApp(t, nil, map[string]string{"USER": "carol"}) // nil: dialling fails the test
			code := a.execute([]string{"start", "local", name, "--reason", "migration"})
			assert.Equal(t, 1, code)
			assert.Empty(t, out.String(), "nothing was started")
			msg := errOut.String()
			assert.True(t, strings.HasPrefix(msg, "retire: cannot start the retirement of local/"+name+": "), msg)
			assert.Contains(t, msg, rule)
			assert.Equal(t, 1, strings.Count(msg, "\n"), "one line: %q", msg)
		})
	}
}

func TestStartAcceptsNamesThatOnlyLookLikeSystemOnes(t *testing.T) {
	for _, name := range []string{"mysql_archive", "sysadmin", "information", "my_sys", "scott"} {
		_, err := startFlags{reason: "migration", requester: "carol"}.request("local", name, func(string) string { return "" })
		assert.NoError(t, err, name)
	}
}

// refusedInPlan is a run whose Plan activity refused the request, as Temporal reports it
// with no worker to answer the status query.
func refusedInPlan(t *testing.T, runID string, start time.Time, why string) *fakeRunData {
	return &fakeRunData{
		desc:      runDescription(t, runID, start, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, workflows.PhaseFailed),
		queryErr:  serviceerror.NewDeadlineExceeded("no poller"),
		resultErr: activityFailure("Plan", temporal.NewNonRetryableApplicationError(why, "Refused", nil)),
	}
}

func TestStartSaysNothingStartedWhenThePlanRefuses(t *testing.T) {
	fake := &fakeTemporal{runs: map[string]*fakeRunData{
		"run-1": refusedInPlan(t, "run-1", testNow, `database "shop" does not exist on local`),
	}, latest: "run-1"}
	a, out, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	code := a.execute([]string{"start", "local", "shop", "--reason", "migration"})
	assert.Equal(t, 1, code)
	assert.Empty(t, out.String(), "no \"started the retirement\" for a refused request")
	assert.Equal(t, "retire: cannot retire local/shop: database \"shop\" does not exist on local (refused in the plan; nothing was changed)\n", errOut.String())
}

func TestStartSaysItStartedOnceThePlanIsThrough(t *testing.T) {
	st := sampleStatus()
	st.Phase, st.Waiting = workflows.PhaseSample, ""
	fake := &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhaseSample), status: &st}
	a, out, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	require.Equal(t, 0, a.execute([]string{"start", "local", "shop", "--reason", "decommission", "--owner", "alice"}), errOut.String())
	assert.True(t, strings.HasPrefix(out.String(), "started the retirement of local/shop (workflow retire:local:shop, run run-1)\nplan of local/shop:\n"), out.String())
}

func TestStartReportsAFailureAfterThePlanAsAFailure(t *testing.T) {
	fake := &fakeTemporal{
		desc:      description(t, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, workflows.PhaseFailed),
		queryErr:  serviceerror.NewDeadlineExceeded("no poller"),
		resultErr: activityFailure("SampleClients", temporal.NewNonRetryableApplicationError("lost the processlist", "Refused", nil)),
	}
	a, out, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	assert.Equal(t, 1, a.execute([]string{"start", "local", "shop", "--reason", "migration"}))
	assert.Empty(t, out.String())
	assert.Equal(t, "retire: the retirement of local/shop failed: lost the processlist\n", errOut.String())
}

// retiredThenRefused is a database retired by run-1, then started again (it is gone, so the
// plan refuses) as run-2 and, with a worker answering, run-3.
func retiredThenRefused(t *testing.T) (*fakeTemporal, workflows.Record) {
	rec := sampleStatus()
	rec.Phase, rec.Waiting, rec.Outcome = workflows.PhaseDone, "", "retired"
	day := 24 * time.Hour
	t1, t2, t3 := testNow.Add(-19*day), testNow.Add(-time.Hour), testNow.Add(-time.Minute)
	gone := `database "shop" does not exist on local`
	answered := workflows.Status{
		WorkflowID: "retire:local:shop", RunID: "run-3", Phase: workflows.PhaseFailed, Outcome: "failed",
		Error: "activity error (type: Plan): " + gone + " (type: Refused, retryable: false)",
		Gates: []workflows.Gate{{Name: workflows.GatePlan, State: workflows.GatePending}},
	}
	fake := &fakeTemporal{latest: "run-3", runs: map[string]*fakeRunData{
		"run-1": {desc: runDescription(t, "run-1", t1, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, workflows.PhaseDone), result: &rec},
		"run-2": refusedInPlan(t, "run-2", t2, gone),
		"run-3": {
			desc:      runDescription(t, "run-3", t3, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, workflows.PhaseFailed),
			status:    &answered,
			resultErr: activityFailure("Plan", temporal.NewNonRetryableApplicationError(gone, "Refused", nil)),
		},
	}}
	exec := func(runID string, start time.Time, status enumspb.WorkflowExecutionStatus) *workflowpb.WorkflowExecutionInfo {
		return &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: "retire:local:shop", RunId: runID},
			Status:    status, StartTime: timestamppb.New(start),
		}
	}
	// Not in start order: the CLI must not rely on the visibility store's order.
	fake.list = &workflowservice.ListWorkflowExecutionsResponse{Executions: []*workflowpb.WorkflowExecutionInfo{
		exec("run-1", t1, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED),
		exec("run-3", t3, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED),
		exec("run-2", t2, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED),
	}}
	return fake, rec
}

const laterRefusedNote = `note: a later run run-3 was refused in the plan: database "shop" does not exist on local; 1 more later run ended in the plan too; this is the latest run that got past the plan`

func TestStatusPrefersTheLatestRunPastThePlan(t *testing.T) {
	fake, _ := retiredThenRefused(t)
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop"}), errOut.String())
	text := out.String()
	assert.True(t, strings.HasPrefix(text, "phase: done\noutcome: retired\n"+laterRefusedNote+"\n"), text)
	assert.Contains(t, text, "retirement: local/shop (workflow retire:local:shop, run run-1, Completed)\n")
	require.NotNil(t, fake.listed)
	assert.Equal(t, "WorkflowType = 'RetireDatabase' AND WorkflowId = 'retire:local:shop'", fake.listed.Query)

	fake, _ = retiredThenRefused(t)
	a, out, errOut = testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop", "-o", "json"}), errOut.String())
	var got struct {
		Phase     string     `json:"phase"`
		RunID     string     `json:"run_id"`
		LaterRuns []laterRun `json:"later_runs"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	assert.Equal(t, "done", got.Phase)
	assert.Equal(t, "run-1", got.RunID)
	require.Len(t, got.LaterRuns, 2)
	assert.Equal(t, "run-3", got.LaterRuns[0].RunID)
	assert.Equal(t, workflows.PhaseFailed, got.LaterRuns[0].Phase)
	assert.Equal(t, `database "shop" does not exist on local`, got.LaterRuns[0].Error)
	assert.Equal(t, "run-2", got.LaterRuns[1].RunID)
}

func TestRecordPrefersTheLatestRunPastThePlan(t *testing.T) {
	fake, rec := retiredThenRefused(t)
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"record", "local", "shop"}), errOut.String())
	assert.Equal(t, workflows.Markdown(rec), out.String(), "the record of the retirement, not of the refusal")
	assert.Equal(t, laterRefusedNote+"\n", errOut.String(), "the note is on stderr, out of the record")

	fake, _ = retiredThenRefused(t)
	a, out, errOut = testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"record", "local", "shop", "-o", "json"}))
	var got workflows.Record
	require.NoError(t, json.Unmarshal(out.Bytes(), &got), out.String())
	assert.Equal(t, workflows.PhaseDone, got.Phase)
	assert.Equal(t, "run-1", got.RunID)
	assert.Equal(t, laterRefusedNote+"\n", errOut.String())
}

func TestStatusRunIDShowsTheRefusedRun(t *testing.T) {
	fake, _ := retiredThenRefused(t)
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop", "--run-id", "run-2"}), errOut.String())
	assert.True(t, strings.HasPrefix(out.String(), "phase: failed\n"), out.String())
	assert.Contains(t, out.String(), "\nerror: database \"shop\" does not exist on local\n")
	assert.NotContains(t, out.String(), "later run")
	assert.Nil(t, fake.listed, "a run asked for by id is shown as it is")
}

func TestStatusShowsTheLatestRunWhenNoneGotPastThePlan(t *testing.T) {
	fake, _ := retiredThenRefused(t)
	delete(fake.runs, "run-1")
	fake.list.Executions = fake.list.Executions[1:]
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop"}), errOut.String())
	assert.True(t, strings.HasPrefix(out.String(), "phase: failed\n"), out.String())
	assert.Contains(t, out.String(), "run run-3, Failed)")
	assert.NotContains(t, out.String(), "later run")
}

func TestStatusKeepsTheLatestRunWhenItGotPastThePlan(t *testing.T) {
	for name, run := range map[string]*fakeRunData{
		"running in the plan": {
			desc:   runDescription(t, "run-3", testNow, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhasePlan),
			status: &workflows.Status{RunID: "run-3", Phase: workflows.PhasePlan},
		},
		"failed in the archive, no worker": {
			desc:      runDescription(t, "run-3", testNow, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, workflows.PhaseFailed),
			queryErr:  serviceerror.NewDeadlineExceeded("no poller"),
			resultErr: activityFailure("Archive", temporal.NewNonRetryableApplicationError("bucket is gone", "Refused", nil)),
		},
		"terminated, no worker": {
			desc:     runDescription(t, "run-3", testNow, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, workflows.PhaseObserve),
			queryErr: serviceerror.NewDeadlineExceeded("no poller"),
			resultErr: temporal.GetDefaultFailureConverter().FailureToError(&failurepb.Failure{
				Message: "terminated", FailureInfo: &failurepb.Failure_TerminatedFailureInfo{TerminatedFailureInfo: &failurepb.TerminatedFailureInfo{}},
			}),
		},
	} {
		t.Run(name, func(t *testing.T) {
			fake, _ := retiredThenRefused(t)
			fake.runs["run-3"] = run
			a, out, errOut := testApp(t, fake, nil)
			require.Equal(t, 0, a.execute([]string{"status", "local", "shop"}), errOut.String())
			assert.Contains(t, out.String(), "run run-3, ")
			assert.NotContains(t, out.String(), "later run")
			assert.Nil(t, fake.listed, "no need to look further back")
		})
	}
}

func TestStatusNeverPastesAnOddIDIntoAVisibilityQuery(t *testing.T) {
	fake := &fakeTemporal{latest: "run-2", runs: map[string]*fakeRunData{
		"run-2": refusedInPlan(t, "run-2", testNow, "no such schema"),
	}}
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"status", "local", "x' OR WorkflowId != '"}), errOut.String())
	assert.True(t, strings.HasPrefix(out.String(), "phase: failed\n"), out.String())
	assert.Nil(t, fake.listed)
}

func TestStartReportsAShortDryRunThatEndedAsItsPlan(t *testing.T) {
	rec := sampleStatus()
	rec.Phase, rec.Waiting, rec.Outcome = workflows.Phase("dry-run"), "", "dry run: nothing was changed"
	fake := &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, rec.Phase), result: &rec}
	a, out, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	require.Equal(t, 0, a.execute([]string{"start", "local", "shop", "--reason", "migration", "--dry-run", "--sample", "2s"}), errOut.String())
	assert.True(t, strings.HasPrefix(out.String(), "started the retirement of local/shop (workflow retire:local:shop, run run-1)\nplan of local/shop:\n"), out.String())
	assert.Contains(t, out.String(), "\nnext: nothing: the dry run is over and changed nothing; start without --dry-run to retire it\n")
}
