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
// once per interval (less often as an export goes on: reportDue) and only when something
// changed, since each report is an event in the workflow's history. Without it nothing is
// reported.
func ReportProgress(signal Signaler, interval time.Duration) Option {
	return func(a *Activities) { a.signal, a.reportInterval = signal, interval }
}

// reportsPerDoubling bounds the reports of a long export: after the first hour at the
// interval, the gap grows with the time the export has run (elapsed/60), so a 48-hour
// attempt sends about 270 reports (some 1,100 history events), not 2,880, and the history
// stays far from Temporal's event limit however many times the archive is retried.
const reportsPerDoubling = 60

// reportDue says whether a report may go out at now, for an export started at start whose
// last report went at last (zero: none yet).
func reportDue(start, last, now time.Time, interval time.Duration) bool {
	if last.IsZero() {
		return true
	}
	return now.Sub(last) >= max(interval, now.Sub(start)/reportsPerDoubling)
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
	var sentAt time.Time
	start := time.Now()
	warned := false
	return ticking(ctx, a.reportInterval, func() {
		now := latest()
		if now == sent || !reportDue(start, sentAt, time.Now(), a.reportInterval) {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, min(a.reportInterval, 5*time.Second))
		err := a.signal(sctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, SignalArchiveProgress, now)
		cancel()
		switch {
		case err == nil:
			sent, sentAt, warned = now, time.Now(), false
		case !warned:
			activity.GetLogger(ctx).Warn("Could not report the archive's progress to the workflow; the export goes on", "error", err)
			warned = true
		}
	})
}
