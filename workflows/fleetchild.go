package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/proof"
)

// The child's side of a fleet: a retirement started by a RetireFleet tells it where it
// stands, asks it for a slot before its archive (the fleet keeps at most K of a server's
// retirements in archive and drop at once), hands it its routine notices for the owners'
// digest (fleet_digest.go), and takes the requester's proof of the fleet as its own.
// Nothing here runs for a retirement a DBA started alone (Request.Fleet is empty), so runs
// from before fleets replay unchanged.

// inFleet says the retirement is one object of a fleet.
func (r *retirement) inFleet() bool { return r.s.Request.Fleet != "" }

// tellFleet sends the fleet a report when what it would show changed. Fire and forget: the
// fleet's view must never hold up a retirement.
func (r *retirement) tellFleet(ctx workflow.Context) {
	if !r.inFleet() {
		return
	}
	rep := FleetReport{WorkflowID: r.s.WorkflowID, RunID: r.s.RunID, Phase: r.s.Phase, Waiting: r.s.Waiting, Outcome: r.s.Outcome, Error: r.s.Error}
	if r.s.Archive != nil && r.s.Verification != nil && r.s.Verification.OK {
		rep.Archive = r.s.Archive.Location()
	}
	if k := r.s.RecordKeys; k != nil {
		rep.Record = k.JSONURL
		if rep.Record == "" {
			rep.Record = k.JSONKey
		}
	}
	key := fmt.Sprintf("%s|%s|%s|%s|%s|%s", rep.Phase, rep.Waiting, rep.Outcome, rep.Error, rep.Archive, rep.Record)
	if key == r.toldFleet {
		return
	}
	r.toldFleet = key
	r.reportSeq++
	rep.At, rep.Seq = r.now(ctx), r.reportSeq
	r.lastReport = workflow.SignalExternalWorkflow(ctx, r.s.Request.Fleet, "", SignalFleetReport, rep)
}

// reportDelivered waits until the last report reached the fleet (or could not: the fleet is
// gone). The run's end must not outrun the report that says how it ended.
func (r *retirement) reportDelivered(ctx workflow.Context) {
	if r.lastReport != nil {
		_ = r.lastReport.Get(ctx, nil)
	}
}

// takeSlot notes the fleet's grant of a slot (see follow).
func (r *retirement) takeSlot() {
	r.slotGranted = true
	r.changes++
}

// fleetSlot waits, before the archive, until the fleet grants this retirement one of its
// server's slots; an objection or a cancellation ends the wait.
func (r *retirement) fleetSlot(ctx workflow.Context) error {
	if !r.inFleet() || r.slotGranted {
		return nil
	}
	r.slotAsked = true
	workflow.SignalExternalWorkflow(ctx, r.s.Request.Fleet, "", SignalFleetSlot, FleetSlotRequest{WorkflowID: r.s.WorkflowID, Connection: r.tgt.Connection})
	r.wait(ctx, "a slot of the fleet "+r.s.Request.Fleet+" for "+r.tgt.Connection+" (at most a few of a server's retirements archive and drop at once)")
	if err := workflow.Await(ctx, func() bool { return r.slotGranted || len(r.s.Objections) > 0 }); err != nil {
		return err
	}
	r.wait(ctx, "")
	return r.objected()
}

// releaseSlot gives the slot back, once the drop is verified or the retirement ends.
func (r *retirement) releaseSlot(ctx workflow.Context) {
	if !r.inFleet() || !r.slotAsked {
		return
	}
	r.slotAsked = false
	workflow.SignalExternalWorkflow(ctx, r.s.Request.Fleet, "", SignalFleetSlot, FleetSlotRequest{WorkflowID: r.s.WorkflowID, Connection: r.tgt.Connection, Release: true})
}

// verifyFleetRequester is pinSigners for a retirement a fleet started: the requester signed
// the fleet's start, not this one. The workflow checks that its parent is that fleet (the
// parent is recorded by Temporal, not said by the request) and that the proof is the
// requester's signature of that fleet's start.
func (r *retirement) verifyFleetRequester(ctx workflow.Context, pins proof.Pins) (proof.Verified, error) {
	fleet := r.s.Request.Fleet
	parent := workflow.GetInfo(ctx).ParentWorkflowExecution
	if parent == nil || parent.ID != fleet {
		return proof.Verified{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("this retirement says it belongs to the fleet %s, but that fleet did not start it", fleet), "Refused", nil)
	}
	st, _ := decoded(r.s.Request.Proof)
	// The fleet checked the expiry when it started; its children start over days, so the
	// statement is checked as of when it was made.
	return pins.Verify(r.s.Request.Proof, proof.Expect{
		Decision: DecisionFleetStart, Workflow: fleet, Person: strings.TrimSpace(r.s.Request.Requester),
		Says: r.s.Request.FleetSays, Now: time.Unix(st.IssuedAt, 0),
	})
}
