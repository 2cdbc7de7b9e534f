package notify

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Activities is registered with the worker; NotifyOwners is the activity.
//
//	n, err := notify.FromConfig(cfg.Notify)           // nil when nothing is configured
//	w.RegisterActivity(notify.NewActivities(n, cfg.Notify.UIURL))
type Activities struct {
	n  Notifier
	ui string
}

// NewActivities makes the notify activities; n may be nil (then nothing is sent).
func NewActivities(n Notifier, uiURL string) *Activities { return &Activities{n: n, ui: uiURL} }

// Result says what NotifyOwners did; the workflow may keep it in its status.
type Result struct {
	Key  string   `json:"key"`
	Sent bool     `json:"sent"` // false when no channel is configured
	To   []string `json:"to,omitempty"`
}

// ErrorType is the Temporal error type of a notification that no retry can deliver.
const ErrorType = "NotifyRefused"

// NotifyOwners renders the event and sends it on every configured channel. The workflow,
// the run and the namespace are taken from the activity's own info when the event leaves them
// empty, so the idempotency key is always "<workflow id>/<run id>/<kind>[/<seq>]".
// Permanent failures (unknown kind, an owner without a mail domain, a 4xx webhook, a 5xx
// relay reply) are non-retryable; the rest are retried by Temporal, and Deduper keeps a
// retry from re-sending on a channel that already delivered.
func (a *Activities) NotifyOwners(ctx context.Context, e Event) (Result, error) {
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		if e.WorkflowID == "" {
			e.WorkflowID = info.WorkflowExecution.ID
		}
		if e.RunID == "" {
			e.RunID = info.WorkflowExecution.RunID
		}
		if e.Namespace == "" {
			e.Namespace = info.WorkflowNamespace
		}
	}
	m, err := Render(e, a.ui)
	if err != nil {
		return Result{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrorType, nil)
	}
	res := Result{Key: m.Key, To: m.To}
	if a.n == nil {
		return res, nil
	}
	if err := a.n.Notify(ctx, m); err != nil {
		if IsPermanent(err) {
			return res, temporal.NewNonRetryableApplicationError(err.Error(), ErrorType, nil)
		}
		return res, temporal.NewApplicationError(err.Error(), "NotifyFailed")
	}
	res.Sent = true
	return res, nil
}
