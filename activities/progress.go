package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
)

// Signaler sends a signal to a workflow run; the worker hands in its Temporal client's
// SignalWorkflow.
type Signaler func(ctx context.Context, workflowID, runID, signalName string, arg any) error

// Option is an optional setting of New.
type Option func(*Activities)

// ReportProgress has long activities tell their workflow how far they have come, at most
// once per interval and only when something changed (each report is an event in the
// workflow's history). Without it nothing is reported.
func ReportProgress(signal Signaler, interval time.Duration) Option {
	return func(a *Activities) { a.signal, a.reportInterval = signal, interval }
}

// reportEvery sends latest() to the workflow as SignalArchiveProgress every report
// interval while the activity runs. A report that cannot be sent is skipped: progress is
// for people watching, never a reason to slow or fail the export. stop waits until no
// report is in flight, so none arrives after the activity's result.
func (a *Activities) reportEvery(ctx context.Context, latest func() ArchiveCounts) (stop func()) {
	if a.signal == nil || a.reportInterval <= 0 {
		return func() {}
	}
	info := activity.GetInfo(ctx)
	var sent ArchiveCounts
	warned := false
	return ticking(ctx, a.reportInterval, func() {
		now := latest()
		if now == sent {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, min(a.reportInterval, 5*time.Second))
		err := a.signal(sctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, SignalArchiveProgress, now)
		cancel()
		switch {
		case err == nil:
			sent, warned = now, false
		case !warned:
			activity.GetLogger(ctx).Warn("Could not report the archive's progress to the workflow; the export goes on", "error", err)
			warned = true
		}
	})
}
