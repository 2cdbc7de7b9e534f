package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/dataretire/retire/owners"
	"github.com/dataretire/retire/proof"
)

// FleetPlanInput asks who may steer a fleet: its requester and the directory's DBAs.
type FleetPlanInput struct {
	Requester string `json:"requester"`
	// Store is the store the fleet's record goes to ("": the worker's default).
	Store string `json:"store,omitempty"`
}

// FleetPlan is who may decide about a fleet's waves (proceed, pause, resume, exclude,
// abort), pinned with their keys when the fleet starts; each object's own retirement pins
// its owners in its own plan.
type FleetPlan struct {
	Requester string     `json:"requester"`
	DBAs      []string   `json:"dbas,omitempty"`
	Pins      proof.Pins `json:"pins"`
	From      string     `json:"from"`
	// Store is the store profile the fleet record is written to.
	Store string `json:"store"`
	// DigestEvery is how often the fleet sends its owners' digest when the fleet file does
	// not say; WatchEvery how often it looks for children that ended without a report. A dev
	// worker's windows are minutes, so its intervals are too.
	DigestEvery time.Duration `json:"digest_every,omitempty"`
	WatchEvery  time.Duration `json:"watch_every,omitempty"`
}

// The fleet's intervals on a production worker and on a dev worker.
const (
	fleetDigestEvery    = time.Hour
	devFleetDigestEvery = time.Minute
	fleetWatchEvery     = time.Hour
	devFleetWatchEvery  = time.Minute
)

// FleetPlan resolves the fleet's deciders from the owners directory, as Plan does for one
// retirement.
func (a *Activities) FleetPlan(ctx context.Context, in FleetPlanInput) (FleetPlan, error) {
	storeName, _, err := a.cfg.Store(in.Store)
	if err != nil {
		return FleetPlan{}, refuse("%v", err)
	}
	portal, err := a.cfg.Signoff.Keys()
	if err != nil {
		return FleetPlan{}, refuse("%v", err)
	}
	fp := FleetPlan{Requester: strings.TrimSpace(in.Requester), Store: storeName, DigestEvery: fleetDigestEvery, WatchEvery: fleetWatchEvery,
		Pins: proof.Pins{PortalKeys: portal, AcceptUnproven: a.policy.Dev && !a.cfg.Signoff.RequireProof}}
	if a.policy.Dev {
		fp.DigestEvery, fp.WatchEvery = devFleetDigestEvery, devFleetWatchEvery
	}
	if !a.cfg.Owners.Configured() {
		if !fp.Pins.AcceptUnproven {
			return FleetPlan{}, refuse("no owners directory is declared, so nobody could prove who steers the fleet: declare people under owners: in the worker's config")
		}
		fp.From = "the request (dev worker without an owners directory)"
		return fp, nil
	}
	dir, err := owners.Load(ctx, a.cfg.Owners)
	if err != nil {
		return FleetPlan{}, refuse("%v", err)
	}
	fp.From = dir.From
	if p, ok := dir.Find(fp.Requester); ok {
		fp.Requester = p.ID
		fp.Pins.People = append(fp.Pins.People, p.Pinned())
	} else if !fp.Pins.AcceptUnproven {
		return FleetPlan{}, refuse("requester %q is not in the owners directory (%s): a production worker only takes fleets whose requester can prove who they are", in.Requester, dir.From)
	}
	for _, p := range dir.People {
		if !p.DBA {
			continue
		}
		fp.DBAs = append(fp.DBAs, p.ID)
		if _, ok := fp.Pins.Person(p.ID); !ok {
			fp.Pins.People = append(fp.Pins.People, p.Pinned())
		}
	}
	return fp, nil
}

// WriteFleetRecord writes a fleet's record, record.json and record.md under the fleet's own
// path: WriteRecord, under the name the fleet workflow calls.
func (a *Activities) WriteFleetRecord(ctx context.Context, in RecordInput) (RecordLocation, error) {
	return a.WriteRecord(ctx, in)
}

// FleetChildRun is one child of a fleet, by workflow and run.
type FleetChildRun struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// FleetChildrenInput are the children a fleet has not heard the end of.
type FleetChildrenInput struct {
	Children []FleetChildRun `json:"children"`
}

// How a closed child closed, as Temporal says.
const (
	ChildCompleted      = "completed"
	ChildFailed         = "failed"
	ChildCanceled       = "canceled"
	ChildTerminated     = "terminated"
	ChildTimedOut       = "timed-out"
	ChildContinuedAsNew = "continued-as-new"
	ChildNotFound       = "not-found"
)

// ClosedChild is a child that no longer runs. Reason says so in words, for the fleet's list
// of failures; Phase, Outcome, Error and Archive are from the retirement record a completed
// child returned.
type ClosedChild struct {
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	Status     string    `json:"status"`
	Reason     string    `json:"reason"`
	ClosedAt   time.Time `json:"closed_at,omitzero"`
	Phase      string    `json:"phase,omitempty"`
	Outcome    string    `json:"outcome,omitempty"`
	Error      string    `json:"error,omitempty"`
	Archive    string    `json:"archive,omitempty"`
}

// FleetChildrenResult lists the children that are closed; the others still run.
type FleetChildrenResult struct {
	Closed []ClosedChild `json:"closed,omitempty"`
}

// workflowLookup is what CheckFleetChildren asks of Temporal (client.Client has it).
type workflowLookup interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
	GetWorkflowHistory(ctx context.Context, workflowID, runID string, isLongPoll bool, filterType enumspb.HistoryEventFilterType) client.HistoryEventIterator
	GetWorkflow(ctx context.Context, workflowID, runID string) client.WorkflowRun
}

// lookupsAtOnce bounds the calls to the Temporal frontend one look makes at once.
const lookupsAtOnce = 8

// CheckFleetChildren asks Temporal, through the worker's own client, how each child stands,
// and returns those that no longer run with how they closed. It is read-only and short; a
// child that cannot be looked at is left for the next look, and only a look that reached
// none of them fails.
func (a *Activities) CheckFleetChildren(ctx context.Context, in FleetChildrenInput) (FleetChildrenResult, error) {
	return checkFleetChildren(ctx, activity.GetClient(ctx), in)
}

func checkFleetChildren(ctx context.Context, lookup workflowLookup, in FleetChildrenInput) (FleetChildrenResult, error) {
	closed := make([]*ClosedChild, len(in.Children))
	errs := make([]error, len(in.Children))
	sem := make(chan struct{}, lookupsAtOnce)
	var wg sync.WaitGroup
	for i, ch := range in.Children {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			closed[i], errs[i] = closedChild(ctx, lookup, ch)
		}()
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, i) // how far the look got
		}
	}
	wg.Wait()
	var res FleetChildrenResult
	for _, c := range closed {
		if c != nil {
			res.Closed = append(res.Closed, *c)
		}
	}
	// One child that could not be looked at is looked at next time; a look that reached
	// nobody is a failure worth seeing.
	err := errors.Join(errs...)
	if err != nil && len(res.Closed) == 0 && !slices.ContainsFunc(errs, func(e error) bool { return e == nil }) {
		return res, err
	}
	if err != nil && activity.IsActivity(ctx) {
		activity.GetLogger(ctx).Warn("Could not look at some children of the fleet; they are looked at next time", "error", err)
	}
	return res, nil
}

// closedChild is how the child closed, or nil while it runs.
func closedChild(ctx context.Context, lookup workflowLookup, ch FleetChildRun) (*ClosedChild, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out := &ClosedChild{WorkflowID: ch.WorkflowID, RunID: ch.RunID}
	resp, err := lookup.DescribeWorkflowExecution(cctx, ch.WorkflowID, ch.RunID)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		out.Status, out.Reason = ChildNotFound, "no longer known to Temporal (closed longer ago than the namespace keeps histories); no final report"
		return out, nil
	case err != nil:
		return nil, fmt.Errorf("describe %s/%s: %w", ch.WorkflowID, ch.RunID, err)
	}
	info := resp.GetWorkflowExecutionInfo()
	if t := info.GetCloseTime(); t != nil {
		out.ClosedAt = t.AsTime().UTC()
	}
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_PAUSED, enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED:
		return nil, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		out.Status, out.Reason = ChildCompleted, "completed, but its final report never reached the fleet"
		var rec struct {
			Phase   string         `json:"phase"`
			Outcome string         `json:"outcome"`
			Error   string         `json:"error"`
			Archive *ArchiveResult `json:"archive"`
		}
		if err := lookup.GetWorkflow(cctx, ch.WorkflowID, ch.RunID).Get(cctx, &rec); err != nil {
			out.Reason += "; its result could not be read: " + err.Error()
			return out, nil
		}
		out.Phase, out.Outcome, out.Error = rec.Phase, rec.Outcome, rec.Error
		if rec.Archive != nil {
			out.Archive = rec.Archive.Location()
		}
		return out, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		out.Status, out.Reason = ChildFailed, "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		out.Status, out.Reason = ChildCanceled, "cancelled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		out.Status, out.Reason = ChildTerminated, "terminated by an operator"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		out.Status, out.Reason = ChildTimedOut, "timed out (its run timeout)"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		out.Status, out.Reason = ChildContinuedAsNew, "continued as new, which a retirement never does"
	default:
		out.Status, out.Reason = strings.ToLower(info.GetStatus().String()), "closed ("+info.GetStatus().String()+")"
	}
	// The close event says who and why, when someone said it; the status alone is enough
	// to act on.
	if detail := closeDetail(cctx, lookup, ch); detail != "" {
		out.Reason += " (" + detail + ")"
	}
	out.Reason += "; no final report"
	return out, nil
}

// closeDetail is what the child's close event says: the failure, or who terminated it and
// why; "" when it cannot be read.
func closeDetail(ctx context.Context, lookup workflowLookup, ch FleetChildRun) string {
	it := lookup.GetWorkflowHistory(ctx, ch.WorkflowID, ch.RunID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	if it == nil || !it.HasNext() {
		return ""
	}
	ev, err := it.Next()
	if err != nil || ev == nil {
		return ""
	}
	switch {
	case ev.GetWorkflowExecutionTerminatedEventAttributes() != nil:
		t := ev.GetWorkflowExecutionTerminatedEventAttributes()
		return strings.Join(nonEmpty(t.GetIdentity(), t.GetReason()), ": ")
	case ev.GetWorkflowExecutionFailedEventAttributes() != nil:
		return cutText(ev.GetWorkflowExecutionFailedEventAttributes().GetFailure().GetMessage(), 300)
	}
	return ""
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func cutText(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
