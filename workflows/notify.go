package workflows

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities/notify"
	"github.com/dataretire/retire/proof"
)

// n is only used to name the notify activity; the worker registers the real one.
var n *notify.Activities

// Notice is a notification the retirement sent (or tried to send) to its owners.
type Notice struct {
	Kind notify.Kind `json:"kind"`
	Seq  int         `json:"seq,omitempty"`
	At   time.Time   `json:"at"`
	Sent bool        `json:"sent"` // false: no channel configured, or it failed (Error)
	To   []string    `json:"to,omitempty"`
	// Personal are the owners who got their own mail with a personal link to the owners' page.
	Personal []string `json:"personal,omitempty"`
	Error    string   `json:"error,omitempty"`
	// Digest is the fleet whose owners' digest carries the notice (a retirement of a fleet
	// hands its routine notices to it; the fleet's record says when each digest went out).
	Digest string `json:"digest,omitempty"`
}

// Delivered says, for the status and the record, whether and how the notice reached people.
func (n Notice) Delivered() string {
	switch {
	case n.Digest != "":
		return "handed to the owners' digest of fleet " + n.Digest + " (its record says when each digest went out)"
	case n.Error != "":
		return "no: " + n.Error
	case !n.Sent:
		return "no channel configured"
	}
	return "yes"
}

// notifyOptions bound the retries: a notification is worth minutes of trying, never a
// stalled retirement.
var notifyOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 2 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumInterval: time.Minute,
		MaximumAttempts: 5, NonRetryableErrorTypes: []string{notify.ErrorType}},
}

// notify tells the owners about ev. It never fails the retirement: an owner who was not
// told still has the status, the UI and the record, while a retirement that stopped over a
// mail relay would leave access cut for nothing.
func (r *retirement) notify(ctx workflow.Context, ev notify.Event) {
	if !r.notifying {
		return
	}
	req := r.s.Request
	ev.Connection, ev.Object, ev.Reason, ev.Ticket = req.Connection, req.Object, string(req.Reason), req.Ticket
	// Owners and requester as the plan pinned them from the owners directory (the request's
	// in runs before it), with the people's names and e-mails: the personal links name the
	// directory's people, and mail goes where the directory says.
	ev.Requester, ev.Owners, ev.People, ev.At = r.requester(), r.concerned(), r.people(), r.now(ctx)
	for _, s := range r.s.Signoffs {
		ev.Signed = append(ev.Signed, s.By)
	}
	// A retirement of a fleet leaves its routine notices to the fleet's digest: one mail per
	// person for all their objects, not one per object and event.
	if r.toFleetDigest(ctx, ev) {
		return
	}
	opts := notifyOptions
	opts.Summary = fmt.Sprintf("Tell the owners of %s: %s", r.target(), ev.Kind)
	var res notify.Result
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, opts), n.NotifyOwners, ev).Get(ctx, &res)
	notice := Notice{Kind: ev.Kind, Seq: ev.Seq, At: ev.At, Sent: res.Sent, To: res.To, Personal: res.Personal}
	if err != nil {
		notice.Error = err.Error()
		workflow.GetLogger(ctx).Error("Could not notify the owners", "kind", ev.Kind, "error", err)
	}
	r.s.Notices = append(r.s.Notices, notice)
	r.details(ctx)
}

// requester is who asked, as the owners directory knows them (the request's word in runs
// before the directory, or when the directory does not know them on a dev worker).
func (r *retirement) requester() string {
	if r.proven && r.s.Signers != nil && r.s.Signers.Requester != "" {
		return r.s.Signers.Requester
	}
	return r.s.Request.Requester
}

// people are the pinned entries of the requester and the owners, without their keys: the
// notice needs names and addresses, and the activity's input is kept in history.
func (r *retirement) people() []proof.Person {
	if !r.proven || r.s.Signers == nil {
		return nil
	}
	var out []proof.Person
	for _, who := range append([]string{r.requester()}, r.concerned()...) {
		p, ok := r.s.Signers.Pins.Person(who)
		if !ok || slices.ContainsFunc(out, func(q proof.Person) bool { return SamePerson(q.ID, p.ID) }) {
			continue
		}
		out = append(out, proof.Person{ID: p.ID, Name: p.Name, Email: p.Email})
	}
	return out
}

// reminderDue is when the owners are reminded that the current window ends, and whether
// they still should be: once per window end (an extension moves it), and only when the
// reminder falls after the window (or its extension) began, since the notice that began
// it already gave the date.
func (r *retirement) reminderDue() (time.Time, bool) {
	days := r.plan.ReminderDays
	if days <= 0 {
		days = 2
	}
	at := r.s.ObserveUntil.Add(-time.Duration(days) * 24 * time.Hour)
	set := r.s.ObserveFrom
	if k := len(r.s.Extensions); k > 0 && r.s.Extensions[k-1].At.After(set) {
		set = r.s.Extensions[k-1].At
	}
	return at, r.notifying && r.reminded <= len(r.s.Extensions) && at.After(set)
}
