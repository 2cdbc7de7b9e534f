package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/workflows"
)

func (a *app) approveCommand() *cobra.Command {
	var in workflows.Signoff
	var sf signFlags
	cmd := &cobra.Command{
		Use:   "approve <connection> <database> --as <owner>",
		Short: "Sign off as an owner: the data may be archived and dropped once the observation window is over",
		Long: `Sign off the retirement of <database> as one of its owners (the owners directory says who
they are). A decommission needs one sign-off from an owner other than the requester; a
migration needs none (a sign-off is still recorded). The drop waits for the end of the
observation window either way.
` + signHelp,
		Example: `  retire approve local shop --as alice --sign-with ~/.ssh/id_ed25519
  retire approve local shop --as alice@example.com --sign-with ~/.ssh/id_ed25519.pub   # the key is in ssh-agent
  retire approve local shop --as alice --comment "CRM moved to Salesforce in CHG-1"    # an ssh-agent key pinned for alice`,
		Args: target,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := need(in.By, "say who signs off: --as <owner>"); err != nil {
				return err
			}
			d, err := a.decider(cmd.Context(), sf, args[0], args[1])
			if err != nil {
				return err
			}
			defer d.release()
			if in.Proof, err = d.sign(workflows.UpdateApprove, in.By, in.Says()); err != nil {
				return err
			}
			st, err := a.sendUpdate(cmd.Context(), args[0], args[1], workflows.UpdateApprove, in)
			if err != nil {
				return err
			}
			var ds []recorded
			for _, s := range st.Signoffs {
				ds = append(ds, recorded{s.By, s.Verified})
			}
			fmt.Fprintln(a.out, approved(d.who(in.By, ds...), st, a.now()))
			return nil
		},
	}
	cmd.Flags().StringVar(&in.By, "as", "", "the owner signing off: directory id or e-mail (required)")
	cmd.Flags().StringVar(&in.Comment, "comment", "", "a comment kept in the retirement record (and signed)")
	sf.add(cmd)
	return cmd
}

func approved(by string, st workflows.Status, now time.Time) string {
	msg := "signed off by " + by
	switch {
	case st.ObserveUntil.IsZero():
		return fmt.Sprintf("%s; the observation window (%s) has not started yet (phase %s); the drop may proceed after it", msg, days(st.ObserveTotal), st.Phase)
	case now.Before(st.ObserveUntil):
		return fmt.Sprintf("%s; observation window ends %s; the drop may proceed after that", msg, stamp(st.ObserveUntil))
	}
	return msg + "; the observation window is over, so the archive and then the drop proceed now"
}

func (a *app) objectCommand() *cobra.Command {
	var in workflows.Objection
	var sf signFlags
	cmd := &cobra.Command{
		Use:   "object <connection> <database> --as <owner> --reason <why>",
		Short: "Object as an owner (or the requester): access is restored and the retirement ends as aborted",
		Long: `Object to the retirement of <database>: the data is still needed. Access is restored
exactly as it was before the cut, and the retirement ends as aborted. Possible until the drop.
` + signHelp,
		Example: `  retire object local shop --as bob --reason "month-end billing still reads it" --sign-with ~/.ssh/id_ed25519`,
		Args:    target,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := errors.Join(need(in.By, "say who objects: --as <owner>"), need(in.Reason, "say why the data is still needed: --reason")); err != nil {
				return err
			}
			d, err := a.decider(cmd.Context(), sf, args[0], args[1])
			if err != nil {
				return err
			}
			defer d.release()
			if in.Proof, err = d.sign(workflows.UpdateObject, in.By, in.Says()); err != nil {
				return err
			}
			st, err := a.sendUpdate(cmd.Context(), args[0], args[1], workflows.UpdateObject, in)
			if err != nil {
				return err
			}
			var ds []recorded
			for _, o := range st.Objections {
				ds = append(ds, recorded{o.By, o.Verified})
			}
			who := d.who(in.By, ds...)
			if st.Cut == nil {
				fmt.Fprintf(a.out, "objection by %s recorded; access was not cut yet, and the retirement ends as aborted\n", who)
			} else {
				fmt.Fprintf(a.out, "objection by %s recorded; access is being restored and the retirement ends as aborted\n", who)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&in.By, "as", "", "the owner objecting: directory id or e-mail (required)")
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why the data is still needed (required; signed)")
	sf.add(cmd)
	return cmd
}

func (a *app) extendCommand() *cobra.Command {
	var in workflows.Extension
	var by string
	var sf signFlags
	cmd := &cobra.Command{
		Use:   "extend <connection> <database> --as <owner> --by <days>",
		Short: "Lengthen the observation window (at most 35 days in total)",
		Long: `Lengthen the observation window of <database> by --by, as one of its owners (or the
requester). The window may not exceed 35 days in total (less if the worker's policy says so).
` + signHelp,
		Example: `  retire extend local shop --as alice --by 7d --sign-with ~/.ssh/id_ed25519
  retire extend local shop --as alice --by 7d --reason "quarterly report runs on the 30th"`,
		Args: target,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := errors.Join(need(in.By, "say who extends: --as <owner>"), need(by, "say by how much: --by 7d")); err != nil {
				return err
			}
			extra, err := workflows.ParseDays(by)
			if err != nil {
				return fmt.Errorf("--by: %w", err)
			}
			in.Extra = extra
			d, err := a.decider(cmd.Context(), sf, args[0], args[1])
			if err != nil {
				return err
			}
			defer d.release()
			if in.Proof, err = d.sign(workflows.UpdateExtend, in.By, in.Says()); err != nil {
				return err
			}
			st, err := a.sendUpdate(cmd.Context(), args[0], args[1], workflows.UpdateExtend, in)
			if err != nil {
				return err
			}
			var ds []recorded
			for _, x := range st.Extensions {
				ds = append(ds, recorded{x.By, x.Verified})
			}
			fmt.Fprintln(a.out, extended(in, st, d.who(in.By, ds...)))
			return nil
		},
	}
	cmd.Flags().StringVar(&in.By, "as", "", "the owner extending: directory id or e-mail (required)")
	cmd.Flags().StringVar(&by, "by", "", "how much longer to observe, e.g. 7d (required)")
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why, kept in the retirement record (and signed)")
	sf.add(cmd)
	return cmd
}

func extended(in workflows.Extension, st workflows.Status, who string) string {
	msg := fmt.Sprintf("observation window extended by %s to %s in total by %s", days(in.Extra), days(st.ObserveTotal), who)
	if st.ObserveUntil.IsZero() {
		return msg + "; it starts when access is cut after sampling"
	}
	return msg + "; it now ends " + stamp(st.ObserveUntil)
}

func (a *app) acknowledgeCommand() *cobra.Command {
	var in workflows.Acknowledgement
	var sf signFlags
	cmd := &cobra.Command{
		Use:   "acknowledge-clients <connection> <database> --as <name> --note <why>",
		Short: "Acknowledge the usage evidence of sampling: clients seen, unexplained access, gaps",
		Long: `When sampling saw clients reach <database> (whatever their default database), when the
server's counters show reads or writes that no client seen explains, or when the evidence is
incomplete (no counters, a gap in which nobody looked), the retirement stops before access is
cut until the requester, an owner or a DBA of the owners directory acknowledges exactly that
(or cancels). Look at it first with retire status: its "evidence" lines say what is to be
acknowledged. What is acknowledged is printed, sent and signed with the note.
` + signHelp,
		Example: `  retire status local shop      # the "clients seen" table
  retire acknowledge-clients local shop --as dba --note "report@10.1.2.3 is the retired BI box" --sign-with ~/.ssh/id_ed25519`,
		Args: target,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := errors.Join(need(in.By, "say who acknowledges: --as <name>"), need(in.Note, "say why these clients may lose access: --note")); err != nil {
				return err
			}
			d, err := a.decider(cmd.Context(), sf, args[0], args[1])
			if err != nil {
				return err
			}
			defer d.release()
			if in.Covers, err = a.covers(cmd.Context(), args[0], args[1], workflows.EvidenceToAcknowledge); err != nil {
				return err
			}
			if in.Proof, err = d.sign(workflows.UpdateAcknowledge, in.By, in.Says()); err != nil {
				return err
			}
			st, err := a.sendUpdate(cmd.Context(), args[0], args[1], workflows.UpdateAcknowledge, in)
			if err != nil {
				return err
			}
			what := plural(len(st.Clients), "client", "clients")
			if ev := st.Evidence; ev != nil && (len(ev.Unattributed) > 0 || len(ev.Problems) > 0) {
				what = fmt.Sprintf("the usage evidence (%s, %s, %s)", what, plural(len(ev.Unattributed), "unattributed table", "unattributed tables"), plural(len(ev.Problems), "gap in the evidence", "gaps in the evidence"))
			}
			var ds []recorded
			if ack := st.Acknowledgement; ack != nil {
				ds = append(ds, recorded{ack.By, ack.Verified})
			}
			fmt.Fprintf(a.out, "%s acknowledged by %s; access is cut next (strategy %s), then the observation window of %s begins\n",
				what, d.who(in.By, ds...), st.Request.Strategy, days(st.ObserveTotal))
			return nil
		},
	}
	cmd.Flags().StringVar(&in.By, "as", "", "who acknowledges: directory id or e-mail (required)")
	cmd.Flags().StringVar(&in.Note, "note", "", "why these clients may lose access (required; signed)")
	sf.add(cmd)
	return cmd
}

func (a *app) acknowledgeAttemptsCommand() *cobra.Command {
	var in workflows.Acknowledgement
	var sf signFlags
	cmd := &cobra.Command{
		Use:   "acknowledge-attempts <connection> <database> --as <name> --note <why>",
		Short: "Acknowledge who kept trying to reach the data after the cut, so the drop may go on",
		Long: `After the cut, retire counts who still tries to reach <database>: denied logins of the
locked accounts, statements refused on the revoked grants, failures in the audit log. Whoever
still tries is the strongest sign the data is still needed, so the drop waits until the
requester, an owner or a DBA of the owners directory acknowledges the attempts counted so far
(or an owner objects). Attempts that come after an acknowledgement need one again. Look at
them first with retire status.
` + signHelp,
		Example: `  retire status local shop      # the "attempts after the cut" lines
  retire acknowledge-attempts local shop --as dba --note "the Nagios check, removed in CHG-12" --sign-with ~/.ssh/id_ed25519`,
		Args: target,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := errors.Join(need(in.By, "say who acknowledges: --as <name>"), need(in.Note, "say why these attempts may be ignored: --note")); err != nil {
				return err
			}
			d, err := a.decider(cmd.Context(), sf, args[0], args[1])
			if err != nil {
				return err
			}
			defer d.release()
			if in.Covers, err = a.covers(cmd.Context(), args[0], args[1], workflows.AttemptsToAcknowledge); err != nil {
				return err
			}
			if in.Proof, err = d.sign(workflows.UpdateAcknowledgeAttempts, in.By, in.Says()); err != nil {
				return err
			}
			st, err := a.sendUpdate(cmd.Context(), args[0], args[1], workflows.UpdateAcknowledgeAttempts, in)
			if err != nil {
				return err
			}
			what := in.Covers
			if what == "" && st.Evidence != nil {
				what = plural(int(st.Evidence.AckedCount), "attempt", "attempts") + " after the cut"
			}
			var ds []recorded
			if st.Evidence != nil && st.Evidence.AttemptsAck != nil {
				ds = append(ds, recorded{st.Evidence.AttemptsAck.By, st.Evidence.AttemptsAck.Verified})
			}
			fmt.Fprintf(a.out, "acknowledged by %s: %s; the drop may proceed once the window is over and signed off\n", d.who(in.By, ds...), what)
			return nil
		},
	}
	cmd.Flags().StringVar(&in.By, "as", "", "who acknowledges: directory id or e-mail (required)")
	cmd.Flags().StringVar(&in.Note, "note", "", "why these attempts may be ignored (required; signed)")
	sf.add(cmd)
	return cmd
}

// covers is what an acknowledgement covers: what the retirement lists as to be
// acknowledged right now, printed, and sent with it so that the workflow refuses it if the
// list changed in between. "" (no check) when the status cannot be read: the validator then
// judges alone.
func (a *app) covers(ctx context.Context, connection, object string, list func(workflows.Status) []string) (string, error) {
	c, err := a.temporal()
	if err != nil {
		return "", err
	}
	st, err := a.queryStatus(ctx, c, workflows.WorkflowID(connection, object), "")
	if err != nil {
		return "", nil
	}
	items := list(st)
	for _, it := range items {
		fmt.Fprintf(a.out, "acknowledging: %s\n", it)
	}
	return strings.Join(items, "; "), nil
}

func need(value, say string) error {
	if strings.TrimSpace(value) == "" {
		return errors.New(say)
	}
	return nil
}

// sendUpdate delivers a person's decision and waits until the workflow has taken it, so that
// a success printed here is one the workflow has recorded.
func (a *app) sendUpdate(ctx context.Context, connection, object, name string, arg any) (workflows.Status, error) {
	var st workflows.Status
	c, err := a.temporal()
	if err != nil {
		return st, err
	}
	id := workflows.WorkflowID(connection, object)
	rctx, cancel := a.rpc(ctx)
	defer cancel()
	h, err := c.UpdateWorkflow(rctx, client.UpdateWorkflowOptions{
		WorkflowID:   id,
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(rctx, &st)
	}
	if err != nil {
		return st, a.updateError(ctx, c, connection, object, name, err)
	}
	return st, nil
}

// updateError keeps the validator's message as it is: it already says who may act and what
// to do. The other cases are about the retirement not being there to ask.
func (a *app) updateError(ctx context.Context, c temporalAPI, connection, object, name string, err error) error {
	var appErr *temporal.ApplicationError
	switch {
	case errors.As(err, &appErr) && appErr.Message() != "":
		return errors.New(appErr.Message())
	case isNotFound(err):
		return a.notRunning(ctx, c, connection, object)
	case isTimeout(err):
		return a.noAnswer(name, connection, object)
	}
	return fmt.Errorf("%s of %s/%s failed: %s", name, connection, object, explain(err))
}

// notRunning says why a retirement cannot be reached: never started, or already over.
func (a *app) notRunning(ctx context.Context, c temporalAPI, connection, object string) error {
	id := workflows.WorkflowID(connection, object)
	desc, err := a.describe(ctx, c, id, "")
	if err != nil || !desc.closed() {
		return fmt.Errorf("no retirement of %s/%s is running (workflow %s); start one with `retire start %s %s`", connection, object, id, connection, object)
	}
	phase := keyword[string](desc.attrs, workflows.AttrPhase.GetName())
	if workflows.Phase(phase).PastDrop() {
		return fmt.Errorf("%s/%s was retired: the database is dropped (phase %s); the way back is `retire restore <archive> --connection %s --into <new name>`, with the archive path from `retire status %s %s`",
			connection, object, phase, connection, connection, object)
	}
	return fmt.Errorf("the retirement of %s/%s has ended (phase %s, %s); see `retire status %s %s`",
		connection, object, orDash(phase), strings.ToLower(desc.Status.String()), connection, object)
}

func (a *app) cancelCommand() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel <connection> <database>",
		Short: "Cancel a retirement before the drop: access is restored",
		Long: `Cancel the retirement of <database>. Before the drop, the workflow restores access
exactly as it was and ends as cancelled. Once the drop has begun (phases drop, verify,
record) there is nothing to cancel: the way back is retire restore from the archive.`,
		Example: `  retire cancel local shop --reason "wrong database, CHG-1 was for shop_old"`,
		Args:    target,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.cancel(cmd.Context(), args[0], args[1], reason)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, kept in Temporal's history")
	return cmd
}

func (a *app) cancel(ctx context.Context, connection, object, reason string) error {
	c, err := a.temporal()
	if err != nil {
		return err
	}
	id := workflows.WorkflowID(connection, object)
	desc, err := a.describe(ctx, c, id, "")
	switch {
	case isNotFound(err):
		return a.notRunning(ctx, c, connection, object)
	case isTimeout(err):
		return fmt.Errorf("Temporal did not answer within %s; check TEMPORAL_ADDRESS or raise --timeout", a.timeout)
	case err != nil:
		return fmt.Errorf("cannot read the retirement of %s/%s: %s", connection, object, explain(err))
	case desc.closed():
		return a.notRunning(ctx, c, connection, object)
	}
	// The query knows best; the search attribute is written on entering each phase and is
	// readable when no worker answers.
	phase := workflows.Phase(keyword[string](desc.attrs, workflows.AttrPhase.GetName()))
	cut := phase != workflows.PhasePlan && phase != workflows.PhaseSample
	if st, err := a.queryStatus(ctx, c, id, desc.RunID); err == nil {
		phase, cut = st.Phase, st.Cut != nil || st.Phase == workflows.PhaseQuiesce
	}
	if phase.PastDrop() {
		return fmt.Errorf("the retirement of %s/%s is past the point of no return (phase %s); it cannot be cancelled: once it is done, use `retire restore` from the archive", connection, object, phase)
	}
	if reason == "" {
		reason = "retire cancel"
		if u := a.getenv("USER"); u != "" {
			reason += " by " + u
		}
	}
	rctx, cancel := a.rpc(ctx)
	defer cancel()
	if err := c.CancelWorkflowWithOptions(rctx, client.CancelWorkflowOptions{WorkflowID: id, RunID: desc.RunID, Reason: reason}); err != nil {
		if isNotFound(err) {
			return a.notRunning(ctx, c, connection, object)
		}
		return fmt.Errorf("cannot cancel the retirement of %s/%s: %s", connection, object, explain(err))
	}
	if cut {
		fmt.Fprintf(a.out, "cancellation of %s/%s requested (phase %s); access will be restored and the retirement ends as cancelled\n", connection, object, orDash(string(phase)))
	} else {
		fmt.Fprintf(a.out, "cancellation of %s/%s requested (phase %s); access was not cut yet, and the retirement ends as cancelled\n", connection, object, orDash(string(phase)))
	}
	return nil
}
