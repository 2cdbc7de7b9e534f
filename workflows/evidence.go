package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/notify"
)

// Evidence is the usage evidence of a retirement: what its sources could see, what they
// saw over the sampling window, how much of the window was looked at, and who kept trying
// after the cut. The gates read it; the record prints it.
type Evidence struct {
	// Sources as the window opened (after retire switched on what the profile lets it).
	Sources []engine.EvidenceSource `json:"sources"`
	// Changes are the settings retire switched on; they are put back when the run ends.
	Changes          []engine.SettingChange `json:"changes,omitempty"`
	SettingsRestored bool                   `json:"settings_restored,omitempty"`

	WindowFrom  time.Time `json:"window_from"`
	WindowUntil time.Time `json:"window_until"`
	// Notes say how the window came to be what it is (it opened late and ran longer).
	Notes  []string      `json:"notes,omitempty"`
	Looked time.Duration `json:"looked"`
	// Gaps are the stretches of the window in which nobody looked (a worker that died, a
	// server that did not answer).
	Gaps []engine.Span `json:"gaps,omitempty"`
	// Spans are the stretches looked at, as the sampling activities reported them.
	Spans []engine.Span `json:"spans,omitempty"`

	// Counted says the per-table counters were read at the start and the end of the window
	// (and at each day's boundary) in one epoch: Access is then every read and write.
	Counted bool                 `json:"counted"`
	Access  []engine.TableAccess `json:"access,omitempty"`
	// Unattributed is access the counters show on tables no client seen explains.
	Unattributed []engine.TableAccess `json:"unattributed,omitempty"`
	// Problems say, in words, what the evidence misses.
	Problems []string `json:"problems,omitempty"`
	// Acknowledged are earlier acknowledgements before the cut, when the look right before
	// it found something new that needed another.
	Acknowledged []Acknowledgement `json:"acknowledged,omitempty"`

	// Attempts are the accounts that kept trying after the cut, and AttemptsAck who said
	// they may be ignored (and how many attempts that covered).
	Attempts    []activities.Attempt `json:"attempts,omitempty"`
	AttemptsAck *Acknowledgement     `json:"attempts_ack,omitempty"`
	AckedCount  int64                `json:"acked_count,omitempty"`
	// AttemptsAcked are the acknowledgements of attempts before the last one (AttemptsAck):
	// each one's proof stays in the record.
	AttemptsAcked []Acknowledgement `json:"attempts_acked,omitempty"`
	// AttemptProblems say when the counting of attempts stopped seeing; AckedProblems how
	// many of them a person acknowledged.
	AttemptProblems []string `json:"attempt_problems,omitempty"`
	AckedProblems   int      `json:"acked_problems,omitempty"`
}

// Update that acknowledges access attempts after the cut.
const UpdateAcknowledgeAttempts = "acknowledge-attempts"

// GateEvidence is passed when the usage evidence is complete and explained, or a person
// acknowledged exactly what it misses; GateAttempts when nobody tried after the cut, or
// somebody acknowledged it.
const (
	GateEvidence = "usage evidence complete"
	GateAttempts = "no unacknowledged attempts after the cut"
)

// sampleEvidence is sampling with every source: it opens the window (the first counter
// reading, after the plan read the tables), watches day by day, and takes what the
// activities signal the moment they see it.
func (r *retirement) sampleEvidence(ctx workflow.Context) error {
	var start activities.SamplingStart
	in := activities.StartSamplingInput{Target: r.tgt}
	// Server settings the window switches on are held through the server's keeper, so
	// that a neighbour's end does not switch them off under this one.
	if workflow.GetVersion(ctx, "shared-settings", workflow.DefaultVersion, 1) == 1 {
		in.Keep, in.ServerID = true, r.plan.ServerID
	}
	if err := r.run(ctx, shortOptions, "Open the sampling window on "+r.target()+": evidence sources and first counter reading", a.StartSampling,
		in, &start); err != nil {
		return err
	}
	// The window opens now: the plan's own reads of the tables are before it.
	r.s.SampleUntil = start.At.Add(r.s.Request.SampleWindow)
	ev := &Evidence{Sources: start.Sources, Changes: start.Changes, WindowFrom: start.At, WindowUntil: r.s.SampleUntil}
	r.s.Evidence = ev
	r.details(ctx)

	var access []engine.TableAccess
	counted, last := start.Counters != nil, start.Counters
	if !counted {
		ev.Problems = append(ev.Problems, "no per-table access counters: "+sourceDetail(ev.Sources, engine.SourceTableCounters)+
			"; reads and writes by connections shorter than the poll interval, or through views, routines and events of other databases, are not seen")
	}
	cursor := start.AuditCursor
	var tolerance time.Duration
	// slice watches until sliceEnd and takes in what it saw.
	slice := func(title string, sliceEnd time.Time) error {
		var res activities.SampleResult
		if err := r.run(ctx, sampleOptions(sliceEnd.Sub(r.now(ctx))), title, a.SampleClients,
			activities.SampleInput{Target: r.tgt, Until: sliceEnd, Seen: r.s.Clients, AuditCursor: cursor, ReadCounters: counted}, &res); err != nil {
			return err
		}
		r.s.Clients = mergeClients(r.s.Clients, res.Seen)
		r.s.SampleLooks += res.Looks
		ev.Spans = engine.MergeSpans(append(ev.Spans, res.Spans...))
		tolerance = max(tolerance, res.Tolerance)
		cursor = res.AuditCursor
		if counted && res.Counters != nil {
			more, ok := engine.AccessBetween(*last, *res.Counters)
			if !ok {
				counted = false
				ev.Problems = append(ev.Problems, fmt.Sprintf("the access counters restarted between %s and %s (server restart, FLUSH, or switched off): access in that span is not known",
					stamp(last.At), stamp(res.Counters.At)))
			}
			access = addAccess(access, more)
			last = res.Counters
		}
		for _, p := range res.Problems {
			if !slices.Contains(ev.Problems, p) {
				ev.Problems = append(ev.Problems, p)
			}
		}
		r.details(ctx)
		return nil
	}
	nDays := int((r.s.SampleUntil.Sub(start.At) + 24*time.Hour - 1) / (24 * time.Hour))
	for day := 1; day <= nDays; day++ {
		if err := r.objected(); err != nil {
			return err
		}
		sliceEnd := start.At.Add(time.Duration(day) * 24 * time.Hour)
		if sliceEnd.After(r.s.SampleUntil) {
			sliceEnd = r.s.SampleUntil
		}
		if err := slice(fmt.Sprintf("Watch who reaches %s, day %d of %d, until %s", r.target(), day, nDays, stamp(sliceEnd)), sliceEnd); err != nil {
			return err
		}
	}
	// The window opens with the first look, not with its setting up: on a busy worker the
	// first look can come seconds after the counters' first reading (the activity waited in
	// the task queue), and those seconds were a gap nobody could have closed. The window
	// then starts at the first look and runs as much longer, so that as long as asked is
	// looked at; the counters, read before, cover it all.
	if len(ev.Spans) > 0 && workflow.GetVersion(ctx, "window-from-first-look", workflow.DefaultVersion, 1) == 1 {
		if late := ev.Spans[0].From.Sub(ev.WindowFrom); late > tolerance {
			ev.WindowFrom, ev.WindowUntil = ev.Spans[0].From, ev.WindowUntil.Add(late)
			r.s.SampleUntil = ev.WindowUntil
			ev.Notes = append(ev.Notes, fmt.Sprintf("the first look came %s after the window was set up: the window starts with it and ran %s longer",
				late.Round(time.Second), late.Round(time.Second)))
			if err := slice(fmt.Sprintf("Watch who reaches %s for the %s the first look came late, until %s", r.target(), late.Round(time.Second), stamp(r.s.SampleUntil)), r.s.SampleUntil); err != nil {
				return err
			}
		}
	}
	ev.Counted, ev.Access = counted, access
	if counted {
		r.lastCounters = last
	}
	ev.Looked, ev.Gaps = coverage(ev.Spans, ev.WindowFrom, ev.WindowUntil, tolerance)
	if len(ev.Gaps) > 0 {
		ev.Problems = append(ev.Problems, fmt.Sprintf("looked at %s of the %s window: nobody looked %s", days(ev.Looked.Round(time.Second)),
			days(ev.WindowUntil.Sub(ev.WindowFrom).Round(time.Second)), gapsText(ev.Gaps)))
	}
	ev.Unattributed = unattributed(access, r.s.Clients)
	if len(r.s.Clients) == 0 && len(ev.Problems) == 0 && len(ev.Unattributed) == 0 {
		detail := fmt.Sprintf("no client in %d looks over %s", r.s.SampleLooks, days(ev.Looked.Round(time.Second)))
		if counted {
			detail += "; no read or write counted on any table"
		}
		r.s.setGate(GateClients, GatePassed, detail, "", r.now(ctx))
		r.s.setGate(GateEvidence, GatePassed, evidenceSummary(ev), "", r.now(ctx))
	}
	return nil
}

// evidenceToAcknowledge is what a person must acknowledge before the cut, in words; none
// when the evidence is complete and explains everything it saw.
func (r *retirement) evidenceToAcknowledge() []string { return EvidenceToAcknowledge(r.s) }

// EvidenceToAcknowledge is what a DBA acknowledges before the cut, item by item; the CLI
// sends it back with the acknowledgement (Acknowledgement.Covers), so that an
// acknowledgement covers exactly what the person saw.
func EvidenceToAcknowledge(st Status) []string {
	var out []string
	if n := len(st.Clients); n > 0 {
		out = append(out, fmt.Sprintf("%d client(s) seen", n))
	}
	if ev := st.Evidence; ev != nil {
		for _, u := range ev.Unattributed {
			out = append(out, fmt.Sprintf("unattributed access to %s: %d reads, %d writes between %s and %s", u.Table, u.Reads, u.Writes, stamp(u.From), stamp(u.To)))
		}
		out = append(out, ev.Problems...)
	}
	return out
}

// AttemptsToAcknowledge is what a DBA or owner acknowledges after the cut (see
// EvidenceToAcknowledge).
func AttemptsToAcknowledge(st Status) []string {
	ev := st.Evidence
	if ev == nil {
		return nil
	}
	var out []string
	if n := attemptTotal(ev.Attempts) - ev.AckedCount; n > 0 {
		out = append(out, fmt.Sprintf("%d attempt(s) after the cut", n))
	}
	if ev.AckedProblems < len(ev.AttemptProblems) {
		out = append(out, ev.AttemptProblems[ev.AckedProblems:]...)
	}
	return out
}

// covers refuses an acknowledgement of something other than what is to be acknowledged now.
func covers(in Acknowledgement, now []string) error {
	if in.Covers == "" || in.Covers == strings.Join(now, "; ") {
		return nil
	}
	return fmt.Errorf("what is to be acknowledged changed since it was read; it is now: %s. Look again with retire status, then acknowledge", strings.Join(now, "; "))
}

// mergeClients folds b into a by client, keeping the earliest first and the latest last seen.
func mergeClients(a, b []engine.Session) []engine.Session {
	s := engine.NewSampler(a)
	s.Merge(b)
	return s.Result()
}

// addAccess adds one span's access to the window's, table by table.
func addAccess(total, more []engine.TableAccess) []engine.TableAccess {
	for _, m := range more {
		i := slices.IndexFunc(total, func(t engine.TableAccess) bool { return t.Table == m.Table })
		if i < 0 {
			total = append(total, m)
			continue
		}
		total[i].Reads += m.Reads
		total[i].Writes += m.Writes
		if m.From.Before(total[i].From) {
			total[i].From = m.From
		}
		if m.To.After(total[i].To) {
			total[i].To = m.To
		}
	}
	slices.SortFunc(total, func(x, y engine.TableAccess) int { return strings.Compare(x.Table, y.Table) })
	return total
}

// unattributed is the access on tables that no client seen explains: a client explains a
// table it was seen holding or naming, or any table when the object was its default
// database; either way only if it was seen within the span the counters saw the access in.
// A monitor seen on the first day explains nothing that happened on the twelfth.
func unattributed(access []engine.TableAccess, clients []engine.Session) []engine.TableAccess {
	var out []engine.TableAccess
	for _, t := range access {
		explained := slices.ContainsFunc(clients, func(c engine.Session) bool {
			if !c.FirstSeen.IsZero() && (c.LastSeen.Before(t.From) || c.FirstSeen.After(t.To)) {
				return false
			}
			named := slices.ContainsFunc(c.Tables, func(n string) bool { return strings.EqualFold(n, t.Table) })
			return named || slices.Contains(c.Via, engine.ViaDefaultDB)
		})
		if !explained {
			out = append(out, t)
		}
	}
	return out
}

func sourceDetail(sources []engine.EvidenceSource, name string) string {
	for _, s := range sources {
		if s.Name == name {
			return strings.TrimSpace(s.State + ": " + s.Detail)
		}
	}
	return "this engine has none"
}

func gapsText(gaps []engine.Span) string {
	parts := make([]string, 0, len(gaps))
	for _, g := range gaps {
		parts = append(parts, fmt.Sprintf("%s..%s (%s)", stamp(g.From), stamp(g.To), days(g.To.Sub(g.From).Round(time.Second))))
	}
	return strings.Join(parts, ", ")
}

func evidenceSummary(ev *Evidence) string {
	var used []string
	for _, s := range ev.Sources {
		if s.Available() {
			used = append(used, s.Name)
		}
	}
	return fmt.Sprintf("looked at %s of %s; sources: %s", days(ev.Looked.Round(time.Second)), days(ev.WindowUntil.Sub(ev.WindowFrom).Round(time.Second)), strings.Join(used, ", "))
}

// watchAttempts counts who keeps trying to reach the object while access is cut, one
// activity per day, from the reading before the cut until ctx is cancelled (right before
// the drop). What the activity signals arrives through follow at once.
func (r *retirement) watchAttempts(ctx workflow.Context) {
	ev := r.s.Evidence
	if ev == nil || (!sourceAvailable(ev.Sources, engine.SourceAttempts) && !sourceAvailable(ev.Sources, engine.SourceAuditLog)) {
		return
	}
	for ctx.Err() == nil {
		// Each count goes on from the last one that finished: its cursor and its counts go
		// together (signals of a count cut short must not be counted again).
		in := r.attemptsIn
		in.Until = r.now(ctx).Add(24 * time.Hour)
		var res activities.AttemptsResult
		if err := r.run(ctx, sampleOptions(24*time.Hour), "Count who still tries to reach "+r.target()+" after the cut", a.WatchAttempts, in, &res); err != nil {
			if ctx.Err() == nil {
				workflow.GetLogger(ctx).Error("Could not count access attempts after the cut", "error", err)
				ev.AttemptProblems = append(ev.AttemptProblems, "attempts after the cut stopped being counted at "+stamp(r.now(ctx))+": "+errorText(err))
				r.attemptsIn.Problems = ev.AttemptProblems
				r.changes++
			}
			return
		}
		r.takeReport(activities.AttemptsReport{Attempts: res.Attempts, Problems: res.Problems})
		r.attemptsIn.Baseline, r.attemptsIn.AuditCursor, r.attemptsIn.Carry, r.attemptsIn.Last = res.Baseline, res.AuditCursor, res.Carry, res.Last
		r.attemptsIn.Seen, r.attemptsIn.Problems = res.Attempts, res.Problems
		if early := in.Until.Sub(r.now(ctx)); early > time.Minute {
			// An activity that returns early must not make the loop spin through history.
			if err := workflow.Sleep(ctx, early); err != nil {
				return
			}
		}
	}
}

// lastAttempts stops the counting right before the drop, reads once more, and waits for a
// person if anything since the last acknowledgement is unexplained: an archive takes hours,
// and somebody may have knocked meanwhile.
func (r *retirement) lastAttempts(ctx workflow.Context) error {
	if !r.evidence || r.stopWatching == nil {
		return nil
	}
	r.stopWatching()
	ev := r.s.Evidence
	if sourceAvailable(ev.Sources, engine.SourceAttempts) || sourceAvailable(ev.Sources, engine.SourceAuditLog) {
		in := r.attemptsIn
		in.Until = r.now(ctx)
		var res activities.AttemptsResult
		if err := r.run(ctx, shortOptions, "Count once more who tried to reach "+r.target()+", right before the drop", a.WatchAttempts, in, &res); err != nil {
			return err
		}
		r.takeReport(activities.AttemptsReport{Attempts: res.Attempts, Problems: res.Problems})
	}
	if !r.attemptsSettled() {
		if err := r.awaitAttemptsSettled(ctx); err != nil {
			return err
		}
	}
	r.passAttempts(ctx)
	return nil
}

// awaitAttemptsSettled waits until a DBA or owner acknowledged every attempt and problem
// after the cut counted so far, or an owner objected.
func (r *retirement) awaitAttemptsSettled(ctx workflow.Context) error {
	r.s.setGate(GateAttempts, GatePending, strings.Join(r.attemptsToAcknowledge(), "; "), "", time.Time{})
	r.wait(ctx, "acknowledgement of the access attempts after the cut (retire acknowledge-attempts --as <dba or owner>), or an objection: "+strings.Join(r.attemptsToAcknowledge(), "; "))
	if err := workflow.Await(ctx, func() bool { return r.attemptsSettled() || len(r.s.Objections) > 0 }); err != nil {
		return err
	}
	r.wait(ctx, "")
	return r.objected()
}

// attemptsToAcknowledge says what is not acknowledged after the cut.
func (r *retirement) attemptsToAcknowledge() []string { return AttemptsToAcknowledge(r.s) }

// takeAttempts takes what WatchAttempts signals (see follow).
func (r *retirement) takeAttempts(report activities.AttemptsReport) {
	if r.s.Evidence != nil && r.beforeDrop() {
		r.takeReport(report)
	}
}

// takeSampling takes the clients the sampling activity signals the moment it sees them
// (see follow).
func (r *retirement) takeSampling(ctx workflow.Context, e activities.SamplingEvidence) {
	if r.s.Phase != PhaseSample || r.s.Evidence == nil {
		return
	}
	r.s.Clients = mergeClients(r.s.Clients, e.New)
	r.s.Evidence.Spans = engine.MergeSpans(append(r.s.Evidence.Spans, e.Spans...))
	r.details(ctx)
}

func (r *retirement) takeReport(report activities.AttemptsReport) {
	ev := r.s.Evidence
	if attemptTotal(report.Attempts) > attemptTotal(ev.Attempts) {
		ev.Attempts = report.Attempts
		r.changes++
	}
	if len(report.Problems) > len(ev.AttemptProblems) {
		ev.AttemptProblems = report.Problems
		r.changes++
	}
}

func attemptTotal(as []activities.Attempt) (n int64) {
	for _, a := range as {
		n += a.Count()
	}
	return n
}

// attemptsSettled says the drop need not wait for attempts: none, or all acknowledged.
func (r *retirement) attemptsSettled() bool {
	ev := r.s.Evidence
	return ev == nil || (attemptTotal(ev.Attempts) <= ev.AckedCount && len(ev.AttemptProblems) <= ev.AckedProblems)
}

// tellAttempts tells owners who still knocks: at once the first time, then a daily digest
// while more come.
func (r *retirement) tellAttempts(ctx workflow.Context) {
	ev := r.s.Evidence
	if ev == nil || attemptTotal(ev.Attempts) <= r.attemptsTold {
		return
	}
	now := r.now(ctx)
	if r.attemptsNotices > 0 && now.Before(r.attemptsToldAt.Add(24*time.Hour)) {
		return
	}
	r.notify(ctx, notify.Event{Kind: notify.AccessAttempts, Seq: r.attemptsNotices, Clients: attemptLines(ev.Attempts)})
	r.attemptsNotices++
	r.attemptsTold, r.attemptsToldAt = attemptTotal(ev.Attempts), now
}

func attemptLines(as []activities.Attempt) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, fmt.Sprintf("%s: %d denied logins, %d refused statements, %s .. %s (%s)", a.Account, a.DeniedLogins, a.RefusedStatements, stamp(a.FirstSeen), stamp(a.LastSeen), a.Source))
	}
	return out
}

func sourceAvailable(sources []engine.EvidenceSource, name string) bool {
	return slices.ContainsFunc(sources, func(s engine.EvidenceSource) bool { return s.Name == name && s.Available() })
}

// restoreSettings puts back what the window switched on, whatever the outcome.
func (r *retirement) restoreSettings(ctx workflow.Context) {
	ev := r.s.Evidence
	if ev == nil || len(ev.Changes) == 0 || ev.SettingsRestored {
		return
	}
	if err := r.run(ctx, shortOptions, "Put back the settings the sampling switched on", a.RestoreSettings,
		activities.RestoreSettingsInput{Target: r.tgt, Changes: ev.Changes}, nil); err != nil {
		ev.Problems = append(ev.Problems, "could not put the settings back: "+errorText(err))
		return
	}
	ev.SettingsRestored = true
}

func (r *retirement) canAcknowledgeAttempts(in Acknowledgement) error {
	if err := r.stillDeciding(); err != nil {
		return err
	}
	ev := r.s.Evidence
	switch {
	case strings.TrimSpace(in.By) == "":
		return fmt.Errorf("say who acknowledges: --as <name>")
	case strings.TrimSpace(in.Note) == "":
		return fmt.Errorf("say why these attempts may be ignored: --note")
	case ev == nil || (len(ev.Attempts) == 0 && len(ev.AttemptProblems) == 0):
		return fmt.Errorf("nobody tried to reach %s after the cut; there is nothing to acknowledge", r.target())
	case r.attemptsSettled():
		return fmt.Errorf("everything counted after the cut so far was acknowledged by %s", ev.AttemptsAck.By)
	case !r.beforeDrop():
		return fmt.Errorf("%s is past the point of no return (%s)", r.target(), r.s.Phase)
	}
	return covers(in, r.attemptsToAcknowledge())
}

// passAttempts passes the attempts gate once everything after the cut is settled.
func (r *retirement) passAttempts(ctx workflow.Context) {
	ev := r.s.Evidence
	if !r.evidence || ev == nil || !r.attemptsSettled() {
		return
	}
	if len(ev.Attempts) == 0 && len(ev.AttemptProblems) == 0 {
		r.s.setGate(GateAttempts, GatePassed, "nobody was seen trying to reach it while access was cut", "", r.now(ctx))
		return
	}
	ack := ev.AttemptsAck
	r.s.setGate(GateAttempts, GatePassed, fmt.Sprintf("acknowledged: %d attempt(s), %d problem(s) of the counting: %s", ev.AckedCount, ev.AckedProblems, ack.Note), ack.By, ack.At)
}

// coverage is how much of the window was looked at, and the gaps in which nobody looked: a
// pause no longer than the samplers' tolerance is their rhythm, not a gap, at the edges of
// the window (the first look comes a moment after it opens) as between two looks.
func coverage(spans []engine.Span, from, until time.Time, tolerance time.Duration) (time.Duration, []engine.Span) {
	_, all := engine.Coverage(spans, from, until)
	var gaps []engine.Span
	missed := time.Duration(0)
	for _, g := range all {
		if g.To.Sub(g.From) > tolerance {
			gaps = append(gaps, g)
			missed += g.To.Sub(g.From)
		}
	}
	return until.Sub(from) - missed, gaps
}

// awaitEvidenceAcknowledged is the gate before the cut: a person acknowledges what the
// sampling saw or misses; then one more look right before the cut compares with the end
// of the window (nobody looked while the person read), and anything new needs a new
// acknowledgement. The same look is the baseline of the attempts counted after the cut.
func (r *retirement) awaitEvidenceAcknowledged(ctx workflow.Context) error {
	for {
		if err := r.awaitClientsAcknowledged(ctx); err != nil {
			return err
		}
		if !r.evidence {
			return nil
		}
		var accounts []engine.AccountRef
		for _, ac := range r.plan.Inventory.Accounts {
			accounts = append(accounts, engine.AccountRef{User: ac.User, Host: ac.Host})
		}
		var bc activities.BeforeCut
		if err := r.run(ctx, shortOptions, "Look at "+r.target()+" once more right before the cut", a.LookBeforeCut,
			activities.BeforeCutInput{Target: r.tgt, Accounts: accounts}, &bc); err != nil {
			return err
		}
		r.attemptsIn = activities.WatchAttemptsInput{Target: r.tgt, Accounts: accounts, Baseline: bc.Counters, AuditCursor: bc.AuditCursor}
		if !r.newSinceWindow(bc) {
			r.blindSpots()
			r.attemptsIn.Problems = r.s.Evidence.AttemptProblems
			return nil
		}
		// What is new needs its own acknowledgement.
		if ack := r.s.Acknowledgement; ack != nil {
			r.s.Evidence.Acknowledged = append(r.s.Evidence.Acknowledged, *ack)
			r.s.Acknowledgement = nil
		}
	}
}

// newSinceWindow folds what the look before the cut saw that the window did not, and says
// whether there was any.
func (r *retirement) newSinceWindow(bc activities.BeforeCut) bool {
	ev := r.s.Evidence
	var found []string
	known := map[string]bool{}
	for _, c := range r.s.Clients {
		known[c.Key()] = true
	}
	var fresh []engine.Session
	for _, c := range bc.Sessions {
		if !known[c.Key()] {
			fresh = append(fresh, c)
		}
	}
	if len(fresh) > 0 {
		r.s.Clients = mergeClients(r.s.Clients, fresh)
		found = append(found, fmt.Sprintf("%d client(s) reached it after the window closed, before the cut", len(fresh)))
	}
	if r.lastCounters != nil && bc.Counters != nil {
		more, ok := engine.AccessBetween(*r.lastCounters, *bc.Counters)
		switch {
		case !ok:
			found = append(found, fmt.Sprintf("the access counters restarted between %s and the look before the cut at %s", stamp(r.lastCounters.At), stamp(bc.Counters.At)))
		case len(more) > 0:
			ev.Access = addAccess(ev.Access, more)
			found = append(found, fmt.Sprintf("%d table(s) were read or written after the window closed, before the cut", len(more)))
		}
		r.lastCounters = bc.Counters
	}
	if len(found) == 0 {
		return false
	}
	ev.Unattributed = unattributed(ev.Access, r.s.Clients)
	ev.Problems = append(ev.Problems, found...)
	return true
}

// blindSpots names, before the cut, the failures after it that no source here can count:
// "nobody tried" would then only mean "nobody was seen trying".
func (r *retirement) blindSpots() {
	ev := r.s.Evidence
	var sources []engine.EvidenceSource
	for _, s := range ev.Sources {
		if (s.Name == engine.SourceAttempts || s.Name == engine.SourceAuditLog) && s.Available() {
			sources = append(sources, s)
		}
	}
	if len(sources) == 0 {
		ev.AttemptProblems = append(ev.AttemptProblems, "no source counts attempts after the cut here ("+sourceDetail(ev.Sources, engine.SourceAttempts)+"; audit log "+sourceDetail(ev.Sources, engine.SourceAuditLog)+")")
		return
	}
	blind := func(what string) bool {
		return !slices.ContainsFunc(sources, func(s engine.EvidenceSource) bool { return !slices.Contains(s.Blind, what) })
	}
	var locked []string
	for _, ac := range r.plan.Inventory.Accounts {
		if ac.OnlyThisObject {
			locked = append(locked, ac.Name())
		}
	}
	switch {
	case r.s.Request.Strategy == engine.StrategyRevoke && len(locked) > 0 && blind(engine.BlindLockedLogins):
		ev.AttemptProblems = append(ev.AttemptProblems, fmt.Sprintf("the cut locks %s, and no source here counts logins of locked accounts (the server's audit log would: sampling.audit_log)", strings.Join(locked, ", ")))
	case r.s.Request.Strategy == engine.StrategyRename && blind(engine.BlindRenamed):
		ev.AttemptProblems = append(ev.AttemptProblems, "no source here counts statements that fail on the renamed tables (the server's audit log would: sampling.audit_log)")
	}
}
