package workflows

// The owners' digest of a fleet. A person who owns thirty of a fleet's databases would be
// told per child per event (access cut, reminder, dropped: ninety mails, each with its own
// link) and would miss the one mail that asked for something. So the children of a fleet
// hand their routine notices to the fleet (SignalFleetNotice), and the fleet sends each
// person one digest that lists, for each of their objects, what happened, what it asks of
// them and by when, with their personal link to that object (notify.NotifyDigest).
//
// What stays immediate, per child: a failure after the drop began. Some data may be gone
// and a DBA must look now; that is an incident of one object, not news (see digested).
// Everything else goes in the digest. Notices that ask someone to act without a deadline
// (clients seen, attempts after the cut, a sign-off) hold their retirement until somebody
// acts, so waiting for the digest costs time, never data. Those with a deadline (access cut
// until, the reminder before the window ends) go out sooner when the deadline is near, but
// still batched per person, not per object.
//
// When the fleet sends (digestDue):
//   - at most once per digest interval (digest_every in the fleet file; else the worker's
//     default, 1h, a minute on a dev worker), a few minutes after the first notice of a
//     quiet spell, so that siblings that reach a phase together share one digest;
//   - sooner when a notice carries a deadline (the end of an observation window): a notice
//     waits at most a quarter of the time its readers have left to act, so a digest never
//     eats into a deadline that matters. Everything pending goes with it, still one mail
//     per person;
//   - at each wave boundary (a wave's end is news its owners hear at once, and the next run
//     starts with nothing pending), and when the fleet ends.
//
// The pending notices are part of FleetState: a run that continues as new carries them to
// the next. A child's status and record say it handed the notice to the fleet's digest; the
// fleet's record lists each digest, when it went and to whom. (Telling each child back cost
// the fleet two events per child per digest: with a thousand children, a handover per
// digest, measured by make bench-fleet N=1000.)
// Nothing here runs before a child sends a notice, which children only do from
// "fleet-owners-digest" on, so fleet runs recorded before digests replay unchanged.

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities/notify"
	"github.com/dataretire/retire/proof"
)

const (
	// SignalFleetNotice carries a FleetNotice from a child to its fleet.
	SignalFleetNotice = "fleet-notice"

	// DefaultDigestEvery is the digest interval when neither the fleet file nor the worker
	// says (fleets planned before digests existed).
	DefaultDigestEvery = time.Hour
	// MaxDigestEvery: a sign-off is asked for daily; a digest held longer would skip asks.
	MaxDigestEvery = 24 * time.Hour
	// digestGather is how long the first notice after a quiet spell waits for its siblings.
	digestGather = 5 * time.Minute
	// maxDigestLog is how many sent digests the state remembers (each child's record has its own).
	maxDigestLog = 20
	// maxNoticeLines bounds the client lines a notice carries to the fleet: every run of the
	// fleet carries its pending notices whole.
	maxNoticeLines = 10
)

// FleetNotice is a notice a child hands to its fleet's digest: the event as the child would
// have sent it, with the directory's entries of its people.
type FleetNotice struct {
	WorkflowID string       `json:"workflow_id"`
	RunID      string       `json:"run_id"`
	Event      notify.Event `json:"event"`
}

// FleetDigest is the digest's state: what waits to be sent, and what was.
type FleetDigest struct {
	Pending []FleetPendingNotice `json:"pending,omitempty"`
	// People are the directory's entries of the people the pending notices name.
	People []proof.Person `json:"people,omitempty"`
	// Sent counts the digests sent (the last one's number); LastAt is when it went.
	Sent   int       `json:"sent,omitempty"`
	LastAt time.Time `json:"last_at,omitzero"`
	// Told counts the notices of all digests.
	Told int               `json:"told,omitempty"`
	Log  []FleetDigestSent `json:"log,omitempty"`
}

// FleetPendingNotice is a notice waiting for the next digest.
type FleetPendingNotice struct {
	Object   string       `json:"object"`   // connection/object
	Received time.Time    `json:"received"` // the fleet's clock
	Event    notify.Event `json:"event"`
}

// FleetDigestSent is one digest the fleet sent.
type FleetDigestSent struct {
	Number  int       `json:"number"`
	At      time.Time `json:"at"`
	Why     string    `json:"why"`
	Notices int       `json:"notices"`
	Objects int       `json:"objects"`
	People  int       `json:"people"` // mailed their own digest
	Sent    bool      `json:"sent"`
	Error   string    `json:"error,omitempty"`
}

// digested says whether a child of a fleet hands the notice to its fleet's digest rather
// than telling its owners now: everything but a failure after the drop began, which may
// have destroyed data and needs a DBA at once.
func digested(ev notify.Event) bool { return !(ev.Kind == notify.Aborted && ev.DropStarted) }

// toFleetDigest hands a routine notice of a fleet's child to the fleet, and records that it
// did. It says false when the notice must go out now: it is not digested, the run began
// before digests (its replay tells its owners itself), or the fleet cannot be reached (it
// was terminated, or ended before this child), since then nobody would gather it.
func (r *retirement) toFleetDigest(ctx workflow.Context, ev notify.Event) bool {
	if !r.inFleet() || !digested(ev) {
		return false
	}
	if workflow.GetVersion(ctx, "fleet-owners-digest", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return false
	}
	item := ev
	item.WorkflowID, item.RunID, item.Namespace = r.s.WorkflowID, r.s.RunID, workflow.GetInfo(ctx).Namespace
	item.Phase = string(r.s.Phase)
	item.Outcome = cut(ev.Outcome, maxErrorText)
	if len(ev.Clients) > maxNoticeLines {
		item.Clients = append(slices.Clone(ev.Clients[:maxNoticeLines-1]),
			fmt.Sprintf("and %d more: retire status %s %s", len(ev.Clients)-maxNoticeLines+1, r.tgt.Connection, r.tgt.Object))
	}
	// Waiting for the signal keeps the notice ahead of the report that follows it (the
	// final one above all: the fleet may end right after it).
	err := workflow.SignalExternalWorkflow(ctx, r.s.Request.Fleet, "", SignalFleetNotice, FleetNotice{WorkflowID: r.s.WorkflowID, RunID: r.s.RunID, Event: item}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Warn("Could not hand the notice to the fleet's digest; telling the owners now", "fleet", r.s.Request.Fleet, "kind", ev.Kind, "error", err)
		return false
	}
	r.s.Notices = append(r.s.Notices, Notice{Kind: ev.Kind, Seq: ev.Seq, At: ev.At, To: ev.Recipients(), Digest: r.s.Request.Fleet})
	r.details(ctx)
	return true
}

// notice takes a child's notice in for the next digest.
func (f *fleet) notice(ctx workflow.Context, in FleetNotice) {
	f.events += costReceived
	i, ok := f.byID[in.WorkflowID]
	if !ok {
		workflow.GetLogger(ctx).Warn("Notice from a workflow that is not a child of this fleet", "workflow", in.WorkflowID)
		return
	}
	if f.s.Digest == nil {
		f.s.Digest = &FleetDigest{}
	}
	d := f.s.Digest
	ev := in.Event
	for _, p := range ev.People {
		if j := slices.IndexFunc(d.People, func(q proof.Person) bool { return SamePerson(q.ID, p.ID) }); j >= 0 {
			d.People[j] = p
		} else {
			d.People = append(d.People, p)
		}
	}
	ev.People = nil
	d.Pending = append(d.Pending, FleetPendingNotice{Object: f.s.Objects[i].Key(), Received: f.now(ctx), Event: ev})
	f.changes++
}

// digestEvery is the fleet's digest interval: the fleet file's, else the worker's.
func (f *fleet) digestEvery() time.Duration {
	if e := f.s.Request.DigestEvery; e > 0 {
		return e
	}
	if sg := f.s.Signers; sg != nil && sg.DigestEvery > 0 {
		return sg.DigestEvery
	}
	return DefaultDigestEvery
}

// digestDue is when the pending notices must go out, and why (zero: nothing pending, or a
// digest is on its way).
func (f *fleet) digestDue() (time.Time, string) {
	d := f.s.Digest
	if d == nil || len(d.Pending) == 0 || f.digesting {
		return time.Time{}, ""
	}
	every := f.digestEvery()
	gather := min(digestGather, every/4)
	var due time.Time
	var why string
	for _, p := range d.Pending {
		at, w := p.Received.Add(gather), "new notices"
		if next := d.LastAt.Add(every); !d.LastAt.IsZero() && at.Before(next) {
			at, w = next, "every "+days(every)
		}
		if u := p.Event.Until; !u.IsZero() {
			if latest := p.Received.Add(max(u.Sub(p.Received), 0) / 4); latest.Before(at) {
				at, w = latest, fmt.Sprintf("a deadline: %s by %s", p.Object, stamp(u))
			}
		}
		if due.IsZero() || at.Before(due) {
			due, why = at, w
		}
	}
	return due, why
}

// digestIfDue sends the digest once it is due.
func (f *fleet) digestIfDue(ctx workflow.Context) {
	if due, why := f.digestDue(); !due.IsZero() && !f.now(ctx).Before(due) {
		f.sendDigest(ctx, why)
	}
}

// sendDigest sends every pending notice in one digest. Like what the fleet sends its
// children, it is in flight until it settles, and a run hands over only after that.
func (f *fleet) sendDigest(ctx workflow.Context, why string) {
	d := f.s.Digest
	if d == nil || len(d.Pending) == 0 || f.digesting {
		return
	}
	pending, people := d.Pending, d.People
	d.Pending, d.People = nil, nil
	d.Sent++
	number, at := d.Sent, f.now(ctx)
	d.LastAt = at
	req := f.s.Request
	in := notify.Digest{
		Key: fmt.Sprintf("%s/%s/digest/%d", f.id, f.s.FirstRunID, number), Fleet: req.Name, Namespace: f.namespace, WorkflowID: f.id, RunID: f.run,
		Reason: string(req.Reason), Ticket: req.Ticket, Requester: req.Requester, At: at, Every: f.digestEvery(), People: people,
	}
	objects := map[string]bool{}
	for _, p := range pending {
		in.Notices = append(in.Notices, p.Event)
		objects[p.Object] = true
	}
	if sg := f.s.Signers; sg != nil && sg.Requester != "" {
		in.Requester = sg.Requester
	}
	opts := notifyOptions
	opts.Summary = fmt.Sprintf("Owners' digest %d of fleet %s: %d notices on %d objects (%s)", number, req.Name, len(pending), len(objects), why)
	f.digesting = true
	f.inflight++
	f.events += costActivity
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	fut := workflow.ExecuteActivity(workflow.WithActivityOptions(dctx, opts), n.NotifyDigest, in)
	workflow.Go(dctx, func(gctx workflow.Context) {
		var res notify.DigestResult
		err := fut.Get(gctx, &res)
		f.digestSent(dctx, FleetDigestSent{Number: number, At: at, Why: why, Notices: len(pending), Objects: len(objects)}, res, err)
		f.digesting = false
		f.inflight--
		f.handoverTask()
		f.changes++
	})
}

// digestSent records a digest.
func (f *fleet) digestSent(ctx workflow.Context, rec FleetDigestSent, res notify.DigestResult, err error) {
	rec.People, rec.Sent = len(res.People), res.Sent && err == nil
	if err != nil {
		rec.Error = cut(errorText(err), maxErrorText)
		workflow.GetLogger(ctx).Error("Could not send the owners' digest", "fleet", f.s.Request.Name, "digest", rec.Number, "error", err)
	}
	d := f.s.Digest
	d.Told += rec.Notices
	d.Log = append(d.Log, rec)
	if len(d.Log) > maxDigestLog {
		d.Log = slices.Delete(d.Log, 0, len(d.Log)-maxDigestLog)
	}
}

// digestText is the digest's line of the fleet's view.
func digestText(d *FleetDigest) string {
	if d == nil {
		return ""
	}
	var parts []string
	if d.Sent > 0 {
		parts = append(parts, fmt.Sprintf("%d sent (%d notices), the last at %s", d.Sent, d.Told, stamp(d.LastAt)))
	}
	if k := len(d.Pending); k > 0 {
		parts = append(parts, fmt.Sprintf("%d notices waiting for the next", k))
	}
	return strings.Join(parts, "; ")
}
