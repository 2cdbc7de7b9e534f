package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/mysql"
	"github.com/dataretire/retire/activities/oracle"
	"github.com/dataretire/retire/workflows"
)

type startFlags struct {
	reason, requester, ticket, strategy, sample, observe, store, verify string
	owners                                                              []string
	dryRun, noWait                                                      bool
	planTimeout                                                         time.Duration
	sign                                                                signFlags
}

const startLong = `Start the retirement of <database> on the connection profile <connection>.

The request is checked here first (system schemas and users of any engine, such as mysql,
information_schema or SYS, are refused before anything is started), then the worker plans
it: it validates the database (does it exist, is it one of the engine's own), inventories it,
checks the windows against its policy and reads who owns it from its owners directory. start
waits for that plan (--plan-timeout), then says it started the retirement and prints the plan,
with the owners and how the requester was proven; a request the plan refuses is printed as one
error line instead (exit status 1), and changed nothing. --no-wait returns as soon as the
workflow is started, before the plan.

Owners come from the worker's owners directory, not from the request: the people it lists as
owning <connection>/<database> may approve, object and extend, and the plan refuses a
decommission that has no owner there other than the requester. --owner adds a person the
directory knows (by id or e-mail) as an owner of this retirement; a name the directory does
not know is refused. (A dev worker without a directory takes --owner as the owners, and the
status says "not from a directory".)

--reason decommission: the system is shut down; an owner other than the requester must
  sign off (retire approve) before anything is dropped.
--reason migration: the data lives on elsewhere; no sign-off is needed.
Windows take days (14d) or Go durations (36h); a production worker allows sampling of at
least 1d and observation of 7d..35d.

--sign-with (or RETIRE_SIGN_WITH) proves who the requester is: the request is signed with
that SSH key (a private key file, or a .pub file whose key ssh-agent holds) for the requester
as given by --requester (default $USER: give your id in the owners directory, the name the
signature is for), and the plan checks it against the keys the directory lists for you. There is no retirement yet whose pinned keys
could pick an ssh-agent key, so start only signs with the key named. A worker that requires
proof refuses an unsigned request; a dev worker records "identity not verified".`

const startExample = `  retire start local shop --reason decommission --ticket CHG-1 --sign-with ~/.ssh/id_ed25519
  retire start local shop --reason decommission --owner bob@example.com --sign-with ~/.ssh/id_ed25519.pub   # key in ssh-agent; bob as a further owner
  retire start local legacy_crm --reason migration --sample 7d --observe 30d --strategy rename
  retire start local shop --reason decommission --dry-run   # plan and sample only, change nothing`

func (a *app) startCommand() *cobra.Command {
	var f startFlags
	cmd := &cobra.Command{
		Use:     "start <connection> <database>",
		Short:   "Start retiring a database: plan, sample, quiesce, observe, archive, drop, verify, record",
		Long:    startLong,
		Example: startExample,
		Args:    target,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.start(cmd.Context(), f, args[0], args[1])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.reason, "reason", "", "decommission (owners must sign off) or migration (no sign-off); required")
	fl.StringSliceVar(&f.owners, "owner", nil, "add this person of the owners directory (id or e-mail) as an owner, besides the directory's owners of the database; repeat for each")
	fl.StringVar(&f.requester, "requester", "", "who asks for the retirement (default $USER); cannot sign off")
	fl.StringVar(&f.ticket, "ticket", "", "change ticket, e.g. CHG-1234, kept in the record")
	fl.StringVar(&f.strategy, "strategy", "", "how access is cut during observation: revoke (grants, default) or rename (quarantine schema)")
	fl.StringVar(&f.sample, "sample", "", "sampling window: who connects is watched this long (default 3d)")
	fl.StringVar(&f.observe, "observe", "", "observation window after the cut (default 14d, at most 35d)")
	fl.StringVar(&f.store, "store", "", "archive store profile of the worker's config (default: the worker's default store)")
	fl.StringVar(&f.verify, "verify", "", "how the archive is proved before the drop: checksums (read it all back, default) or restore (also restore it into a scratch database and compare every table)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "plan and sample only; change nothing")
	fl.BoolVar(&f.noWait, "no-wait", false, "return once started, without waiting for the plan")
	fl.DurationVar(&f.planTimeout, "plan-timeout", 5*time.Minute, "how long to wait for the plan")
	// No retirement has pinned keys yet, so no ssh-agent key is picked for the requester.
	fl.StringVar(&f.sign.with, "sign-with", "", "SSH key that proves who the requester is: an OpenSSH private key file, or a .pub file whose key ssh-agent holds (env RETIRE_SIGN_WITH)")
	return cmd
}

// request maps flags to a workflow request and collects every problem at once, so that a DBA
// fixes the command line in one go instead of one error per attempt.
func (f startFlags) request(connection, object string, getenv func(string) string) (workflows.Request, error) {
	var problems []string
	req := workflows.Request{
		Connection: connection,
		Object:     object,
		Reason:     workflows.Reason(f.reason),
		Owners:     append([]string(nil), f.owners...),
		Requester:  f.requester,
		Ticket:     f.ticket,
		Strategy:   engine.Strategy(f.strategy),
		Store:      f.store,
		DryRun:     f.dryRun,
		Verify:     f.verify,
	}
	noRequester := false
	if req.Requester == "" {
		req.Requester = getenv("USER")
		noRequester = req.Requester == ""
	}
	if noRequester {
		problems = append(problems, "say who asks: --requester <name> ($USER is not set)")
	}
	if f.reason == "" {
		problems = append(problems, "say why: --reason decommission (system shut down, owners sign off) or --reason migration (data lives on elsewhere)")
	}
	for _, w := range []struct {
		flag, text string
		into       *time.Duration
	}{{"--sample", f.sample, &req.SampleWindow}, {"--observe", f.observe, &req.ObserveWindow}} {
		if w.text == "" {
			continue
		}
		d, err := workflows.ParseDays(w.text)
		if err != nil {
			problems = append(problems, w.flag+": "+err.Error())
			continue
		}
		if d == 0 {
			problems = append(problems, w.flag+" must be longer than 0; leave it out for the default")
			continue
		}
		*w.into = d
	}
	req = req.WithDefaults()
	for _, err := range flatten(req.Validate()) {
		msg := err.Error()
		// Already said above, in words that name the flag.
		if (noRequester && strings.HasPrefix(msg, `requester ""`)) || (f.reason == "" && strings.HasPrefix(msg, `reason ""`)) {
			continue
		}
		problems = append(problems, msg)
	}
	if rule := systemObject(object); rule != "" {
		problems = append(problems, rule)
	}
	if len(problems) > 0 {
		return req, fmt.Errorf("cannot start the retirement of %s/%s: %s", connection, object, strings.Join(problems, "; "))
	}
	return req, nil
}

// systemObject names the rule that makes object one of an engine's own schemas or users, or
// is "". The engine of a connection profile is only known to the worker's config, so a name
// that any engine keeps for itself is refused here, before anything is started.
func systemObject(object string) string {
	var what []string
	if mysql.IsSystemSchema(object) {
		what = append(what, "a MySQL/MariaDB system schema (mysql, sys, information_schema, performance_schema)")
	}
	if oracle.IsSystemUser(object) {
		what = append(what, "an Oracle-maintained user")
	}
	if len(what) == 0 {
		return ""
	}
	return fmt.Sprintf("%q is %s: an engine's own schemas and users are never retired", object, strings.Join(what, " and "))
}

// flatten opens errors.Join so that each problem can be printed on its own.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

func startOptions(req workflows.Request) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:        workflows.WorkflowID(req.Connection, req.Object),
		TaskQueue: workflows.TaskQueue,
		// FAIL + ALLOW_DUPLICATE: never two retirements of one database at once, yet a new
		// one may follow an aborted or failed one.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// Without it the SDK quietly hands back the running retirement, which would read as
		// if this request had started.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary:                            fmt.Sprintf("Retire %s/%s (%s)", req.Connection, req.Object, req.Reason),
		StaticDetails:                            staticDetails(req),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrConnection.ValueSet(req.Connection),
			workflows.AttrObject.ValueSet(req.Object),
			workflows.AttrReason.ValueSet(string(req.Reason)),
			workflows.AttrRequester.ValueSet(req.Requester),
			workflows.AttrOwners.ValueSet(req.Owners),
			workflows.AttrPhase.ValueSet(string(workflows.PhasePlan)),
		),
	}
}

func staticDetails(req workflows.Request) string {
	var b strings.Builder
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "- **%s:** %s\n", k, v)
		}
	}
	line("Requested by", req.Requester)
	// Who owns the object is only known once the plan has read the owners directory; the
	// request can only add people to it.
	owners := "from the owners directory"
	if len(req.Owners) > 0 {
		owners += ", and " + strings.Join(req.Owners, ", ")
	}
	line("Owners", owners)
	line("Ticket", req.Ticket)
	line("Reason", string(req.Reason))
	line("Sampling window", days(req.SampleWindow))
	line("Observation window", days(req.ObserveWindow))
	line("Strategy", string(req.Strategy))
	line("Store", req.Store)
	if req.DryRun {
		line("Dry run", "plan and sample only; nothing is changed")
	}
	return b.String()
}

func (a *app) start(ctx context.Context, f startFlags, connection, object string) error {
	req, err := f.request(connection, object, a.getenv)
	if err != nil {
		return err
	}
	if req.Proof, err = a.signStart(f.sign, req); err != nil {
		return err
	}
	c, err := a.temporal()
	if err != nil {
		return err
	}
	id := workflows.WorkflowID(connection, object)
	rctx, cancel := a.rpc(ctx)
	run, err := c.ExecuteWorkflow(rctx, startOptions(req), workflows.WorkflowName, req)
	cancel()
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		return fmt.Errorf("a retirement of %s/%s is already running (workflow %s); see `retire status %s %s`", connection, object, id, connection, object)
	case isTimeout(err):
		return fmt.Errorf("Temporal did not answer within %s; check TEMPORAL_ADDRESS or raise --timeout", a.timeout)
	case err != nil:
		return fmt.Errorf("cannot start the retirement of %s/%s: %s", connection, object, explain(searchAttributeHint(err)))
	}
	started := func() {
		fmt.Fprintf(a.out, "started the retirement of %s/%s (workflow %s, run %s)\n", connection, object, id, run.GetRunID())
	}
	if f.noWait {
		started()
		fmt.Fprintf(a.out, "next: follow it with `retire status %s %s`\n", connection, object)
		return nil
	}
	// Nothing is said to have started until the plan is through: a request the plan refuses
	// started nothing that matters, and its one line is the refusal.
	st, err := a.awaitPlan(ctx, c, connection, object, run.GetRunID(), f.planTimeout)
	var notReady *planNotReady
	if errors.As(err, &notReady) {
		started() // it did start, and goes on
	}
	if err != nil {
		return err
	}
	started()
	printPlan(a.out, st)
	fmt.Fprintf(a.out, "next: %s\n", nextStep(st))
	return nil
}

// awaitPlan polls until the plan is stored (the phase moved on) or the workflow closed.
// Describe needs no worker, so a retirement that failed is reported even with none running.
func (a *app) awaitPlan(ctx context.Context, c temporalAPI, connection, object, runID string, limit time.Duration) (workflows.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	id := workflows.WorkflowID(connection, object)
	var lastQueryErr error
	var lastDesc *execution
	for {
		desc, err := a.describe(ctx, c, id, runID)
		if err == nil {
			lastDesc = desc
			if desc.closed() {
				st, runErr := a.closedStatus(ctx, c, id, runID, desc)
				switch st.Phase {
				case workflows.PhaseDone:
					return st, nil
				case workflows.PhaseCancelled, workflows.PhaseAborted:
				case workflows.PhaseFailed:
					if endedInPlan(st, runErr) {
						return st, fmt.Errorf("cannot retire %s/%s: %s (refused in the plan; nothing was changed)", connection, object, orDash(explainStatusError(st, runErr)))
					}
					return st, fmt.Errorf("the retirement of %s/%s failed: %s", connection, object, orDash(explainStatusError(st, runErr)))
				default:
					if st.Plan != nil { // it ended well after the plan, e.g. a short dry run
						return st, nil
					}
				}
				return st, fmt.Errorf("the retirement of %s/%s ended (%s): %s", connection, object, st.Phase, orDash(st.Outcome))
			}
			st, qerr := a.queryStatus(ctx, c, id, runID)
			lastQueryErr = qerr
			// A run that is ending (a refusal in the plan, winding up) is judged once it has
			// closed, by the branch above.
			if qerr == nil && st.Phase != "" && st.Phase != workflows.PhasePlan && !st.Phase.Ended() {
				return st, nil
			}
		}
		select {
		case <-ctx.Done():
			return workflows.Status{}, planTimeoutError(connection, object, limit, lastDesc, lastQueryErr)
		case <-time.After(a.pollEvery):
		}
	}
}

// planNotReady is the error of a plan that did not come in time: the retirement did start
// and goes on.
type planNotReady struct{ msg string }

func (e *planNotReady) Error() string { return e.msg }

func planTimeoutError(connection, object string, limit time.Duration, desc *execution, queryErr error) error {
	return notReady(fmt.Sprintf("the plan is not ready after %s; the retirement goes on, follow it with `retire status %s %s`", limit, connection, object), desc, queryErr)
}

// notReady says why a plan (a retirement's or a fleet's) is not ready yet: an activity that
// keeps failing, or no worker answering.
func notReady(msg string, desc *execution, queryErr error) error {
	if desc != nil {
		for _, p := range desc.pending {
			if p.LastFailure != "" {
				return &planNotReady{fmt.Sprintf("%s; the %s activity is retrying (attempt %d): %s", msg, p.Type, p.Attempt, p.LastFailure)}
			}
		}
	}
	if queryErr != nil && isTimeout(queryErr) {
		return &planNotReady{fmt.Sprintf("%s; the workflow did not answer: is a retire-worker running on task queue %q?", msg, workflows.TaskQueue)}
	}
	return &planNotReady{msg}
}

// explainStatusError prefers the workflow's own failure over the status text, which holds
// the error with all of the SDK's wrapping.
func explainStatusError(st workflows.Status, err error) string {
	if err != nil {
		return explain(err)
	}
	return st.Error
}

func printPlan(w io.Writer, st workflows.Status) {
	if st.Plan == nil {
		return
	}
	fmt.Fprintf(w, "plan of %s/%s:\n", st.Request.Connection, st.Request.Object)
	if st.Signers != nil || st.RequesterVerified != nil {
		fmt.Fprintf(w, "  requester: %s\n", requesterText(st))
	}
	if sg := st.Signers; sg != nil {
		fmt.Fprintf(w, "  owners: %s\n", ownersText(sg))
	}
	writeInventory(w, "  ", st.Plan.Inventory)
	for _, src := range st.Plan.Evidence {
		line := fmt.Sprintf("  evidence: %s %s", src.Name, src.State)
		if src.Detail != "" {
			line += " (" + src.Detail + ")"
		}
		fmt.Fprintln(w, line)
	}
}

func writeInventory(w io.Writer, indent string, inv engine.Inventory) {
	fmt.Fprintf(w, "%sengine: %s %s\n", indent, inv.Engine, inv.Version)
	fmt.Fprintf(w, "%stables: %d (%s rows, %s)\n", indent, len(inv.Tables), thousands(inv.TotalRows), bytesText(inv.TotalBytes))
	fmt.Fprintf(w, "%sviews: %d, routines: %d, triggers: %d, events: %d\n", indent, len(inv.Views), len(inv.Routines), len(inv.Triggers), len(inv.Events))
	fmt.Fprintf(w, "%saccounts that reach it: %s\n", indent, accountList(inv.Accounts))
	if len(inv.GlobalHolders) > 0 {
		fmt.Fprintf(w, "%sglobal holders (reach every database; left alone): %s\n", indent, accountList(inv.GlobalHolders))
	}
	for _, kv := range inv.Extra {
		fmt.Fprintf(w, "%s%s: %s\n", indent, kv.Key, kv.Value)
	}
	for _, warn := range inv.Warnings {
		fmt.Fprintf(w, "%swarning: %s\n", indent, warn)
	}
}

func accountList(accts []engine.Account) string {
	if len(accts) == 0 {
		return "none"
	}
	parts := make([]string, len(accts))
	for i, ac := range accts {
		parts[i] = ac.Name()
		if len(ac.Levels) > 0 {
			parts[i] += " (" + strings.Join(ac.Levels, ", ")
			if ac.OnlyThisObject {
				parts[i] += "; only this database"
			}
			parts[i] += ")"
		}
	}
	return fmt.Sprintf("%d: %s", len(accts), strings.Join(parts, ", "))
}

// nextStep tells the DBA what happens now and what, if anything, is expected of people.
func nextStep(st workflows.Status) string {
	t := st.Request.Connection + " " + st.Request.Object
	follow := fmt.Sprintf("; follow it with `retire status %s`", t)
	if st.Waiting != "" {
		return "waiting for " + st.Waiting
	}
	switch st.Phase {
	case workflows.PhasePlan:
		return "planning" + follow
	case workflows.PhaseSample:
		s := fmt.Sprintf("sampling who connects until %s", stamp(st.SampleUntil))
		if st.Request.DryRun {
			return s + "; this is a dry run, it ends there and changes nothing" + follow
		}
		return s + "; clients seen will need `retire acknowledge-clients`" + follow
	case workflows.PhaseQuiesce:
		return "cutting access (strategy " + string(st.Request.Strategy) + ")" + follow
	case workflows.PhaseObserve:
		s := fmt.Sprintf("observing until %s", stamp(st.ObserveUntil))
		if !st.Signed() {
			who := "an owner"
			if sg := st.Signers; sg != nil && len(sg.Owners) > 0 {
				who += " (" + strings.Join(sg.Owners, ", ") + ")"
			}
			s += "; " + who + " must sign off: `retire approve " + t + " --as <owner> --sign-with <key>`"
		}
		return s + follow
	case workflows.PhaseArchive:
		return "archiving and verifying the archive" + follow
	case workflows.PhaseDrop, workflows.PhaseVerify, workflows.PhaseRecord:
		return "past the point of no return (" + string(st.Phase) + ")" + follow
	case workflows.PhaseDryRun:
		return "nothing: the dry run is over and changed nothing; start without --dry-run to retire it"
	}
	if st.Outcome != "" {
		return "nothing: " + st.Outcome
	}
	return "nothing: the retirement ended (" + string(st.Phase) + ")"
}
