package notify

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/proof"
)

// Kind is what happened.
type Kind string

// The events owners hear about.
const (
	// ClientsSeen: sampling saw clients; a DBA must acknowledge them or cancel.
	ClientsSeen Kind = "clients-seen"
	// AccessAttempts: after the cut, somebody keeps trying to reach the data (at once, then a
	// daily digest while it goes on); the drop waits for an acknowledgement or an objection.
	AccessAttempts Kind = "access-attempts"
	// AccessCut: access is cut until Until; owners may object, extend or sign off.
	AccessCut Kind = "access-cut"
	// Reminder: the observation window ends in a few days.
	Reminder Kind = "reminder"
	// SignoffNeeded: the window is over, and a decommission waits for an owner's sign-off.
	SignoffNeeded Kind = "signoff-needed"
	// Dropped: the data is archived, verified and dropped.
	Dropped Kind = "dropped"
	// Aborted: the retirement ended without a drop (objection, cancellation, failure).
	Aborted Kind = "aborted"
)

// Kinds lists every event kind.
var Kinds = []Kind{ClientsSeen, AccessCut, AccessAttempts, Reminder, SignoffNeeded, Dropped, Aborted}

// OwnersDecide says whether owners can still decide something when this event is told: an
// owner may object from the plan until the drop begins (and acknowledge clients and attempts,
// extend, sign off), so every notice before the drop invites a decision, and the outcomes
// (dropped, aborted) do not. These are the notices that carry personal links.
func (k Kind) OwnersDecide() bool {
	switch k {
	case ClientsSeen, AccessAttempts, AccessCut, Reminder, SignoffNeeded:
		return true
	}
	return false
}

// Event is what the workflow knows when something happens; Render turns it into a Message.
// It is a plain value (the notify activity's input), so it carries no credentials and is
// safe in workflow history.
type Event struct {
	Kind Kind `json:"kind"`
	// Seq tells apart repeated events of one kind in one run (daily sign-off reminders):
	// it is part of the idempotency key. 0 for one-off events.
	Seq int `json:"seq,omitempty"`

	// The run. The notify activity fills these from its own activity info when empty.
	Namespace  string `json:"namespace,omitempty"`
	WorkflowID string `json:"workflow_id,omitempty"`
	RunID      string `json:"run_id,omitempty"`

	Connection string   `json:"connection"`
	Object     string   `json:"object"`
	Reason     string   `json:"reason"` // decommission or migration
	Ticket     string   `json:"ticket,omitempty"`
	Requester  string   `json:"requester"`
	Owners     []string `json:"owners"`
	Signed     []string `json:"signed,omitempty"` // owners who signed off so far

	// People are the directory's entries for the requester and the owners as the plan pinned
	// them (id, name, e-mail; no keys): mail goes to a person's e-mail when the directory
	// gives one, and a personal link names its person. Empty in runs without a directory.
	People []proof.Person `json:"people,omitempty"`

	// At is when the event happened (workflow.Now); "in N days" counts from it.
	At time.Time `json:"at"`
	// Phase is where the retirement stood when it happened; a fleet's digest says it, since
	// its readers see the event some time later.
	Phase string `json:"phase,omitempty"`
	// Until: AccessCut and Reminder, the end of the observation window.
	Until time.Time `json:"until,omitzero"`

	// Clients: ClientsSeen, one line per client (see ClientLines).
	Clients []string `json:"clients,omitempty"`

	// Dropped: the archive as `retire restore` / `retire verify` take it
	// (<connection>/<object>/<run id>/), where it lies (ArchiveURL,
	// s3://<bucket>/<store prefix>/<path>/, what the notice prints), and the bytes the
	// drop freed.
	ArchivePath string `json:"archive_path,omitempty"`
	ArchiveURL  string `json:"archive_url,omitempty"`
	BytesFreed  int64  `json:"bytes_freed,omitempty"`

	// Aborted: what ended it ("objection by bob: finance still reads it", "cancelled",
	// "failed: ..."), whether access was given back, and whether the drop had begun (then
	// data may be gone, and ArchivePath is the verified archive to restore from).
	Outcome        string `json:"outcome,omitempty"`
	AccessRestored bool   `json:"access_restored,omitempty"`
	DropStarted    bool   `json:"drop_started,omitempty"`

	// UILink overrides the link built from the UI base URL.
	UILink string `json:"ui_link,omitempty"`
}

// archiveAt is where the archive lies, as any S3 client finds it; the path in the store
// profile when the event does not say (`retire restore` takes the path).
func (e Event) archiveAt() string {
	if e.ArchiveURL != "" {
		return e.ArchiveURL
	}
	return e.ArchivePath
}

// Key is the idempotency key of the event.
func (e Event) Key() string {
	k := e.WorkflowID + "/" + e.RunID + "/" + string(e.Kind)
	if e.Seq > 0 {
		k += fmt.Sprintf("/%d", e.Seq)
	}
	return k
}

// Link is the run's page in the Temporal UI (ui is its base URL, e.g. http://127.0.0.1:8233).
func Link(ui, namespace, workflowID, runID string) string {
	if ui == "" || workflowID == "" {
		return ""
	}
	if namespace == "" {
		namespace = "default"
	}
	l := strings.TrimRight(ui, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(workflowID)
	if runID != "" {
		l += "/" + url.PathEscape(runID)
	}
	return l + "/history"
}

// ClientLines formats the clients seen during sampling, one line each.
func ClientLines(ss []engine.Session) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		l := s.User + "@" + s.Host
		if s.Program != "" {
			l += " (" + s.Program + ")"
		}
		l += fmt.Sprintf(", %d connection(s), first seen %s, last seen %s", s.Count, stamp(s.FirstSeen), stamp(s.LastSeen))
		out = append(out, l)
	}
	return out
}

// Recipients is who hears about the event: the requester for what a DBA must act on, the
// owners for what they may act on, both for outcomes. Sign-off requests go only to owners
// who may sign (not the requester).
func (e Event) Recipients() []string {
	var to []string
	switch e.Kind {
	case ClientsSeen, AccessCut, AccessAttempts, Dropped, Aborted:
		to = append([]string{e.Requester}, e.Owners...)
	case Reminder:
		to = e.Owners
	case SignoffNeeded:
		to = e.signers()
	}
	return uniq(to)
}

// signers are the owners who may sign off: every owner but the requester.
func (e Event) signers() []string {
	var out []string
	for _, o := range uniq(e.Owners) {
		if o != e.Requester {
			out = append(out, o)
		}
	}
	return out
}

// Render makes the message for an event; ui is the Temporal UI's base URL ("" for no link).
func Render(e Event, ui string) (Message, error) {
	if e.WorkflowID == "" || e.RunID == "" {
		return Message{}, permanent(errors.New("notify: event without workflow and run id: no idempotency key"))
	}
	if e.Connection == "" || e.Object == "" {
		return Message{}, permanent(errors.New("notify: event without connection and object"))
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	link := e.UILink
	if link == "" {
		link = Link(ui, e.Namespace, e.WorkflowID, e.RunID)
	}
	target := e.Connection + "/" + e.Object
	var subject string
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	cmds := func(lines []string) {
		for _, l := range lines {
			line("    %s", l)
		}
	}
	switch e.Kind {
	case ClientsSeen:
		subject = fmt.Sprintf("[retire] %s: %d client(s) still connect: acknowledge or cancel", target, len(e.Clients))
		line("Database %s on %s is being retired (%s), requested by %s%s.", e.Object, e.Connection, e.Reason, e.Requester, e.ticket())
		line("")
		line("While sampling, these clients were seen connected to it:")
		for _, c := range e.Clients {
			line("  - %s", c)
		}
		line("")
		line("Nothing has been cut yet: the retirement waits. If these clients may lose access, a DBA acknowledges them:")
		cmds([]string{e.cmd("acknowledge-clients", "--as", arg(e.Requester), "--note", `"<why they may lose access>"`)})
		line("If the database is still in use, cancel the retirement:")
		cmds([]string{e.cmd("cancel")})
		if len(e.Owners) > 0 {
			line("")
			line("Owners (%s): if you recognise a client that still needs this data, tell %s.", strings.Join(e.Owners, ", "), e.Requester)
		}
	case AccessAttempts:
		subject = fmt.Sprintf("[retire] %s: %d account(s) still try to reach it after the cut", target, len(e.Clients))
		line("Access to database %s on %s was cut (%s, requested by %s%s), and these still try to reach it:", e.Object, e.Connection, e.Reason, e.Requester, e.ticket())
		for _, c := range e.Clients {
			line("  - %s", c)
		}
		line("")
		line("Whoever still tries is the strongest sign the data is still needed. Nothing is dropped until somebody looks:")
		line("if it is still needed, object, and access comes back exactly as it was:")
		cmds(e.perOwner("object", "--reason", `"<why it is still needed>"`))
		line("if these attempts may be ignored (a monitor, a retired batch host), acknowledge them:")
		cmds([]string{e.cmd("acknowledge-attempts", "--as", arg(e.Requester), "--note", `"<why they may be ignored>"`)})
	case AccessCut:
		subject = fmt.Sprintf("[retire] %s: access cut until %s: object if the data is still needed", target, day(e.Until))
		line("Access to database %s on %s has been cut (%s, requested by %s%s).", e.Object, e.Connection, e.Reason, e.Requester, e.ticket())
		line("It is observed until %s (%s). Nothing is deleted before then; after that it is archived, verified and dropped.", stamp(e.Until), e.left())
		line("")
		line("If anything still needs it, object: access comes back exactly as it was and the retirement ends.")
		cmds(e.perOwner("object", "--reason", `"<why it is still needed>"`))
		line("To observe longer (at most 35 days in all):")
		cmds(e.perOwner("extend", "--by", "7d", "--reason", `"<why>"`))
		e.signoffLines(line, cmds)
	case Reminder:
		subject = fmt.Sprintf("[retire] %s: observation ends %s (%s)", target, day(e.Until), e.left())
		line("Reminder: access to database %s on %s is cut, and its observation window ends %s (%s).", e.Object, e.Connection, stamp(e.Until), e.left())
		line("After that it is archived, verified and dropped.")
		line("")
		line("If it is still needed, object now:")
		cmds(e.perOwner("object", "--reason", `"<why it is still needed>"`))
		line("To observe longer:")
		cmds(e.perOwner("extend", "--by", "7d", "--reason", `"<why>"`))
		e.signoffLines(line, cmds)
	case SignoffNeeded:
		signers := e.signers()
		subject = fmt.Sprintf("[retire] %s: sign-off needed before the drop", target)
		line("The observation window of database %s on %s is over and nobody objected.", e.Object, e.Connection)
		line("The reason is %s, so the data is destroyed only after an owner other than the requester (%s) signs off. It waits for you.", e.Reason, e.Requester)
		line("")
		line("To sign off:")
		cmds(cmdsFor(signers, func(o string) string { return e.cmd("approve", "--as", arg(o), "--comment", `"<comment>"`) }))
		line("If it is still needed, object instead:")
		cmds(cmdsFor(signers, func(o string) string {
			return e.cmd("object", "--as", arg(o), "--reason", `"<why it is still needed>"`)
		}))
	case Dropped:
		subject = fmt.Sprintf("[retire] %s: dropped, archived at %s", target, e.archiveAt())
		line("Database %s on %s has been dropped (%s, requested by %s%s).", e.Object, e.Connection, e.Reason, e.Requester, e.ticket())
		if len(e.Signed) > 0 {
			line("Signed off by: %s.", strings.Join(e.Signed, ", "))
		}
		line("")
		line("Archive (verified before the drop): %s", e.archiveAt())
		line("Space freed: %s (%d bytes)", humanBytes(e.BytesFreed), e.BytesFreed)
		line("")
		line("The archive is Parquet and stays queryable where it lies. To bring the database back:")
		cmds([]string{"retire restore " + arg(e.ArchivePath) + " --connection " + arg(e.Connection) + " --into " + arg(e.Object+"_restored")})
		line("The retirement record:")
		cmds([]string{e.cmd("record")})
	case Aborted:
		outcome := e.Outcome
		if outcome == "" {
			outcome = "aborted"
		}
		if e.DropStarted {
			subject = fmt.Sprintf("[retire] %s: retirement failed during the drop (%s)", target, firstLine(outcome, 80))
			line("The retirement of database %s on %s failed after the drop had begun: some or all of its data may be gone.", e.Object, e.Connection)
			line("Why: %s", outcome)
			line("")
			line("The archive was verified before the drop: %s", e.archiveAt())
			line("A DBA checks what is left; to bring the database back from the archive:")
			cmds([]string{"retire restore " + arg(e.ArchivePath) + " --connection " + arg(e.Connection) + " --into " + arg(e.Object+"_restored"), e.cmd("status")})
			break
		}
		subject = fmt.Sprintf("[retire] %s: retirement aborted (%s)", target, firstLine(outcome, 80))
		line("The retirement of database %s on %s ended without dropping anything.", e.Object, e.Connection)
		line("Why: %s", outcome)
		if e.AccessRestored {
			line("Access has been restored exactly as it was before the cut.")
		} else {
			line("Access was not cut, or could not be restored automatically: check `retire status` below.")
		}
		line("")
		cmds([]string{e.cmd("status")})
	default:
		return Message{}, permanent(fmt.Errorf("notify: unknown event kind %q", e.Kind))
	}
	if link != "" {
		line("")
		line("Run: %s", link)
	}
	to := e.Recipients()
	return Message{Key: e.Key(), Event: string(e.Kind), Subject: subject, Text: b.String(), To: to, Addresses: e.addresses(to), Link: link}, nil
}

// person is the pinned directory entry of an owner or the requester, by id or e-mail.
func (e Event) person(who string) (proof.Person, bool) {
	return proof.Pins{People: e.People}.Person(who)
}

// addresses are the directory's e-mail addresses of the people in to (nil when it gives none):
// a directory id is a login subject, which is not always a mailbox.
func (e Event) addresses(to []string) map[string]string {
	var out map[string]string
	for _, who := range to {
		if p, ok := e.person(who); ok && strings.TrimSpace(p.Email) != "" {
			if out == nil {
				out = map[string]string{}
			}
			out[who] = strings.TrimSpace(p.Email)
		}
	}
	return out
}

// isOwner compares as the workflow does: directory ids are case-insensitive.
func (e Event) isOwner(who string) bool {
	return slices.ContainsFunc(e.Owners, func(o string) bool { return strings.EqualFold(strings.TrimSpace(o), who) })
}

func (e Event) signoffLines(line func(string, ...any), cmds func([]string)) {
	if e.Reason != "decommission" {
		return
	}
	if len(e.Signed) > 0 {
		line("Signed off so far by %s; the drop needs no more sign-offs.", strings.Join(e.Signed, ", "))
		return
	}
	line("The reason is decommission: nothing is dropped until an owner other than the requester signs off:")
	cmds(cmdsFor(e.signers(), func(o string) string { return e.cmd("approve", "--as", arg(o), "--comment", `"<comment>"`) }))
}

// cmd is a retire command line on this retirement.
func (e Event) cmd(verb string, args ...string) string {
	return strings.Join(append([]string{"retire", verb, arg(e.Connection), arg(e.Object)}, args...), " ")
}

// perOwner is one command line per owner (every owner may object or extend).
func (e Event) perOwner(verb string, args ...string) []string {
	return cmdsFor(uniq(e.Owners), func(o string) string { return e.cmd(verb, append([]string{"--as", arg(o)}, args...)...) })
}

func cmdsFor(people []string, f func(string) string) []string {
	if len(people) == 0 {
		return []string{f("<owner>")}
	}
	out := make([]string, len(people))
	for i, p := range people {
		out[i] = f(p)
	}
	return out
}

func (e Event) ticket() string {
	if e.Ticket == "" {
		return ""
	}
	return ", ticket " + e.Ticket
}

// left is "in N days" from At to Until, rounded up.
func (e Event) left() string {
	d := e.Until.Sub(e.At)
	if d <= 0 {
		return "now"
	}
	if d < 24*time.Hour {
		return "in " + strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	n := int(math.Ceil(d.Hours() / 24))
	if n == 1 {
		return "in 1 day"
	}
	return fmt.Sprintf("in %d days", n)
}

var safeArg = regexp.MustCompile(`^[\pL\pN_.@+:/=,%-]+$`)

// arg quotes a value for a POSIX shell when it needs it, so a copied line runs as shown.
func arg(s string) string {
	if s == "<owner>" || safeArg.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func uniq(ss []string) []string {
	var out []string
	for _, s := range ss {
		s = strings.TrimSpace(s)
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func day(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.UTC().Format("2006-01-02")
}

func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
