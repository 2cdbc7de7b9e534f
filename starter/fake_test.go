package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dataretire/retire/workflows"
)

// fakeTemporal answers the few calls the CLI makes. A call the test did not set up hits the
// nil embedded interface and panics, which is the failure we want for an unexpected call.
type fakeTemporal struct {
	temporalAPI

	started  *client.StartWorkflowOptions
	startArg any
	startErr error

	desc    *workflowservice.DescribeWorkflowExecutionResponse
	descErr error

	status   *workflows.Status
	queryErr error

	result    *workflows.Record
	resultErr error

	updated   *client.UpdateWorkflowOptions
	updateErr error
	updateOut workflows.Status

	cancelled *client.CancelWorkflowOptions

	listed *workflowservice.ListWorkflowExecutionsRequest
	list   *workflowservice.ListWorkflowExecutionsResponse

	// runs, when set, are the runs of the workflow by run id, and latest is the one an empty
	// run id names; desc, status, result and their errors are then not used.
	runs      map[string]*fakeRunData
	latest    string
	described []string // the run ids asked for, "" for the latest
}

// fakeRunData is one run of a workflow with several.
type fakeRunData struct {
	desc      *workflowservice.DescribeWorkflowExecutionResponse
	status    *workflows.Status
	queryErr  error
	result    *workflows.Record
	resultErr error
}

func (f *fakeTemporal) run(runID string) *fakeRunData {
	if f.runs == nil {
		return &fakeRunData{desc: f.desc, status: f.status, queryErr: f.queryErr, result: f.result, resultErr: f.resultErr}
	}
	if runID == "" {
		runID = f.latest
	}
	if r, ok := f.runs[runID]; ok {
		return r
	}
	return &fakeRunData{}
}

func (f *fakeTemporal) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, _ any, args ...any) (client.WorkflowRun, error) {
	f.started, f.startArg = &o, args[0]
	if f.startErr != nil {
		return nil, f.startErr
	}
	return fakeRun{f, "run-1"}, nil
}

func (f *fakeTemporal) GetWorkflow(_ context.Context, _, runID string) client.WorkflowRun {
	return fakeRun{f, runID}
}

func (f *fakeTemporal) QueryWorkflow(_ context.Context, _, runID, query string, _ ...any) (converter.EncodedValue, error) {
	if query != workflows.QueryStatus {
		return nil, errors.New("unexpected query " + query)
	}
	r := f.run(runID)
	if r.queryErr != nil {
		return nil, r.queryErr
	}
	return jsonValue{r.status}, nil
}

func (f *fakeTemporal) DescribeWorkflowExecution(_ context.Context, _, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.described = append(f.described, runID)
	if f.runs == nil {
		return f.desc, f.descErr
	}
	if d := f.run(runID).desc; d != nil {
		return d, nil
	}
	return nil, serviceerror.NewNotFound("workflow run " + runID + " not found")
}

func (f *fakeTemporal) UpdateWorkflow(_ context.Context, o client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	f.updated = &o
	return fakeUpdate{f}, nil
}

func (f *fakeTemporal) CancelWorkflowWithOptions(_ context.Context, o client.CancelWorkflowOptions) error {
	f.cancelled = &o
	return nil
}

func (f *fakeTemporal) ListWorkflow(_ context.Context, r *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	f.listed = r
	return f.list, nil
}

func (f *fakeTemporal) Close() {}

type fakeRun struct {
	f     *fakeTemporal
	runID string
}

func (r fakeRun) GetID() string                  { return "retire:local:shop" }
func (r fakeRun) GetRunID() string               { return "run-1" }
func (r fakeRun) GetFirstExecutionRunID() string { return "run-1" }
func (r fakeRun) Get(_ context.Context, v any) error {
	d := r.f.run(r.runID)
	if d.resultErr != nil {
		return d.resultErr
	}
	return jsonValue{d.result}.Get(v)
}
func (r fakeRun) GetWithOptions(ctx context.Context, v any, _ client.WorkflowRunGetOptions) error {
	return r.Get(ctx, v)
}

type fakeUpdate struct{ f *fakeTemporal }

func (u fakeUpdate) WorkflowID() string { return u.f.updated.WorkflowID }
func (u fakeUpdate) RunID() string      { return "run-1" }
func (u fakeUpdate) UpdateID() string   { return "update-1" }
func (u fakeUpdate) Get(_ context.Context, v any) error {
	if u.f.updateErr != nil {
		return u.f.updateErr
	}
	return jsonValue{u.f.updateOut}.Get(v)
}

// jsonValue round-trips through JSON like the SDK's data converter does.
type jsonValue struct{ v any }

func (j jsonValue) HasValue() bool { return j.v != nil }
func (j jsonValue) Get(ptr any) error {
	b, err := json.Marshal(j.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, ptr)
}

// testApp runs commands against fake, with a fixed clock and environment.
func testApp(t *testing.T, fake *fakeTemporal, env map[string]string) (*app, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(&out, &errOut)
	a.getenv = func(k string) string { return env[k] }
	a.now = func() time.Time { return testNow }
	a.pollEvery = time.Millisecond
	a.dial = func() (temporalAPI, error) {
		if fake == nil {
			t.Fatal("the command dialled Temporal, but it should have stopped before")
		}
		return fake, nil
	}
	return a, &out, &errOut
}

var testNow = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func payload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// description is what DescribeWorkflowExecution returns for a retirement in phase.
func description(t *testing.T, status enumspb.WorkflowExecutionStatus, phase workflows.Phase, pending ...*workflowpb.PendingActivityInfo) *workflowservice.DescribeWorkflowExecutionResponse {
	t.Helper()
	return &workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: "retire:local:shop", RunId: "run-1"},
			Status:    status,
			StartTime: timestamppb.New(testNow.Add(-20 * 24 * time.Hour)),
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{
				"RetirePhase":      payload(t, string(phase)),
				"RetireConnection": payload(t, "local"),
				"RetireObject":     payload(t, "shop"),
				"RetireReason":     payload(t, "decommission"),
				"RetireRequester":  payload(t, "carol"),
				"RetireOwners":     payload(t, []string{"alice", "bob"}),
			}},
		},
		PendingActivities: pending,
	}
}

// runDescription is description for run runID of a workflow with several runs, started at start.
func runDescription(t *testing.T, runID string, start time.Time, status enumspb.WorkflowExecutionStatus, phase workflows.Phase) *workflowservice.DescribeWorkflowExecutionResponse {
	t.Helper()
	d := description(t, status, phase)
	d.WorkflowExecutionInfo.Execution.RunId = runID
	d.WorkflowExecutionInfo.StartTime = timestamppb.New(start)
	return d
}

// sdkError is what the SDK hands back for a failure the server stored: the error a worker
// returned, turned into a Failure proto and back, as it travels.
func sdkError(err error) error {
	fc := temporal.GetDefaultFailureConverter()
	return fc.FailureToError(fc.ErrorToFailure(err))
}

// activityFailure wraps err as the failure of activity name, as a workflow that returned an
// activity's error reports it.
func activityFailure(name string, err error) error {
	fc := temporal.GetDefaultFailureConverter()
	return fc.FailureToError(&failurepb.Failure{
		Message: "activity error",
		FailureInfo: &failurepb.Failure_ActivityFailureInfo{ActivityFailureInfo: &failurepb.ActivityFailureInfo{
			ActivityType: &commonpb.ActivityType{Name: name},
		}},
		Cause: fc.ErrorToFailure(err),
	})
}
