package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/workflows"
)

func TestStartMapsFlagsToTheRequest(t *testing.T) {
	fake := &fakeTemporal{}
	a, out, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	code := a.execute([]string{"start", "local", "shop", "--reason", "decommission",
		"--owner", "alice", "--owner", "bob,dave", "--ticket", "CHG-1", "--sample", "2d", "--observe", "36h",
		"--store", "cold", "--dry-run", "--no-wait"})
	require.Equal(t, 0, code, errOut.String())

	req := fake.startArg.(workflows.Request)
	assert.Equal(t, workflows.Request{
		Connection: "local", Object: "shop", Reason: workflows.ReasonDecommission,
		Owners: []string{"alice", "bob", "dave"}, Requester: "carol", Ticket: "CHG-1",
		Strategy: engine.StrategyRevoke, SampleWindow: 48 * time.Hour, ObserveWindow: 36 * time.Hour,
		Store: "cold", DryRun: true, Verify: workflows.VerifyChecksums,
	}, req)

	o := fake.started
	assert.Equal(t, "retire:local:shop", o.ID)
	assert.Equal(t, workflows.TaskQueue, o.TaskQueue)
	assert.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL, o.WorkflowIDConflictPolicy)
	assert.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, o.WorkflowIDReusePolicy)
	assert.True(t, o.WorkflowExecutionErrorWhenAlreadyStarted)
	assert.Equal(t, "Retire local/shop (decommission)", o.StaticSummary)
	assert.Contains(t, o.StaticDetails, "- **Owners:** from the owners directory, and alice, bob, dave\n")
	assert.Contains(t, o.StaticDetails, "- **Observation window:** 1d 12h\n")
	phase, _ := o.TypedSearchAttributes.GetKeyword(workflows.AttrPhase)
	assert.Equal(t, "plan", phase)
	owners, _ := o.TypedSearchAttributes.GetKeywordList(workflows.AttrOwners)
	assert.Equal(t, []string{"alice", "bob", "dave"}, owners)
	requester, _ := o.TypedSearchAttributes.GetKeyword(workflows.AttrRequester)
	assert.Equal(t, "carol", requester)

	assert.Equal(t, "started the retirement of local/shop (workflow retire:local:shop, run run-1)\nnext: follow it with `retire status local shop`\n", out.String())
}

func TestStartDefaults(t *testing.T) {
	req, err := startFlags{reason: "migration", requester: "carol"}.request("local", "shop", func(string) string { return "" })
	require.NoError(t, err)
	assert.Equal(t, workflows.DefaultSampleWindow, req.SampleWindow)
	assert.Equal(t, workflows.DefaultObserveWindow, req.ObserveWindow)
	assert.Equal(t, engine.StrategyRevoke, req.Strategy)
	assert.Empty(t, req.Owners)

	// --requester wins over $USER; $USER fills in when it is left out.
	req, err = startFlags{reason: "migration", requester: "carol"}.request("local", "shop", func(string) string { return "root" })
	require.NoError(t, err)
	assert.Equal(t, "carol", req.Requester)
	req, err = startFlags{reason: "migration"}.request("local", "shop", func(string) string { return "root" })
	require.NoError(t, err)
	assert.Equal(t, "root", req.Requester)
}

func TestStartPrintsEveryProblemAndNeverDials(t *testing.T) {
	a, out, errOut := testApp(t, nil, map[string]string{})
	code := a.execute([]string{"start", "local", "performance_schema", "--reason", "decommision", "--owner", "x y",
		"--sample", "3x", "--observe", "40d", "--strategy", "drop"})
	assert.Equal(t, 1, code)
	assert.Empty(t, out.String())
	msg := errOut.String()
	assert.True(t, strings.HasPrefix(msg, "retire: cannot start the retirement of local/performance_schema: "), msg)
	assert.Equal(t, 1, strings.Count(msg, "\n"), "one line: %q", msg)
	for _, want := range []string{
		"--requester <name> ($USER is not set)",
		`--sample: "3x" is not a duration`,
		`"performance_schema" is a MySQL/MariaDB system schema`,
		`reason "decommision": use "decommission"`,
		`strategy "drop"`,
		`owner "x y" is not a valid name`,
		"observation window 40d is longer than the 35d maximum",
	} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, `requester ""`, "the missing requester is said once, naming the flag")
}

// Owners come from the worker's owners directory: the CLI no longer asks for --owner, and
// the plan's refusal of a decommission nobody owns there is printed in one line.
func TestStartDecommissionTakesItsOwnersFromTheDirectory(t *testing.T) {
	req, err := startFlags{reason: "decommission"}.request("local", "shop", func(string) string { return "carol" })
	require.NoError(t, err)
	assert.Empty(t, req.Owners)

	_, err = startFlags{sample: "0d", reason: "migration", requester: "carol"}.request("local", "shop", func(string) string { return "" })
	assert.ErrorContains(t, err, "--sample must be longer than 0")

	refused := temporal.NewNonRetryableApplicationError("no owner of local/shop other than the requester is declared in the owners directory (/etc/retire/owners.yaml): declare one under owners.people[].owns (connection local, objects [shop])", "Refused", nil)
	fake := &fakeTemporal{
		desc:      description(t, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, workflows.PhaseFailed),
		status:    &workflows.Status{Phase: workflows.PhaseFailed},
		resultErr: activityFailure("Plan", refused),
	}
	a, out, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	assert.Equal(t, 1, a.execute([]string{"start", "local", "shop", "--reason", "decommission"}))
	assert.Empty(t, out.String())
	assert.Equal(t, "retire: cannot retire local/shop: no owner of local/shop other than the requester is declared in the owners directory (/etc/retire/owners.yaml): declare one under owners.people[].owns (connection local, objects [shop]) (refused in the plan; nothing was changed)\n", errOut.String())
	assert.Empty(t, fake.startArg.(workflows.Request).Owners)
}

func TestStartHelpSaysOwnersComeFromTheDirectory(t *testing.T) {
	a, out, _ := testApp(t, nil, nil)
	require.Equal(t, 0, a.execute([]string{"start", "--help"}))
	help := out.String()
	assert.Contains(t, help, "Owners come from the worker's owners directory")
	assert.Contains(t, help, "add this person of the owners directory")
	assert.NotContains(t, help, "required for decommission")
	assert.Contains(t, help, "--sign-with")
}

func TestStartAlreadyRunning(t *testing.T) {
	fake := &fakeTemporal{startErr: serviceerror.NewWorkflowExecutionAlreadyStarted("already started", "", "run-0")}
	a, _, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	code := a.execute([]string{"start", "local", "shop", "--reason", "migration"})
	assert.Equal(t, 1, code)
	assert.Equal(t, "retire: a retirement of local/shop is already running (workflow retire:local:shop); see `retire status local shop`\n", errOut.String())
}

func TestStartMissingSearchAttributesSaysHowToRegister(t *testing.T) {
	fake := &fakeTemporal{startErr: serviceerror.NewInvalidArgument("search attribute RetirePhase is not defined")}
	a, _, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	assert.Equal(t, 1, a.execute([]string{"start", "local", "shop", "--reason", "migration"}))
	assert.Contains(t, errOut.String(), "temporal operator search-attribute create --type Keyword --name RetirePhase")
}

func TestStartWaitsForThePlan(t *testing.T) {
	st := sampleStatus()
	st.Phase, st.Waiting = workflows.PhaseSample, ""
	fake := &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhaseSample), status: &st}
	a, out, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	code := a.execute([]string{"start", "local", "shop", "--reason", "decommission", "--owner", "alice"})
	require.Equal(t, 0, code, errOut.String())
	text := out.String()
	for _, want := range []string{
		"plan of local/shop:\n",
		"  engine: MariaDB 10.11.6\n",
		"  tables: 2 (120,000 rows, 14.2 MiB)\n",
		"  views: 1, routines: 0, triggers: 1, events: 0\n",
		"  accounts that reach it: 1: app@% (database; only this database)\n",
		"  global holders (reach every database; left alone): 1: root@localhost (global)\n",
		"  warning: table log has no primary key; it is exported in one chunk\n",
		"next: sampling who connects until 2026-11-04 10:00 UTC; clients seen will need `retire acknowledge-clients`; follow it with `retire status local shop`\n",
	} {
		assert.Contains(t, text, want)
	}
}

func TestStartReportsAFailedPlan(t *testing.T) {
	refused := temporal.NewNonRetryableApplicationError("sampling window 2s is shorter than this worker allows (24h0m0s); short windows need a worker started with --dev", "Refused", nil)
	failed := workflows.Status{Phase: workflows.PhaseFailed, Error: "activity error (type: Plan, scheduledEventID: 5): sampling window ... (type: Refused, retryable: false)"}
	fake := &fakeTemporal{
		desc:      description(t, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, workflows.PhaseFailed),
		status:    &failed,
		resultErr: errors.Join(errors.New("workflow execution error (type: RetireDatabase)"), activityFailure("Plan", refused)),
	}
	a, out, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	code := a.execute([]string{"start", "local", "shop", "--reason", "migration", "--sample", "2s"})
	assert.Equal(t, 1, code)
	assert.Empty(t, out.String(), "a refused request is not said to have started")
	assert.Equal(t, "retire: cannot retire local/shop: sampling window 2s is shorter than this worker allows (24h0m0s); short windows need a worker started with --dev (refused in the plan; nothing was changed)\n", errOut.String())
}

func TestStartPlanTimeoutNamesTheRetryingActivity(t *testing.T) {
	st := workflows.Status{Phase: workflows.PhasePlan}
	desc := description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhasePlan, pendingPlan("dial tcp 10.0.0.5:3306: connection refused"))
	fake := &fakeTemporal{desc: desc, status: &st}
	a, out, errOut := testApp(t, fake, map[string]string{"USER": "carol"})
	code := a.execute([]string{"start", "local", "shop", "--reason", "migration", "--plan-timeout", "20ms"})
	assert.Equal(t, 1, code)
	assert.Equal(t, "started the retirement of local/shop (workflow retire:local:shop, run run-1)\n", out.String(), "it did start, and goes on")
	assert.Equal(t, "retire: the plan is not ready after 20ms; the retirement goes on, follow it with `retire status local shop`; the Plan activity is retrying (attempt 3): dial tcp 10.0.0.5:3306: connection refused\n", errOut.String())
}

// sampleStatus is a retirement in observation, with every part the status text shows.
func sampleStatus() workflows.Status {
	day := 24 * time.Hour
	start := testNow.Add(-19 * day)
	return workflows.Status{
		WorkflowID: "retire:local:shop", RunID: "run-1",
		Request: workflows.Request{
			Connection: "local", Object: "shop", Reason: workflows.ReasonDecommission,
			Owners: []string{"alice", "bob"}, Requester: "carol", Ticket: "CHG-1",
			Strategy: engine.StrategyRevoke, SampleWindow: 3 * day, ObserveWindow: 14 * day,
		},
		Phase:        workflows.PhaseObserve,
		Waiting:      "owner sign-off (retire approve --as <owner>), or an objection",
		StartedAt:    start,
		SampleUntil:  start.Add(3 * day),
		ObserveFrom:  start.Add(3 * day),
		ObserveUntil: start.Add(24 * day),
		ObserveTotal: 21 * day,
		Plan: &activities.Plan{Engine: "MariaDB", Store: "cold", Inventory: engine.Inventory{
			Engine: "MariaDB", Version: "10.11.6", Object: "shop",
			Tables:        []engine.Table{{Name: "orders", Rows: 100000, Bytes: 14000000}, {Name: "log", Rows: 20000, Bytes: 900000}},
			Views:         []string{"v_orders"},
			Triggers:      []string{"orders_ai"},
			Accounts:      []engine.Account{{User: "app", Host: "%", Levels: []string{"database"}, OnlyThisObject: true}},
			GlobalHolders: []engine.Account{{User: "root", Host: "localhost", Levels: []string{"global"}}},
			TotalRows:     120000, TotalBytes: 14900000,
			Warnings: []string{"table log has no primary key; it is exported in one chunk"},
		}},
		Clients: []engine.Session{{User: "report", Host: "10.1.2.3", Program: "metabase", Count: 4,
			FirstSeen: start.Add(2 * time.Hour), LastSeen: start.Add(50 * time.Hour)}},
		SampleLooks:     4320,
		Acknowledgement: &workflows.Acknowledgement{By: "dba", Note: "the BI box is retired", At: start.Add(3 * day)},
		Cut:             &engine.CutResult{Revoked: 3, Locked: []string{"app@%"}, KilledSessions: 1},
		Extensions:      []workflows.Extension{{By: "alice", Extra: 7 * day, Reason: "quarter end", At: start.Add(5 * day)}},
		Gates: []workflows.Gate{
			{Name: workflows.GatePlan, State: workflows.GatePassed, Detail: "2 tables", At: start.Add(time.Minute)},
			{Name: workflows.GateClients, State: workflows.GatePassed, Detail: "acknowledged: the BI box is retired", By: "dba", At: start.Add(3 * day)},
			{Name: workflows.GateAccessCut, State: workflows.GatePassed, At: start.Add(3 * day)},
			{Name: workflows.GateSignoff, State: workflows.GatePending},
		},
	}
}
