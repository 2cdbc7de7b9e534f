package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/workflows"
)

// explain reduces an error chain from the SDK to the sentence that matters. The workflow's
// validators and activities already write messages for people (what is wrong, what to do);
// the SDK wraps them in "workflow execution error (type: ..., runID: ...)" layers that only
// hide them.
func explain(err error) string {
	if err == nil {
		return ""
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Message() != "" {
		return appErr.Message()
	}
	var canceled *temporal.CanceledError
	if errors.As(err, &canceled) {
		var why string
		if canceled.HasDetails() && canceled.Details(&why) == nil && why != "" {
			return why
		}
		return "cancelled"
	}
	var timeout *temporal.TimeoutError
	if errors.As(err, &timeout) {
		what := "the workflow"
		var actErr *temporal.ActivityError
		if errors.As(err, &actErr) && actErr.ActivityType() != nil {
			what = "the " + actErr.ActivityType().GetName() + " activity"
		}
		return fmt.Sprintf("%s timed out (%s); is a retire-worker running and able to reach the database?", what, timeout.TimeoutType())
	}
	var terminated *temporal.TerminatedError
	if errors.As(err, &terminated) {
		return "the workflow was terminated (temporal workflow terminate); access was NOT restored automatically"
	}
	var panicked *temporal.PanicError
	if errors.As(err, &panicked) {
		return "the workflow panicked: " + panicked.Error()
	}
	return err.Error()
}

// isTimeout is true when the server (or, for queries and updates, a worker) did not answer
// in time, whichever layer noticed it first.
func isTimeout(err error) bool {
	var deadline *serviceerror.DeadlineExceeded
	var updateTimeout *client.WorkflowUpdateServiceTimeoutOrCanceledError
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &deadline) || errors.As(err, &updateTimeout)
}

func isInvalidArgument(err error) bool {
	var invalid *serviceerror.InvalidArgument
	return errors.As(err, &invalid)
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// noAnswer is the error of an update nobody answered: a missing worker is by far the most
// common reason. The server keeps the update and a worker that comes back applies it, so
// sending it again blindly could act twice (two extensions add up).
func (a *app) noAnswer(name, connection, object string) error {
	return fmt.Errorf("no answer to the %s update within %s: is a retire-worker running on task queue %q? "+
		"The server keeps the update and a worker may still apply it: check `retire status %s %s` before sending it again",
		name, a.timeout, workflows.TaskQueue, connection, object)
}

// searchAttributeHint explains the one setup step that start cannot do itself.
func searchAttributeHint(err error) error {
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) && strings.Contains(strings.ToLower(invalid.Message), "search attribute") {
		return fmt.Errorf("%s: register the search attributes once per namespace: "+
			"`temporal operator search-attribute create --type Keyword --name RetirePhase --name RetireConnection --name RetireObject --name RetireReason --name RetireRequester` "+
			"and `temporal operator search-attribute create --type KeywordList --name RetireOwners`", invalid.Message)
	}
	return err
}
