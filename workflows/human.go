package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// registerUpdates wires the four things people say to a running retirement. Validators
// reject before anything is written to history, with a message the CLI prints as is.
func (r *retirement) registerUpdates(ctx workflow.Context) error {
	handlers := []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdateApprove, func(ctx workflow.Context, in Signoff) (Status, error) {
			in.At = r.now(ctx)
			r.s.Signoffs = append(r.s.Signoffs, in)
			r.s.setGate(GateSignoff, GatePassed, in.Comment, in.By, in.At)
			return r.acted(ctx), nil
		}, func(ctx workflow.Context, in Signoff) error { return r.canApprove(in) }},

		{UpdateObject, func(ctx workflow.Context, in Objection) (Status, error) {
			in.At = r.now(ctx)
			r.s.Objections = append(r.s.Objections, in)
			return r.acted(ctx), nil
		}, func(ctx workflow.Context, in Objection) error { return r.canObject(in) }},

		{UpdateExtend, func(ctx workflow.Context, in Extension) (Status, error) {
			in.At = r.now(ctx)
			r.s.Extensions = append(r.s.Extensions, in)
			r.s.ObserveTotal += in.Extra
			if !r.s.ObserveFrom.IsZero() {
				r.s.ObserveUntil = r.s.ObserveFrom.Add(r.s.ObserveTotal)
			}
			return r.acted(ctx), nil
		}, func(ctx workflow.Context, in Extension) error { return r.canExtend(in) }},

		{UpdateAcknowledge, func(ctx workflow.Context, in Acknowledgement) (Status, error) {
			in.At = r.now(ctx)
			r.s.Acknowledgement = &in
			return r.acted(ctx), nil
		}, func(ctx workflow.Context, in Acknowledgement) error { return r.canAcknowledge(in) }},

		{UpdateAcknowledgeAttempts, func(ctx workflow.Context, in Acknowledgement) (Status, error) {
			in.At = r.now(ctx)
			ev := r.s.Evidence
			ev.AttemptsAck, ev.AckedCount, ev.AckedProblems = &in, attemptTotal(ev.Attempts), len(ev.AttemptProblems)
			return r.acted(ctx), nil
		}, func(ctx workflow.Context, in Acknowledgement) error { return r.canAcknowledgeAttempts(in) }},
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.handler, workflow.UpdateHandlerOptions{Validator: h.validator}); err != nil {
			return err
		}
	}
	return nil
}

func (r *retirement) acted(ctx workflow.Context) Status {
	r.changes++
	r.details(ctx)
	return r.s
}

// beforeDrop is true while data can still be given back without a restore.
func (r *retirement) beforeDrop() bool { return r.s.Phase.BeforeDrop() && !r.dropStarted }

func (r *retirement) isOwner(who string) bool {
	return slices.ContainsFunc(r.s.Request.Owners, func(o string) bool { return SamePerson(o, who) })
}

func (r *retirement) isRequester(who string) bool { return SamePerson(who, r.s.Request.Requester) }

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
		return fmt.Errorf("%s requested this retirement and cannot sign it off; ask an owner (%s)", in.By, strings.Join(r.s.Request.Owners, ", "))
	case !r.isOwner(in.By):
		return fmt.Errorf("%s is not an owner of %s; owners are: %s", in.By, r.target(), strings.Join(r.s.Request.Owners, ", "))
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
	case !r.isOwner(in.By) && !r.isRequester(in.By):
		return fmt.Errorf("%s is not an owner of %s; owners are: %s", in.By, r.target(), strings.Join(r.s.Request.Owners, ", "))
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
	case !r.isOwner(in.By) && !r.isRequester(in.By):
		return fmt.Errorf("%s is not an owner of %s; owners are: %s", in.By, r.target(), strings.Join(r.s.Request.Owners, ", "))
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
