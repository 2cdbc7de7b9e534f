package workflows

import (
	"encoding/json"
	"fmt"
	"path"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/metrics"
)

// retirement is the state of one run. Everything a person may ask about lives in s.
type retirement struct {
	s           Status
	tgt         activities.Target
	plan        activities.Plan
	snapshot    engine.AccessSnapshot
	accessCut   bool
	dropStarted bool
	// ending is true once the run is winding up (access given back, record written): no
	// decision changes anything any more.
	ending bool
	// recordless is true for a run refused before it looked at anything.
	recordless bool
	// evidence is false for runs started before sampling gathered every source (replay).
	evidence bool
	// attemptsTold is how many attempts after the cut owners were told of, when, in how
	// many notices.
	attemptsTold    int64
	attemptsToldAt  time.Time
	attemptsNotices int
	// lastCounters is the sampling window's last counter reading; attemptsIn where the
	// counting of attempts goes on from; stopWatching ends it before the drop.
	lastCounters *engine.Counters
	attemptsIn   activities.WatchAttemptsInput
	stopWatching workflow.CancelFunc
	// changes counts human input, so that waits wake up when an owner acts.
	changes int
	// notifying is false for runs started before owners were notified (replay).
	notifying bool
	// reminded counts the window ends owners were reminded of (one per extension).
	reminded int
	// proven is false for runs started before owners came from the directory and every
	// decision carried proof (replay): those take names as typed.
	proven bool
	// For a retirement a fleet started: what it last told the fleet, and whether it asked
	// for and was granted a slot.
	toldFleet              string
	lastReport             workflow.Future
	reportSeq              int
	slotAsked, slotGranted bool
}

// Search attributes: the CLI's `retire list` and the UI's filters read them.
var (
	AttrPhase      = temporal.NewSearchAttributeKeyKeyword("RetirePhase")
	AttrConnection = temporal.NewSearchAttributeKeyKeyword("RetireConnection")
	AttrObject     = temporal.NewSearchAttributeKeyKeyword("RetireObject")
	AttrReason     = temporal.NewSearchAttributeKeyKeyword("RetireReason")
	AttrRequester  = temporal.NewSearchAttributeKeyKeyword("RetireRequester")
	AttrOwners     = temporal.NewSearchAttributeKeyKeywordList("RetireOwners")
)

func start(ctx workflow.Context, req Request) (*retirement, error) {
	req = req.WithDefaults()
	info := workflow.GetInfo(ctx)
	r := &retirement{
		tgt: activities.Target{Connection: req.Connection, Object: req.Object},
		s: Status{
			WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
			Request: req, StartedAt: workflow.Now(ctx), ObserveTotal: req.ObserveWindow,
		},
	}
	r.s.SampleUntil = r.s.StartedAt.Add(req.SampleWindow)
	for _, g := range []string{GatePlan, GateClients, GateAccessCut, GateWindow, GateSignoff, GateNoObjection, GateArchive, GateRestorable, GateDropped, GateGone} {
		r.s.gate(g)
	}
	if req.Reason == ReasonMigration {
		r.s.setGate(GateSignoff, GateWaived, "reason migration needs no sign-off", "", time.Time{})
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return r.s, nil }); err != nil {
		return nil, err
	}
	// Before the handlers: an update sent with the start runs as soon as its handler is set,
	// and must meet the rules of proven decisions, not the old ones.
	r.proven = workflow.GetVersion(ctx, "proven-decisions", workflow.DefaultVersion, 1) == 1
	if err := r.registerUpdates(ctx); err != nil {
		return nil, err
	}
	workflow.Go(ctx, r.follow)
	if err := req.Validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("invalid request: "+err.Error(), "InvalidRequest", nil)
	}
	// Every proof names the workflow it is for, so the workflow id must name the target: a
	// run called retire:test:scratch that retires prod/orders would collect sign-offs meant
	// for a scratch database.
	if want := WorkflowID(req.Connection, req.Object); r.proven && info.WorkflowExecution.ID != want {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("invalid request: the retirement of %s/%s must run as workflow %s, not %s", req.Connection, req.Object, want, info.WorkflowExecution.ID), "InvalidRequest", nil)
	}
	r.notifying = workflow.GetVersion(ctx, "notify-owners", workflow.DefaultVersion, 1) == 1
	return r, nil
}

// follow takes what is signalled to the retirement while it runs: the sampling's new
// clients, the attempts seen after the cut, the archive's progress, and a fleet's grant of
// a slot. One coroutine for all four: a worker holds a thousand retirements that wait
// for weeks, and each coroutine is a goroutine with its stack for as long as the run is in
// the worker's cache. (Coroutines make no commands: one or four replay the same.)
func (r *retirement) follow(ctx workflow.Context) {
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, activities.SignalArchiveProgress), func(ch workflow.ReceiveChannel, _ bool) {
		var c activities.ArchiveCounts
		ch.Receive(ctx, &c)
		r.takeArchiveProgress(ctx, c)
	})
	sel.AddReceive(workflow.GetSignalChannel(ctx, activities.SignalSampling), func(ch workflow.ReceiveChannel, _ bool) {
		var e activities.SamplingEvidence
		ch.Receive(ctx, &e)
		r.takeSampling(ctx, e)
	})
	sel.AddReceive(workflow.GetSignalChannel(ctx, activities.SignalAttempts), func(ch workflow.ReceiveChannel, _ bool) {
		var report activities.AttemptsReport
		ch.Receive(ctx, &report)
		r.takeAttempts(report)
	})
	if r.inFleet() {
		sel.AddReceive(workflow.GetSignalChannel(ctx, SignalFleetSlotGranted), func(ch workflow.ReceiveChannel, _ bool) {
			ch.Receive(ctx, nil)
			r.takeSlot()
		})
	}
	for {
		sel.Select(ctx)
	}
}

// takeArchiveProgress takes the Archive activity's progress reports into the status and
// the UI's current details. Reports that arrive when no export is under way (late, or sent
// to an older run) are dropped.
func (r *retirement) takeArchiveProgress(ctx workflow.Context, c activities.ArchiveCounts) {
	if r.s.Archiving == nil {
		return
	}
	r.s.Archiving.ArchiveCounts, r.s.Archiving.At = c, r.now(ctx)
	r.details(ctx)
}

// run executes one activity with a summary that reads well in the UI.
func (r *retirement) run(ctx workflow.Context, opts workflow.ActivityOptions, summary string, activity, input, result any) error {
	opts.Summary = summary
	if hb := r.plan.Policy.HeartbeatTimeout; hb > 0 {
		opts.HeartbeatTimeout = hb
	}
	f := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), activity, input)
	if err := f.Get(ctx, result); err != nil {
		return err
	}
	r.details(ctx)
	return nil
}

func (r *retirement) enter(ctx workflow.Context, p Phase) {
	r.s.Phase = p
	metrics.PhaseEntered(workflow.GetMetricsHandler(ctx), string(p))
	workflow.GetLogger(ctx).Info("Phase", "phase", p, "target", r.target())
	r.upsertPhase(ctx)
	r.details(ctx)
}

func (r *retirement) upsertPhase(ctx workflow.Context) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrPhase.ValueSet(string(r.s.Phase))); err != nil {
		workflow.GetLogger(ctx).Warn("Could not update the RetirePhase search attribute (registered?)", "error", err)
	}
}

func (r *retirement) wait(ctx workflow.Context, what string) {
	r.s.Waiting = what
	r.details(ctx)
}

// details keeps the UI's "current details" in step with the status.
func (r *retirement) details(ctx workflow.Context) {
	workflow.SetCurrentDetails(ctx, Markdown(r.s))
	r.tellFleet(ctx)
}

func (r *retirement) now(ctx workflow.Context) time.Time { return workflow.Now(ctx).UTC() }

func (r *retirement) target() string { return r.tgt.Connection + "/" + r.tgt.Object }

func (r *retirement) recordInput(s Status) activities.RecordInput {
	// Encoding a struct of plain fields is deterministic, so it may happen in the workflow.
	doc, _ := json.MarshalIndent(s, "", "  ")
	return activities.RecordInput{Store: r.plan.Store, Path: archivePath(r.plan.Store, r.tgt, s.RunID), JSON: doc, Markdown: Markdown(s)}
}

// archivePath is <connection>/<object>/<run id>/ under the store's prefix: one folder per
// attempt, so an aborted run never mixes with a later one.
func archivePath(_ string, t activities.Target, runID string) string {
	return path.Join(t.Connection, t.Object, runID) + "/"
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") }

// BytesText prints a size the way DBAs read it: 13.1 MiB.
func BytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Activity options. Timeouts are generous because databases are big; heartbeats are short
// because a dead worker must be noticed in minutes, not hours.
var (
	nonRetryable = []string{"InvalidRequest", "Refused"}
	planOptions  = workflow.ActivityOptions{
		StartToCloseTimeout: 6 * time.Hour, HeartbeatTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: 5 * time.Minute, MaximumAttempts: 20, NonRetryableErrorTypes: nonRetryable},
	}
	shortOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Minute, HeartbeatTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: 5 * time.Minute, MaximumAttempts: 50, NonRetryableErrorTypes: nonRetryable},
	}
	archiveOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 48 * time.Hour, HeartbeatTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: 10 * time.Minute, MaximumAttempts: 20, NonRetryableErrorTypes: nonRetryable},
	}
	dropOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour, HeartbeatTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: 5 * time.Minute, MaximumAttempts: 20, NonRetryableErrorTypes: append([]string{"GateFailed"}, nonRetryable...)},
	}
)

func sampleOptions(slice time.Duration) workflow.ActivityOptions {
	slice = max(slice, 0)
	return workflow.ActivityOptions{
		StartToCloseTimeout: slice + 30*time.Minute, HeartbeatTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumInterval: 5 * time.Minute, NonRetryableErrorTypes: nonRetryable},
	}
}
