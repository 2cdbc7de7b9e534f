package activities

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/config"
)

// Signals by which the sampling activities make what they saw durable at once, before they
// look again: a heartbeat goes out every few seconds at best, and a worker killed in
// between would forget a client it had seen.
const (
	// SignalSampling carries SamplingEvidence: clients seen for the first time, and the
	// spans looked at so far.
	SignalSampling = "sampling-evidence"
	// SignalAttempts carries []Attempt: who keeps trying to reach the object after the cut.
	SignalAttempts = "access-attempts"
)

// SamplingEvidence is what a sampling activity tells its workflow as soon as it sees it.
type SamplingEvidence struct {
	New   []engine.Session `json:"new,omitempty"`
	Spans []engine.Span    `json:"spans,omitempty"`
}

// StartSamplingInput asks to open the sampling window.
type StartSamplingInput struct {
	Target
	// Keep asks to hold the settings through the server's setting keeper (ServerID names
	// the server), so that concurrent retirements on one server do not switch them off
	// under each other.
	Keep     bool   `json:"keep,omitempty"`
	ServerID string `json:"server_id,omitempty"`
}

// SamplingStart is the window's opening: the sources as they are now (after retire
// switched on those the profile lets it), what it changed, and the first counter reading.
type SamplingStart struct {
	At       time.Time               `json:"at"`
	Sources  []engine.EvidenceSource `json:"sources"`
	Changes  []engine.SettingChange  `json:"changes,omitempty"`
	Counters *engine.Counters        `json:"counters,omitempty"`
	// AuditCursor is where the audit log stood when the window opened.
	AuditCursor string `json:"audit_cursor,omitempty"`
}

// RestoreSettingsInput asks to put back what StartSampling switched on.
type RestoreSettingsInput struct {
	Target
	Changes []engine.SettingChange `json:"changes"`
}

// Attempt is an account that tried to reach the object after the cut, as the counters or
// the audit log show it.
type Attempt struct {
	Account           string    `json:"account"` // user@host, or user
	DeniedLogins      int64     `json:"denied_logins"`
	RefusedStatements int64     `json:"refused_statements"`
	FirstSeen         time.Time `json:"first_seen"`
	LastSeen          time.Time `json:"last_seen"`
	Source            string    `json:"source"` // what showed it: counters, audit log
}

// Count is every attempt the account made.
func (a Attempt) Count() int64 { return a.DeniedLogins + a.RefusedStatements }

// WatchAttemptsInput asks to count, until Until, who keeps trying after the cut.
type WatchAttemptsInput struct {
	Target
	Until    time.Time           `json:"until"`
	Accounts []engine.AccountRef `json:"accounts"`
	// Baseline is the first reading after the cut (nil: take one now); AuditCursor the audit
	// log's position then; Seen the attempts counted so far.
	Baseline    *engine.Counters `json:"baseline,omitempty"`
	AuditCursor string           `json:"audit_cursor,omitempty"`
	Seen        []Attempt        `json:"seen,omitempty"`
	Problems    []string         `json:"problems,omitempty"`
	// Carry are the counts from before a restart of the counters, and Last the last
	// reading (from the last result).
	Carry []Attempt        `json:"carry,omitempty"`
	Last  *engine.Counters `json:"last,omitempty"`
}

// AttemptsResult is the attempts counted since the cut, and where to go on from.
type AttemptsResult struct {
	Attempts    []Attempt        `json:"attempts,omitempty"`
	Baseline    *engine.Counters `json:"baseline,omitempty"`
	AuditCursor string           `json:"audit_cursor,omitempty"`
	// Sources says what could count them (attempts, audit-log), and how.
	Sources []engine.EvidenceSource `json:"sources,omitempty"`
	// Problems say when the counting stopped seeing (the counters switched off, restarted).
	Problems []string `json:"problems,omitempty"`
	// Carry are the counts of each account and source before the counters last restarted,
	// added to what they count since; Last is the last reading, to see a counter go down.
	Carry []Attempt        `json:"carry,omitempty"`
	Last  *engine.Counters `json:"last,omitempty"`
}

// prober is the evidence side of a connection's adapter.
func (a *Activities) prober(connection string) (engine.EvidenceProber, config.Connection, error) {
	ad, err := a.adapter(connection)
	if err != nil {
		return nil, config.Connection{}, err
	}
	p, ok := ad.(engine.EvidenceProber)
	if !ok {
		return nil, config.Connection{}, refuse("connection %s: its engine gathers no usage evidence", connection)
	}
	c, err := a.cfg.Connection(connection)
	return p, c, err
}

// evidenceSources probes the sources and applies the profile's policy: a required source
// that is not available, and that retire may not switch on, refuses the retirement now.
func evidenceSources(ctx context.Context, p engine.EvidenceProber, c config.Connection, object string) ([]engine.EvidenceSource, error) {
	sources, err := p.EvidenceSources(ctx, object)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, name := range c.Sampling.Require {
		i := slices.IndexFunc(sources, func(s engine.EvidenceSource) bool { return s.Name == name })
		switch {
		case i < 0:
			missing = append(missing, name+" (this engine has no such source)")
		case sources[i].Available():
		case sources[i].Dynamic && slices.Contains(c.Sampling.Enable, name):
		default:
			missing = append(missing, fmt.Sprintf("%s (%s: %s)", name, sources[i].State, sources[i].Detail))
		}
	}
	if len(missing) > 0 {
		return sources, refuse("the connection profile requires usage evidence this server does not give: %s", strings.Join(missing, "; "))
	}
	return sources, nil
}

// StartSampling opens the sampling window: it switches on the dynamic sources the profile
// lets retire manage, takes the first counter reading and notes where the audit log
// stands. It reads nothing of the object's tables, so the counters count others only.
func (a *Activities) StartSampling(ctx context.Context, in StartSamplingInput) (SamplingStart, error) {
	p, c, err := a.prober(in.Connection)
	if err != nil {
		return SamplingStart{}, err
	}
	defer keepAlive(ctx)()
	sources, err := evidenceSources(ctx, p, c, in.Object)
	if err != nil {
		return SamplingStart{}, classify(err)
	}
	var changes []engine.SettingChange
	wasOn := map[string]bool{}
	for _, s := range sources {
		wasOn[s.Name] = s.Available()
	}
	run := activity.GetInfo(ctx).WorkflowExecution
	for i, s := range sources {
		if !s.Dynamic || !slices.Contains(c.Sampling.Enable, s.Name) {
			continue
		}
		// Kept, a source is held even when it is on: it may be on for a neighbour.
		ch, kept, err := engine.SettingChange{}, false, error(nil)
		if in.Keep {
			ch, kept, err = a.holdSource(ctx, p, in.ServerID, Hold{Holder: run.ID, RunID: run.RunID, Connection: in.Connection, Source: s.Name})
			if err != nil {
				return SamplingStart{}, classify(fmt.Errorf("switch on %s for the window: %w", s.Name, err))
			}
		}
		if kept {
			if !slices.ContainsFunc(changes, func(c engine.SettingChange) bool { return c.Keeper == ch.Keeper }) {
				changes = append(changes, ch)
				activity.GetLogger(ctx).Info("Holding a usage-evidence source for the window", "source", s.Name, "keeper", ch.Keeper, "before", ch.Before)
			}
			if !s.Available() {
				sources[i].State, sources[i].Detail = engine.SourceAvailable, fmt.Sprintf("switched on by retire while retirements on the server need it (%s was %s; %s)", ch.Variable, ch.Before, ch.Keeper)
			}
			continue
		}
		if s.Available() {
			continue
		}
		ch, err = p.EnableSource(ctx, s.Name)
		if err != nil {
			return SamplingStart{}, classify(fmt.Errorf("switch on %s for the window: %w", s.Name, err))
		}
		if ch.Changed() {
			changes = append(changes, ch)
			activity.GetLogger(ctx).Info("Switched on a usage-evidence source for the window", "source", s.Name, "variable", ch.Variable, "before", ch.Before)
		}
		sources[i].State, sources[i].Detail = engine.SourceAvailable, fmt.Sprintf("switched on by retire for the retirement (%s was %s)", ch.Variable, ch.Before)
	}
	if len(changes) > 0 {
		// One setting may serve several sources (MariaDB's userstat: the table counters and
		// the attempts): look again at what is on now.
		if sources, err = p.EvidenceSources(ctx, in.Object); err != nil {
			return SamplingStart{}, classify(err)
		}
		var switched []string
		for _, ch := range changes {
			switched = append(switched, ch.Variable+" was "+ch.Before)
		}
		for i, s := range sources {
			if s.Available() && !wasOn[s.Name] {
				sources[i].Detail = "switched on by retire for the retirement (" + strings.Join(switched, ", ") + ")"
			}
		}
	}
	st := SamplingStart{At: time.Now().UTC(), Sources: sources, Changes: changes}
	if available(sources, engine.SourceTableCounters) {
		cs, err := p.Counters(ctx, in.Object, nil)
		if err != nil {
			return SamplingStart{}, classify(err)
		}
		st.Counters = &cs
	}
	if available(sources, engine.SourceAuditLog) {
		if _, st.AuditCursor, err = p.AuditEvents(ctx, in.Object, nil, ""); err != nil {
			return SamplingStart{}, classify(err)
		}
	}
	return st, nil
}

// RestoreSettings puts back the settings StartSampling changed. Idempotent.
func (a *Activities) RestoreSettings(ctx context.Context, in RestoreSettingsInput) error {
	p, _, err := a.prober(in.Connection)
	if err != nil {
		return err
	}
	defer keepAlive(ctx)()
	for _, ch := range in.Changes {
		if ch.Keeper != "" {
			if err := a.releaseSource(ctx, ch, activity.GetInfo(ctx).WorkflowExecution.ID); err != nil {
				return err
			}
			continue
		}
		if err := p.RestoreSetting(ctx, ch); err != nil {
			return classify(fmt.Errorf("put %s back to %s: %w", ch.Variable, ch.Before, err))
		}
	}
	return nil
}

func available(sources []engine.EvidenceSource, name string) bool {
	return slices.ContainsFunc(sources, func(s engine.EvidenceSource) bool { return s.Name == name && s.Available() })
}

// attemptsEvery is how often the attempt counters are read during observation: often
// enough to tell owners within the minute, rarely enough to cost the server nothing.
// signalEvery bounds the signals of growing counts (a new account, or a new problem, is
// signalled at once): a client that knocks every second for 35 days must not push the
// workflow's history to Temporal's limit.
const (
	attemptsEvery = time.Minute
	signalEvery   = time.Hour
)

// AttemptsReport is what WatchAttempts signals: the attempts and the problems so far.
type AttemptsReport struct {
	Attempts []Attempt `json:"attempts,omitempty"`
	Problems []string  `json:"problems,omitempty"`
}

// BeforeCutInput asks for the readings right before the cut.
type BeforeCutInput struct {
	Target
	Accounts []engine.AccountRef `json:"accounts"`
}

// BeforeCut is the last look before access is cut: who reaches the object now, the counters
// (tables and the accounts the cut will lock or revoke) and where the audit log stands. The
// workflow compares it with the end of the sampling window (nobody looked while a person
// read the evidence), and it is the baseline of the attempts counted after the cut, so that
// a client refused the moment the cut kills its session is counted.
type BeforeCut struct {
	At          time.Time        `json:"at"`
	Sessions    []engine.Session `json:"sessions,omitempty"`
	Counters    *engine.Counters `json:"counters,omitempty"`
	AuditCursor string           `json:"audit_cursor,omitempty"`
}

// LookBeforeCut takes the BeforeCut readings.
func (a *Activities) LookBeforeCut(ctx context.Context, in BeforeCutInput) (BeforeCut, error) {
	p, c, err := a.prober(in.Connection)
	if err != nil {
		return BeforeCut{}, err
	}
	defer keepAlive(ctx)()
	sources, err := p.EvidenceSources(ctx, in.Object)
	if err != nil {
		return BeforeCut{}, classify(err)
	}
	out := BeforeCut{At: time.Now().UTC()}
	look, err := p.LookServer(ctx)
	if c, ok := p.(io.Closer); ok {
		_ = c.Close() // one look: nothing to keep open
	}
	if err != nil {
		return BeforeCut{}, classify(err)
	}
	out.Sessions = p.Reaching(look, in.Object)
	if available(sources, engine.SourceTableCounters) || available(sources, engine.SourceAttempts) {
		cs, err := p.Counters(ctx, in.Object, in.Accounts)
		if err != nil {
			return BeforeCut{}, classify(err)
		}
		out.Counters = &cs
	}
	if available(sources, engine.SourceAuditLog) && c.Sampling.AuditLog != "" {
		if _, out.AuditCursor, err = p.AuditEvents(ctx, in.Object, in.Accounts, ""); err != nil {
			return BeforeCut{}, classify(err)
		}
	}
	return out, nil
}

// attemptCounter folds readings of the counters and the audit log into Attempts. It is
// the state of one WatchAttempts and its checkpoint.
type attemptCounter struct {
	AttemptsResult
}

func (c *attemptCounter) find(list []Attempt, account, source string) *Attempt {
	for i := range list {
		if list[i].Account == account && list[i].Source == source {
			return &list[i]
		}
	}
	return nil
}

// set raises an account's counts to denied and refused (never lowers them) and says
// whether anything grew; fresh is true for an account not seen before.
func (c *attemptCounter) set(account, source string, denied, refused int64, at time.Time) (grew, fresh bool) {
	cur := c.find(c.Attempts, account, source)
	if cur == nil {
		c.Attempts = append(c.Attempts, Attempt{Account: account, FirstSeen: at, Source: source})
		cur, fresh = &c.Attempts[len(c.Attempts)-1], true
	}
	if denied > cur.DeniedLogins || refused > cur.RefusedStatements {
		cur.DeniedLogins, cur.RefusedStatements = max(cur.DeniedLogins, denied), max(cur.RefusedStatements, refused)
		cur.LastSeen, grew = at, true
	}
	return grew, fresh
}

func (c *attemptCounter) problem(p string) bool {
	if slices.Contains(c.Problems, p) {
		return false
	}
	c.Problems = append(c.Problems, p)
	return true
}

// restart starts counting from a new baseline, carrying over what was counted so far.
func (c *attemptCounter) restart(cs engine.Counters, why string) {
	c.problem(why)
	c.Carry = slices.Clone(c.Attempts)
	c.Baseline = &cs
}

// counters folds one reading of the per-account counters.
func (c *attemptCounter) counters(cs engine.Counters) (grew, fresh bool) {
	switch {
	case !cs.On:
		return c.problem(fmt.Sprintf("the attempt counters were off at %s (%s): attempts are not counted while they are", cs.At.Format(time.DateTime), cs.Source)), false
	case c.Baseline == nil:
		c.Baseline, c.Last = &cs, &cs // the first reading (LookBeforeCut gives it before the cut)
		return false, false
	case c.Baseline.Epoch != cs.Epoch:
		c.Last = &cs
		c.restart(cs, fmt.Sprintf("the attempt counters restarted before %s (server restart or FLUSH): attempts in between are not known", cs.At.Format(time.DateTime)))
		return true, false
	}
	if c.Last != nil && c.Last.Epoch == cs.Epoch {
		for _, now := range cs.Accounts {
			for _, l := range c.Last.Accounts {
				if l.AccountRef == now.AccountRef && (now.DeniedLogins < l.DeniedLogins || now.RefusedStatements < l.RefusedStatements) {
					c.restart(cs, fmt.Sprintf("the attempt counters were reset before %s: attempts in between are not known", cs.At.Format(time.DateTime)))
					c.Last = &cs
					return true, false
				}
			}
		}
	}
	c.Last = &cs
	source := "counters (" + cs.Source + ")"
	for _, now := range cs.Accounts {
		var before engine.AccountCounter
		for _, b := range c.Baseline.Accounts {
			if b.AccountRef == now.AccountRef {
				before = b
			}
		}
		d, r := now.DeniedLogins-before.DeniedLogins, now.RefusedStatements-before.RefusedStatements
		if d < 0 || r < 0 { // a counter went down: they were reset
			c.restart(cs, fmt.Sprintf("the attempt counters were reset before %s: attempts in between are not known", cs.At.Format(time.DateTime)))
			return true, false
		}
		name := accountName(now.AccountRef)
		if carried := c.find(c.Carry, name, source); carried != nil {
			d, r = d+carried.DeniedLogins, r+carried.RefusedStatements
		}
		if d > 0 || r > 0 {
			g, f := c.set(name, source, d, r, cs.At)
			grew, fresh = grew || g, fresh || f
		}
	}
	return grew, fresh
}

// audit folds audit events: each failed one is an attempt to add.
func (c *attemptCounter) audit(events []engine.AuditEvent, now time.Time) (grew, fresh bool) {
	counts := map[string][2]int64{}
	var accounts []string
	for _, e := range events {
		if e.Op == "LOG_GAP" {
			grew = c.problem(fmt.Sprintf("the audit log lost lines before %s (rotated faster than it was read)", e.At.Format(time.DateTime))) || grew
			continue
		}
		if e.Code == 0 {
			continue
		}
		k := accountName(engine.AccountRef{User: e.User, Host: e.Host})
		n, ok := counts[k]
		if !ok {
			accounts = append(accounts, k)
		}
		if e.Op == "FAILED_CONNECT" || e.Op == "CONNECT" {
			n[0]++
		} else {
			n[1]++
		}
		counts[k] = n
	}
	for _, k := range accounts {
		n := counts[k]
		var d, r int64
		if prev := c.find(c.Attempts, k, "audit log"); prev != nil {
			d, r = prev.DeniedLogins, prev.RefusedStatements
		}
		g, f := c.set(k, "audit log", d+n[0], r+n[1], now)
		grew, fresh = grew || g, fresh || f
	}
	return grew, fresh
}

func (c *attemptCounter) sort() {
	slices.SortFunc(c.Attempts, func(x, y Attempt) int {
		return strings.Compare(x.Account+"\x00"+x.Source, y.Account+"\x00"+y.Source)
	})
}

// WatchAttempts counts, until in.Until, who keeps trying to reach the object after the cut:
// denied logins of locked accounts and statements refused on revoked grants (the server's
// per-account counters), and failed connections and statements in the audit log, from the
// baseline taken before the cut. A new account or a new problem is signalled to the
// workflow at once, growing counts at most once per signalEvery; the last reading is the
// result. An Until in the past makes it one reading.
//
// It is a watch (see runWatch): a detaching worker runs it outside its activity slots.
func (a *Activities) WatchAttempts(ctx context.Context, in WatchAttemptsInput) (AttemptsResult, error) {
	p, c, err := a.prober(in.Connection)
	if err != nil {
		return AttemptsResult{}, err
	}
	return runWatch(a, ctx, func(ctx context.Context, w watch[attemptCounter]) (AttemptsResult, error) {
		return a.watchAttempts(ctx, w, in, p, c)
	})
}

func (a *Activities) watchAttempts(ctx context.Context, w watch[attemptCounter], in WatchAttemptsInput, p engine.EvidenceProber, c config.Connection) (AttemptsResult, error) {
	st := &attemptCounter{AttemptsResult{Attempts: in.Seen, Baseline: in.Baseline, AuditCursor: in.AuditCursor, Problems: in.Problems, Carry: in.Carry, Last: in.Last}}
	if w.Prev != nil {
		st = w.Prev
	}
	sources, err := p.EvidenceSources(ctx, in.Object)
	if err != nil {
		return AttemptsResult{}, classify(err)
	}
	counting, auditing := available(sources, engine.SourceAttempts), available(sources, engine.SourceAuditLog) && c.Sampling.AuditLog != ""
	st.Sources = nil
	for _, s := range sources {
		if s.Name == engine.SourceAttempts || s.Name == engine.SourceAuditLog {
			st.Sources = append(st.Sources, s)
		}
	}
	every, signalGap := attemptsEvery, signalEvery
	if a.policy.Dev {
		every, signalGap = time.Second, 2*time.Second
	}
	// mu guards st: the keep-alive heartbeats it from its own goroutine, and a checkpoint
	// must never hold a cursor past events it has not counted.
	var mu sync.Mutex
	checkpoint := func() any {
		mu.Lock()
		defer mu.Unlock()
		cp := *st
		cp.Attempts, cp.Problems, cp.Carry = slices.Clone(st.Attempts), slices.Clone(st.Problems), slices.Clone(st.Carry)
		return cp
	}
	// The watches on one server share one reading of their counters per interval, so that
	// the server answers as many queries for a thousand retirements as for one.
	counters := func() (engine.Counters, error) { return p.Counters(ctx, in.Object, in.Accounts) }
	many, shared := p.(countersOfMany)
	shared = shared && counting && time.Now().Before(in.Until)
	if shared {
		q := counterQuery{object: in.Object, accounts: in.Accounts}
		readings, leave := subscribeCounters(a.counters, in.Connection, many, q, every)
		defer leave()
		counters = func() (engine.Counters, error) {
			for {
				select {
				case <-ctx.Done():
					return engine.Counters{}, ctx.Err()
				case r := <-readings:
					if r.err != nil {
						return engine.Counters{}, r.err
					}
					// A reading that did not cover this watch says nothing of its object
					// (it would read as counters off): the next one will.
					if c, ok := q.of(r.value); ok {
						return c, nil
					}
				}
			}
		}
	}
	read := func() (grew, fresh bool, err error) {
		var cs *engine.Counters
		if counting {
			r, err := counters()
			if err != nil {
				return false, false, err
			}
			cs = &r
		}
		var events []engine.AuditEvent
		cursor := st.AuditCursor
		if auditing {
			if events, cursor, err = p.AuditEvents(ctx, in.Object, in.Accounts, st.AuditCursor); err != nil {
				return false, false, err
			}
		}
		mu.Lock()
		defer mu.Unlock()
		problems := len(st.Problems)
		if cs != nil {
			grew, fresh = st.counters(*cs)
		}
		g, f := st.audit(events, time.Now().UTC())
		st.AuditCursor = cursor
		st.sort()
		return grew || g, fresh || f || len(st.Problems) > problems, nil
	}
	// The checkpoint is beaten between reads too: in production they are minutes apart.
	defer ticking(ctx, detachedBeat(w.Info.HeartbeatTimeout), func() { w.Beat(checkpoint().(attemptCounter)) })()
	info := w.Info
	var signalled time.Time
	pending := false
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		grew, fresh, err := read()
		if err != nil {
			return st.AttemptsResult, classify(err)
		}
		pending = pending || grew || fresh
		if pending && (fresh || time.Since(signalled) >= signalGap) {
			w.Keep(checkpoint().(attemptCounter))
			if a.signal != nil {
				mu.Lock()
				report := AttemptsReport{Attempts: slices.Clone(st.Attempts), Problems: slices.Clone(st.Problems)}
				mu.Unlock()
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if err := a.signal(sctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, SignalAttempts, report); err != nil {
					w.Log.Error("Could not tell the workflow of access attempts; they are in the heartbeat", "error", err)
				} else {
					signalled, pending = time.Now(), false
				}
				cancel()
			}
		}
		if !time.Now().Before(in.Until) {
			return checkpoint().(attemptCounter).AttemptsResult, nil
		}
		if shared {
			continue // the next shared reading paces the loop
		}
		select {
		case <-ctx.Done():
			return st.AttemptsResult, ctx.Err()
		case <-t.C:
		}
	}
}

func accountName(a engine.AccountRef) string {
	if a.Host == "" {
		return a.User
	}
	return a.User + "@" + a.Host
}
