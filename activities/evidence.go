package activities

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
	for i, s := range sources {
		if s.Available() || !s.Dynamic || !slices.Contains(c.Sampling.Enable, s.Name) {
			continue
		}
		ch, err := p.EnableSource(ctx, s.Name)
		if err != nil {
			return SamplingStart{}, classify(fmt.Errorf("switch on %s for the window: %w", s.Name, err))
		}
		if ch.Changed() {
			changes = append(changes, ch)
			activity.GetLogger(ctx).Info("Switched on a usage-evidence source for the window", "source", s.Name, "variable", ch.Variable, "before", ch.Before)
		}
		sources[i].State, sources[i].Detail = engine.SourceAvailable, fmt.Sprintf("switched on by retire for the retirement (%s was %s)", ch.Variable, ch.Before)
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
const attemptsEvery = time.Minute

// WatchAttempts counts, until in.Until, who keeps trying to reach the object after the cut:
// denied logins of locked accounts and statements refused on revoked grants (the server's
// per-account counters), and failed connections and statements in the audit log. Each new
// or grown attempt is signalled to the workflow at once; the last reading is the result.
func (a *Activities) WatchAttempts(ctx context.Context, in WatchAttemptsInput) (AttemptsResult, error) {
	p, c, err := a.prober(in.Connection)
	if err != nil {
		return AttemptsResult{}, err
	}
	res := AttemptsResult{Attempts: in.Seen, Baseline: in.Baseline, AuditCursor: in.AuditCursor, Problems: in.Problems}
	if activity.HasHeartbeatDetails(ctx) {
		var prev AttemptsResult
		if activity.GetHeartbeatDetails(ctx, &prev) == nil {
			res = prev
		}
	}
	sources, err := p.EvidenceSources(ctx, in.Object)
	if err != nil {
		return AttemptsResult{}, classify(err)
	}
	counting, auditing := available(sources, engine.SourceAttempts), available(sources, engine.SourceAuditLog) && c.Sampling.AuditLog != ""
	for _, s := range sources {
		if s.Name == engine.SourceAttempts || s.Name == engine.SourceAuditLog {
			res.Sources = append(res.Sources, s)
		}
	}
	every := attemptsEvery
	if a.policy.Dev {
		every = time.Second
	}
	read := func() (changed bool, err error) {
		now := time.Now().UTC()
		// One attempt per account and source: the counters give totals since the cut, the
		// audit log events to add up.
		index := func(account, source string) *Attempt {
			for i := range res.Attempts {
				if res.Attempts[i].Account == account && res.Attempts[i].Source == source {
					return &res.Attempts[i]
				}
			}
			return nil
		}
		set := func(account, source string, denied, refused int64, at time.Time) {
			cur := index(account, source)
			if cur == nil {
				res.Attempts = append(res.Attempts, Attempt{Account: account, FirstSeen: at, Source: source})
				cur = &res.Attempts[len(res.Attempts)-1]
			}
			if denied > cur.DeniedLogins || refused > cur.RefusedStatements {
				cur.DeniedLogins, cur.RefusedStatements = max(cur.DeniedLogins, denied), max(cur.RefusedStatements, refused)
				cur.LastSeen = at
				changed = true
			}
		}
		if counting {
			cs, err := p.Counters(ctx, in.Object, in.Accounts)
			if err != nil {
				return false, err
			}
			if !cs.On {
				problem := fmt.Sprintf("the attempt counters were off at %s (%s): attempts are not counted while they are", cs.At.Format(time.DateTime), cs.Source)
				if !slices.Contains(res.Problems, problem) && (len(res.Problems) == 0 || !strings.HasPrefix(res.Problems[len(res.Problems)-1], "the attempt counters were off")) {
					res.Problems = append(res.Problems, problem)
					changed = true
				}
			} else if res.Baseline != nil && res.Baseline.Epoch != cs.Epoch {
				res.Problems = append(res.Problems, fmt.Sprintf("the attempt counters restarted before %s (server restart): attempts in between are not known", cs.At.Format(time.DateTime)))
				res.Baseline, changed = &cs, true
			} else if res.Baseline == nil {
				res.Baseline = &cs // the first reading after the cut
			} else {
				for _, now := range cs.Accounts {
					var before engine.AccountCounter
					for _, b := range res.Baseline.Accounts {
						if b.AccountRef == now.AccountRef {
							before = b
						}
					}
					if d, r := now.DeniedLogins-before.DeniedLogins, now.RefusedStatements-before.RefusedStatements; d > 0 || r > 0 {
						set(accountName(now.AccountRef), "counters ("+cs.Source+")", d, r, cs.At)
					}
				}
			}
		}
		if auditing {
			events, next, err := p.AuditEvents(ctx, in.Object, in.Accounts, res.AuditCursor)
			if err != nil {
				return false, err
			}
			res.AuditCursor = next
			counts := map[string][2]int64{}
			for _, e := range events {
				if e.Code == 0 {
					continue
				}
				k := accountName(engine.AccountRef{User: e.User, Host: e.Host})
				n := counts[k]
				if e.Op == "FAILED_CONNECT" || e.Op == "CONNECT" {
					n[0]++
				} else {
					n[1]++
				}
				counts[k] = n
			}
			for k, n := range counts {
				var d, r int64
				if prev := index(k, "audit log"); prev != nil {
					d, r = prev.DeniedLogins, prev.RefusedStatements
				}
				set(k, "audit log", d+n[0], r+n[1], now)
			}
		}
		slices.SortFunc(res.Attempts, func(x, y Attempt) int {
			return strings.Compare(x.Account+"\x00"+x.Source, y.Account+"\x00"+y.Source)
		})
		return changed, nil
	}
	defer keepAliveWith(ctx, func() any { return res })()
	info := activity.GetInfo(ctx)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		changed, err := read()
		if err != nil {
			return res, classify(err)
		}
		if changed {
			activity.RecordHeartbeat(ctx, res)
			if a.signal != nil {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if err := a.signal(sctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, SignalAttempts, res.Attempts); err != nil {
					activity.GetLogger(ctx).Error("Could not tell the workflow of access attempts; they are in the heartbeat", "error", err)
				}
				cancel()
			}
		}
		if !time.Now().Before(in.Until) {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
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
