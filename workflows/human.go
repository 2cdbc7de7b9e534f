package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/proof"
)

// registerUpdates wires the things people say to a running retirement. Validators reject
// before anything is written to history, with a message the CLI prints as is; each one checks
// the proof of who decides against the keys pinned at plan time (decide), and the handler
// records what the proof proved.
func (r *retirement) registerUpdates(ctx workflow.Context) error {
	handlers := []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdateApprove, func(ctx workflow.Context, in Signoff) (Status, error) {
			if err := r.prove(ctx, UpdateApprove, &in.By, &in.Proven, in.Says()); err != nil {
				return r.s, err
			}
			in.At = r.now(ctx)
			r.s.Signoffs = append(r.s.Signoffs, in)
			r.s.setGate(GateSignoff, GatePassed, joinNonEmpty("; ", in.Comment, in.Verified.Text()), in.By, in.At)
			return r.acted(ctx), nil
		}, func(ctx workflow.Context, in Signoff) error {
			return firstError(r.canApprove(in), r.check(ctx, UpdateApprove, in.By, in.Proven, in.Says()))
		}},

		{UpdateObject, func(ctx workflow.Context, in Objection) (Status, error) {
			if err := r.prove(ctx, UpdateObject, &in.By, &in.Proven, in.Says()); err != nil {
				return r.s, err
			}
			in.At = r.now(ctx)
			r.s.Objections = append(r.s.Objections, in)
			return r.acted(ctx), nil
		}, func(ctx workflow.Context, in Objection) error {
			return firstError(r.canObject(in), r.check(ctx, UpdateObject, in.By, in.Proven, in.Says()))
		}},

		{UpdateExtend, func(ctx workflow.Context, in Extension) (Status, error) {
			if err := r.prove(ctx, UpdateExtend, &in.By, &in.Proven, in.Says()); err != nil {
				return r.s, err
			}
			in.At = r.now(ctx)
			r.s.Extensions = append(r.s.Extensions, in)
			r.s.ObserveTotal += in.Extra
			if !r.s.ObserveFrom.IsZero() {
				r.s.ObserveUntil = r.s.ObserveFrom.Add(r.s.ObserveTotal)
			}
			return r.acted(ctx), nil
		}, func(ctx workflow.Context, in Extension) error {
			return firstError(r.canExtend(in), r.check(ctx, UpdateExtend, in.By, in.Proven, in.Says()))
		}},

		{UpdateAcknowledge, func(ctx workflow.Context, in Acknowledgement) (Status, error) {
			if err := r.prove(ctx, UpdateAcknowledge, &in.By, &in.Proven, in.Says()); err != nil {
				return r.s, err
			}
			in.At = r.now(ctx)
			r.s.Acknowledgement = &in
			return r.acted(ctx), nil
		}, func(ctx workflow.Context, in Acknowledgement) error {
			return firstError(r.canAcknowledge(in), r.mayAcknowledge(in.By), r.check(ctx, UpdateAcknowledge, in.By, in.Proven, in.Says()))
		}},

		{UpdateAcknowledgeAttempts, func(ctx workflow.Context, in Acknowledgement) (Status, error) {
			if err := r.prove(ctx, UpdateAcknowledgeAttempts, &in.By, &in.Proven, in.Says()); err != nil {
				return r.s, err
			}
			in.At = r.now(ctx)
			ev := r.s.Evidence
			if ev.AttemptsAck != nil {
				ev.AttemptsAcked = append(ev.AttemptsAcked, *ev.AttemptsAck)
			}
			ev.AttemptsAck, ev.AckedCount, ev.AckedProblems = &in, attemptTotal(ev.Attempts), len(ev.AttemptProblems)
			return r.acted(ctx), nil
		}, func(ctx workflow.Context, in Acknowledgement) error {
			return firstError(r.canAcknowledgeAttempts(in), r.mayAcknowledge(in.By), r.check(ctx, UpdateAcknowledgeAttempts, in.By, in.Proven, in.Says()))
		}},
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.handler, workflow.UpdateHandlerOptions{Validator: h.validator}); err != nil {
			return err
		}
	}
	return nil
}

// verify checks the proof a decision carries against the keys pinned at plan time, with the
// workflow's own clock and the nonces already spent in this run. Deterministic: validators
// and handlers may both call it.
func (r *retirement) verify(ctx workflow.Context, decision, by string, p Proven, says string) (proof.Verified, error) {
	if !r.proven {
		// Runs started before decisions carried proof take the name as typed (replay).
		return proof.Verified{Person: strings.TrimSpace(by), Method: proof.MethodUnverified}, nil
	}
	if r.s.Signers == nil {
		return proof.Verified{}, fmt.Errorf("%s is still in its plan: who may decide is known once the plan has read the owners directory; try again in a minute", r.target())
	}
	info := workflow.GetInfo(ctx).WorkflowExecution
	return r.s.Signers.Pins.Verify(p.Proof, proof.Expect{
		Decision: decision, Workflow: info.ID, Run: info.RunID, Person: r.who(by), Says: says,
		Now: workflow.Now(ctx), Used: r.s.Nonces,
	})
}

// check is verify for validators: they only refuse.
func (r *retirement) check(ctx workflow.Context, decision, by string, p Proven, says string) error {
	if strings.TrimSpace(by) == "" {
		return nil // the decision's own check says who is missing
	}
	_, err := r.verify(ctx, decision, by, p, says)
	return err
}

// prove is for handlers: the decision is recorded under the person the proof proved, with
// what it proved, and its nonce is spent. The validator checked everything before the update
// was accepted; the handler, which also runs on every replay (and after a reset, under another
// run id and clock), checks again only what does not depend on them: the signature, the
// person, what it says, and that its nonce is unspent.
func (r *retirement) prove(ctx workflow.Context, decision string, by *string, p *Proven, says string) error {
	var v proof.Verified
	var err error
	if !r.proven || r.s.Signers == nil {
		v, err = r.verify(ctx, decision, *by, *p, says)
	} else {
		st, _ := decoded(p.Proof)
		v, err = r.s.Signers.Pins.Verify(p.Proof, proof.Expect{
			Decision: decision, Workflow: st.Workflow, Run: st.Run, Person: r.who(*by), Says: says,
			Now: time.Unix(st.IssuedAt, 0), Used: r.s.Nonces,
		})
	}
	if err != nil {
		return err
	}
	*by, p.Verified = r.who(v.Person), &v
	if v.Nonce != "" {
		r.s.Nonces = append(r.s.Nonces, v.Nonce)
	}
	return nil
}

// decoded is what a proof's statement says, unverified (Verify checks it).
func decoded(pr *proof.Proof) (proof.Statement, error) {
	if pr == nil {
		return proof.Statement{}, nil
	}
	return pr.Decode()
}

// who is the person's id as the owners directory has it (they may have typed their e-mail, or
// another case).
func (r *retirement) who(name string) string {
	name = strings.TrimSpace(name)
	if r.s.Signers != nil {
		if p, ok := r.s.Signers.Pins.Person(name); ok {
			return p.ID
		}
	}
	return name
}

func (r *retirement) acted(ctx workflow.Context) Status {
	r.changes++
	r.details(ctx)
	return r.s
}

// beforeDrop is true while data can still be given back without a restore.
func (r *retirement) beforeDrop() bool { return r.s.Phase.BeforeDrop() && !r.dropStarted }

// owners are who sign off: the owners directory's, pinned by the plan; the request's in runs
// started before the directory existed.
func (r *retirement) owners() []string {
	if r.proven && r.s.Signers != nil {
		return r.s.Signers.Owners
	}
	return r.s.Request.Owners
}

// concerned are who are told and may object or extend: the owners and the people the request
// added.
func (r *retirement) concerned() []string {
	if r.proven && r.s.Signers != nil {
		return append(slices.Clone(r.s.Signers.Owners), r.s.Signers.Added...)
	}
	return r.s.Request.Owners
}

func (r *retirement) isOwner(who string) bool {
	who = r.who(who)
	return slices.ContainsFunc(r.owners(), func(o string) bool { return SamePerson(o, who) })
}

func (r *retirement) isConcerned(who string) bool {
	who = r.who(who)
	return slices.ContainsFunc(r.concerned(), func(o string) bool { return SamePerson(o, who) })
}

func (r *retirement) isRequester(who string) bool {
	who = r.who(who)
	if r.s.Signers != nil && SamePerson(who, r.s.Signers.Requester) {
		return true
	}
	return SamePerson(who, r.s.Request.Requester)
}

// mayAcknowledge: usage evidence and attempts are acknowledged by the requester, an owner or a
// DBA of the directory (anyone in runs without a directory).
func (r *retirement) mayAcknowledge(who string) error {
	sg := r.s.Signers
	if !r.proven || sg == nil || sg.Unlisted || strings.TrimSpace(who) == "" {
		return nil
	}
	w := r.who(who)
	if r.isConcerned(w) || r.isRequester(w) || slices.ContainsFunc(sg.DBAs, func(d string) bool { return SamePerson(d, w) }) {
		return nil
	}
	return fmt.Errorf("%s may not acknowledge for %s: the requester, its owners (%s) or a DBA of the owners directory may", who, r.target(), strings.Join(sg.Owners, ", "))
}

// firstError is the first refusal: one message says what to do.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// stillDeciding refuses every decision once the run winds up: access is being given back
// or the record written, and nothing said now would change either.
func (r *retirement) stillDeciding() error {
	if !r.ending {
		return nil
	}
	if r.s.Phase.PastDrop() || r.dropStarted {
		return fmt.Errorf("%s is already retired (%s); the way back is `retire restore` from the archive", r.target(), orDash(r.s.Outcome))
	}
	return fmt.Errorf("this retirement of %s is ending (%s); nothing more can be decided", r.target(), orDash(r.s.Outcome))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (r *retirement) canApprove(in Signoff) error {
	if err := r.stillDeciding(); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(in.By) == "":
		return errors.New("say who signs off: --as <owner>")
	case r.isRequester(in.By):
		return fmt.Errorf("%s requested this retirement and cannot sign it off; ask an owner (%s)", in.By, strings.Join(r.owners(), ", "))
	case r.isConcerned(in.By) && !r.isOwner(in.By):
		return fmt.Errorf("%s was added to this retirement by its requester and may object or extend, but the sign-off is for the owners the directory names: %s", in.By, strings.Join(r.owners(), ", "))
	case !r.isOwner(in.By):
		return fmt.Errorf("%s is not an owner of %s; owners are: %s", in.By, r.target(), strings.Join(r.owners(), ", "))
	case !r.beforeDrop():
		return fmt.Errorf("%s is already %s; a sign-off no longer changes anything", r.target(), r.s.Phase)
	case slices.ContainsFunc(r.s.Signoffs, func(s Signoff) bool { return SamePerson(s.By, in.By) }):
		return fmt.Errorf("%s has already signed off", in.By)
	case len(r.s.Objections) > 0:
		return fmt.Errorf("%s objected; this retirement is ending", r.s.Objections[0].By)
	}
	return nil
}

func (r *retirement) canObject(in Objection) error {
	if err := r.stillDeciding(); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(in.By) == "":
		return errors.New("say who objects: --as <owner>")
	case !r.isConcerned(in.By) && !r.isRequester(in.By):
		return fmt.Errorf("%s is not an owner of %s; owners are: %s", in.By, r.target(), strings.Join(r.concerned(), ", "))
	case strings.TrimSpace(in.Reason) == "":
		return errors.New("say why the data is still needed: --reason")
	case !r.beforeDrop():
		return fmt.Errorf("%s is past the point of no return (%s); use `retire restore` from the archive", r.target(), r.s.Phase)
	case len(r.s.Objections) > 0:
		return fmt.Errorf("%s already objected; access is being restored", r.s.Objections[0].By)
	}
	return nil
}

func (r *retirement) canExtend(in Extension) error {
	if err := r.stillDeciding(); err != nil {
		return err
	}
	max := MaxObserveWindow
	if r.plan.Policy.MaxObserveWindow > 0 {
		max = r.plan.Policy.MaxObserveWindow
	}
	switch {
	case strings.TrimSpace(in.By) == "":
		return errors.New("say who extends: --as <owner>")
	case !r.isConcerned(in.By) && !r.isRequester(in.By):
		return fmt.Errorf("%s is not an owner of %s; owners are: %s", in.By, r.target(), strings.Join(r.concerned(), ", "))
	case in.Extra <= 0:
		return errors.New("the extension must be positive, e.g. --by 7d")
	case !slices.Contains([]Phase{PhasePlan, PhaseSample, PhaseQuiesce, PhaseObserve}, r.s.Phase):
		return fmt.Errorf("the observation window is over (%s); object instead if the data is still needed", r.s.Phase)
	case r.s.ObserveTotal+in.Extra > max:
		return fmt.Errorf("the observation window would be %s; it may not exceed %s in total (it is %s now)",
			days(r.s.ObserveTotal+in.Extra), days(max), days(r.s.ObserveTotal))
	}
	return nil
}

func (r *retirement) canAcknowledge(in Acknowledgement) error {
	if err := r.stillDeciding(); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(in.By) == "":
		return errors.New("say who acknowledges: --as <name>")
	case strings.TrimSpace(in.Note) == "":
		return errors.New("say why these clients may lose access: --note")
	case r.s.Acknowledgement != nil:
		return fmt.Errorf("already acknowledged by %s", r.s.Acknowledgement.By)
	case r.s.Phase != PhaseSample || len(r.evidenceToAcknowledge()) == 0 || r.s.Waiting == "":
		return fmt.Errorf("%s is not waiting for an acknowledgement (phase %s)", r.target(), r.s.Phase)
	}
	return covers(in, r.evidenceToAcknowledge())
}

// ParseDays reads "14d", "36h", "90m" or a Go duration: DBAs think in days.
func ParseDays(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var d int
		if _, err := fmt.Sscanf(n, "%d", &d); err != nil || fmt.Sprint(d) != n {
			return 0, fmt.Errorf("%q is not a number of days like 14d", s)
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: use days like 14d, or 36h, 90m, 30s", s)
	}
	return d, nil
}

// signedByAnOwner checks the sign-offs again at the drop, against the pinned owners: a bug
// or a path around the validators (an update that came with the start, say) must not be
// enough to destroy data.
func (r *retirement) signedByAnOwner() bool {
	if r.s.Request.Reason == ReasonMigration || !r.proven {
		return true
	}
	sg := r.s.Signers
	if sg == nil {
		return false
	}
	return slices.ContainsFunc(r.s.Signoffs, func(so Signoff) bool {
		v := so.Verified
		if v == nil || (v.Method == proof.MethodUnverified && !sg.Pins.AcceptUnproven) {
			return false
		}
		return r.isOwner(so.By) && !r.isRequester(so.By)
	})
}

// pinSigners keeps the plan's signers and checks the requester's proof of identity against
// them: "the requester cannot sign off" then compares proven people, not typed names.
func (r *retirement) pinSigners(ctx workflow.Context) error {
	if !r.proven {
		return nil
	}
	sg := r.plan.Signers
	if sg == nil {
		return temporal.NewNonRetryableApplicationError("the worker's plan did not resolve the owners (a worker older than the owners directory?)", "Refused", nil)
	}
	r.s.Signers = sg
	if r.inFleet() {
		v, err := r.verifyFleetRequester(ctx, sg.Pins)
		if err != nil {
			return temporal.NewNonRetryableApplicationError("the requester's proof of identity is refused: "+err.Error(), "Refused", nil)
		}
		r.s.RequesterVerified = &v
		return r.upsertOwners(ctx)
	}
	v, err := sg.Pins.Verify(r.s.Request.Proof, proof.Expect{
		// The requester signed with the name they typed (the directory id is not known before
		// the plan); Pins resolves it to the directory's entry, keys and all.
		Decision: DecisionStart, Workflow: workflow.GetInfo(ctx).WorkflowExecution.ID, Person: strings.TrimSpace(r.s.Request.Requester),
		Says: r.s.Request.Says(), Now: r.s.StartedAt,
	})
	if err != nil {
		return temporal.NewNonRetryableApplicationError("the requester's proof of identity is refused: "+err.Error(), "Refused", nil)
	}
	r.s.RequesterVerified = &v
	if v.Nonce != "" {
		r.s.Nonces = append(r.s.Nonces, v.Nonce)
	}
	return r.upsertOwners(ctx)
}

func (r *retirement) upsertOwners(ctx workflow.Context) error {
	if err := workflow.UpsertTypedSearchAttributes(ctx, AttrOwners.ValueSet(r.concerned())); err != nil {
		workflow.GetLogger(ctx).Warn("Could not update the RetireOwners search attribute (registered?)", "error", err)
	}
	return nil
}
