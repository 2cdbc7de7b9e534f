package workflows

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/notify"
)

// A child that ends without a report after the run that started it handed over (here: the
// beta wave counts once observed for an hour, the fleet continues as new at the wave's end,
// and a1 is terminated three hours into its observation) is found by the fleet's look at
// Temporal, counted as failed with what Temporal says, and spends the budget: the fleet
// pauses, grants no slot, and goes on once resumed.
func (s *fleetSuite) TestAChildThatVanishesCountsAsFailedAndPausesTheFleet() {
	req := fleetReq("c1/a1", "c2/b1", "c1/a2", "c2/b2")
	req.Waves.Group, req.Waves.DoneWhen, req.Waves.ObservedFor = GroupAll, DoneObserved, time.Hour
	req.ObserveWindow = 4 * time.Hour
	s.scripts["c1/a1"] = childScript{Observe: 3 * time.Hour, VanishAt: PhaseObserve}
	s.plan.WatchEvery = 30 * time.Minute
	var paused FleetStatus
	var resume error
	var resumedAt time.Time
	s.whenever(5*time.Minute, func(st FleetStatus) bool { return st.Phase == FleetPaused }, func(st FleetStatus) {
		paused = st
		s.env.RegisterDelayedCallback(func() {
			resumedAt = s.env.Now()
			s.send(UpdateFleetResume, FleetDecision{By: "dana", Note: "a1 was terminated on purpose"}, &resume)
		}, 3*time.Hour)
	})
	s.proceedEach(10*time.Minute, nil)
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	st := s.result()

	vanished, ok := s.firstSeen("c1/a1", "vanished")
	s.Require().True(ok)
	a1 := s.child(st, "c1/a1")
	s.Equal(PhaseFailed, a1.Phase)
	s.Equal("terminated by an operator; no final report", a1.Error, "Temporal's word, not the run's: the run that started a1 had handed over")
	s.True(a1.Failed)
	s.Require().Len(st.Failures, 1)
	s.Equal("c1/a1", st.Failures[0].Object)
	s.False(st.Failures[0].At.Before(vanished))
	s.LessOrEqual(st.Failures[0].At.Sub(vanished), time.Hour, "found within a look or two")

	s.Equal("the failure budget", paused.Paused.By)
	s.Contains(paused.Paused.Note, "c1/a1 ended failed: terminated by an operator; no final report")
	s.NoError(resume)
	for _, k := range []string{"c1/a2", "c2/b2"} {
		if held, ok := s.firstSeen(k, "hold"); ok && held.After(paused.Paused.At) {
			s.False(held.Before(resumedAt), "%s was granted a slot while the fleet was paused", k)
		}
	}
	s.Equal(FleetDone, st.Phase)
	s.Equal("done: 3 retired, 1 failed, 0 excluded", st.Outcome)

	// Each look asked only about children started in an earlier run that had not reported
	// their end.
	s.Require().NotEmpty(s.looks)
	for _, in := range s.looks {
		for _, c := range in.Children {
			s.NotEmpty(c.RunID)
		}
	}
	s.True(slices.ContainsFunc(s.looks, func(in activities.FleetChildrenInput) bool {
		return slices.ContainsFunc(in.Children, func(c activities.FleetChildRun) bool { return c.WorkflowID == keyID("c1/a1") })
	}))
	s.Zero(s.count("c1/a1", "enter archive"))
	s.True(st.WatchAt.IsZero(), "nothing left to look at")
}

// Notices that wait for the digest while the fleet continues as new go with its state: each
// is told once, in a digest sent by a later run than the one that took it in, and the digest
// interval holds across runs.
func (s *fleetSuite) TestPendingDigestSurvivesContinueAsNew() {
	req := fleetReq(manyKeys(3, 6)...)
	req.Waves.Beta = manyKeys(3, 6) // one wave: no boundary sends the digest early
	req.Waves.PerConnection = 2     // the drops come one pair per connection after another
	req.DigestEvery = 6 * time.Hour
	s.tellOwners = true
	s.plan.WatchEvery = 24 * time.Hour
	s.run(harnessInput{Fleet: FleetState{Request: req, ContinueAfterEvents: 80}})
	st := s.result()
	s.Equal("done: 18 retired, 0 failed, 0 excluded", st.Outcome)

	s.Require().Len(s.digests, 2, "the cut, then every drop in one digest when the fleet ended: %+v", st.Digest.Log)
	cut, dropped := s.digests[0], s.digests[1]
	s.Len(cut.Notices, 18)
	s.Len(dropped.Notices, 18)
	told := map[string]int{}
	for _, d := range s.digests {
		s.Equal(6*time.Hour, d.Every)
		for _, e := range d.Notices {
			told[fmt.Sprintf("%s/%s %s", e.Connection, e.Object, e.Kind)]++
		}
	}
	s.Len(told, 2*18)
	for k, n := range told {
		s.Equal(1, n, "%s told %d times", k, n)
	}
	s.Equal(2*18, s.noticed)
	for _, e := range dropped.Notices {
		s.Equal(notify.Dropped, e.Kind)
	}
	s.Less(dropped.At.Sub(cut.At), 6*time.Hour, "sent before its interval only because the fleet ended")
	s.Equal("the fleet ended", st.Digest.Log[1].Why)

	// The drops' notices came over hours, and runs handed over in between: the digest that
	// carries them was sent by a later run than the one that took the first in.
	first := dropped.Notices[0].At
	var between []FleetRun
	for _, r := range st.Runs {
		if !r.At.Before(first) && r.At.Before(dropped.At) {
			between = append(between, r)
		}
	}
	s.NotEmpty(between, "no handover while the drops' notices waited (%s .. %s): %+v", first, dropped.At, st.Runs)
	for _, r := range between {
		s.NotEqual(dropped.RunID, r.Run)
	}
	s.Greater(dropped.At.Sub(first), time.Hour, "the notices waited across the handovers")
	s.Empty(st.Digest.Pending)
}

// When the digest is due: a few minutes after the first notice of a quiet spell, at most
// once per interval, and never later than a quarter of the time a deadline leaves.
func TestDigestDue(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	pending := func(at time.Time, until time.Time) FleetPendingNotice {
		return FleetPendingNotice{Object: "c1/a1", Received: at, Event: notify.Event{Kind: notify.AccessCut, At: at, Until: until}}
	}
	for _, tc := range []struct {
		name    string
		every   time.Duration
		last    time.Time
		pending []FleetPendingNotice
		want    time.Time
		why     string
	}{
		{"nothing pending", time.Hour, time.Time{}, nil, time.Time{}, ""},
		{"first notice: a gather", time.Hour, time.Time{}, []FleetPendingNotice{pending(t0, time.Time{})}, t0.Add(5 * time.Minute), "new notices"},
		{"short interval: a quarter of it", 4 * time.Minute, time.Time{}, []FleetPendingNotice{pending(t0, time.Time{})}, t0.Add(time.Minute), "new notices"},
		{"at most once per interval", time.Hour, t0.Add(-10 * time.Minute), []FleetPendingNotice{pending(t0, time.Time{})}, t0.Add(50 * time.Minute), "every 1h"},
		{"a quiet spell", time.Hour, t0.Add(-3 * time.Hour), []FleetPendingNotice{pending(t0, time.Time{})}, t0.Add(5 * time.Minute), "new notices"},
		{"a far deadline waits", time.Hour, t0.Add(-10 * time.Minute), []FleetPendingNotice{pending(t0, t0.Add(14*24*time.Hour))}, t0.Add(50 * time.Minute), "every 1h"},
		{"a near deadline does not", time.Hour, t0.Add(-10 * time.Minute), []FleetPendingNotice{pending(t0, t0.Add(40*time.Minute))}, t0.Add(10 * time.Minute),
			"a deadline: c1/a1 by 2026-12-01 12:40:00 UTC"},
		{"the earliest notice decides", 6 * time.Hour, t0.Add(-time.Hour), []FleetPendingNotice{pending(t0, time.Time{}), pending(t0.Add(time.Hour), t0.Add(3*time.Hour))},
			t0.Add(time.Hour + 30*time.Minute), "a deadline: c1/a1 by 2026-12-01 15:00:00 UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fleet{s: FleetState{Request: FleetRequest{DigestEvery: tc.every}, Digest: &FleetDigest{LastAt: tc.last, Pending: tc.pending}}}
			at, why := f.digestDue()
			if !at.Equal(tc.want) || why != tc.why {
				t.Fatalf("due %s (%q), want %s (%q)", at, why, tc.want, tc.why)
			}
			f.digesting = true
			if at, _ := f.digestDue(); !at.IsZero() {
				t.Fatal("a digest on its way: the next is not due")
			}
		})
	}
	f := &fleet{s: FleetState{Signers: &FleetPlanResult{DigestEvery: time.Minute}}}
	if got := f.digestEvery(); got != time.Minute {
		t.Fatalf("the worker's interval: %s", got)
	}
	if got := (&fleet{}).digestEvery(); got != DefaultDigestEvery {
		t.Fatalf("the default: %s", got)
	}
}
