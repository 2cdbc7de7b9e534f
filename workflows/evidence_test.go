package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(activities.SignalAttempts, knock) }, 5*day)
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
