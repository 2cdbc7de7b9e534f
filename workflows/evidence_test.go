package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/notify"
)

// Usage evidence: each test tries to slip something past the gate that must stop the cut.

// Reads the counters show but no client explains stop the cut until a person acknowledges
// exactly that access.
func (s *lifecycle) TestUnattributedAccessWaitsForAcknowledgement() {
	later := engine.Counters{On: true, Epoch: "e1", Source: "test", Tables: []engine.TableCounter{{Table: "t", Reads: 25, Writes: 2}}}
	res := s.looked(activities.SampleResult{Looks: 100})
	res.Counters = &later
	s.results["SampleClients"] = res
	s.results["LookBeforeCut"] = activities.BeforeCut{Counters: &later}
	var ack error
	s.update(5*day, UpdateAcknowledge, Acknowledgement{By: "dba", Note: "the nightly report, moved in CHG-9"}, &ack)
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.NoError(ack)
	s.GreaterOrEqual(s.calls["CutAccess"][0].Sub(s.start), 5*day, "access was cut before the unexplained reads were acknowledged")
	rec := s.record()
	s.Require().NotNil(rec.Evidence)
	s.Equal([]engine.TableAccess{{Table: "t", Reads: 15, Writes: 2}}, stripTimes(rec.Evidence.Unattributed))
	s.True(rec.Evidence.Counted)
	g := s.gate(rec, GateEvidence)
	s.Equal(GatePassed, g.State)
	s.Contains(g.Detail, "unattributed access to t: 15 reads, 2 writes")
	s.Equal("dba", g.By)
	s.Equal(notify.ClientsSeen, s.sent[0].Kind, "owners are told of the unexplained access")
	s.Contains(s.sent[0].Clients[0], "unattributed: t read 15 rows")
}

// A client seen holding the table explains its reads: nothing unattributed, but the client
// itself still needs an acknowledgement.
func (s *lifecycle) TestAClientThatHoldsTheTableExplainsItsReads() {
	later := engine.Counters{On: true, Epoch: "e1", Source: "test", Tables: []engine.TableCounter{{Table: "t", Reads: 25}}}
	res := s.looked(activities.SampleResult{Looks: 100, Seen: []engine.Session{{User: "etl", Host: "10.0.0.8", Via: []string{engine.ViaLock}, Tables: []string{"t"}, Count: 1}}})
	res.Counters = &later
	s.results["SampleClients"] = res
	s.results["LookBeforeCut"] = activities.BeforeCut{Counters: &later}
	var ack error
	s.update(4*day, UpdateAcknowledge, Acknowledgement{By: "dba", Note: "etl retired"}, &ack)
	s.execute(request(ReasonMigration))
	s.NoError(ack)
	rec := s.record()
	s.Empty(rec.Evidence.Unattributed)
	s.Len(rec.Evidence.Access, 1)
}

// Time in which nobody looked is counted and shown, and a window with a gap is not passed
// as complete.
func (s *lifecycle) TestAGapInTheLooksIsNotAPass() {
	res := s.looked(activities.SampleResult{Looks: 100})
	res.Spans = []engine.Span{{From: s.start, To: s.start.Add(day)}, {From: s.start.Add(day + 6*time.Hour), To: s.start.Add(60 * day)}}
	s.results["SampleClients"] = res
	var early, ack error
	s.update(3*day+time.Hour, UpdateApprove, Signoff{By: "alice"}, &early)
	s.update(4*day, UpdateAcknowledge, Acknowledgement{By: "dba", Note: "worker was down, nothing else changed"}, &ack)
	s.execute(request(ReasonMigration))
	s.NoError(ack)
	rec := s.record()
	s.Equal(3*day-6*time.Hour, rec.Evidence.Looked)
	s.Require().Len(rec.Evidence.Gaps, 1)
	s.Equal(6*time.Hour, rec.Evidence.Gaps[0].To.Sub(rec.Evidence.Gaps[0].From))
	s.Contains(s.gate(rec, GateEvidence).Detail, "looked at 2d 18h of the 3d window")
	s.GreaterOrEqual(s.calls["CutAccess"][0].Sub(s.start), 4*day)
}

// Without per-table counters the evidence is incomplete, and the gate says so.
func (s *lifecycle) TestNoCountersIsIncompleteEvidence() {
	s.results["StartSampling"] = activities.SamplingStart{At: s.start, Sources: []engine.EvidenceSource{{Name: engine.SourceSessions, State: engine.SourceAvailable},
		{Name: engine.SourceTableCounters, State: engine.SourceOff, Detail: "SET GLOBAL userstat=1"}}}
	s.execute(request(ReasonMigration))
	s.Equal(0, s.ran("CutAccess"), "cut without counters and without anyone acknowledging it")
	var st Status
	v, err := s.env.QueryWorkflow(QueryStatus)
	s.Require().NoError(err)
	s.Require().NoError(v.Get(&st))
	s.Contains(st.Waiting, "no per-table access counters: off: SET GLOBAL userstat=1")
	s.False(st.Evidence.Counted)
}

// Counters that restart in the window (a server restart, a FLUSH) cannot vouch for it.
func (s *lifecycle) TestCountersThatRestartAreNotComplete() {
	res := s.looked(activities.SampleResult{Looks: 100})
	res.Counters = &engine.Counters{On: true, Epoch: "e2", Source: "test"}
	s.results["SampleClients"] = res
	s.execute(request(ReasonMigration))
	s.Equal(0, s.ran("CutAccess"))
	var st Status
	v, _ := s.env.QueryWorkflow(QueryStatus)
	s.Require().NoError(v.Get(&st))
	s.Contains(st.Waiting, "the access counters restarted")
}

// Whoever keeps trying after the cut reaches the owners at once, the status and the record,
// and holds the drop until somebody acknowledges it.
func (s *lifecycle) TestAttemptsAfterTheCutHoldTheDrop() {
	knock := []activities.Attempt{{Account: "crm@10.0.0.9", DeniedLogins: 12, FirstSeen: s.start.Add(5 * day), LastSeen: s.start.Add(5 * day), Source: "counters"}}
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(activities.SignalAttempts, activities.AttemptsReport{Attempts: knock}) }, 5*day)
	var tooEarly, ack error
	s.update(4*day, UpdateAcknowledgeAttempts, Acknowledgement{By: "dba", Note: "nothing yet"}, &tooEarly)
	s.update(25*day, UpdateAcknowledgeAttempts, Acknowledgement{By: "dba", Note: "a monitor nobody turned off"}, &ack)
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.ErrorContains(tooEarly, "nobody tried")
	s.NoError(ack)
	s.GreaterOrEqual(s.calls["Drop"][0].Sub(s.start), 25*day, "the drop went ahead while somebody still knocked")
	var told []notify.Event
	for _, e := range s.sent {
		if e.Kind == notify.AccessAttempts {
			told = append(told, e)
		}
	}
	s.Require().Len(told, 1, "one notice, then a digest only when more come")
	s.sentAt(told[0], 5*day)
	s.Contains(told[0].Clients[0], "crm@10.0.0.9: 12 denied logins")
	rec := s.record()
	s.Require().Len(rec.Evidence.Attempts, 1)
	s.Equal("crm@10.0.0.9", rec.Evidence.Attempts[0].Account)
	s.EqualValues(12, rec.Evidence.Attempts[0].DeniedLogins)
	g := s.gate(rec, GateAttempts)
	s.Equal(GatePassed, g.State)
	s.Equal("dba", g.By)
	s.Contains(Markdown(rec), "crm@10.0.0.9")
}

func stripTimes(as []engine.TableAccess) []engine.TableAccess {
	for i := range as {
		as[i].From, as[i].To = time.Time{}, time.Time{}
	}
	return as
}

// The first look comes a moment after the window opens and the last a moment before it
// closes: pauses within the samplers' rhythm are not gaps; a dead worker's seconds are.
func TestCoverageCountsOnlyPausesLongerThanTheRhythm(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	spans := []engine.Span{{From: at(0.011), To: at(10)}, {From: at(21), To: at(39.9)}}
	looked, gaps := coverage(spans, t0, at(40), 5*time.Second)
	require.Equal(t, []engine.Span{{From: at(10), To: at(21)}}, gaps)
	require.Equal(t, 29*time.Second, looked)
	looked, gaps = coverage(nil, t0, at(40), 5*time.Second)
	require.Len(t, gaps, 1)
	require.Zero(t, looked)
}

// Nobody looked while the DBA read the evidence: the look right before the cut finds the
// reads since the window closed, and they need an acknowledgement of their own.
func (s *lifecycle) TestAccessAfterTheWindowNeedsAnotherAcknowledgement() {
	s.results["SampleClients"] = s.looked(activities.SampleResult{Looks: 100, Seen: []engine.Session{{User: "etl", Host: "10.0.0.8", Count: 1}}})
	after := engine.Counters{On: true, Epoch: "e1", Source: "test", Tables: []engine.TableCounter{{Table: "t", Reads: 99}}}
	s.results["LookBeforeCut"] = activities.BeforeCut{Counters: &after}
	var first, second error
	s.update(4*day, UpdateAcknowledge, Acknowledgement{By: "dba", Note: "etl is gone"}, &first)
	s.update(6*day, UpdateAcknowledge, Acknowledgement{By: "dba", Note: "the reads after were the backup"}, &second)
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.NoError(first)
	s.NoError(second)
	s.GreaterOrEqual(s.calls["CutAccess"][0].Sub(s.start), 6*day, "cut on the first acknowledgement, with reads nobody had seen")
	rec := s.record()
	s.Contains(rec.Evidence.Problems, "1 table(s) were read or written after the window closed, before the cut")
	s.Len(rec.Evidence.Acknowledged, 1)
	s.Equal("the reads after were the backup", rec.Acknowledgement.Note)
}

// Where no source can count the logins of the accounts the cut locks, "nobody tried" means
// nobody was seen: the drop waits for a person to acknowledge exactly that.
func (s *lifecycle) TestBlindToLockedLoginsHoldsTheDrop() {
	plan := s.results["Plan"].(activities.Plan)
	plan.Inventory.Accounts = []engine.Account{{User: "app", Host: "%", Levels: []string{"database"}, OnlyThisObject: true}}
	s.results["Plan"] = plan
	s.results["StartSampling"] = activities.SamplingStart{At: s.start, Sources: append(allSources[:3:3],
		engine.EvidenceSource{Name: engine.SourceAttempts, State: engine.SourceAvailable, Blind: []string{engine.BlindLockedLogins, engine.BlindRenamed}})}
	s.results["StartSampling"] = withCounters(s.results["StartSampling"].(activities.SamplingStart))
	var ack error
	s.update(25*day, UpdateAcknowledgeAttempts, Acknowledgement{By: "dba", Note: "app servers are switched off (CHG-3)"}, &ack)
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.NoError(ack)
	s.GreaterOrEqual(s.calls["Drop"][0].Sub(s.start), 25*day)
	rec := s.record()
	s.Require().Len(rec.Evidence.AttemptProblems, 1)
	s.Contains(rec.Evidence.AttemptProblems[0], "the cut locks app@%, and no source here counts logins of locked accounts")
	s.Equal(GatePassed, s.gate(rec, GateAttempts).State)
}

// Somebody who knocks while the archive is written is found by the last count before the
// drop, and the drop waits.
func (s *lifecycle) TestAttemptsDuringTheArchiveHoldTheDrop() {
	knock := []activities.Attempt{{Account: "crm@10.0.0.9", RefusedStatements: 2, Source: "counters"}}
	delete(s.results, "WatchAttempts")
	s.env.OnActivity("WatchAttempts", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.WatchAttemptsInput) (activities.AttemptsResult, error) {
		if !in.Until.After(s.env.Now()) { // the last count, right before the drop
			return activities.AttemptsResult{Attempts: knock}, nil
		}
		return activities.AttemptsResult{}, nil
	})
	var ack error
	s.update(30*day, UpdateAcknowledgeAttempts, Acknowledgement{By: "alice", Note: "the archive job's own retry"}, &ack)
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.NoError(ack)
	s.GreaterOrEqual(s.calls["Drop"][0].Sub(s.start), 30*day)
	s.Equal("crm@10.0.0.9", s.record().Evidence.Attempts[0].Account)
}

func withCounters(st activities.SamplingStart) activities.SamplingStart {
	st.Counters = &counters
	return st
}

// An acknowledgement covers exactly what the person was shown: one of an older list is refused.
func (s *lifecycle) TestAnAcknowledgementCoversExactlyWhatWasShown() {
	s.results["SampleClients"] = s.looked(activities.SampleResult{Looks: 100, Seen: []engine.Session{{User: "etl", Host: "10.0.0.8", Count: 1}}})
	var stale, exact error
	s.update(4*day, UpdateAcknowledge, Acknowledgement{By: "dba", Note: "old list", Covers: "0 client(s) seen"}, &stale)
	s.update(5*day, UpdateAcknowledge, Acknowledgement{By: "dba", Note: "etl is gone", Covers: "1 client(s) seen"}, &exact)
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.ErrorContains(stale, "changed since it was read; it is now: 1 client(s) seen")
	s.NoError(exact)
	s.Equal("1 client(s) seen", s.record().Acknowledgement.Covers)
}

// A client explains only the access it could have made: tables it was seen on, or any of
// the database's when it was its default, and only within the time it was seen.
func TestUnattributedIsAccessNoClientSeenThenExplains(t *testing.T) {
	d := func(n int) time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * day) }
	access := []engine.TableAccess{{Table: "orders", Reads: 5, From: d(0), To: d(1)}, {Table: "customers", Reads: 2e6, From: d(11), To: d(12)}}
	monitor := engine.Session{User: "nagios", Via: []string{engine.ViaDefaultDB}, FirstSeen: d(0), LastSeen: d(0).Add(time.Hour)}
	require.Equal(t, []engine.TableAccess{access[1]}, unattributed(access, []engine.Session{monitor}), "a monitor seen on day 1 explains day 12")
	etl := engine.Session{User: "etl", Via: []string{engine.ViaLock}, Tables: []string{"CUSTOMERS"}, FirstSeen: d(11), LastSeen: d(11)}
	require.Equal(t, []engine.TableAccess{access[0]}, unattributed(access, []engine.Session{etl}), "names compare case-insensitively; etl explains only customers")
	howUnknown := engine.Session{User: "x", FirstSeen: d(0), LastSeen: d(12)}
	require.Equal(t, access, unattributed(access, []engine.Session{howUnknown}), "a client seen without how explains nothing")
}

// The drop's own gate check does not trust the path that led to it: a run whose evidence
// gate never passed is refused even with everything else in order.
func TestTheDropGateRechecksTheEvidence(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	check := func(ctx workflow.Context) error {
		r := &retirement{evidence: true, accessCut: true}
		r.s.Request = request(ReasonMigration).WithDefaults()
		r.s.Archive = &activities.ArchiveResult{ManifestSHA256: "abc"}
		r.s.Verification = &activities.Verification{OK: true}
		r.s.ObserveUntil = workflow.Now(ctx).Add(-time.Hour)
		r.s.Evidence = &Evidence{}
		r.s.setGate(GateEvidence, GatePending, "", "", time.Time{})
		return r.dropGates(ctx)
	}
	env.RegisterWorkflowWithOptions(check, workflow.RegisterOptions{Name: "check"})
	env.ExecuteWorkflow("check")
	require.ErrorContains(t, env.GetWorkflowError(), "the usage evidence of the sampling window was not passed or acknowledged")
}

// A first look that comes later than the gap tolerance after the window was set up (the
// sampling activity waited in a busy worker's queue) opens the window: it starts with the
// first look and runs as much longer, so as long as asked is looked at, and the record
// says so. (Seen with a thousand retirements on one worker: a 6 s "gap" nobody could close.)
func (s *lifecycle) TestTheWindowOpensWithTheFirstLook() {
	res := s.looked(activities.SampleResult{Looks: 100, Tolerance: 5 * time.Second})
	res.Spans = []engine.Span{{From: s.start.Add(6 * time.Second), To: s.start.Add(60 * day)}}
	s.results["SampleClients"] = res
	s.execute(request(ReasonMigration))
	rec := s.record()
	s.Empty(rec.Evidence.Gaps)
	s.True(s.start.Add(6*time.Second).Equal(rec.Evidence.WindowFrom), "%s", rec.Evidence.WindowFrom)
	s.Equal(rec.Request.SampleWindow, rec.Evidence.WindowUntil.Sub(rec.Evidence.WindowFrom), "as long as asked")
	s.Equal([]string{"the first look came 6s after the window was set up: the window starts with it and ran 6s longer"}, rec.Evidence.Notes)
	s.Equal(1, s.ran("CutAccess"), "complete evidence: no acknowledgement needed")
	s.Contains(Markdown(rec), "- note: the first look came 6s after")
}
