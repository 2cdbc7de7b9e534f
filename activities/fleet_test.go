package activities

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeTemporal answers CheckFleetChildren's questions as a frontend would.
type fakeTemporal struct {
	status   map[string]enumspb.WorkflowExecutionStatus // by run id; missing: not found
	close    map[string]*historypb.HistoryEvent
	result   map[string]string // a completed run's result, as JSON
	describe error
}

var closedAt = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func (f *fakeTemporal) DescribeWorkflowExecution(_ context.Context, _, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if f.describe != nil {
		return nil, f.describe
	}
	st, ok := f.status[runID]
	if !ok {
		return nil, serviceerror.NewNotFound("workflow not found")
	}
	info := &workflowpb.WorkflowExecutionInfo{Status: st}
	if st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		info.CloseTime = timestamppb.New(closedAt)
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: info}, nil
}

func (f *fakeTemporal) GetWorkflowHistory(_ context.Context, _, runID string, _ bool, _ enumspb.HistoryEventFilterType) client.HistoryEventIterator {
	return &oneEvent{ev: f.close[runID]}
}

func (f *fakeTemporal) GetWorkflow(_ context.Context, id, runID string) client.WorkflowRun {
	return fakeRun{id: id, run: runID, result: f.result[runID]}
}

type oneEvent struct{ ev *historypb.HistoryEvent }

func (o *oneEvent) HasNext() bool { return o.ev != nil }
func (o *oneEvent) Next() (*historypb.HistoryEvent, error) {
	ev := o.ev
	o.ev = nil
	return ev, nil
}

type fakeRun struct{ id, run, result string }

func (r fakeRun) GetID() string                  { return r.id }
func (r fakeRun) GetRunID() string               { return r.run }
func (r fakeRun) GetFirstExecutionRunID() string { return r.run }
func (r fakeRun) Get(_ context.Context, v any) error {
	if r.result == "" {
		return errors.New("no result")
	}
	return json.Unmarshal([]byte(r.result), v)
}
func (r fakeRun) GetWithOptions(ctx context.Context, v any, _ client.WorkflowRunGetOptions) error {
	return r.Get(ctx, v)
}

// Each way a child can close is told apart, with who terminated it and why when the close
// event says; the running ones are left out.
func TestCheckFleetChildrenSaysHowEachClosed(t *testing.T) {
	f := &fakeTemporal{
		status: map[string]enumspb.WorkflowExecutionStatus{
			"r-run": enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, "r-term": enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED,
			"r-term2": enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, "r-fail": enumspb.WORKFLOW_EXECUTION_STATUS_FAILED,
			"r-cancel": enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, "r-timeout": enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT,
			"r-done": enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED,
		},
		close: map[string]*historypb.HistoryEvent{
			"r-term": {Attributes: &historypb.HistoryEvent_WorkflowExecutionTerminatedEventAttributes{WorkflowExecutionTerminatedEventAttributes: &historypb.WorkflowExecutionTerminatedEventAttributes{
				Reason: "stuck for a week", Identity: "dana@ops-host"}}},
		},
		result: map[string]string{"r-done": `{"phase":"done","outcome":"retired","archive":{"store":"default","bucket":"b","path":"c1/db7/r-done/","url":"s3://b/archive/c1/db7/r-done/"}}`},
	}
	in := FleetChildrenInput{}
	for _, r := range []string{"r-run", "r-term", "r-term2", "r-fail", "r-cancel", "r-timeout", "r-done", "r-gone"} {
		in.Children = append(in.Children, FleetChildRun{WorkflowID: "retire:c1:" + r, RunID: r})
	}
	res, err := checkFleetChildren(context.Background(), f, in)
	require.NoError(t, err)
	got := map[string]ClosedChild{}
	for _, c := range res.Closed {
		got[c.RunID] = c
	}
	assert.NotContains(t, got, "r-run", "a running child is not closed")
	assert.Len(t, res.Closed, len(in.Children)-1)
	assert.Equal(t, ClosedChild{WorkflowID: "retire:c1:r-term", RunID: "r-term", Status: ChildTerminated, ClosedAt: closedAt,
		Reason: "terminated by an operator (dana@ops-host: stuck for a week); no final report"}, got["r-term"])
	assert.Equal(t, "terminated by an operator; no final report", got["r-term2"].Reason)
	assert.Equal(t, ChildFailed, got["r-fail"].Status)
	assert.Equal(t, "failed; no final report", got["r-fail"].Reason)
	assert.Equal(t, ChildCanceled, got["r-cancel"].Status)
	assert.Equal(t, "timed out (its run timeout); no final report", got["r-timeout"].Reason)
	done := got["r-done"]
	assert.Equal(t, ChildCompleted, done.Status)
	assert.Equal(t, "done", done.Phase, "a completed child's record says how it ended")
	assert.Equal(t, "retired", done.Outcome)
	assert.Equal(t, "s3://b/archive/c1/db7/r-done/", done.Archive)
	assert.Equal(t, ChildNotFound, got["r-gone"].Status)
	assert.Contains(t, got["r-gone"].Reason, "no longer known to Temporal")

	// A frontend that does not answer fails the look; the fleet looks again later.
	_, err = checkFleetChildren(context.Background(), &fakeTemporal{describe: errors.New("unavailable")}, in)
	require.ErrorContains(t, err, "describe retire:c1:r-run/r-run: unavailable")
	res, err = checkFleetChildren(context.Background(), &fakeTemporal{}, FleetChildrenInput{})
	require.NoError(t, err, "nothing to look at is no failure")
	assert.Empty(t, res.Closed)
}
