package workflows

import (
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ObjectLockName is the workflow that holds one server object for one retirement.
const ObjectLockName = "RetireObjectLock"

// ObjectLockID names the lock of an object on a server by the server's own identity, so
// that two connection profiles reaching the same server (a read-write and a failover
// address, two teams' configs) lock the same id.
func ObjectLockID(serverID, object string) string {
	return "retire-object:" + serverID + ":" + object
}

// ObjectLock holds its id while the retirement that started it runs: Temporal allows one
// running workflow per id, and it ends with its parent (parent close policy terminate).
// It does nothing and records nothing, so its history stays a handful of events.
func ObjectLock(ctx workflow.Context, holder string) error {
	return workflow.Await(ctx, func() bool { return false })
}

// holdObject takes the server-wide lock on the object right after the plan, before anything
// is looked at or changed; a second retirement of the same object, through any profile and
// on any worker, is refused here.
func (r *retirement) holdObject(ctx workflow.Context) error {
	if workflow.GetVersion(ctx, "object-lock", workflow.DefaultVersion, 1) == workflow.DefaultVersion || r.plan.ServerID == "" {
		return nil
	}
	object := r.plan.Inventory.Object
	if object == "" {
		object = r.tgt.Object
	}
	id := ObjectLockID(r.plan.ServerID, object)
	info := workflow.GetInfo(ctx)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		TaskQueue:             info.TaskQueueName,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_TERMINATE,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         fmt.Sprintf("Held by %s while it retires %s", info.WorkflowExecution.ID, object),
	})
	var held workflow.Execution
	err := workflow.ExecuteChildWorkflow(cctx, ObjectLockName, info.WorkflowExecution.ID).GetChildWorkflowExecution().Get(ctx, &held)
	switch {
	case temporal.IsWorkflowExecutionAlreadyStartedError(err):
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
			"another retirement of %s on the same server (%s) is running, through another connection profile; it holds %s (see it with `retire list`)",
			object, strings.TrimSpace(r.plan.ServerID), id), "Refused", nil)
	case err != nil:
		return err
	}
	r.s.ObjectLock = id
	return nil
}
