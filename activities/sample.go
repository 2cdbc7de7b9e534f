package activities

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/config"
)

// SampleProgress is the heartbeat of SampleClients: a retry resumes from it, and
// `retire status` shows it.
type SampleProgress struct {
	Looks       int              `json:"looks"`
	Seen        []engine.Session `json:"seen"`
	Spans       []engine.Span    `json:"spans,omitempty"`
	AuditCursor string           `json:"audit_cursor,omitempty"`
	Problems    []string         `json:"problems,omitempty"`
}

// How often the audit log is read while sampling, and how often progress is heartbeaten.
const (
	auditEvery     = 5 * time.Second
	heartbeatEvery = 5 * time.Second
)

// gapTolerance is the longest pause between two looks that still counts as looking: a
// longer one (a worker that died, a server that did not answer) is a gap in the evidence.
func gapTolerance(interval time.Duration) time.Duration { return max(10*interval, 5*time.Second) }

// pollInterval is the profile's, or the engine's default.
func pollInterval(p engine.EvidenceProber, c config.Connection) time.Duration {
	if c.PollInterval > 0 {
		return c.PollInterval
	}
	if d, ok := p.(interface{ PollInterval() time.Duration }); ok {
		return d.PollInterval()
	}
	return time.Second
}

// SampleClients watches who reaches the object until in.Until, looking many times a
// minute (one look misses short connections) through the worker's one poller per server,
// and reads the audit log as it goes. A client seen for the first time is signalled to the
// workflow before the next look, so a worker killed a second later forgets nothing; the
// spans it looked at say which time it vouches for. At the end it reads the counters.
//
// It is a watch (see runWatch): a detaching worker runs it outside its activity slots.
func (a *Activities) SampleClients(ctx context.Context, in SampleInput) (SampleResult, error) {
	p, c, err := a.prober(in.Connection)
	if err != nil {
		return SampleResult{}, err
	}
	return runWatch(a, ctx, func(ctx context.Context, w watch[SampleProgress]) (SampleResult, error) {
		return a.sampleClients(ctx, w, in, p, c)
	})
}

func (a *Activities) sampleClients(ctx context.Context, w watch[SampleProgress], in SampleInput, p engine.EvidenceProber, c config.Connection) (SampleResult, error) {
	hb := SampleProgress{Seen: in.Seen, AuditCursor: in.AuditCursor}
	if w.Prev != nil {
		hb = *w.Prev
		w.Log.Info("Resuming sampling from the last heartbeat", "looks", hb.Looks, "clients", len(hb.Seen))
	}
	acc := engine.NewSampler(hb.Seen)
	known := map[string]bool{}
	for _, s := range hb.Seen {
		known[s.Key()] = true
	}
	interval := pollInterval(p, c)
	tolerance := gapTolerance(interval)
	spans, problems := hb.Spans, hb.Problems
	var open *engine.Span // the span the current looks extend
	cursor := hb.AuditCursor
	progress := func() SampleProgress {
		all := slices.Clone(spans)
		if open != nil {
			all = append(all, *open)
		}
		return SampleProgress{Looks: hb.Looks + acc.Looks(), Seen: acc.Result(), Spans: engine.MergeSpans(all), AuditCursor: cursor, Problems: problems}
	}
	// durable signals what is new to the workflow before anything else is done with it.
	durable := func(fresh []engine.Session) {
		pr := progress()
		w.Keep(pr)
		if a.signal == nil || len(fresh) == 0 {
			return
		}
		info := w.Info
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.signal(sctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, SignalSampling, SamplingEvidence{New: fresh, Spans: pr.Spans}); err != nil {
			w.Log.Error("Could not tell the workflow of a client seen; it is in the heartbeat", "error", err)
		}
	}
	fold := func(sessions []engine.Session, look bool) {
		if look {
			acc.Add(sessions)
		} else {
			acc.Merge(sessions)
		}
		// Only this look's sessions can be new: no sorting of every client seen per look.
		var fresh []engine.Session
		for _, s := range sessions {
			if !known[s.Key()] {
				known[s.Key()] = true
				s.ID = 0
				fresh = append(fresh, s)
			}
		}
		if len(fresh) > 0 {
			durable(fresh)
			w.Log.Warn("New client of the object, told the workflow", "clients", len(fresh), "first", fresh[0].Key())
		}
	}

	looks, leave := subscribeLooks(a.hub, in.Connection, p, interval)
	defer leave()
	end := time.NewTimer(time.Until(in.Until))
	defer end.Stop()
	var lastBeat, lastAudit time.Time
	var lastSeq int64
	problem := func(p string) {
		if !slices.Contains(problems, p) {
			problems = append(problems, p)
		}
	}
	readAudit := func() error {
		if cursor == "" {
			return nil
		}
		events, next, err := p.AuditEvents(ctx, in.Object, nil, cursor)
		if err != nil {
			return err
		}
		cursor, lastAudit = next, time.Now()
		for _, e := range events {
			if e.Op == "LOG_GAP" {
				problem(fmt.Sprintf("the audit log lost lines before %s (it rotated faster than it was read)", e.At.UTC().Format(time.DateTime)))
			}
		}
		fold(auditSessions(events), false)
		return nil
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			w.Beat(progress())
			return SampleResult{}, ctx.Err()
		case <-end.C:
			done = true
		case r := <-looks:
			if r.err != nil {
				w.Beat(progress())
				return SampleResult{}, classify(r.err)
			}
			at := r.value.At
			// A look this sampler missed (it was busy telling the workflow, or reading the
			// audit log) is time it cannot vouch for.
			missed := lastSeq != 0 && r.seq > lastSeq+1
			lastSeq = r.seq
			if in.ReadCounters && r.value.CountersOff {
				problem(fmt.Sprintf("the table counters were off at %s: reads and writes then are not counted", at.UTC().Format(time.DateTime)))
			}
			if open == nil || missed || at.Sub(open.To) > tolerance {
				if open != nil {
					spans = append(spans, *open)
				}
				open = &engine.Span{From: at, To: at}
			} else if at.After(open.To) {
				open.To = at
			}
			fold(p.Reaching(r.value, in.Object), true)
			if time.Since(lastAudit) >= auditEvery {
				if err := readAudit(); err != nil {
					w.Beat(progress())
					return SampleResult{}, classify(err)
				}
			}
			if time.Since(lastBeat) >= heartbeatEvery {
				lastBeat = time.Now()
				w.Beat(progress())
			}
		}
	}
	if err := readAudit(); err != nil {
		return SampleResult{}, classify(err)
	}
	pr := progress()
	res := SampleResult{Seen: pr.Seen, Looks: pr.Looks, Spans: pr.Spans, Tolerance: tolerance, AuditCursor: cursor, Problems: problems}
	if in.ReadCounters {
		cs, err := p.Counters(ctx, in.Object, nil)
		if err != nil {
			w.Beat(pr)
			return SampleResult{}, classify(err)
		}
		res.Counters = &cs
	}
	return res, nil
}

// auditSessions are the clients audit events show, each with the table it touched.
func auditSessions(events []engine.AuditEvent) []engine.Session {
	var out []engine.Session
	for _, e := range events {
		if e.Code != 0 || e.Op == "LOG_GAP" {
			continue // a failed attempt reached nothing
		}
		s := engine.Session{User: e.User, Host: e.Host, FirstSeen: e.At, LastSeen: e.At, Via: []string{engine.ViaAuditLog}}
		if e.Table != "" {
			s.Tables = []string{e.Table}
		}
		out = append(out, s)
	}
	return out
}
