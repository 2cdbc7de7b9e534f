package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/workflows"
)

const statusExample = `  retire status local shop
  retire status local shop --watch                 # live view until the retirement ends; Ctrl-C stops watching
  retire status local shop --watch --interval 5s   # piped or redirected: one plain line per change
  retire status local shop -o json | jq .gates
  retire status local shop --watch -o json | jq -c '{phase, pending_activities}'
  retire status local shop --run-id 0190a5c4-...   # an earlier, finished attempt`

const statusLong = `Show where the retirement of <database> stands. The first line is "phase: <phase>"; the
second, while the retirement waits for a person, is "waiting: <what>".

A running retirement answers the status query (a retire-worker must be running). A finished
one is read from its result, or from Temporal's own record of it when no worker can answer.

Without --run-id it shows the latest run that got past the plan: a later start that was
refused in the plan (a database that does not exist, an unknown profile) changed nothing
and does not hide the retirement that went through; a "note:" line names it.

--watch reads the status again every --interval until the retirement ends (its run closed in
Temporal: done, aborted, cancelled, failed, terminated, timed out) or Ctrl-C. A final phase in a
run still open is "winding up" (giving access back, writing the record). On a terminal it redraws in place, with
a progress bar while sampling (time into the window) and archiving (rows of the inventory
exported, rows/s and bytes/s over the last 30s, time left; "unknown" until two heartbeats
are seen). Piped or redirected, it prints one plain line each time something changes.

The "owners" line says who may approve, object and extend, and where that came from: the
owners directory the plan read (pinned for this retirement, with each person's SSH keys), or
"not from a directory" on a dev worker that took the request's word. Every decision says how
its author was proven: "verified: SSH signature by SHA256:...", "verified: logged in to the
owners' page through <issuer>", or "identity not verified" (a dev worker took the name as
typed).

-o json prints one object: the workflow's status (workflow_id, run_id, request, phase,
waiting, started_at, sample_until, observe_from, observe_until, observe_total (ns), plan,
signers (owners, dbas, requester, pins: the people with their ssh_keys and the page's
portal_keys, from, unlisted), requester_verified, nonces, clients, sample_looks,
acknowledgement, evidence, cut, signoffs, objections, extensions (each decision with its
proof and what it verified), archive, verification, gone, gates, outcome, error,
record_keys), plus execution_status,
pending_activities (type, state, attempt, last_heartbeat, heartbeat: the activity's own
progress JSON, last_failure), note, and later_runs (runs after the one shown that ended in
the plan, newest first: run_id, phase, error, started_at); fields that do not apply are
empty or left out.
With --watch, the same object, compact, one per line each time something changes.`

func (a *app) statusCommand() *cobra.Command {
	var out output
	var runID string
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:     "status <connection> <database>",
		Short:   "Show where a retirement stands: phase, what it waits for, gates, people, clients, progress",
		Long:    statusLong,
		Example: statusExample,
		Args:    target,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := watchFlags(cmd, watch, interval); err != nil {
				return err
			}
			c, err := a.temporal()
			if err != nil {
				return err
			}
			if watch {
				return a.watch(cmd.Context(), c, args[0], args[1], runID, out, interval)
			}
			v, err := a.loadStatus(cmd.Context(), c, args[0], args[1], runID)
			if err != nil {
				return err
			}
			if out == outputJSON {
				return writeJSON(a.out, v)
			}
			renderStatus(a.out, v)
			return nil
		},
	}
	addOutputFlag(cmd, &out)
	cmd.Flags().StringVar(&runID, "run-id", "", "a specific run (default: the latest that got past the plan)")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "keep showing the status until the retirement ends (Ctrl-C stops watching)")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "with --watch: how often the status is read again")
	return cmd
}

// statusView is the status as the workflow reports it plus what only Temporal knows: the
// execution's state and the activities in flight with their heartbeats.
type statusView struct {
	workflows.Status
	ExecutionStatus   string            `json:"execution_status,omitempty"`
	PendingActivities []pendingActivity `json:"pending_activities"`
	// Note says why parts are missing, e.g. no worker answered the query.
	Note string `json:"note,omitempty"`
	// LaterRuns are the runs after this one that ended in the plan (refused: a missing
	// database, an unknown profile), newest first. Without --run-id the latest run that got
	// past the plan is shown, and they are named here.
	LaterRuns []laterRun `json:"later_runs,omitempty"`

	runID       string // the run described
	endedInPlan bool   // closed without getting past the plan
}

type pendingActivity struct {
	Type          string          `json:"type"`
	State         string          `json:"state"`
	Attempt       int32           `json:"attempt"`
	LastHeartbeat time.Time       `json:"last_heartbeat,omitzero"`
	Heartbeat     json.RawMessage `json:"heartbeat,omitempty"`
	LastFailure   string          `json:"last_failure,omitempty"`
}

// execution is what DescribeWorkflowExecution says, reduced to what the CLI reads.
type execution struct {
	RunID   string
	Status  enumspb.WorkflowExecutionStatus
	Start   time.Time
	Close   time.Time
	attrs   map[string]*commonpb.Payload
	pending []pendingActivity
}

func (e *execution) closed() bool {
	return e.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && e.Status != enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED
}

func (a *app) describe(ctx context.Context, c temporalAPI, id, runID string) (*execution, error) {
	rctx, cancel := a.rpc(ctx)
	defer cancel()
	resp, err := c.DescribeWorkflowExecution(rctx, id, runID)
	if err != nil {
		return nil, err
	}
	info := resp.GetWorkflowExecutionInfo()
	e := &execution{
		RunID:  info.GetExecution().GetRunId(),
		Status: info.GetStatus(),
		attrs:  info.GetSearchAttributes().GetIndexedFields(),
	}
	if info.GetStartTime() != nil {
		e.Start = info.GetStartTime().AsTime()
	}
	if info.GetCloseTime() != nil {
		e.Close = info.GetCloseTime().AsTime()
	}
	for _, p := range resp.GetPendingActivities() {
		pa := pendingActivity{
			Type:        p.GetActivityType().GetName(),
			State:       p.GetState().String(),
			Attempt:     p.GetAttempt(),
			Heartbeat:   heartbeatJSON(p.GetHeartbeatDetails()),
			LastFailure: p.GetLastFailure().GetMessage(),
		}
		if p.GetLastHeartbeatTime() != nil {
			pa.LastHeartbeat = p.GetLastHeartbeatTime().AsTime()
		}
		e.pending = append(e.pending, pa)
	}
	return e, nil
}

// heartbeatJSON turns heartbeat details into JSON without knowing their Go type, so that a
// new activity's progress shows up in -o json without a CLI change.
func heartbeatJSON(ps *commonpb.Payloads) json.RawMessage {
	var out []json.RawMessage
	for _, p := range ps.GetPayloads() {
		if string(p.GetMetadata()["encoding"]) == "json/plain" && json.Valid(p.GetData()) {
			out = append(out, p.GetData())
			continue
		}
		var v any
		if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil || v == nil {
			continue
		}
		if b, err := json.Marshal(v); err == nil {
			out = append(out, b)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	b, _ := json.Marshal(out)
	return b
}

// keyword reads a Keyword (or KeywordList) search attribute; visibility stores them as JSON.
func keyword[T string | []string](attrs map[string]*commonpb.Payload, name string) T {
	var v T
	if p, ok := attrs[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}

func (a *app) queryStatus(ctx context.Context, c temporalAPI, id, runID string) (workflows.Status, error) {
	rctx, cancel := a.rpc(ctx)
	defer cancel()
	var st workflows.Status
	v, err := c.QueryWorkflow(rctx, id, runID, workflows.QueryStatus)
	if err != nil {
		return st, err
	}
	err = v.Get(&st)
	return st, err
}

// loadStatus reads the retirement of connection/object: run runID, or without one the
// latest run that got past the plan. A run refused in the plan (a missing database, an
// unknown profile) changed nothing, and must not hide the retirement of the same name that
// went through: it is named in LaterRuns instead.
func (a *app) loadStatus(ctx context.Context, c temporalAPI, connection, object, runID string) (statusView, error) {
	v, err := a.loadRun(ctx, c, connection, object, runID)
	if err != nil || runID != "" || !v.endedInPlan {
		return v, err
	}
	if earlier, ok := a.earlierRun(ctx, c, connection, object, v); ok {
		return earlier, nil
	}
	return v, nil
}

// maxEarlierRuns bounds how many earlier runs loadStatus reads looking for one that got past
// the plan: each costs a describe and a result (and a query without a worker).
const maxEarlierRuns = 10

// visibleID is what a workflow id must look like to be pasted into a visibility query,
// which has no bind parameters. Ids of other shapes are not looked up there.
var visibleID = regexp.MustCompile(`^[A-Za-z0-9_.:$#-]{1,300}$`)

// earlierRun finds, from Temporal's visibility store, the newest run before latest that got
// past the plan, and notes the runs after it that did not. false: there is none, or it
// cannot be read, and latest is what there is to show.
func (a *app) earlierRun(ctx context.Context, c temporalAPI, connection, object string, latest statusView) (statusView, bool) {
	id := workflows.WorkflowID(connection, object)
	if !visibleID.MatchString(id) {
		return statusView{}, false
	}
	rctx, cancel := a.rpc(ctx)
	resp, err := c.ListWorkflow(rctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query:    fmt.Sprintf("WorkflowType = '%s' AND WorkflowId = '%s'", workflows.WorkflowName, id),
		PageSize: maxEarlierRuns + 1,
	})
	cancel()
	if err != nil {
		return statusView{}, false
	}
	runs := slices.Clone(resp.GetExecutions())
	slices.SortStableFunc(runs, func(x, y *workflowpb.WorkflowExecutionInfo) int {
		return y.GetStartTime().AsTime().Compare(x.GetStartTime().AsTime()) // newest first
	})
	later := []laterRun{latest.asLaterRun()}
	read := 0
	for _, e := range runs {
		rid := e.GetExecution().GetRunId()
		if rid == "" || rid == latest.runID || e.GetExecution().GetWorkflowId() != id {
			continue
		}
		if read++; read > maxEarlierRuns {
			break
		}
		v, err := a.loadRun(ctx, c, connection, object, rid)
		if err != nil {
			return statusView{}, false
		}
		if !v.endedInPlan {
			v.LaterRuns = later
			return v, true
		}
		later = append(later, v.asLaterRun())
	}
	return statusView{}, false
}

// loadRun reads one run: runID, or the latest when it is empty.
func (a *app) loadRun(ctx context.Context, c temporalAPI, connection, object, runID string) (statusView, error) {
	id := workflows.WorkflowID(connection, object)
	desc, err := a.describe(ctx, c, id, runID)
	switch {
	case isNotFound(err):
		return statusView{}, fmt.Errorf("no retirement of %s/%s found (workflow %s); see `retire list --all`", connection, object, id)
	case isTimeout(err):
		return statusView{}, fmt.Errorf("Temporal did not answer within %s; check TEMPORAL_ADDRESS or raise --timeout", a.timeout)
	case runID != "" && isInvalidArgument(err):
		return statusView{}, fmt.Errorf("--run-id %q: %s", runID, explain(err))
	case err != nil:
		return statusView{}, fmt.Errorf("cannot read the retirement of %s/%s: %s", connection, object, explain(err))
	}
	v := statusView{ExecutionStatus: desc.Status.String(), PendingActivities: desc.pending, runID: desc.RunID}
	if desc.closed() {
		st, runErr := a.closedStatus(ctx, c, id, desc.RunID, desc)
		v.Status = st
		if runErr != nil && st.Phase == workflows.PhaseFailed {
			v.Error = explain(runErr)
		}
		if st.Plan == nil && st.Gates == nil {
			v.Note = "no worker answered the status query, so only what Temporal records is shown"
		}
		v.endedInPlan = endedInPlan(st, runErr)
		return v, nil
	}
	st, err := a.queryStatus(ctx, c, id, desc.RunID)
	if err != nil {
		v.Status = fromDescription(id, desc)
		if isTimeout(err) {
			v.Note = fmt.Sprintf("the workflow did not answer the status query within %s: is a retire-worker running on task queue %q?", a.timeout, workflows.TaskQueue)
		} else {
			v.Note = "the workflow did not answer the status query: " + explain(err)
		}
		return v, nil
	}
	v.Status = st
	if st.Phase.Ended() {
		// The workflow has said how it ends, but its run is open: it still gives access or
		// settings back, writes the record, or its last workflow task is not yet accepted
		// (a query can answer from it; a task Temporal refuses is run again).
		v.Note = "winding up: Temporal has not closed the run yet"
	}
	return v, nil
}

// endedInPlan says whether a closed run ended without getting past the plan: no plan stored
// and no phase after it. With only Temporal's description at hand (no worker answered), the
// failure says where the run stopped; a run that cannot be placed counts as past the plan,
// so that it is shown rather than passed over.
func endedInPlan(st workflows.Status, runErr error) bool {
	if st.Plan != nil {
		return false
	}
	switch st.Phase {
	case "", workflows.PhasePlan, workflows.PhaseFailed, workflows.PhaseCancelled, workflows.PhaseAborted:
	default:
		return false
	}
	if st.Gates != nil { // the workflow's own status, and it stored no plan
		return true
	}
	var actErr *temporal.ActivityError
	if errors.As(runErr, &actErr) {
		return actErr.ActivityType().GetName() == planActivity
	}
	var appErr *temporal.ApplicationError
	return errors.As(runErr, &appErr) && appErr.Type() == "InvalidRequest"
}

// planActivity is the activity type of the plan phase (the method Activities.Plan).
const planActivity = "Plan"

// laterRun is a run after the one shown that ended in the plan.
type laterRun struct {
	RunID     string          `json:"run_id"`
	Phase     workflows.Phase `json:"phase"`
	Error     string          `json:"error,omitempty"`
	StartedAt time.Time       `json:"started_at,omitzero"`
}

func (v statusView) asLaterRun() laterRun {
	return laterRun{RunID: v.runID, Phase: v.Phase, Error: v.Error, StartedAt: v.StartedAt}
}

// laterNote is the one line that says a newer run than the one shown exists and why it is
// not the one shown; "" when there is none.
func (v statusView) laterNote() string {
	if len(v.LaterRuns) == 0 {
		return ""
	}
	r := v.LaterRuns[0]
	var s string
	switch r.Phase {
	case workflows.PhaseFailed:
		s = fmt.Sprintf("a later run %s was refused in the plan", r.RunID)
		if r.Error != "" {
			s += ": " + r.Error
		}
	case workflows.PhaseCancelled:
		s = fmt.Sprintf("a later run %s was cancelled in the plan", r.RunID)
	default:
		s = fmt.Sprintf("a later run %s ended in the plan (%s)", r.RunID, orDash(string(r.Phase)))
	}
	if n := len(v.LaterRuns) - 1; n > 0 {
		s += fmt.Sprintf("; %s ended in the plan too", plural(n, "more later run", "more later runs"))
	}
	return oneLine(s) + "; this is the latest run that got past the plan"
}

// closedStatus reads a finished retirement. A completed one carries its record as its result;
// a failed or cancelled one only answers a query when a worker replays it, so Temporal's
// description stands in when none does. runErr is how the run ended, if not completed.
func (a *app) closedStatus(ctx context.Context, c temporalAPI, id, runID string, desc *execution) (workflows.Status, error) {
	rctx, cancel := a.rpc(ctx)
	defer cancel()
	var rec workflows.Record
	runErr := c.GetWorkflow(rctx, id, runID).Get(rctx, &rec)
	if runErr == nil && desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		return rec, nil
	}
	st, err := a.queryStatus(ctx, c, id, runID)
	if err != nil {
		st = fromDescription(id, desc)
	}
	switch {
	case desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		st.Phase = workflows.PhaseCancelled
		if st.Outcome == "" {
			st.Outcome = explain(runErr)
		}
	case st.Phase == "" || !terminal(st.Phase):
		// Terminated or timed out: the workflow had no chance to record its end.
		st.Phase = workflows.PhaseFailed
		st.Outcome = strings.ToLower(desc.Status.String())
	}
	if st.Phase == workflows.PhaseFailed && runErr != nil {
		st.Error = explain(runErr)
	}
	return st, runErr
}

func terminal(p workflows.Phase) bool { return p.Ended() }

// fromDescription rebuilds what it can of a status from search attributes, which Temporal
// keeps without any worker.
func fromDescription(id string, d *execution) workflows.Status {
	return workflows.Status{
		WorkflowID: id,
		RunID:      d.RunID,
		Phase:      workflows.Phase(keyword[string](d.attrs, workflows.AttrPhase.GetName())),
		Request: workflows.Request{
			Connection: keyword[string](d.attrs, workflows.AttrConnection.GetName()),
			Object:     keyword[string](d.attrs, workflows.AttrObject.GetName()),
			Reason:     workflows.Reason(keyword[string](d.attrs, workflows.AttrReason.GetName())),
			Requester:  keyword[string](d.attrs, workflows.AttrRequester.GetName()),
			Owners:     keyword[[]string](d.attrs, workflows.AttrOwners.GetName()),
		},
		StartedAt:  d.Start,
		FinishedAt: d.Close,
	}
}

// renderStatus is the text of `retire status`. Its first lines are "phase:" and, when a
// person is awaited, "waiting:"; scripts and tests grep them, so keep them first.
func renderStatus(w io.Writer, v statusView) {
	st := v.Status
	req := st.Request
	line := func(k, val string) {
		if val != "" {
			fmt.Fprintf(w, "%s: %s\n", k, val)
		}
	}
	line("phase", orDash(string(st.Phase)))
	line("waiting", st.Waiting)
	line("outcome", st.Outcome)
	line("error", st.Error)
	line("note", v.Note)
	line("note", v.laterNote())
	run := st.RunID
	if v.ExecutionStatus != "" {
		run += ", " + v.ExecutionStatus
	}
	line("retirement", fmt.Sprintf("%s/%s (workflow %s, run %s)", req.Connection, req.Object, st.WorkflowID, run))
	line("reason", string(req.Reason))
	if st.Signers != nil || st.RequesterVerified != nil {
		line("requester", requesterText(st))
	} else {
		line("requester", req.Requester)
	}
	if sg := st.Signers; sg != nil {
		line("owners", ownersText(sg))
		if len(sg.DBAs) > 0 {
			line("dbas", strings.Join(sg.DBAs, ", ")+" (may acknowledge evidence and attempts, as may the requester and the owners)")
		}
	} else {
		line("owners", strings.Join(req.Owners, ", "))
	}
	line("ticket", req.Ticket)
	line("strategy", string(req.Strategy))
	line("store", req.Store)
	if req.DryRun {
		line("dry run", "yes: plan and sample only, nothing is changed")
	}
	line("started", stamp(st.StartedAt))
	line("sampling until", stamp(st.SampleUntil))
	switch {
	case !st.ObserveFrom.IsZero():
		line("observation", fmt.Sprintf("%s -> %s (%s)", stamp(st.ObserveFrom), stamp(st.ObserveUntil), days(st.ObserveTotal)))
	case st.ObserveTotal > 0:
		line("observation", days(st.ObserveTotal)+", from the cut of access after sampling")
	}
	line("finished", stamp(st.FinishedAt))
	if st.Plan != nil {
		inv := st.Plan.Inventory
		line("inventory", fmt.Sprintf("%s %s: %s, %s rows, %s; %d views, %d routines, %d triggers, %d events; accounts that reach it: %s",
			inv.Engine, inv.Version, plural(len(inv.Tables), "table", "tables"), thousands(inv.TotalRows), bytesText(inv.TotalBytes),
			len(inv.Views), len(inv.Routines), len(inv.Triggers), len(inv.Events), accountList(inv.Accounts)))
		if len(inv.GlobalHolders) > 0 {
			line("global holders", accountList(inv.GlobalHolders)+" (reach every database; left alone)")
		}
		for _, warn := range inv.Warnings {
			line("warning", warn)
		}
	}
	if c := st.Cut; c != nil {
		line("access cut", fmt.Sprintf("%d grants revoked, %d accounts locked, %d tables moved, %d sessions killed", c.Revoked, len(c.Locked), c.Moved, c.KilledSessions))
	}
	if st.AccessRestored {
		line("access", "restored")
	}
	if ar := st.Archive; ar != nil {
		line("archive", fmt.Sprintf("%s (store %s, path %s; %s, %s rows, %s; manifest sha256 %s)",
			ar.Location(), ar.Store, ar.Path, plural(ar.Tables, "table", "tables"), thousands(ar.Rows), bytesText(ar.Bytes), ar.ManifestSHA256))
	}
	if vf := st.Verification; vf != nil {
		if vf.OK {
			line("archive verified", fmt.Sprintf("%d tables, %s rows, %d files, %s", vf.Tables, thousands(vf.Rows), vf.Files, bytesText(vf.Bytes)))
		} else {
			line("archive verification failed", strings.Join(vf.Problems, "; "))
		}
	}
	if g := st.Gone; g != nil {
		freed := bytesText(g.BytesFreed)
		if g.BytesFreedMethod != "" {
			freed += ", " + g.BytesFreedMethod
		}
		line("bytes freed", freed)
	}
	if rk := st.RecordKeys; rk != nil {
		if rk.JSONURL != "" {
			line("record", rk.JSONURL+" "+rk.MarkdownURL)
			line("proofs", "check every decision's proof offline: retire record verify "+rk.JSONURL)
		} else {
			line("record", strings.TrimSpace(rk.JSONKey+" "+rk.MarkdownKey))
		}
	}
	for _, p := range v.PendingActivities {
		line("activity", activityLine(p))
		line("progress", progressLine(p))
	}

	if len(st.Gates) > 0 {
		fmt.Fprintln(w, "\ngates:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  GATE\tSTATE\tBY\tAT\tDETAIL")
		for _, g := range st.Gates {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", g.Name, g.State, orDash(g.By), orDash(stamp(g.At)), g.Detail)
		}
		_ = tw.Flush()
	}
	if len(st.Signoffs) > 0 {
		fmt.Fprintln(w, "\nsign-offs:")
		for _, s := range st.Signoffs {
			fmt.Fprintf(w, "  %s at %s%s\n", provenBy(s.By, s.Verified), stamp(s.At), said(s.Comment))
		}
	}
	if len(st.Objections) > 0 {
		fmt.Fprintln(w, "\nobjections:")
		for _, o := range st.Objections {
			fmt.Fprintf(w, "  %s at %s%s\n", provenBy(o.By, o.Verified), stamp(o.At), said(o.Reason))
		}
	}
	if len(st.Extensions) > 0 {
		fmt.Fprintln(w, "\nextensions:")
		for _, x := range st.Extensions {
			fmt.Fprintf(w, "  %s by %s at %s%s\n", provenBy(x.By, x.Verified), days(x.Extra), stamp(x.At), said(x.Reason))
		}
	}
	if len(st.Clients) > 0 || st.SampleLooks > 0 {
		fmt.Fprintf(w, "\nclients seen (%s):\n", plural(st.SampleLooks, "look", "looks"))
		if len(st.Clients) == 0 {
			fmt.Fprintln(w, "  none")
		} else {
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  CLIENT\tPROGRAM\tHOW\tTABLES\tCONNECTIONS\tFIRST SEEN\tLAST SEEN")
			for _, c := range st.Clients {
				fmt.Fprintf(tw, "  %s@%s\t%s\t%s\t%s\t%d\t%s\t%s\n", c.User, c.Host, orDash(c.Program), orDash(strings.Join(c.Via, ", ")), orDash(strings.Join(c.Tables, ", ")), c.Count, stamp(c.FirstSeen), stamp(c.LastSeen))
			}
			_ = tw.Flush()
		}
		if ack := st.Acknowledgement; ack != nil {
			fmt.Fprintf(w, "  acknowledged by %s at %s%s\n", provenBy(ack.By, ack.Verified), stamp(ack.At), said(ack.Note))
		}
	}
	writeEvidence(w, st.Evidence)
}

// writeEvidence says how complete the usage evidence is and what it saw: the sources, the
// time looked at, the reads and writes counted per table, and who kept trying after the cut.
func writeEvidence(w io.Writer, ev *workflows.Evidence) {
	if ev == nil {
		return
	}
	fmt.Fprintf(w, "\nevidence (window %s -> %s, looked at %s):\n", stamp(ev.WindowFrom), stamp(ev.WindowUntil), days(ev.Looked.Round(time.Second)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SOURCE\tSTATE\tDETAIL")
	for _, s := range ev.Sources {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Name, s.State, orDash(s.Detail))
	}
	_ = tw.Flush()
	for _, t := range ev.Access {
		fmt.Fprintf(w, "  counted on %s: %s rows read, %s changed\n", t.Table, thousands(t.Reads), thousands(t.Writes))
	}
	for _, u := range ev.Unattributed {
		fmt.Fprintf(w, "  unattributed: %s (%s reads, %s writes) and no client seen explains it\n", u.Table, thousands(u.Reads), thousands(u.Writes))
	}
	for _, n := range ev.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	for _, p := range ev.Problems {
		fmt.Fprintf(w, "  incomplete: %s\n", p)
	}
	for _, a := range ev.Acknowledged {
		fmt.Fprintf(w, "  acknowledged before the look right before the cut (which found more): %s at %s%s\n", provenBy(a.By, a.Verified), stamp(a.At), said(a.Note))
	}
	for _, p := range ev.AttemptProblems {
		fmt.Fprintf(w, "  incomplete after the cut: %s\n", p)
	}
	if len(ev.Attempts) > 0 {
		fmt.Fprintln(w, "  attempts after the cut:")
		for _, a := range ev.Attempts {
			fmt.Fprintf(w, "    %s: %d denied logins, %d refused statements, %s .. %s (%s)\n", a.Account, a.DeniedLogins, a.RefusedStatements, stamp(a.FirstSeen), stamp(a.LastSeen), a.Source)
		}
		if ack := ev.AttemptsAck; ack != nil {
			fmt.Fprintf(w, "    %d acknowledged by %s at %s%s\n", ev.AckedCount, provenBy(ack.By, ack.Verified), stamp(ack.At), said(ack.Note))
		}
	}
}

func said(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func activityLine(p pendingActivity) string {
	s := fmt.Sprintf("%s (attempt %d", p.Type, p.Attempt)
	if !p.LastHeartbeat.IsZero() {
		s += ", last heartbeat " + p.LastHeartbeat.UTC().Format("2006-01-02 15:04:05 MST")
	}
	if p.LastFailure != "" {
		s += ", last failure: " + p.LastFailure
	}
	return s + ")"
}

// progressLine reads the heartbeat fields the archive (ArchiveProgress) and the sampling
// activities report, by name rather than by type, so that any activity that heartbeats
// the same fields gets the same line.
func progressLine(p pendingActivity) string {
	if len(p.Heartbeat) == 0 {
		return ""
	}
	var hb struct {
		Table       *string         `json:"table"`
		TablesDone  *int            `json:"tables_done"`
		TablesTotal *int            `json:"tables_total"`
		Rows        *int64          `json:"rows"`
		Bytes       *int64          `json:"bytes"`
		Looks       *int            `json:"looks"`
		Seen        json.RawMessage `json:"seen"`
	}
	if json.Unmarshal(p.Heartbeat, &hb) != nil {
		return ""
	}
	var parts []string
	if hb.TablesTotal != nil {
		done := 0
		if hb.TablesDone != nil {
			done = *hb.TablesDone
		}
		parts = append(parts, fmt.Sprintf("%d/%d tables", done, *hb.TablesTotal))
	}
	if hb.Rows != nil {
		parts = append(parts, thousands(*hb.Rows)+" rows")
	}
	if hb.Bytes != nil {
		parts = append(parts, bytesText(*hb.Bytes))
	}
	if hb.Looks != nil {
		parts = append(parts, plural(*hb.Looks, "look", "looks"))
	}
	if n, ok := count(hb.Seen); ok {
		parts = append(parts, plural(n, "client", "clients")+" seen")
	}
	if len(parts) == 0 && hb.Table == nil {
		return ""
	}
	s := verb(p.Type)
	if hb.Table != nil && *hb.Table != "" {
		s += " " + *hb.Table
	}
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}

// count reads "seen" as a number or as the list of sessions the sampling activity keeps.
func count(raw json.RawMessage) (int, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		return n, true
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		return len(list), true
	}
	return 0, false
}

func verb(activityType string) string {
	switch activityType {
	case "Archive":
		return "archiving"
	case "VerifyArchive":
		return "verifying the archive"
	case "SampleClients":
		return "sampling"
	}
	return strings.ToLower(activityType)
}

// requesterText is the requester as the plan found them in the owners directory, and how
// they were proven.
func requesterText(st workflows.Status) string {
	who := st.Request.Requester
	if st.Signers != nil && st.Signers.Requester != "" {
		who = st.Signers.Requester
	}
	return provenBy(who, st.RequesterVerified)
}

// ownersText is who may approve, object and extend, and where that list came from: people
// must be able to tell an owner the directory names from one the request merely claimed.
func ownersText(sg *activities.Signers) string {
	owners := strings.Join(sg.Owners, ", ")
	if owners == "" {
		owners = "none"
	}
	if sg.Unlisted {
		return fmt.Sprintf("%s (not from a directory: %s)", owners, orDash(sg.From))
	}
	return fmt.Sprintf("%s (from the owners directory: %s)", owners, orDash(sg.From))
}

// watchFlags checks --watch and --interval, for a retirement's status and a fleet's.
func watchFlags(cmd *cobra.Command, watch bool, interval time.Duration) error {
	if cmd.Flags().Changed("interval") && !watch {
		return fmt.Errorf("--interval only applies with --watch")
	}
	if interval <= 0 {
		return fmt.Errorf("--interval %s: must be more than 0", interval)
	}
	return nil
}
