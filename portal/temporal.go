package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/workflows"
)

// Temporal is what the page asks of Temporal: small, so that unit tests use a fake. The page
// talks to Temporal with its own credentials (the standard client environment); owners need
// none.
type Temporal interface {
	// Status is the status query of a retirement; runID "" is the current run.
	Status(ctx context.Context, workflowID, runID string) (workflows.Status, error)
	// Running lists the retirements a visibility query selects.
	Running(ctx context.Context, query string) ([]Listed, error)
	// Update sends a person's decision to the run and waits until the workflow has taken it
	// (or its validator refused it), returning the status after it.
	Update(ctx context.Context, workflowID, runID, update string, arg any) (workflows.Status, error)
	// Check is nil while Temporal answers.
	Check(ctx context.Context) error
}

// Listed is a retirement as visibility lists it (its search attributes).
type Listed struct {
	WorkflowID, RunID  string
	Connection, Object string
	Phase              workflows.Phase
	Reason             string
	StartedAt          time.Time
}

// rpcTimeout bounds every call to Temporal made while a person waits for a page.
const rpcTimeout = 15 * time.Second

// sdkTemporal is Temporal through the Go SDK.
type sdkTemporal struct{ c client.Client }

func (t sdkTemporal) Status(ctx context.Context, workflowID, runID string) (workflows.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	var st workflows.Status
	v, err := t.c.QueryWorkflow(ctx, workflowID, runID, workflows.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

func (t sdkTemporal) Running(ctx context.Context, query string) ([]Listed, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	var out []Listed
	var token []byte
	// A person owns a handful of running retirements; five pages is far beyond that and
	// keeps a misconfigured query from walking the whole namespace.
	for range 5 {
		resp, err := t.c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 100, NextPageToken: token})
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetExecutions() {
			attrs := e.GetSearchAttributes().GetIndexedFields()
			l := Listed{
				WorkflowID: e.GetExecution().GetWorkflowId(), RunID: e.GetExecution().GetRunId(),
				Connection: keyword(attrs, workflows.AttrConnection.GetName()),
				Object:     keyword(attrs, workflows.AttrObject.GetName()),
				Phase:      workflows.Phase(keyword(attrs, workflows.AttrPhase.GetName())),
				Reason:     keyword(attrs, workflows.AttrReason.GetName()),
			}
			if e.GetStartTime() != nil {
				l.StartedAt = e.GetStartTime().AsTime()
			}
			out = append(out, l)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	return out, nil
}

func keyword(attrs map[string]*commonpb.Payload, name string) string {
	var v string
	if p, ok := attrs[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}

func (t sdkTemporal) Update(ctx context.Context, workflowID, runID, update string, arg any) (workflows.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	var st workflows.Status
	h, err := t.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, RunID: runID, UpdateName: update, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &st)
	}
	return st, err
}

func (t sdkTemporal) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := t.c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

// explain turns what Temporal answered into words for the page. A validator's refusal is
// shown as it is: it already says who may act and what to do.
func explain(err error) string {
	var app *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &app) && app.Message() != "":
		return app.Message()
	case errors.As(err, &notFound):
		return "this retirement is not running (it ended, or never started)"
	case errors.Is(err, context.DeadlineExceeded):
		return "Temporal did not answer in time; try again in a minute"
	}
	var qf *serviceerror.QueryFailed
	if errors.As(err, &qf) {
		return "the retirement could not be read: " + qf.Message
	}
	msg := err.Error()
	if strings.Contains(msg, "no poller") || strings.Contains(msg, "no worker") {
		return "no retire worker answered for this retirement; try again later, or tell the DBA team"
	}
	return fmt.Sprintf("Temporal refused: %s", msg)
}

// isRefusal is the workflow's own answer (a validator or handler saying no).
func isRefusal(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app)
}

// isNotFound is a workflow that does not run (any more).
func isNotFound(err error) bool {
	var notFound *serviceerror.NotFound
	return errors.As(err, &notFound)
}
