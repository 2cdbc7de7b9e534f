// Package workflows holds RetireDatabase, the lifecycle of one retired database object.
// Read RetireDatabase top to bottom: it is the checklist of seeds/000, step by step.
package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/notify"
	"github.com/dataretire/retire/metrics"
)

// a is only used to name activities; the worker registers the real one.
var a *activities.Activities

// errAborted ends a retirement because an owner objected.
var errAborted = errors.New("aborted by objection")

// RetireDatabase retires one database object: plan, sample, quiesce, observe, archive, drop,
// verify, record. Cancelling it before the drop gives access back.
func RetireDatabase(ctx workflow.Context, req Request) (Record, error) {
	r, err := start(ctx, req)
	if err != nil {
		return Record{}, err
	}
	err = r.lifecycle(ctx)
	return r.finish(ctx, err)
}

func (r *retirement) lifecycle(ctx workflow.Context) error {
	// 1. Plan: validate and inventory; the worker refuses system schemas and windows its
	// policy does not allow.
	r.enter(ctx, PhasePlan)
	if err := r.run(ctx, planOptions, "Plan: validate and inventory "+r.target(), a.Plan, activities.PlanInput{
		Target: r.tgt, Strategy: r.s.Request.Strategy, SampleWindow: r.s.Request.SampleWindow,
		ObserveWindow: r.s.Request.ObserveWindow, Store: r.s.Request.Store, RestoreGate: r.s.Request.Verify == VerifyRestore,
		Requester: r.s.Request.Requester, Owners: r.s.Request.Owners, NeedsSignoff: r.s.Request.Reason == ReasonDecommission, ResolveOwners: r.proven,
	}, &r.plan); err != nil {
		return err
	}
	// Who may decide comes from the owners directory, with their keys pinned now; the
	// requester proves who they are against those keys.
	if err := r.pinSigners(ctx); err != nil {
		r.recordless = true // refused before it looked at anything: there is nothing to record
		return err
	}
	// One object, one retirement, whatever the profile it is reached through.
	if err := r.holdObject(ctx); err != nil {
		r.recordless = true // refused before it looked at anything: there is nothing to record
		return err
	}
	r.s.Plan = &r.plan
	r.s.setGate(GatePlan, GatePassed, planSummary(r.plan.Inventory), "", r.now(ctx))

	// 2. Sample: watch who connects, day by day, because one look misses short connections.
	r.enter(ctx, PhaseSample)
	if err := r.sample(ctx); err != nil {
		return err
	}
	if r.s.Request.DryRun {
		r.s.Outcome = "dry run: nothing was changed"
		return nil
	}
	if err := r.awaitEvidenceAcknowledged(ctx); err != nil {
		return err
	}

	// 3. Quiesce: snapshot the access, then cut it reversibly (logical delete).
	r.enter(ctx, PhaseQuiesce)
	if err := r.run(ctx, shortOptions, "Snapshot access to "+r.target(), a.SnapshotAccess,
		activities.AccessInput{Target: r.tgt, Strategy: r.s.Request.Strategy}, &r.snapshot); err != nil {
		return err
	}
	r.accessCut = true // from here on, any way out must give access back
	var cut engine.CutResult
	if err := r.run(ctx, shortOptions, fmt.Sprintf("Cut access to %s (%s)", r.target(), r.s.Request.Strategy), a.CutAccess,
		activities.SnapshotInput{Target: r.tgt, Snapshot: r.snapshot}, &cut); err != nil {
		return err
	}
	r.s.Cut = &cut
	r.s.setGate(GateAccessCut, GatePassed, cutSummary(cut), "", r.now(ctx))
	if r.evidence {
		// Whoever still tries is counted from the reading before the cut until the drop.
		wctx, stop := workflow.WithCancel(ctx)
		r.stopWatching = stop
		workflow.Go(wctx, r.watchAttempts)
	}

	// 4. Observe: owners object, extend or sign off while nobody can reach the data.
	r.enter(ctx, PhaseObserve)
	if err := r.observe(ctx); err != nil {
		return err
	}

	// 5. Archive: export everything, then read it back and verify every checksum. A
	// retirement of a fleet first waits for one of its server's slots.
	if err := r.fleetSlot(ctx); err != nil {
		return err
	}
	r.enter(ctx, PhaseArchive)
	if err := r.archiveAndVerify(ctx); err != nil {
		return err
	}
	if err := r.lastAttempts(ctx); err != nil {
		return err
	}

	// 6. Drop: from here on there is no way back but `retire restore`, so cancellation no
	// longer interrupts, and every gate is checked again at the moment of the drop.
	if err := r.objected(); err != nil {
		return err
	}
	if err := r.dropGates(ctx); err != nil {
		return err
	}
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	r.enter(ctx, PhaseDrop)
	r.dropStarted = true
	if err := r.run(ctx, dropOptions, "DROP "+r.target(), a.Drop,
		activities.DropInput{Target: r.tgt, Snapshot: r.snapshot, Archive: *r.s.Archive}, nil); err != nil {
		if isDropRefusedIntact(err) {
			// The server refused the drop and the object is still whole: the way back is
			// still open, so finish gives access back instead of leaving it cut for nothing.
			r.dropStarted = false
			r.s.setGate(GateDropped, GateFailed, "refused before anything was destroyed; the object is whole", "", r.now(ctx))
		}
		return err
	}
	r.s.setGate(GateDropped, GatePassed, "", "", r.now(ctx))

	// 7. Verify: the object is gone from the dictionary; count the bytes freed.
	r.enter(ctx, PhaseVerify)
	var gone engine.GoneReport
	if err := r.run(ctx, shortOptions, "Verify "+r.target()+" is gone", a.VerifyGone,
		activities.GoneInput{Target: r.tgt, Snapshot: r.snapshot, BytesFreed: r.plan.Inventory.TotalBytes, Archive: r.s.Archive}, &gone); err != nil {
		return err
	}
	r.s.Gone = &gone
	if !gone.Gone {
		r.s.setGate(GateGone, GateFailed, fmt.Sprintf("still there: %v", gone.Remaining), "", r.now(ctx))
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s was dropped but is still there: %v", r.target(), gone.Remaining), "NotGone", nil)
	}
	r.s.setGate(GateGone, GatePassed, fmt.Sprintf("%s freed", BytesText(gone.BytesFreed)), "", r.now(ctx))
	r.releaseSlot(ctx)
	r.s.Outcome = "retired"
	return nil
	// 8. Record: finish writes the retirement record, whatever the outcome.
}

// sample watches connections until the sampling window ends, one activity per day so that
// history records progress and a lost worker costs at most a day's look (the activity also
// resumes from its heartbeat).
func (r *retirement) sample(ctx workflow.Context) error {
	// Runs started before sampling gathered every source keep the processlist-only look.
	if r.evidence = workflow.GetVersion(ctx, "usage-evidence", workflow.DefaultVersion, 1) == 1; r.evidence {
		return r.sampleEvidence(ctx)
	}
	from, until := r.s.StartedAt, r.s.SampleUntil
	days := int((until.Sub(from) + 24*time.Hour - 1) / (24 * time.Hour))
	for day := 1; day <= days; day++ {
		if err := r.objected(); err != nil {
			return err
		}
		sliceEnd := from.Add(time.Duration(day) * 24 * time.Hour)
		if sliceEnd.After(until) {
			sliceEnd = until
		}
		var res activities.SampleResult
		if err := r.run(ctx, sampleOptions(sliceEnd.Sub(r.now(ctx))), fmt.Sprintf("Watch connections to %s, day %d of %d, until %s", r.target(), day, days, stamp(sliceEnd)), a.SampleClients,
			activities.SampleInput{Target: r.tgt, Until: sliceEnd, Seen: r.s.Clients}, &res); err != nil {
			return err
		}
		r.s.Clients, r.s.SampleLooks = res.Seen, r.s.SampleLooks+res.Looks
		r.details(ctx)
	}
	if len(r.s.Clients) == 0 {
		r.s.setGate(GateClients, GatePassed, fmt.Sprintf("no client in %d looks", r.s.SampleLooks), "", r.now(ctx))
	}
	return nil
}

// awaitClientsAcknowledged stops the retirement until a DBA has seen the clients that would
// lose access (seeds/000: the SMS outage came from a client nobody knew about).
func (r *retirement) awaitClientsAcknowledged(ctx workflow.Context) error {
	what := r.evidenceToAcknowledge()
	if len(what) == 0 {
		return nil
	}
	r.s.setGate(GateClients, GatePending, strings.Join(what, "; ")+": acknowledge or cancel", "", time.Time{})
	if r.evidence {
		r.s.setGate(GateEvidence, GatePending, strings.Join(what, "; "), "", time.Time{})
	}
	lines := notify.ClientLines(r.s.Clients)
	if ev := r.s.Evidence; ev != nil {
		for _, u := range ev.Unattributed {
			lines = append(lines, fmt.Sprintf("unattributed: %s read %d rows, changed %d, between %s and %s (no client seen explains it)", u.Table, u.Reads, u.Writes, stamp(u.From), stamp(u.To)))
		}
		for _, p := range ev.Problems {
			lines = append(lines, "evidence incomplete: "+p)
		}
	}
	r.notify(ctx, notify.Event{Kind: notify.ClientsSeen, Clients: lines})
	r.wait(ctx, fmt.Sprintf("acknowledgement of the usage evidence (%s): retire acknowledge-clients, or retire cancel", strings.Join(what, "; ")))
	if err := workflow.Await(ctx, func() bool { return r.s.Acknowledgement != nil || len(r.s.Objections) > 0 }); err != nil {
		return err
	}
	r.wait(ctx, "")
	if err := r.objected(); err != nil {
		return err
	}
	ack := r.s.Acknowledgement
	r.s.setGate(GateClients, GatePassed, "acknowledged: "+ack.Note, ack.By, ack.At)
	if r.evidence {
		r.s.setGate(GateEvidence, GatePassed, "acknowledged as it was: "+strings.Join(what, "; ")+" — "+ack.Note, ack.By, ack.At)
	}
	return nil
}

// observe waits for the window to end and for the sign-off the reason requires. An
// objection ends it at once; an extension moves the end. Owners are told when it starts,
// reminded before it ends, and asked daily for their sign-off once it is over.
func (r *retirement) observe(ctx workflow.Context) error {
	r.s.ObserveFrom = r.now(ctx)
	r.s.ObserveUntil = r.s.ObserveFrom.Add(r.s.ObserveTotal)
	r.details(ctx)
	r.notify(ctx, notify.Event{Kind: notify.AccessCut, Until: r.s.ObserveUntil})
	if r.evidence {
		r.s.setGate(GateAttempts, GatePending, "counting who still tries while access is cut", "", time.Time{})
	}
	var asked int
	var askAgain time.Time
	for {
		// A cancelled context makes every new timer ready at once: without this check the
		// loop would spin without yielding, and never give access back.
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.objected(); err != nil {
			return err
		}
		now := r.now(ctx)
		if r.evidence {
			r.tellAttempts(ctx)
		}
		if !now.Before(r.s.ObserveUntil) {
			r.s.setGate(GateWindow, GatePassed, "until "+stamp(r.s.ObserveUntil), "", r.s.ObserveUntil)
			if r.s.Signed() && r.attemptsSettled() {
				r.passAttempts(ctx)
				r.wait(ctx, "")
				return nil
			}
			if r.s.Signed() {
				// Somebody still knocks: the drop waits for a person to look.
				if err := r.awaitAttemptsSettled(ctx); err != nil {
					return err
				}
				continue
			}
			// Ask every day while owners have not signed; the data stays until they do.
			r.wait(ctx, "owner sign-off (retire approve --as <owner>), or an objection")
			if !now.Before(askAgain) {
				r.notify(ctx, notify.Event{Kind: notify.SignoffNeeded, Seq: asked})
				asked, askAgain = asked+1, now.Add(24*time.Hour)
				if asked > 1 {
					workflow.GetLogger(ctx).Warn("Still waiting for owner sign-off", "owners", r.s.Request.Owners, "since", stamp(r.s.ObserveUntil))
				}
			}
			seen := r.changes
			if _, err := workflow.AwaitWithOptions(ctx, workflow.AwaitOptions{Timeout: askAgain.Sub(now), TimerOptions: workflow.TimerOptions{
				Summary: "ask the owners for their sign-off again at " + stamp(askAgain),
			}}, func() bool { return r.changes != seen }); err != nil {
				return err
			}
			continue
		}
		wake, summary := r.s.ObserveUntil, "observation window until "+stamp(r.s.ObserveUntil)
		if at, due := r.reminderDue(); due {
			if !now.Before(at) {
				r.notify(ctx, notify.Event{Kind: notify.Reminder, Seq: len(r.s.Extensions), Until: r.s.ObserveUntil})
				r.reminded = len(r.s.Extensions) + 1
				continue
			}
			wake, summary = at, "remind the owners that the observation window ends at "+stamp(r.s.ObserveUntil)
		}
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		timer := workflow.NewTimerWithOptions(timerCtx, wake.Sub(now), workflow.TimerOptions{Summary: summary})
		seen := r.changes
		err := workflow.Await(ctx, func() bool { return timer.IsReady() || r.changes != seen })
		cancelTimer()
		if err != nil {
			return err
		}
	}
}

// archiveAndVerify exports the object and reads it back. A failed verification is tried
// once more from scratch; if it fails again nothing is dropped.
func (r *retirement) archiveAndVerify(ctx workflow.Context) error {
	path := archivePath(r.plan.Store, r.tgt, workflow.GetInfo(ctx).WorkflowExecution.RunID)
	for attempt := 1; attempt <= 2; attempt++ {
		var res activities.ArchiveResult
		r.s.Archiving = &Archiving{Since: r.now(ctx)}
		err := r.run(ctx, archiveOptions, fmt.Sprintf("Archive %s to %s (%s)", r.target(), path, BytesText(r.plan.Inventory.TotalBytes)), a.Archive,
			activities.ArchiveInput{Target: r.tgt, Store: r.plan.Store, Path: path, Snapshot: r.snapshot}, &res)
		r.s.Archiving = nil
		if err != nil {
			return err
		}
		r.s.Archive = &res
		r.details(ctx)
		var v activities.Verification
		if err := r.run(ctx, archiveOptions, "Verify the archive of "+r.target()+" (read back, checksums, row counts)", a.VerifyArchive,
			activities.VerifyInput{Store: res.Store, Path: res.Path, ManifestSHA256: res.ManifestSHA256}, &v); err != nil {
			return err
		}
		r.s.Verification = &v
		if v.OK {
			r.s.setGate(GateArchive, GatePassed, fmt.Sprintf("%d tables, %d rows, %d files, %s at %s", v.Tables, v.Rows, v.Files, BytesText(v.Bytes), res.Location()), "", r.now(ctx))
			return r.restoreTest(ctx, res)
		}
		r.s.setGate(GateArchive, GateFailed, fmt.Sprintf("attempt %d: %v", attempt, v.Problems), "", r.now(ctx))
		workflow.GetLogger(ctx).Error("Archive verification failed", "attempt", attempt, "problems", v.Problems)
	}
	return temporal.NewNonRetryableApplicationError("the archive could not be verified, so nothing was dropped: "+fmt.Sprint(r.s.Verification.Problems), "ArchiveNotVerified", nil)
}

// restoreTest proves the archive restorable when the request asks for it: restore into a
// scratch database, compare every table with the source, drop the scratch.
func (r *retirement) restoreTest(ctx workflow.Context, res activities.ArchiveResult) error {
	// Runs started before this gate existed never asked for it.
	if workflow.GetVersion(ctx, "restore-test-gate", workflow.DefaultVersion, 1) == workflow.DefaultVersion || r.s.Request.Verify != VerifyRestore {
		r.s.setGate(GateRestorable, GateWaived, "not requested (--verify restore)", "", r.now(ctx))
		return nil
	}
	var check activities.RestoreCheck
	if err := r.run(ctx, archiveOptions, "Test-restore the archive of "+r.target()+" into a scratch database and compare", a.TestRestore,
		activities.RestoreTestInput{Target: r.tgt, Store: res.Store, Path: res.Path, Snapshot: r.snapshot}, &check); err != nil {
		return err
	}
	r.s.RestoreCheck = &check
	if !check.OK {
		r.s.setGate(GateRestorable, GateFailed, fmt.Sprint(check.Problems), "", r.now(ctx))
		return temporal.NewNonRetryableApplicationError("the archive did not restore identically, so nothing was dropped: "+fmt.Sprint(check.Problems), "ArchiveNotRestorable", nil)
	}
	r.s.setGate(GateRestorable, GatePassed, fmt.Sprintf("%d tables, %d rows restored into %s and compared with the source table by table, scratch dropped", check.Tables, check.Rows, check.Scratch), "", r.now(ctx))
	return nil
}

// dropGates checks every gate again right before the drop: a bug elsewhere must not be
// enough to destroy data.
func (r *retirement) dropGates(ctx workflow.Context) error {
	var failed []string
	if r.s.Verification == nil || !r.s.Verification.OK || r.s.Archive == nil || r.s.Archive.ManifestSHA256 == "" {
		failed = append(failed, "no verified archive")
	}
	if r.s.Request.Verify == VerifyRestore && r.s.gate(GateRestorable).State == GatePending {
		failed = append(failed, "the requested test restore did not run")
	}
	if !r.s.Signed() || !r.signedByAnOwner() {
		failed = append(failed, "no owner sign-off")
	}
	if len(r.s.Objections) > 0 {
		failed = append(failed, "an objection stands")
	}
	if !r.attemptsSettled() {
		failed = append(failed, "access attempts after the cut are not acknowledged")
	}
	if r.evidence && r.s.gate(GateEvidence).State != GatePassed {
		failed = append(failed, "the usage evidence of the sampling window was not passed or acknowledged")
	}
	if r.s.ObserveUntil.IsZero() || r.now(ctx).Before(r.s.ObserveUntil) {
		failed = append(failed, "observation window not over")
	}
	if !r.accessCut {
		failed = append(failed, "access was never cut")
	}
	if len(failed) > 0 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("refusing to drop %s: %v", r.target(), failed), "GateFailed", nil)
	}
	r.s.setGate(GateNoObjection, GatePassed, "", "", r.now(ctx))
	return nil
}

// finish gives access back when the retirement ends before the drop, then writes the record.
func (r *retirement) finish(ctx workflow.Context, err error) (Record, error) {
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	r.ending = true
	var final Phase
	switch {
	case err == nil && r.s.Request.DryRun:
		// A dry run is no retirement: it must not be listed beside the dropped ones.
		final = PhaseDone
		if workflow.GetVersion(ctx, "dry-run-phase", workflow.DefaultVersion, 1) == 1 {
			final = PhaseDryRun
		}
	case err == nil:
		final = PhaseDone
	case errors.Is(err, errAborted):
		final, r.s.Outcome = PhaseAborted, "aborted: "+r.s.Objections[0].By+" objected"
	case temporal.IsCanceledError(err):
		final, r.s.Outcome = PhaseCancelled, "cancelled"
	default:
		final, r.s.Error = PhaseFailed, errorText(err)
		r.s.Outcome = "failed"
	}
	r.s.Phase = final
	if err != nil && r.accessCut && !r.dropStarted {
		if rerr := r.run(ctx, shortOptions, "Restore access to "+r.target(), a.RestoreAccess,
			activities.SnapshotInput{Target: r.tgt, Snapshot: r.snapshot}, nil); rerr != nil {
			r.s.Outcome += "; RESTORING ACCESS FAILED: " + rerr.Error()
		} else {
			r.s.AccessRestored = true
			r.s.Outcome += "; access restored"
		}
	}
	r.restoreSettings(ctx)
	r.s.FinishedAt, r.s.Waiting = r.now(ctx), "" // nothing is awaited any more
	// 8. Record: a retirement that dropped its object is in the record phase while the
	// record is written (runs that ended before the drop go straight to how they ended).
	// Runs started before the record phase existed went straight to done.
	recordPhase := r.dropStarted && r.plan.Store != "" && workflow.GetVersion(ctx, "record-phase", workflow.DefaultVersion, 1) == 1
	if recordPhase {
		r.enter(ctx, PhaseRecord)
	} else {
		r.upsertPhase(ctx)
	}
	for _, g := range r.s.Gates { // counted once, where the run ends, whichever gate failed
		if g.State == GateFailed {
			metrics.GateFailed(workflow.GetMetricsHandler(ctx), g.Name)
		}
	}
	switch {
	case r.s.Gone != nil && r.s.Gone.Gone:
		r.notify(ctx, notify.Event{Kind: notify.Dropped, ArchivePath: r.s.Archive.Path, ArchiveURL: r.s.Archive.URL, BytesFreed: r.s.Gone.BytesFreed})
	case err != nil && (r.accessCut || len(r.s.Notices) > 0):
		// Owners who heard of the retirement hear that it ended; the others never knew.
		ev := notify.Event{Kind: notify.Aborted, Outcome: r.s.Outcome, AccessRestored: r.s.AccessRestored, DropStarted: r.dropStarted}
		if ev.DropStarted {
			ev.ArchivePath, ev.ArchiveURL = r.s.Archive.Path, r.s.Archive.URL
		}
		r.notify(ctx, ev)
	}
	if r.plan.Store != "" && !r.recordless {
		r.s.RecordKeys = &activities.RecordLocation{}
		// The record says how the retirement ended, not that it was being recorded.
		doc := r.s
		doc.Phase = final
		if rerr := r.run(ctx, shortOptions, "Write the retirement record", a.WriteRecord, r.recordInput(doc), r.s.RecordKeys); rerr != nil {
			r.s.RecordKeys = nil
			workflow.GetLogger(ctx).Error("Could not write the retirement record", "error", rerr)
		}
	}
	if recordPhase {
		r.s.Phase = final
		r.upsertPhase(ctx)
	}
	r.releaseSlot(ctx)
	r.details(ctx)
	r.reportDelivered(ctx)
	switch {
	case err == nil, errors.Is(err, errAborted):
		return r.s, nil
	case temporal.IsCanceledError(err):
		return r.s, temporal.NewCanceledError(r.s.Outcome)
	default:
		return r.s, err
	}
}

// errorText is what the status and the record say of a failure: the message of the error
// that caused it, without the SDK's wrapping ("activity error (type: ...)", "(type:
// Refused, retryable: false)").
func errorText(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.Message() != "" {
		return app.Message()
	}
	return err.Error()
}

// isDropRefusedIntact says the Drop activity failed in a way no retry fixes and found the
// object still whole.
func isDropRefusedIntact(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && app.Type() == activities.ErrTypeDropRefusedIntact
}

func (r *retirement) objected() error {
	if len(r.s.Objections) > 0 {
		o := r.s.Objections[0]
		r.s.setGate(GateNoObjection, GateFailed, o.Reason, o.By, o.At)
		return errAborted
	}
	return nil
}
