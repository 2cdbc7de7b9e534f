package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/proof"
)

// A fleet's digest. One person often owns many of a fleet's databases; told per object, the
// owner of thirty would read ninety mails (access cut, reminder, dropped), each with its own
// link, and miss the one that asked for something. A fleet therefore gathers its children's
// routine notices and sends each person one mail: every object of theirs that had news since
// the last digest, what happened, what it now asks of them and by when, and, for the owners,
// their personal link to each object's retirement, minted as NotifyOwners mints them. The
// shared channels (webhook) and the CC list get one common digest of every object, without
// any link.

// DigestEvent is the Message.Event of a digest.
const DigestEvent = "fleet-digest"

// Digest is what a fleet hands the NotifyDigest activity: the notices of its children since
// its last digest. It is a plain value in the fleet's history, so it carries no credentials,
// and each person's entry only once (People), not once per notice.
type Digest struct {
	// Key is the digest's idempotency key, "<fleet id>/<fleet's first run id>/digest/<n>";
	// each person's mail is keyed "<key>/to/<person>".
	Key string `json:"key"`
	// Fleet is the fleet's name; Namespace, WorkflowID and RunID its run (the activity fills
	// them from its own info when empty), for the link to the fleet in the Temporal UI.
	Fleet      string `json:"fleet"`
	Namespace  string `json:"namespace,omitempty"`
	WorkflowID string `json:"workflow_id,omitempty"`
	RunID      string `json:"run_id,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Ticket     string `json:"ticket,omitempty"`
	Requester  string `json:"requester,omitempty"`
	// At is when the fleet sent it: "in N days" counts from it, since that is when it is read.
	At time.Time `json:"at"`
	// Every is the fleet's digest interval, said in each mail so its readers know what to expect.
	Every time.Duration `json:"every,omitempty"`
	// People are the directory's entries (id, name, e-mail; no keys) of everyone the notices
	// name.
	People []proof.Person `json:"people,omitempty"`
	// Notices are the children's, in the order the fleet got them. Each names its own
	// retirement (workflow and run: the personal links are for it), requester and owners.
	Notices []Event `json:"notices"`
}

// DigestResult says what NotifyDigest did; the fleet tells each child what became of its
// notices.
type DigestResult struct {
	Key  string `json:"key"`
	Sent bool   `json:"sent"` // false when no channel is configured
	// People are those who were mailed their own digest.
	People []string `json:"people,omitempty"`
	// Told is, for each of Digest.Notices in order, whom it concerned and who of them got a
	// personal link to its retirement with it.
	Told []Told `json:"told,omitempty"`
}

// Told is what became of one notice of a digest.
type Told struct {
	To       []string `json:"to,omitempty"`
	Personal []string `json:"personal,omitempty"`
}

// DigestMessages are a digest ready for the channels.
type DigestMessages struct {
	// Common lists every object, for the shared channels and the CC list: no link.
	Common Message
	// Personal holds one message per person, their objects only (with their links when the
	// worker has them); For[i] is whom Personal[i] is for, as the notices name them.
	Personal []Message
	For      []string
	Told     []Told
}

// NotifyDigest sends a fleet's digest: each person their own mail on the private channels
// (mail), the common digest on the shared ones (webhook) and to the CC list. As with
// NotifyOwners, every message is tried and the errors joined, each has its own key in each
// channel's Deduper, so a retry sends again only what failed (with new links for those not
// served yet); permanent failures are non-retryable.
func (a *Activities) NotifyDigest(ctx context.Context, d Digest) (DigestResult, error) {
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		if d.WorkflowID == "" {
			d.WorkflowID = info.WorkflowExecution.ID
		}
		if d.RunID == "" {
			d.RunID = info.WorkflowExecution.RunID
		}
		if d.Namespace == "" {
			d.Namespace = info.WorkflowNamespace
		}
	}
	shared, private := channels(a.n)
	var mint func(Event, string) (personalLink, error)
	if a.links != nil && len(private) > 0 {
		mint = a.links.mint
	}
	dm, err := renderDigest(d, a.ui, mint)
	if err != nil {
		return DigestResult{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrorType, nil)
	}
	res := DigestResult{Key: dm.Common.Key, Told: dm.Told}
	if len(private) == 0 {
		for i := range res.Told {
			res.Told[i].Personal = nil
		}
	}
	if a.n == nil {
		return res, nil
	}
	var errs []error
	if len(shared) > 0 {
		errs = append(errs, shared.Notify(ctx, dm.Common))
	}
	if len(private) > 0 {
		// Every person has their own; the common copy goes to the CC list alone.
		cc := dm.Common
		cc.To, cc.Addresses, cc.Optional = nil, nil, true
		errs = append(errs, private.Notify(ctx, cc))
		for i, m := range dm.Personal {
			err := private.Notify(ctx, m)
			if err == nil {
				res.People = append(res.People, dm.For[i])
			}
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		if IsPermanent(err) {
			return res, temporal.NewNonRetryableApplicationError(err.Error(), ErrorType, nil)
		}
		return res, temporal.NewApplicationError(err.Error(), "NotifyFailed")
	}
	res.Sent = true
	return res, nil
}

// RenderDigest renders a digest without personal links (a worker without the owners' page
// sends it so).
func RenderDigest(d Digest, ui string) (DigestMessages, error) { return renderDigest(d, ui, nil) }

// digestObject is one retirement of the digest and its notices, in order.
type digestObject struct {
	target  string // connection/object
	notices []int  // indexes into Digest.Notices
}

// digestReader is one person the digest goes to, and the notices that concern them.
type digestReader struct {
	who     string // as the first notice that names them does
	notices map[int]bool
}

func renderDigest(d Digest, ui string, mint func(Event, string) (personalLink, error)) (DigestMessages, error) {
	if strings.TrimSpace(d.Key) == "" {
		return DigestMessages{}, permanent(errors.New("notify: digest without a key"))
	}
	if len(d.Notices) == 0 {
		return DigestMessages{}, permanent(errors.New("notify: digest without notices"))
	}
	if d.At.IsZero() {
		d.At = time.Now()
	}
	d.Notices = slices.Clone(d.Notices) // each is given the people below; the caller's stay as they were
	people := proof.Pins{People: d.People}
	// One person, however the notices spell them: the directory's id, or the name itself.
	identity := func(who string) string {
		if p, ok := people.Person(who); ok {
			return strings.ToLower(p.ID)
		}
		return strings.ToLower(strings.TrimSpace(who))
	}
	var objects []*digestObject
	byRun := map[string]*digestObject{}
	var readers []*digestReader
	byID := map[string]*digestReader{}
	told := make([]Told, len(d.Notices))
	for i := range d.Notices {
		e := &d.Notices[i]
		e.People = d.People
		if e.WorkflowID == "" || e.RunID == "" || e.Connection == "" || e.Object == "" {
			return DigestMessages{}, permanent(fmt.Errorf("notify: digest notice %d names no retirement (workflow, run, connection and object)", i+1))
		}
		if !slices.Contains(Kinds, e.Kind) {
			return DigestMessages{}, permanent(fmt.Errorf("notify: digest notice %d: unknown event kind %q", i+1, e.Kind))
		}
		run := e.WorkflowID + "/" + e.RunID
		o := byRun[run]
		if o == nil {
			o = &digestObject{target: e.Connection + "/" + e.Object}
			byRun[run] = o
			objects = append(objects, o)
		}
		o.notices = append(o.notices, i)
		told[i].To = e.Recipients()
		for _, who := range told[i].To {
			id := identity(who)
			r := byID[id]
			if r == nil {
				r = &digestReader{who: who, notices: map[int]bool{}}
				byID[id] = r
				readers = append(readers, r)
			}
			r.notices[i] = true
		}
	}
	fleetLink := Link(ui, d.Namespace, d.WorkflowID, d.RunID)
	key := strings.TrimSpace(d.Key)
	out := DigestMessages{Told: told}
	var everyone []string
	for _, r := range readers {
		everyone = append(everyone, r.who)
	}
	out.Common = Message{Key: key, Event: DigestEvent, To: everyone, Link: fleetLink,
		Subject: fmt.Sprintf("[retire] fleet %s: news on %s", d.Fleet, plural(len(objects), "database", "databases"))}
	out.Common.Text = d.commonText(objects, fleetLink, ui)
	for _, r := range readers {
		var mine []*digestObject
		for _, o := range objects {
			var ns []int
			for _, i := range o.notices {
				if r.notices[i] {
					ns = append(ns, i)
				}
			}
			if len(ns) > 0 {
				mine = append(mine, &digestObject{target: o.target, notices: ns})
			}
		}
		m, linked, err := d.personal(r.who, mine, fleetLink, ui, mint)
		if err != nil {
			return DigestMessages{}, err
		}
		id := r.who
		if p, ok := people.Person(r.who); ok {
			id = p.ID
			if addr := strings.TrimSpace(p.Email); addr != "" {
				m.Addresses = map[string]string{r.who: addr}
			}
		}
		m.Key = key + "/to/" + id
		out.Personal, out.For = append(out.Personal, m), append(out.For, r.who)
		for _, i := range linked {
			told[i].Personal = append(told[i].Personal, r.who)
		}
	}
	return out, nil
}

// personal is one person's digest: their objects, those that ask something of them first.
// linked are the notices whose retirement got a personal link in it.
func (d Digest) personal(who string, objects []*digestObject, fleetLink, ui string, mint func(Event, string) (personalLink, error)) (Message, []int, error) {
	type entry struct {
		o     *digestObject
		last  Event
		asks  []string
		until time.Time
	}
	var asking, info []entry
	for _, o := range objects {
		last := d.Notices[o.notices[len(o.notices)-1]]
		en := entry{o: o, last: last, asks: last.asks(who)}
		if len(en.asks) > 0 {
			en.until = last.Until
			asking = append(asking, en)
		} else {
			info = append(info, en)
		}
	}
	// The most pressing first: the nearest deadline, then those without one, in fleet order.
	slices.SortStableFunc(asking, func(a, b entry) int {
		switch {
		case a.until.IsZero() && b.until.IsZero():
			return 0
		case a.until.IsZero():
			return 1
		case b.until.IsZero():
			return -1
		}
		return a.until.Compare(b.until)
	})
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("Fleet %s retires a system's databases in waves (%s, requested by %s%s).", d.Fleet, d.Reason, d.Requester, ticketText(d.Ticket))
	line("This digest of %s lists what happened to %s of yours since the last one.", stamp(d.At), plural(len(objects), "database", "databases"))
	var first time.Time
	for _, en := range asking {
		if !en.until.IsZero() {
			first = en.until
			break
		}
	}
	switch {
	case len(asking) == 0:
		line("None of them asks anything of you.")
	case first.IsZero():
		line("%s something of you.", plural(len(asking), "asks", "ask"))
	default:
		line("%s something of you, the first by %s.", plural(len(asking), "asks", "ask"), stamp(first))
	}
	var linked []int
	n := 0
	section := func(title string, entries []entry) error {
		if len(entries) == 0 {
			return nil
		}
		line("")
		line("%s", title)
		line("%s", strings.Repeat("=", len(title)))
		for _, en := range entries {
			n++
			line("")
			line("%d. %s — %s", n, en.o.target, orText(en.last.Phase, "phase not known"))
			for _, i := range en.o.notices {
				ev := d.Notices[i]
				line("   %s: %s", stamp(ev.At), ev.happened(d.At))
				for _, c := range ev.detailLines() {
					line("     - %s", c)
				}
			}
			for _, a := range en.asks {
				line("   %s", a)
			}
			if mint != nil && en.last.Kind.OwnersDecide() && en.last.isOwner(who) {
				pl, err := mint(en.last, who)
				if err != nil {
					return err
				}
				line("   %s", pl.line)
				linked = append(linked, en.o.notices...)
			}
			if l := Link(ui, en.last.Namespace, en.last.WorkflowID, en.last.RunID); l != "" {
				line("   Run: %s", l)
			}
		}
		return nil
	}
	if err := section("Asks something of you", asking); err != nil {
		return Message{}, nil, err
	}
	if err := section("For your information", info); err != nil {
		return Message{}, nil, err
	}
	line("")
	line("%s", d.pace())
	if fleetLink != "" {
		line("Fleet: %s", fleetLink)
	}
	subject := fmt.Sprintf("[retire] fleet %s: news on %s", d.Fleet, objects[0].target)
	if len(objects) > 1 {
		subject = fmt.Sprintf("[retire] fleet %s: news on %d of your databases", d.Fleet, len(objects))
	}
	switch {
	case len(asking) > 0 && !first.IsZero():
		subject += fmt.Sprintf(", %d ask something of you (first by %s)", len(asking), day(first))
	case len(asking) > 0:
		subject += fmt.Sprintf(", %d ask something of you", len(asking))
	}
	return Message{Event: DigestEvent, Subject: subject, Text: b.String(), To: []string{who}, Link: fleetLink, Personal: true}, linked, nil
}

// commonText lists every object with its news, for those who read the shared channels.
func (d Digest) commonText(objects []*digestObject, fleetLink, ui string) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("Fleet %s retires a system's databases in waves (%s, requested by %s%s).", d.Fleet, d.Reason, d.Requester, ticketText(d.Ticket))
	line("This digest of %s lists what happened to %s since the last one;", stamp(d.At), plural(len(objects), "database", "databases"))
	line("each owner and the requester got their own, with what it asks of them and their personal links.")
	for i, o := range objects {
		last := d.Notices[o.notices[len(o.notices)-1]]
		line("")
		line("%d. %s — %s (owners: %s)", i+1, o.target, orText(last.Phase, "phase not known"), orText(strings.Join(uniq(last.Owners), ", "), "none named"))
		for _, j := range o.notices {
			ev := d.Notices[j]
			line("   %s: %s", stamp(ev.At), ev.happened(d.At))
		}
		if l := Link(ui, last.Namespace, last.WorkflowID, last.RunID); l != "" {
			line("   Run: %s", l)
		}
	}
	line("")
	line("%s", d.pace())
	if fleetLink != "" {
		line("Fleet: %s", fleetLink)
	}
	return b.String()
}

func (d Digest) pace() string {
	if d.Every <= 0 {
		return "Digests come when there is news, sooner when a deadline is near; each retirement's own page has everything."
	}
	return fmt.Sprintf("Digests come at most every %s, sooner when a deadline is near; each retirement's own page has everything.", durationText(d.Every))
}

// happened is what the notice says happened, in one line; "in N days" counts from now, when
// the digest is read.
func (e Event) happened(now time.Time) string {
	e.At = now
	switch e.Kind {
	case ClientsSeen:
		return "clients were seen while sampling; nothing is cut yet, the retirement waits for a DBA to acknowledge them"
	case AccessAttempts:
		return "accounts still try to reach it after the cut; nothing is dropped until somebody looks"
	case AccessCut:
		return fmt.Sprintf("access cut; observed until %s (%s), then archived, verified and dropped", stamp(e.Until), e.left())
	case Reminder:
		return fmt.Sprintf("the observation ends %s (%s); then it is archived, verified and dropped", stamp(e.Until), e.left())
	case SignoffNeeded:
		return fmt.Sprintf("the observation is over and nobody objected; the drop waits for the sign-off of an owner other than the requester (%s)", e.Requester)
	case Dropped:
		return fmt.Sprintf("dropped; archive (verified before the drop) %s; %s freed", e.archiveAt(), humanBytes(e.BytesFreed))
	case Aborted:
		outcome := orText(e.Outcome, "aborted")
		if e.DropStarted {
			return fmt.Sprintf("FAILED after the drop had begun (%s): some or all of its data may be gone; archive %s", firstLine(outcome, 200), e.archiveAt())
		}
		if e.AccessRestored {
			return fmt.Sprintf("ended without a drop (%s); access restored exactly as it was", firstLine(outcome, 200))
		}
		return fmt.Sprintf("ended without a drop (%s); access was not cut, or was not restored automatically: see its status", firstLine(outcome, 200))
	}
	return string(e.Kind)
}

// detailLines are the lines under a notice that name who was seen.
func (e Event) detailLines() []string {
	switch e.Kind {
	case ClientsSeen, AccessAttempts:
		return e.Clients
	}
	return nil
}

// asks is what the notice asks of who, with the command lines to do it; nil when it asks
// nothing of them (it is news).
func (e Event) asks(who string) []string {
	owner, requester := e.isOwner(who), strings.EqualFold(strings.TrimSpace(who), strings.TrimSpace(e.Requester))
	as := arg(who)
	cmd := func(verb string, args ...string) string {
		return "    " + e.cmd(verb, append([]string{"--as", as}, args...)...)
	}
	object := cmd("object", "--reason", `"<why it is still needed>"`)
	var out []string
	switch e.Kind {
	case ClientsSeen:
		if requester {
			out = append(out, "Asked of you: acknowledge the clients if they may lose access, or cancel the retirement:",
				cmd("acknowledge-clients", "--note", `"<why they may lose access>"`), "    "+e.cmd("cancel"))
		}
		if owner && !requester {
			out = append(out, "Asked of you: if a client still needs this data, object (or tell "+e.Requester+"):", object)
		}
	case AccessAttempts:
		if owner {
			out = append(out, "Asked of you: if the data is still needed, object; access comes back exactly as it was:", object)
		}
		if requester {
			out = append(out, "Asked of you: if these attempts may be ignored, acknowledge them:", cmd("acknowledge-attempts", "--note", `"<why they may be ignored>"`))
		}
	case AccessCut, Reminder:
		if !owner {
			break
		}
		out = append(out, "Asked of you, before "+stamp(e.Until)+": if anything still needs it, object; to observe longer, extend:",
			object, cmd("extend", "--by", "7d", "--reason", `"<why>"`))
		if e.Reason == "decommission" && len(e.Signed) == 0 && !requester {
			out = append(out, "  nothing is dropped until an owner other than the requester signs off:", cmd("approve", "--comment", `"<comment>"`))
		}
	case SignoffNeeded:
		if owner && !requester {
			out = append(out, "Asked of you: sign off, or object if it is still needed:", cmd("approve", "--comment", `"<comment>"`), object)
		}
	}
	return out
}

func ticketText(t string) string {
	if t == "" {
		return ""
	}
	return ", ticket " + t
}

func orText(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// durationText prints an interval as people say it: 1h, 30m, 1h30m, 45s.
func durationText(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return strings.TrimSuffix(d.String(), "0s")
	}
	return d.String()
}
