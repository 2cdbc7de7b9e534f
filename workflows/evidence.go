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

	WindowFrom  time.Time     `json:"window_from"`
	WindowUntil time.Time     `json:"window_until"`
	Looked      time.Duration `json:"looked"`
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

	// Attempts are the accounts that kept trying after the cut, and AttemptsAck who said
	// they may be ignored (and how many attempts that covered).
	Attempts    []activities.Attempt `json:"attempts,omitempty"`
	AttemptsAck *Acknowledgement     `json:"attempts_ack,omitempty"`
	AckedCount  int64                `json:"acked_count,omitempty"`
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
	if err := r.run(ctx, shortOptions, "Open the sampling window on "+r.target()+": evidence sources and first counter reading", a.StartSampling,
		activities.StartSamplingInput{Target: r.tgt}, &start); err != nil {
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
	nDays := int((r.s.SampleUntil.Sub(start.At) + 24*time.Hour - 1) / (24 * time.Hour))
	for day := 1; day <= nDays; day++ {
		if err := r.objected(); err != nil {
			return err
		}
		sliceEnd := start.At.Add(time.Duration(day) * 24 * time.Hour)
		if sliceEnd.After(r.s.SampleUntil) {
			sliceEnd = r.s.SampleUntil
		}
		var res activities.SampleResult
		if err := r.run(ctx, sampleOptions(sliceEnd.Sub(r.now(ctx))), fmt.Sprintf("Watch who reaches %s, day %d of %d, until %s", r.target(), day, nDays, stamp(sliceEnd)), a.SampleClients,
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
		r.details(ctx)
	}
	ev.Counted, ev.Access = counted, access
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
func (r *retirement) evidenceToAcknowledge() []string {
	var out []string
	if n := len(r.s.Clients); n > 0 {
		out = append(out, fmt.Sprintf("%d client(s) seen", n))
	}
	if ev := r.s.Evidence; ev != nil {
		for _, u := range ev.Unattributed {
			out = append(out, fmt.Sprintf("unattributed access to %s: %d reads, %d writes between %s and %s", u.Table, u.Reads, u.Writes, stamp(u.From), stamp(u.To)))
		}
		out = append(out, ev.Problems...)
	}
	return out
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

// unattributed is the access on tables that no client seen explains: a client seen with
// the object as its default database may have touched any table; one seen holding tables
// or naming them explains those.
func unattributed(access []engine.TableAccess, clients []engine.Session) []engine.TableAccess {
	var out []engine.TableAccess
	for _, t := range access {
		explained := slices.ContainsFunc(clients, func(c engine.Session) bool {
			return slices.Contains(c.Via, engine.ViaDefaultDB) || slices.Contains(c.Tables, t.Table) || (len(c.Via) == 0 && len(c.Tables) == 0)
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
// activity per day, until ctx is cancelled (the observation is over). What the activity
// signals arrives through followAttempts at once.
func (r *retirement) watchAttempts(ctx workflow.Context) {
	ev := r.s.Evidence
	if ev == nil || (!sourceAvailable(ev.Sources, engine.SourceAttempts) && !sourceAvailable(ev.Sources, engine.SourceAuditLog)) {
		return
	}
	var accounts []engine.AccountRef
	for _, l := range r.snapshot.Lock {
		accounts = append(accounts, engine.AccountRef{User: l.User, Host: l.Host})
	}
	for _, g := range r.snapshot.Grants {
		ref := engine.AccountRef{User: g.User, Host: g.Host}
		if !slices.Contains(accounts, ref) {
			accounts = append(accounts, ref)
		}
	}
	in := activities.WatchAttemptsInput{Target: r.tgt, Accounts: accounts}
	for ctx.Err() == nil {
		in.Until = r.now(ctx).Add(24 * time.Hour)
		in.Seen = ev.Attempts
		var res activities.AttemptsResult
		opts := sampleOptions(24 * time.Hour)
		if err := r.run(ctx, opts, "Count who still tries to reach "+r.target()+" after the cut", a.WatchAttempts, in, &res); err != nil {
			if ctx.Err() == nil {
				workflow.GetLogger(ctx).Error("Could not count access attempts after the cut", "error", err)
				ev.Problems = append(ev.Problems, "attempts after the cut could not be counted: "+errorText(err))
				r.changes++
			}
			return
		}
		r.takeAttempts(res.Attempts)
		if len(res.Problems) > len(ev.AttemptProblems) {
			ev.AttemptProblems = res.Problems
			r.changes++
		}
		in.Baseline, in.AuditCursor, in.Problems = res.Baseline, res.AuditCursor, res.Problems
		if early := in.Until.Sub(r.now(ctx)); early > time.Minute {
			// An activity that returns early must not make the loop spin through history.
			if err := workflow.Sleep(ctx, early); err != nil {
				return
			}
		}
	}
}

// followAttempts takes what WatchAttempts signals.
func (r *retirement) followAttempts(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, activities.SignalAttempts)
	for {
		var attempts []activities.Attempt
		ch.Receive(ctx, &attempts)
		if r.s.Evidence != nil && r.beforeDrop() {
			r.takeAttempts(attempts)
		}
	}
}

// followSampling takes the clients the sampling activity signals the moment it sees them.
func (r *retirement) followSampling(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, activities.SignalSampling)
	for {
		var e activities.SamplingEvidence
		ch.Receive(ctx, &e)
		if r.s.Phase != PhaseSample || r.s.Evidence == nil {
			continue
		}
		r.s.Clients = mergeClients(r.s.Clients, e.New)
		r.s.Evidence.Spans = engine.MergeSpans(append(r.s.Evidence.Spans, e.Spans...))
		r.details(ctx)
	}
}

func (r *retirement) takeAttempts(attempts []activities.Attempt) {
	if attemptTotal(attempts) <= attemptTotal(r.s.Evidence.Attempts) {
		return
	}
	r.s.Evidence.Attempts = attempts
	r.changes++
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
	return nil
}

// passAttempts passes the attempts gate as the window ends.
func (r *retirement) passAttempts(ctx workflow.Context) {
	ev := r.s.Evidence
	if !r.evidence || ev == nil {
		return
	}
	switch {
	case len(ev.Attempts) == 0 && sourceAvailable(ev.Sources, engine.SourceAttempts):
		r.s.setGate(GateAttempts, GatePassed, "nobody tried to reach it while access was cut", "", r.now(ctx))
	case len(ev.Attempts) == 0:
		r.s.setGate(GateAttempts, GateWaived, "no source could count attempts after the cut: "+sourceDetail(ev.Sources, engine.SourceAttempts), "", r.now(ctx))
	default:
		ack := ev.AttemptsAck
		r.s.setGate(GateAttempts, GatePassed, fmt.Sprintf("%d attempt(s) acknowledged: %s", ev.AckedCount, ack.Note), ack.By, ack.At)
	}
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
