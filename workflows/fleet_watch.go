package workflows

// Children that vanish. A child tells its fleet how it ended with its last report; the run
// that started it also hears its close. A child that ends without a report in a later run
// (an operator terminated it, it timed out, or it ended while the fleet continued as new and
// its report was lost) would leave the fleet waiting for ever. So every watch interval (1h;
// a minute on a dev worker) the fleet asks Temporal, in one short activity, how the children
// it started in earlier runs and that have not reported their end stand; one that is closed
// counts as ended with what Temporal says, and as a failure against the budget like any
// other, unless its record says it was retired. Runs started before this watch existed do
// not watch ("fleet-watch-children"), so they replay unchanged; their next run does.

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
)

const (
	// ActivityCheckFleetChildren asks Temporal how the given children stand.
	ActivityCheckFleetChildren = "CheckFleetChildren"
	// DefaultWatchEvery is the watch interval of fleets planned before the worker said one.
	DefaultWatchEvery = time.Hour
)

// watchOptions keep a look short: while it is on its way the run cannot hand over or end,
// and a look that fails is simply the next one's to do.
var watchOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 5 * time.Minute, HeartbeatTimeout: time.Minute,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumInterval: 30 * time.Second, MaximumAttempts: 3},
}

func (f *fleet) watchEvery() time.Duration {
	if sg := f.s.Signers; sg != nil && sg.WatchEvery > 0 {
		return sg.WatchEvery
	}
	return DefaultWatchEvery
}

// unreported are the children whose end only a report can tell this run: started in an
// earlier run (only that run's history gets their close), with their run known, not ended.
func (f *fleet) unreported() []activities.FleetChildRun {
	var out []activities.FleetChildRun
	for _, c := range f.s.Objects {
		if c.Started && c.RunID != "" && !c.Ended() && c.StartRun != f.s.RunCount {
			out = append(out, activities.FleetChildRun{WorkflowID: c.WorkflowID, RunID: c.RunID})
		}
	}
	return out
}

// watchDue is when the next look is due (zero: none is, or one is under way).
func (f *fleet) watchDue() time.Time {
	if !f.watching || f.checking {
		return time.Time{}
	}
	return f.s.WatchAt
}

// watchIfDue schedules the next look while there are children to look at, and looks when it
// is due.
func (f *fleet) watchIfDue(ctx workflow.Context) {
	if !f.watching || f.checking {
		return
	}
	children := f.unreported()
	now := f.now(ctx)
	switch {
	case len(children) == 0:
		f.s.WatchAt = time.Time{}
		return
	case f.s.WatchAt.IsZero():
		f.s.WatchAt = now.Add(f.watchEvery())
		return
	case now.Before(f.s.WatchAt):
		return
	}
	f.s.WatchAt = now.Add(f.watchEvery())
	f.checking = true
	f.inflight++
	f.events += costActivity
	opts := watchOptions
	opts.Summary = fmt.Sprintf("Look for children of fleet %s that ended without a final report (%d to look at)", f.s.Request.Name, len(children))
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	fut := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, opts), ActivityCheckFleetChildren, activities.FleetChildrenInput{Children: children})
	workflow.Go(dctx, func(gctx workflow.Context) {
		var res activities.FleetChildrenResult
		if err := fut.Get(gctx, &res); err != nil {
			workflow.GetLogger(ctx).Warn("Could not look for children that ended without a report; trying again later", "fleet", f.s.Request.Name, "error", err)
		}
		// Taken in by drain, after the reports already delivered: a report that says more
		// than Temporal's word wins.
		f.vanished = append(f.vanished, res.Closed...)
		f.checking = false
		f.inflight--
		f.handoverTask()
		f.changes++
	})
}

// takeVanished ends the children Temporal says are closed and that still have not reported.
func (f *fleet) takeVanished(ctx workflow.Context) {
	closed := f.vanished
	f.vanished = nil
	for _, v := range closed {
		i, ok := f.byID[v.WorkflowID]
		if !ok {
			continue
		}
		c := &f.s.Objects[i]
		if c.Ended() || c.RunID != v.RunID {
			continue
		}
		phase := Phase(v.Phase)
		switch {
		case v.Status == activities.ChildCompleted && phase.Ended():
			// Its record says how it ended; only the report was lost.
			c.Outcome, c.Error = cut(v.Outcome, maxWaitingText), cut(v.Error, maxErrorText)
			if v.Archive != "" {
				c.Archive = v.Archive
			}
		case v.Status == activities.ChildCanceled:
			phase = PhaseCancelled
			c.Error = cut(v.Reason, maxErrorText)
		default:
			phase = PhaseFailed
			c.Error = cut(v.Reason, maxErrorText)
		}
		c.Phase, c.At = phase, f.now(ctx)
		workflow.GetLogger(ctx).Warn("A child ended without a final report", "fleet", f.s.Request.Name, "child", c.Key(), "status", v.Status, "reason", v.Reason)
		f.childEnded(ctx, i)
		f.changes++
	}
}
