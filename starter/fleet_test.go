package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/proof"
	"github.com/dataretire/retire/workflows"
)

// provingFleet is a fake Temporal server holding one RetireFleet, with the workflow's own
// checks (workflows/fleet.go): begin verifies the requester's proof against the pins of the
// plan exactly as the fleet does, and each decision's proof is verified for the fleet's
// current run, the person's directory id and Says of the value received, on the fleet's
// clock. A refusal comes back as the validator's message.
type provingFleet struct {
	t    *testing.T
	pins proof.Pins
	now  time.Time

	started  *client.StartWorkflowOptions
	state    *workflows.FleetState
	closed   enumspb.WorkflowExecutionStatus // 0: running
	runErr   error
	run      string
	st       workflows.FleetStatus
	nonces   []string
	updates  []client.UpdateWorkflowOptions
	describe []string
	// handover, when set, is the run the fleet continues as new to right after the next
	// describe: the CLI then signs for a run that is no longer current.
	handover string
	// closeAfter, when set, is how many more describes see the run running before it has
	// completed; onClose is what it did last.
	closeAfter int
	onClose    func()
}

var _ temporalAPI = (*provingFleet)(nil)

func newProvingFleet(t *testing.T, pins proof.Pins) *provingFleet {
	return &provingFleet{t: t, pins: pins, now: testNow, run: "run-1"}
}

func (f *provingFleet) id() string { return f.st.WorkflowID }

func (f *provingFleet) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	require.Equal(f.t, workflows.FleetWorkflowName, wf)
	f.started = &o
	st := args[0].(workflows.FleetState)
	f.state = &st
	// begin(), first run.
	req := st.Request.WithDefaults()
	f.st = workflows.FleetStatus{WorkflowID: o.ID, RunID: f.run, Request: req, StartedAt: f.now, Phase: workflows.FleetPlanning}
	waves, err := workflows.PlanWaves(req)
	if err != nil {
		f.refuse(temporal.NewNonRetryableApplicationError("invalid fleet request: "+err.Error(), "InvalidRequest", nil))
		return fleetRun{f}, nil
	}
	v, err := f.pins.Verify(req.Proof, proof.Expect{
		Decision: workflows.DecisionFleetStart, Workflow: o.ID, Person: req.Requester, Says: req.Says(), Now: f.st.StartedAt,
	})
	if err != nil {
		f.refuse(temporal.NewNonRetryableApplicationError("the requester's proof of identity is refused: "+err.Error(), "Refused", nil))
		return fleetRun{f}, nil
	}
	f.nonces = append(f.nonces, v.Nonce)
	f.st.Signers = &workflows.FleetPlanResult{Pins: f.pins, DBAs: []string{"dba"}, Requester: "rita", Store: "archive"}
	f.st.RequesterVerified = &v
	f.st.Waves, f.st.Wave, f.st.Phase = waves, 1, workflows.FleetRunning
	f.st.Waves[0].State = workflows.WaveRunning
	for _, o := range req.Objects {
		f.st.Objects = append(f.st.Objects, workflows.FleetChild{FleetObject: o, WorkflowID: workflows.WorkflowID(o.Connection, o.Object)})
	}
	f.st.Request.Objects = nil
	return fleetRun{f}, nil
}

func (f *provingFleet) refuse(err error) {
	f.closed = enumspb.WORKFLOW_EXECUTION_STATUS_FAILED
	f.runErr = sdkError(err)
	f.st.Phase, f.st.Outcome = workflows.FleetAborted, "not started: "+err.Error()
}

func (f *provingFleet) DescribeWorkflowExecution(_ context.Context, id, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.describe = append(f.describe, runID)
	if f.st.WorkflowID == "" || id != f.st.WorkflowID {
		return nil, serviceerror.NewNotFound("workflow not found for ID: " + id)
	}
	if f.closeAfter > 0 {
		if f.closeAfter--; f.closeAfter == 0 {
			f.closed = enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
			if f.onClose != nil {
				f.onClose()
			}
		}
	}
	status := enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	if f.closed != 0 {
		status = f.closed
	}
	resp := &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: f.run},
		Status:    status,
		StartTime: timestamppb.New(f.st.StartedAt),
		SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
			workflows.AttrFleet.GetName(): payload(f.t, f.st.Request.Name),
		}},
	}}
	if f.handover != "" {
		f.run, f.st.RunID, f.handover = f.handover, f.handover, ""
		f.st.RunCount++
	}
	return resp, nil
}

func (f *provingFleet) QueryWorkflow(_ context.Context, id, runID, query string, _ ...any) (converter.EncodedValue, error) {
	require.Equal(f.t, workflows.QueryFleetStatus, query)
	require.Equal(f.t, f.st.WorkflowID, id)
	if f.closed != 0 {
		return nil, errors.New("no worker replays closed runs in this fake")
	}
	st := f.st
	if runID != "" {
		st.RunID = runID // a run that handed over answers as it was
	}
	return jsonValue{st}, nil
}

func (f *provingFleet) GetWorkflow(_ context.Context, _, _ string) client.WorkflowRun {
	return fleetRun{f}
}

// UpdateWorkflow is what the fleet's validators and handlers do with a decision.
func (f *provingFleet) UpdateWorkflow(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	f.updates = append(f.updates, o)
	require.Equal(f.t, f.st.WorkflowID, o.WorkflowID)
	require.Equal(f.t, client.WorkflowUpdateStageCompleted, o.WaitForStage)
	who := func(by string) string {
		if p, ok := f.pins.Person(by); ok {
			return p.ID
		}
		return strings.TrimSpace(by)
	}
	// The CLI sends pointers; the SDK's JSON converter sends what they point to.
	b, err := json.Marshal(o.Args[0])
	require.NoError(f.t, err)
	var in workflows.FleetDecision
	var ex workflows.FleetExclude
	by, pr, says := "", (*proof.Proof)(nil), ""
	if o.UpdateName == workflows.UpdateFleetExclude {
		require.NoError(f.t, json.Unmarshal(b, &ex))
		by, pr, says = ex.By, ex.Proof, ex.Says()
	} else {
		require.NoError(f.t, json.Unmarshal(b, &in))
		by, pr, says = in.By, in.Proof, in.Says()
	}
	reject := func(msg string) (client.WorkflowUpdateHandle, error) {
		return fleetUpdate{err: sdkError(temporal.NewApplicationError(msg, ""))}, nil
	}
	if o.UpdateName == workflows.UpdateFleetProceed {
		w, _ := currentWave(f.st)
		if f.st.Phase != workflows.FleetWaiting {
			return reject(fmt.Sprintf("fleet %s is not waiting for a go: wave %d (%s) is %s", f.st.Request.Name, w.Number, w.Name, w.State))
		}
		if in.Wave != w.Number {
			return reject(fmt.Sprintf("the go is for wave %d, but fleet %s waits for the go of wave %d", in.Wave, f.st.Request.Name, w.Number))
		}
	}
	v, err := f.pins.Verify(pr, proof.Expect{Decision: o.UpdateName, Workflow: f.st.WorkflowID, Run: f.run, Person: who(by), Says: says, Now: f.now, Used: f.nonces})
	if err != nil {
		return reject(err.Error())
	}
	f.nonces = append(f.nonces, v.Nonce)
	rec := workflows.FleetDecisionRecord{Decision: o.UpdateName, By: who(v.Person), Note: strings.TrimSpace(in.Note), Wave: in.Wave, Object: ex.Object, At: f.now, Verified: &v}
	if o.UpdateName == workflows.UpdateFleetExclude {
		rec.Note = ex.Reason
	}
	f.st.Decisions = append(f.st.Decisions, rec)
	return fleetUpdate{rec: rec}, nil
}

func (f *provingFleet) CancelWorkflowWithOptions(context.Context, client.CancelWorkflowOptions) error {
	f.t.Fatal("a fleet command cancelled a workflow")
	return nil
}

func (f *provingFleet) ListWorkflow(context.Context, *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	return &workflowservice.ListWorkflowExecutionsResponse{}, nil
}

func (f *provingFleet) Close() {}

type fleetRun struct{ f *provingFleet }

func (r fleetRun) GetID() string                  { return r.f.st.WorkflowID }
func (r fleetRun) GetRunID() string               { return r.f.run }
func (r fleetRun) GetFirstExecutionRunID() string { return "run-1" }
func (r fleetRun) Get(_ context.Context, v any) error {
	if r.f.runErr != nil {
		return r.f.runErr
	}
	return jsonValue{r.f.st}.Get(v)
}
func (r fleetRun) GetWithOptions(ctx context.Context, v any, _ client.WorkflowRunGetOptions) error {
	return r.Get(ctx, v)
}

type fleetUpdate struct {
	rec workflows.FleetDecisionRecord
	err error
}

func (u fleetUpdate) WorkflowID() string { return "" }
func (u fleetUpdate) RunID() string      { return "" }
func (u fleetUpdate) UpdateID() string   { return "update-1" }
func (u fleetUpdate) Get(_ context.Context, v any) error {
	if u.err != nil {
		return u.err
	}
	return jsonValue{u.rec}.Get(v)
}

// fleetApp runs commands against the fleet fake, with the test clock and no ssh-agent.
func fleetApp(t *testing.T, f *provingFleet, env map[string]string) (*app, *strings.Builder, *strings.Builder) {
	t.Helper()
	a, out, errOut := testApp(t, nil, env)
	a.dial = func() (temporalAPI, error) {
		if f == nil {
			t.Fatal("the command dialled Temporal, but it should have stopped before")
		}
		return f, nil
	}
	o, e := &strings.Builder{}, &strings.Builder{}
	a.out, a.errOut = o, e
	_, _ = out, errOut
	return a, o, e
}

// fleetPins are the people a fleet's plan pins: rita asked, dba is a DBA.
func fleetPins(keys map[string]testKey) proof.Pins {
	person := func(id, email string) proof.Person {
		p := proof.Person{ID: id, Email: email}
		if k, ok := keys[id]; ok {
			p.SSHKeys = []string{k.line}
		}
		return p
	}
	return proof.Pins{People: []proof.Person{person("rita", "rita@example.com"), person("dba", "dba@example.com")}}
}

const goodFleet = `name: shop
reason: decommission
ticket: CHG-7
requester: rita
objects:
  - {connection: a, object: db1}
  - {connection: a, object: db2, owners: [bob@example.com]}
  - {connection: b, object: db3}
  - {connection: b, object: db4}
  - {connection: b, object: db5}
sample: 1s
observe: 3d
waves:
  group: all
  per_connection: 2
`

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

func TestFleetFileIsParsedStrictly(t *testing.T) {
	req, err := parseFleetFile("shop.yaml", []byte(goodFleet), func(string) string { return "" })
	require.NoError(t, err)
	assert.Equal(t, "shop", req.Name)
	assert.Equal(t, workflows.ReasonDecommission, req.Reason)
	assert.Equal(t, time.Second, req.SampleWindow)
	assert.Equal(t, 3*24*time.Hour, req.ObserveWindow)
	assert.Equal(t, []workflows.FleetObject{{Connection: "a", Object: "db1"}, {Connection: "a", Object: "db2", Owners: []string{"bob@example.com"}},
		{Connection: "b", Object: "db3"}, {Connection: "b", Object: "db4"}, {Connection: "b", Object: "db5"}}, req.Objects)
	assert.Equal(t, workflows.WavePlan{Group: "all", DoneWhen: "dropped", PerConnection: 2, FailureBudget: 1}, req.Waves)

	// The requester defaults to $USER.
	noRequester := strings.Replace(goodFleet, "requester: rita\n", "", 1)
	req, err = parseFleetFile("shop.yaml", []byte(noRequester), func(k string) string { return map[string]string{"USER": "dba"}[k] })
	require.NoError(t, err)
	assert.Equal(t, "dba", req.Requester)

	for name, tc := range map[string]struct{ text, want string }{
		"unknown top-level key": {goodFleet + "colour: blue\n", `shop.yaml: line 16: unknown key "colour" at the top level (known: name, reason,`},
		"unknown object key":    {strings.Replace(goodFleet, "object: db3}", "object: db3, owner: [x]}", 1), `shop.yaml: line 8: unknown key "owner" in an object (known: connection, object, owners)`},
		"unknown waves key":     {goodFleet + "  speed: 3\n", `shop.yaml: line 16: unknown key "speed" in waves (known: beta, group, n, done_when,`},
		"wrong type":            {strings.Replace(goodFleet, "per_connection: 2", "per_connection: two", 1), "shop.yaml: line 15: cannot unmarshal !!str `two` into int"},
		"two documents":         {goodFleet + "---\nname: other\n", "shop.yaml: holds more than one YAML document"},
		"empty":                 {"", "shop.yaml: the file is empty"},
		"not a mapping":         {"- a\n- b\n", "shop.yaml: line 1: cannot unmarshal !!seq into a fleet (a mapping: name, reason, objects, ...)"},
	} {
		_, err := parseFleetFile("shop.yaml", []byte(tc.text), func(string) string { return "" })
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
	}
}

func TestABadFleetFileIsOneClearError(t *testing.T) {
	bad := `name: shop fleet
reason: decomission
objects:
  - {connection: a, object: db1}
  - {connection: a, object: mysql}
  - {connection: "b c", object: db2}
  - {connection: a, object: db1}
sample: 3x
waves:
  beta: [a/db1, z/q]
  group: n
`
	file := writeFile(t, "bad.yaml", bad)
	a, out, errOut := fleetApp(t, nil, nil) // nothing may be dialled
	require.Equal(t, 1, a.execute([]string{"fleet", "start", file}))
	assert.Empty(t, out.String())
	msg := errOut.String()
	assert.Equal(t, 1, strings.Count(msg, "\n"), "one line: %s", msg)
	assert.True(t, strings.HasPrefix(msg, "retire: cannot start the fleet: "+file+": "), msg)
	for _, want := range []string{
		`say who asks: requester:`,
		`line 1: fleet name "shop fleet": letters, digits`,
		`line 2: reason "decomission": use "decommission"`,
		`line 5: object 2 (a/mysql): "mysql" is a MySQL/MariaDB system schema`,
		`line 6: object 3 (b c/db2): connection "b c" is not a profile name`,
		`line 7: a/db1 is listed twice`,
		`line 8: sample: "3x" is not a duration`,
		`line 10: beta object "z/q" is not one of the fleet's objects`,
		`line 11: group "n" needs n > 0`,
	} {
		assert.Contains(t, msg, want)
	}

	// --check reads the same file the same way, and prints the waves of a good one.
	a, out, errOut = fleetApp(t, nil, nil)
	require.Equal(t, 0, a.execute([]string{"fleet", "start", writeFile(t, "shop.yaml", goodFleet), "--check"}), errOut.String())
	assert.Contains(t, out.String(), "is a valid fleet: 5 objects in 2 waves; nothing was started")
	assert.Regexp(t, `(?m)^  1     beta            a/db1, b/db3$`, out.String())
	assert.Regexp(t, `(?m)^  2     all the others  a/db2, b/db4, b/db5$`, out.String())
}

// A wave of a thousand objects is printed whole, wrapped under its column.
func TestWavesWrapTheirObjects(t *testing.T) {
	var objects []string
	for i := range 1000 {
		objects = append(objects, fmt.Sprintf("bench-a/fleetbench_%04d", i+1))
	}
	var out strings.Builder
	writeWaves(&out, []workflows.FleetWave{{Number: 1, Name: "beta", Objects: objects[:2]}, {Number: 2, Name: "all the others", Objects: objects[2:]}})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Equal(t, "  WAVE  NAME            OBJECTS", lines[1])
	require.Equal(t, "  1     beta            bench-a/fleetbench_0001, bench-a/fleetbench_0002", lines[2])
	require.True(t, strings.HasPrefix(lines[3], "  2     all the others  bench-a/fleetbench_0003, "), lines[3])
	var listed []string
	for _, l := range lines[3:] {
		require.LessOrEqual(t, len(l), 100, l)
		require.True(t, strings.HasPrefix(l, "  2     all the others  ") || strings.HasPrefix(l, strings.Repeat(" ", 24)), l)
		for _, o := range strings.Split(strings.TrimSpace(l[24:]), ",") {
			if o = strings.TrimSpace(o); o != "" {
				listed = append(listed, o)
			}
		}
	}
	require.Equal(t, objects[2:], listed, "every object, in order")
}

func TestFleetStartSignsWhatTheWorkflowVerifies(t *testing.T) {
	rita := newTestKey(t, "rita", "")
	f := newProvingFleet(t, fleetPins(map[string]testKey{"rita": rita}))
	file := writeFile(t, "shop.yaml", goodFleet)
	a, out, errOut := fleetApp(t, f, nil)
	require.Equal(t, 0, a.execute([]string{"fleet", "start", file, "--sign-with", rita.path}), errOut.String())

	o := f.started
	require.NotNil(t, o)
	assert.Equal(t, "retire-fleet:shop", o.ID)
	assert.Equal(t, workflows.TaskQueue, o.TaskQueue)
	assert.Equal(t, enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL, o.WorkflowIDConflictPolicy)
	assert.True(t, o.WorkflowExecutionErrorWhenAlreadyStarted)
	name, ok := o.TypedSearchAttributes.GetKeyword(workflows.AttrFleet)
	assert.True(t, ok)
	assert.Equal(t, "shop", name)

	// The proof is what begin() verifies: fleet-start, this fleet's id, no run, the
	// requester as the file names them, Says of the request with its defaults.
	req := f.state.Request
	st, err := req.Proof.Decode()
	require.NoError(t, err)
	assert.Equal(t, proof.Statement{Decision: workflows.DecisionFleetStart, Workflow: "retire-fleet:shop", Person: "rita",
		Says: req.WithDefaults().Says(), Nonce: st.Nonce, IssuedAt: testNow.Unix(), Expires: testNow.Add(proofLifetime).Unix(), Auth: st.Auth}, st)
	v, err := f.pins.Verify(req.Proof, proof.Expect{Decision: workflows.DecisionFleetStart, Workflow: "retire-fleet:shop", Person: "rita", Says: req.WithDefaults().Says(), Now: testNow})
	require.NoError(t, err)
	assert.Equal(t, rita.fingerprint(), v.Key)
	require.NotNil(t, f.st.RequesterVerified, "the fake fleet refused the proof: %s", f.st.Outcome)

	text := out.String()
	assert.Contains(t, text, "started fleet shop (workflow retire-fleet:shop, run run-1): 5 objects\n")
	assert.Contains(t, text, "requester: rita (verified: SSH signature by "+rita.fingerprint()+")")
	assert.Regexp(t, `(?m)^  1     beta            a/db1, b/db3$`, text)
	assert.Regexp(t, `(?m)^  2     all the others  a/db2, b/db4, b/db5$`, text)
	assert.Contains(t, text, "next: the beta wave (2 objects) starts now;")
	assert.Contains(t, text, "after it, `retire fleet proceed shop --as <requester or DBA> --sign-with <key>` starts wave 2")
}

func TestFleetStartPrintsTheRefusalAsOneLine(t *testing.T) {
	rita, other := newTestKey(t, "rita", ""), newTestKey(t, "other", "")
	f := newProvingFleet(t, fleetPins(map[string]testKey{"rita": rita}))
	a, out, errOut := fleetApp(t, f, nil)
	require.Equal(t, 1, a.execute([]string{"fleet", "start", writeFile(t, "shop.yaml", goodFleet), "--sign-with", other.path}))
	assert.NotContains(t, out.String(), "started fleet")
	msg := errOut.String()
	assert.Equal(t, 1, strings.Count(msg, "\n"), msg)
	assert.Regexp(t, `^retire: cannot start fleet shop: the requester's proof of identity is refused: the SSH key SHA256:\S+ is not one of rita's keys pinned for this retirement \(\S+\) \(refused in the plan; nothing was started\)\n$`, msg)

	// Unsigned: the worker that requires proof says what to do.
	f = newProvingFleet(t, fleetPins(map[string]testKey{"rita": rita}))
	a, _, errOut = fleetApp(t, f, nil)
	require.Equal(t, 1, a.execute([]string{"fleet", "start", writeFile(t, "shop.yaml", goodFleet)}))
	assert.Contains(t, errOut.String(), "carries no proof of who makes it")
	assert.Contains(t, errOut.String(), "(refused in the plan; nothing was started)")
}

// waitingFleet is a fleet whose beta wave is done and which waits for the go of wave 2.
func waitingFleet(t *testing.T, pins proof.Pins) *provingFleet {
	f := newProvingFleet(t, pins)
	f.run = "run-2"
	req, err := parseFleetFile("shop.yaml", []byte(goodFleet), func(string) string { return "" })
	require.NoError(t, err)
	waves, err := workflows.PlanWaves(req)
	require.NoError(t, err)
	waves[0].State, waves[0].StartedAt, waves[0].DoneAt = workflows.WaveDone, testNow.Add(-2*time.Hour), testNow.Add(-time.Hour)
	objs := []workflows.FleetChild{
		{FleetObject: req.Objects[0], Wave: 1, WorkflowID: "retire:a:db1", RunID: "c1", Started: true, Phase: workflows.PhaseDone, Outcome: "retired", Done: true, Archive: "s3://retire/a/db1/c1/"},
		{FleetObject: req.Objects[1], Wave: 2, WorkflowID: "retire:a:db2"},
		{FleetObject: req.Objects[2], Wave: 1, WorkflowID: "retire:b:db3", RunID: "c3", Started: true, Phase: workflows.PhaseVerify, Done: true, Slot: workflows.SlotHeld},
		{FleetObject: req.Objects[3], Wave: 2, WorkflowID: "retire:b:db4", Excluded: true, ExcludedBy: "dba", ExcludeReason: "finance reads it"},
		{FleetObject: req.Objects[4], Wave: 2, WorkflowID: "retire:b:db5"},
	}
	pub := req
	pub.Objects = nil
	f.st = workflows.FleetStatus{
		WorkflowID: "retire-fleet:shop", RunID: f.run, Request: pub, Phase: workflows.FleetWaiting,
		Waiting:   `a proven go for wave 2 of 2 (all the others, 3 objects) from the requester or a DBA: update "proceed" with wave 2`,
		Progress:  "wave 2 of 2 (all the others) pending: 1 of 3 settled, 0 running, 0 waiting for a slot; 0 failed in all",
		StartedAt: testNow.Add(-3 * time.Hour), Signers: &workflows.FleetPlanResult{Pins: pins, DBAs: []string{"dba"}, Requester: "rita", Store: "archive"},
		RequesterVerified: &proof.Verified{Person: "rita", Method: proof.MethodSSH, Key: "SHA256:rita"},
		Wave:              2, Waves: waves, Objects: objs,
		Decisions: []workflows.FleetDecisionRecord{{Decision: workflows.UpdateFleetExclude, By: "dba", Note: "finance reads it", Object: "b/db4", At: testNow.Add(-90 * time.Minute)}},
		Slots:     []workflows.FleetSlot{{Connection: "b", Holders: []string{"retire:b:db3"}}},
		Events:    40, MaxEvents: 310, RunCount: 2,
		Runs: []workflows.FleetRun{{Run: "run-1", Events: 310, Wave: 1, Reason: "wave 1 done", At: testNow.Add(-time.Hour)}},
	}
	return f
}

func TestFleetProceedSendsTheWaveWithAProofForTheCurrentRun(t *testing.T) {
	dba := newTestKey(t, "dba", "")
	f := waitingFleet(t, fleetPins(map[string]testKey{"dba": dba}))
	a, out, errOut := fleetApp(t, f, nil)
	require.Equal(t, 0, a.execute([]string{"fleet", "proceed", "shop", "--as", "DBA@example.com", "--note", "beta dropped cleanly", "--sign-with", dba.path}), errOut.String())

	require.Len(t, f.updates, 1)
	u := f.updates[0]
	assert.Equal(t, workflows.UpdateFleetProceed, u.UpdateName)
	d := *u.Args[0].(*workflows.FleetDecision)
	assert.Equal(t, 2, d.Wave, "the wave the fleet waits for, from its status")
	assert.Equal(t, "DBA@example.com", d.By)
	st, err := d.Proof.Decode()
	require.NoError(t, err)
	assert.Equal(t, "run-2", st.Run)
	assert.Equal(t, "dba", st.Person, "signed for the directory id the fleet pinned")
	assert.Equal(t, "wave=2 note=beta dropped cleanly", st.Says)
	v, err := f.pins.Verify(d.Proof, proof.Expect{Decision: workflows.UpdateFleetProceed, Workflow: "retire-fleet:shop", Run: "run-2", Person: "dba", Says: d.Says(), Now: testNow})
	require.NoError(t, err)
	assert.Equal(t, dba.fingerprint(), v.Key)
	assert.Equal(t, "go for wave 2 of 2 (all the others, 3 objects) given by dba (verified: SSH signature by "+dba.fingerprint()+
		"); its retirements start now, each waiting for its owners' sign-off; follow it with `retire fleet status shop`\n", out.String())

	// --wave says which go was meant: the fleet refuses one for another wave, as it is.
	a, _, errOut = fleetApp(t, f, nil)
	require.Equal(t, 1, a.execute([]string{"fleet", "proceed", "shop", "--as", "dba", "--wave", "3", "--sign-with", dba.path}))
	assert.Equal(t, "retire: the go is for wave 3, but fleet shop waits for the go of wave 2\n", errOut.String())
}

func TestFleetDecisionIsSignedAgainAfterAHandover(t *testing.T) {
	dba := newTestKey(t, "dba", "")
	f := waitingFleet(t, fleetPins(map[string]testKey{"dba": dba}))
	f.handover = "run-3" // the fleet continues as new right after the CLI read its run
	a, out, errOut := fleetApp(t, f, nil)
	require.Equal(t, 0, a.execute([]string{"fleet", "pause", "shop", "--as", "dba", "--note", "CHG-9 freeze", "--sign-with", dba.path}), errOut.String())
	require.Len(t, f.updates, 2)
	first, _ := f.updates[0].Args[0].(*workflows.FleetDecision).Proof.Decode()
	second, _ := f.updates[1].Args[0].(*workflows.FleetDecision).Proof.Decode()
	assert.Equal(t, "run-2", first.Run)
	assert.Equal(t, "run-3", second.Run)
	assert.Contains(t, out.String(), "fleet shop paused by dba (verified: SSH signature by "+dba.fingerprint()+")")
}

func TestFleetDecisionsRefusedHereOrByTheFleet(t *testing.T) {
	dba, rita := newTestKey(t, "dba", ""), newTestKey(t, "rita", "")
	pins := fleetPins(map[string]testKey{"dba": dba, "rita": rita})

	// What the CLI can say itself, it says before dialling.
	for args, want := range map[string]string{
		"fleet pause shop --as dba":                     "retire: say why the fleet pauses: --note\n",
		"fleet abort shop --as dba":                     "retire: say why the fleet is aborted: --reason\n",
		"fleet proceed shop":                            "retire: say who decides: --as <requester or DBA>\n",
		"fleet exclude shop a/db2 --as dba":             "retire: say why the object is excluded: --reason\n",
		"fleet exclude shop db2 --as dba --reason x":    "retire: \"db2\": write the object as <connection>/<object>, as the fleet's status lists it\n",
		"fleet proceed":                                 "retire: retire fleet proceed needs the fleet's <name>, e.g. `retire fleet proceed shop-fleet` (got 0 argument(s))\n",
		"fleet proceed shop --as dba --sign-with /nope": "retire: --sign-with /nope: no such file or directory\n",
	} {
		a, _, errOut := fleetApp(t, nil, nil)
		require.Equal(t, 1, a.execute(strings.Fields(args)), args)
		assert.Equal(t, want, errOut.String(), args)
	}

	// Somebody else's key: the fleet's refusal, as it is.
	f := waitingFleet(t, pins)
	a, _, errOut := fleetApp(t, f, nil)
	require.Equal(t, 1, a.execute([]string{"fleet", "resume", "shop", "--as", "dba", "--sign-with", rita.path}))
	assert.Regexp(t, `^retire: the SSH key SHA256:\S+ is not one of dba's keys pinned for this retirement \(\S+\)\n$`, errOut.String())

	// No fleet of that name.
	a, _, errOut = fleetApp(t, newProvingFleet(t, pins), nil)
	require.Equal(t, 1, a.execute([]string{"fleet", "abort", "nope", "--as", "dba", "--reason", "x", "--sign-with", dba.path}))
	assert.Equal(t, "retire: no fleet named nope is running (workflow retire-fleet:nope); start one with `retire fleet start <file.yaml>`\n", errOut.String())

	// Exclude signs what FleetExclude says, for the object as typed.
	f = waitingFleet(t, pins)
	a, out, errOut := fleetApp(t, f, nil)
	require.Equal(t, 0, a.execute([]string{"fleet", "exclude", "shop", "b/db5", "--as", "rita@example.com", "--reason", "still read by finance", "--sign-with", rita.path}), errOut.String())
	x := *f.updates[0].Args[0].(*workflows.FleetExclude)
	assert.Equal(t, "b/db5", x.Object)
	st, _ := x.Proof.Decode()
	assert.Equal(t, "exclude b/db5: still read by finance", st.Says)
	assert.Equal(t, workflows.UpdateFleetExclude, st.Decision)
	assert.Contains(t, out.String(), "b/db5 excluded from fleet shop by rita (verified: SSH signature by "+rita.fingerprint()+")")
}

func TestFleetStatusTableAndJSON(t *testing.T) {
	f := waitingFleet(t, fleetPins(nil))
	a, out, errOut := fleetApp(t, f, nil)
	require.Equal(t, 0, a.execute([]string{"fleet", "status", "shop"}), errOut.String())
	text := out.String()
	lines := strings.Split(text, "\n")
	assert.Equal(t, "phase: waiting", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "waiting: a proven go for wave 2 of 2"), lines[1])
	assert.Equal(t, "next: wave 2 of 2 (all the others, 3 objects) waits for a proven go: `retire fleet proceed shop --as <requester or DBA> --sign-with <key>`", lines[2])
	for _, want := range []string{
		"fleet: shop (workflow retire-fleet:shop, run run-2, Running)\n",
		"requester: rita (verified: SSH signature by SHA256:rita)\n",
		"dbas: dba (may proceed, pause, resume, exclude and abort, as may the requester)\n",
		"pacing: beta first, then all the others in one wave; a child counts for its wave once dropped; at most 2 per connection in archive or drop; the fleet pauses after 1 failure\n",
		"failures: 0 of a budget of 1; the fleet pauses when the budget is spent\n",
		"slots: b: 1 of 2 held (b/db3)\n",
		"events: 40 in this run (run 2 of the fleet), at most 310 in any run\n",
		"  exclude b/db4 by dba at 2026-11-20 08:30 UTC: finance reads it\n",
	} {
		assert.Contains(t, text, want)
	}
	row := func(cells ...string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^  ` + strings.Join(cells, `\s+`) + `\s*$`)
	}
	assert.Regexp(t, row("OBJECT", "WAVE", "PHASE", "WAITING FOR", "OUTCOME"), text)
	assert.Regexp(t, row("b/db3", "1", "verify", "-", "holds a slot"), text)
	assert.Regexp(t, row("a/db1", "1", "done", "-", `retired; archive s3://retire/a/db1/c1/`), text)
	assert.Regexp(t, row("a/db2", "2", "not started", "-", "-"), text)
	assert.Regexp(t, row("b/db4", "2", "excluded", "-", "excluded by dba: finance reads it"), text)
	assert.Less(t, strings.Index(text, "b/db3 "), strings.Index(text, "a/db1 "), "within a wave, in lifecycle order")
	assert.Regexp(t, row(`2 <`, "all the others", "pending", "3", "-", "-", "-"), text)
	assert.Regexp(t, row("run-1", "310", "1", "wave 1 done", `2026-11-20 09:00 UTC`), text)

	// -o json is the fleet's status, as the workflow reports it.
	a, out, errOut = fleetApp(t, f, nil)
	require.Equal(t, 0, a.execute([]string{"fleet", "status", "shop", "-o", "json"}), errOut.String())
	var got workflows.FleetStatus
	require.NoError(t, json.Unmarshal([]byte(out.String()), &got))
	want, err := json.Marshal(f.st)
	require.NoError(t, err)
	gotJSON, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(gotJSON))

	// --watch follows the fleet until its workflow has ended: it says done a moment before
	// (it still writes its record), and the last line shows the record. Piped, it prints a
	// line per change.
	f.st.Phase, f.st.Waiting, f.st.Outcome, f.st.FinishedAt = workflows.FleetDone, "", "done: 4 retired, 0 failed, 1 excluded", testNow
	rk := &activities.RecordLocation{JSONURL: "s3://retire/fleets/shop/run-1/record.json", MarkdownURL: "s3://retire/fleets/shop/run-1/record.md"}
	f.closeAfter = 3
	f.onClose = func() { f.st.RecordKeys = rk }
	a, out, errOut = fleetApp(t, f, nil)
	a.tty = func() (int, bool) { return 0, false }
	require.Equal(t, 0, a.execute([]string{"fleet", "status", "shop", "--watch", "--interval", "1ms"}), errOut.String())
	assert.Equal(t, 0, f.closeAfter, "it watched until the workflow ended")
	watched := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, watched, 2, out.String())
	for _, l := range watched {
		assert.True(t, strings.HasPrefix(l, "2026-11-20 10:00:00 UTC; phase done; "), l)
		assert.Contains(t, l, "; outcome: done: 4 retired, 0 failed, 1 excluded")
	}
	assert.NotContains(t, watched[0], "record")
	assert.True(t, strings.HasSuffix(watched[1], "; record: s3://retire/fleets/shop/run-1/record.json"), watched[1])
	a, out, _ = fleetApp(t, f, nil)
	require.Equal(t, 0, a.execute([]string{"fleet", "status", "shop"}))
	assert.Contains(t, out.String(), "record: s3://retire/fleets/shop/run-1/record.json s3://retire/fleets/shop/run-1/record.md\n")
}

func TestFleetHelpTeaches(t *testing.T) {
	a, _, _ := fleetApp(t, nil, nil)
	root := a.rootCommand()
	for _, name := range []string{"start", "status", "proceed", "pause", "resume", "exclude", "abort", "list"} {
		cmd, _, err := root.Find([]string{"fleet", name})
		require.NoError(t, err, name)
		assert.NotEmpty(t, cmd.Long, name)
		assert.Contains(t, cmd.Example, "retire fleet "+name, name)
	}
	start, _, _ := root.Find([]string{"fleet", "start"})
	for _, key := range []string{"name:", "reason:", "requester:", "objects:", "sample:", "observe:", "strategy:", "verify:", "store:", "waves:",
		"beta:", "group:", "n:", "done_when:", "observed_for:", "per_connection:", "failure_budget:"} {
		assert.Contains(t, start.Long, "  "+key, "the file's key %s is taught", key)
	}
	status, _, _ := root.Find([]string{"fleet", "status"})
	assert.Contains(t, status.Long, "-o json")
	assert.Contains(t, status.Example, "-o json")
	assert.NotNil(t, status.Flags().Lookup("watch"))
}

func TestFleetStatusSaysWhatEachRetirementWaitsFor(t *testing.T) {
	f := waitingFleet(t, fleetPins(nil))
	f.st.Phase, f.st.Waiting, f.st.Wave = workflows.FleetRunning, "", 1
	f.st.Objects[0].Phase, f.st.Objects[0].Done, f.st.Objects[0].Outcome, f.st.Objects[0].Archive = workflows.PhaseObserve, false, "", ""
	f.st.Objects[0].Waiting = "owner sign-off (retire approve --as <owner>), or an objection"
	f.st.Objects[2].Phase, f.st.Objects[2].Done = workflows.PhaseArchive, false
	f.st.Objects[2].Waiting = "acknowledgement of the access attempts after the cut (retire acknowledge-attempts --as <dba or owner>), or an objection: 3 denied logins"
	a, out, errOut := fleetApp(t, f, nil)
	require.Equal(t, 0, a.execute([]string{"fleet", "status", "shop"}), errOut.String())
	text := out.String()
	assert.Contains(t, text, "\nwaiting for people (on each retirement):\n"+
		"  a/db1: retire approve a db1 --as <owner> --sign-with <key>   (or retire object, retire extend)\n"+
		"  b/db3: retire acknowledge-attempts b db3 --as <dba or owner> --note <why> --sign-with <key>\n")
	assert.Regexp(t, `(?m)^  a/db1\s+1\s+observe\s+owner sign-off \(retire approve --as <owner>\), or an objection\s+-$`, text)
	assert.NotContains(t, text, "\nnext:", "a running fleet waits for nobody itself")
}

// A migration needs no sign-off, and the fleet's words do not promise one; a wave named by
// its size is not named twice.
func TestFleetWordsForAMigration(t *testing.T) {
	st := workflows.FleetStatus{Phase: workflows.FleetRunning, Wave: 1,
		Request: workflows.FleetRequest{Name: "shop", Reason: workflows.ReasonMigration},
		Waves:   []workflows.FleetWave{{Number: 1, Name: "beta", Objects: []string{"a/x", "b/y"}}, {Number: 2, Name: "18 objects", Objects: make([]string, 18)}}}
	assert.NotContains(t, fleetNext(st), "sign-off")
	st.Request.Reason = workflows.ReasonDecommission
	assert.Contains(t, fleetNext(st), "each retirement waits for its owners' sign-off")
}

func TestFleetGoForAWaveNamedByItsSize(t *testing.T) {
	st := workflows.FleetStatus{Request: workflows.FleetRequest{Name: "shop", Reason: workflows.ReasonMigration},
		Waves: []workflows.FleetWave{{Number: 1, Name: "beta"}, {Number: 2, Name: "18 objects", Objects: make([]string, 18)}}}
	got := fleetDecided(workflows.UpdateFleetProceed, "shop", workflows.FleetDecisionRecord{Wave: 2}, st)
	assert.True(t, strings.HasPrefix(got, "go for wave 2 of 2 (18 objects) given by "), got)
	assert.NotContains(t, got, "sign-off")
}
