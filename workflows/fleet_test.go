package workflows

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"golang.org/x/crypto/ssh"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/notify"
	"github.com/dataretire/retire/proof"
)

// The fleet is tested in the Temporal test environment against fake children: a small
// workflow registered as RetireDatabase that walks through the phases on timers, tells the
// fleet each one, asks for a slot before its archive, honours cancellation until its drop,
// and fails or is objected to when its script says so. The fleet runs as the child of a
// harness workflow, because the test environment runs a child's continue-as-new as the next
// run under the same id, as the server does, but ends a top-level workflow at its first.
type fleetSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
	// scripts change what one fake child does, by connection/object; read-only once the
	// harness runs.
	scripts map[string]childScript
	plan    FleetPlanResult
	// mu guards what the fake children and the stub activities write.
	mu      sync.Mutex
	log     []childEvent
	seen    map[string]Request // the request each child was started with
	attrs   map[string]string  // the RetireFleet search attribute each child was started with
	records []FleetRecordInput
	planned []FleetPlanInput
	updates int
	// gos are the outcomes of proceedEach's goes: the run's result checks them.
	gos []*error
	// tellOwners has the fake children hand notices to their fleet as RetireDatabase does:
	// access cut on entering the observation, dropped before the last report.
	tellOwners bool
	// gone are the children that ended without a report, as Temporal would describe them;
	// looks are what the fleet asked about them; digests what it sent owners, and when.
	gone    map[string]activities.ClosedChild
	looks   []activities.FleetChildrenInput
	digests []notify.Digest
	noticed int
}

// childScript: FailAt fails the child on entering the phase, ObjectAt ends it as an owner's
// objection would; the durations override the fake's.
type childScript struct {
	FailAt, ObjectAt Phase
	Observe, Drop    time.Duration
	// VanishAt ends the child at the end of that phase without a report, as an operator's
	// terminate would.
	VanishAt Phase
}

// childEvent is one line of the fake children's own log, in the order it happened.
type childEvent struct {
	At         time.Time
	ID, Conn   string
	What       string // enter <phase>, hold (slot granted), leave (slot released), cancelled
	Phase      Phase
	SlotsAsked int
}

func TestFleet(t *testing.T) { suite.Run(t, new(fleetSuite)) }

const fleetName = "shop-decom"

var fleetID = FleetWorkflowID(fleetName)

// devFleetPins are a dev worker's: decisions are taken at their word, recorded unverified.
var devFleetPlan = FleetPlanResult{Pins: proof.Pins{AcceptUnproven: true}, DBAs: []string{"dana"}, Requester: "rita", Store: "default"}

func (s *fleetSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.SetTestTimeout(2 * time.Minute)
	s.scripts, s.log, s.records, s.planned, s.gos = map[string]childScript{}, nil, nil, nil, nil
	s.seen, s.attrs = map[string]Request{}, map[string]string{}
	s.tellOwners, s.gone, s.looks, s.digests, s.noticed = false, map[string]activities.ClosedChild{}, nil, nil, 0
	s.plan = devFleetPlan
	s.env.RegisterWorkflowWithOptions(RetireFleet, workflow.RegisterOptions{Name: FleetWorkflowName})
	s.env.RegisterWorkflowWithOptions(s.fakeChild, workflow.RegisterOptions{Name: WorkflowName})
	s.env.RegisterWorkflowWithOptions(s.harness, workflow.RegisterOptions{Name: "FleetHarness"})
	s.env.RegisterWorkflowWithOptions(blocker, workflow.RegisterOptions{Name: "Blocker"})
	s.env.RegisterActivityWithOptions(func(_ context.Context, in FleetPlanInput) (FleetPlanResult, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.planned = append(s.planned, in)
		return s.plan, nil
	}, activity.RegisterOptions{Name: ActivityFleetPlan})
	s.env.RegisterActivityWithOptions(func(_ context.Context, in FleetRecordInput) (activities.RecordLocation, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.records = append(s.records, in)
		return activities.RecordLocation{JSONKey: in.Path + "fleet.json", MarkdownKey: in.Path + "fleet.md"}, nil
	}, activity.RegisterOptions{Name: ActivityWriteFleetRecord})
	s.env.RegisterActivityWithOptions(func(_ context.Context, in activities.FleetChildrenInput) (activities.FleetChildrenResult, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.looks = append(s.looks, in)
		var res activities.FleetChildrenResult
		for _, c := range in.Children {
			if g, ok := s.gone[c.WorkflowID]; ok && g.RunID == c.RunID {
				res.Closed = append(res.Closed, g)
			}
		}
		return res, nil
	}, activity.RegisterOptions{Name: ActivityCheckFleetChildren})
	s.env.RegisterActivityWithOptions(func(_ context.Context, d notify.Digest) (notify.DigestResult, error) {
		dm, err := notify.RenderDigest(d, "")
		if err != nil {
			return notify.DigestResult{}, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.digests = append(s.digests, d)
		return notify.DigestResult{Key: d.Key, Sent: true, People: dm.For, Told: dm.Told}, nil
	}, activity.RegisterOptions{Name: "NotifyDigest"})
	// A cancellation can cross a child's end (it finished while the fleet decided); the test
	// environment then asks its mock instead of the child.
	s.env.OnRequestCancelExternalWorkflow(mock.Anything, mock.Anything, mock.Anything).Return(nil).Maybe()
}

// fakeChild is RetireDatabase as the fleet sees it.
func (s *fleetSuite) fakeChild(ctx workflow.Context, req Request) (Record, error) {
	info := workflow.GetInfo(ctx)
	id, run, key := info.WorkflowExecution.ID, info.WorkflowExecution.RunID, req.Connection+"/"+req.Object
	sc := s.scripts[key]
	fleetAttr, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(AttrFleet)
	s.mu.Lock()
	s.seen[key], s.attrs[key] = req, fleetAttr
	s.mu.Unlock()
	// What a child tells its fleet goes out whether or not it is being cancelled.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	var archive string
	tell := func(p Phase, outcome, errText string) {
		s.note(ctx, id, req.Connection, "enter "+string(p), p)
		_ = workflow.SignalExternalWorkflow(dctx, req.Fleet, "", SignalFleetReport, FleetReport{
			WorkflowID: id, RunID: run, Phase: p, Outcome: outcome, Error: errText, At: workflow.Now(ctx), Archive: archive,
		}).Get(dctx, nil)
	}
	slot := func(release bool) {
		_ = workflow.SignalExternalWorkflow(dctx, req.Fleet, "", SignalFleetSlot, FleetSlotRequest{WorkflowID: id, Connection: req.Connection, Release: release}).Get(dctx, nil)
	}
	held := false
	end := func(p Phase, outcome string, err error) (Record, error) {
		if held {
			s.note(ctx, id, req.Connection, "leave", p)
			slot(true)
		}
		tell(p, outcome, errorOf(err))
		return Record{Phase: p, Outcome: outcome}, err
	}
	notice := func(kind notify.Kind, phase Phase, until time.Time) {
		if !s.tellOwners {
			return
		}
		ev := notify.Event{Kind: kind, WorkflowID: id, RunID: run, Connection: req.Connection, Object: req.Object, Reason: string(req.Reason),
			Requester: req.Requester, Owners: req.Owners, At: workflow.Now(ctx), Until: until, Phase: string(phase)}
		if err := workflow.SignalExternalWorkflow(dctx, req.Fleet, "", SignalFleetNotice, FleetNotice{WorkflowID: id, RunID: run, Event: ev}).Get(dctx, nil); err == nil {
			s.mu.Lock()
			s.noticed++
			s.mu.Unlock()
		}
	}
	cancelled := func(at Phase) (Record, error) {
		s.note(ctx, id, req.Connection, "cancelled", at)
		return end(PhaseCancelled, "cancelled in "+string(at)+"; access restored", temporal.NewCanceledError("cancelled"))
	}
	observe := cmp.Or(sc.Observe, req.ObserveWindow)
	steps := []struct {
		p Phase
		d time.Duration
	}{{PhasePlan, time.Minute}, {PhaseSample, req.SampleWindow}, {PhaseQuiesce, time.Minute}, {PhaseObserve, observe}, {PhaseArchive, 30 * time.Minute}}
	for _, st := range steps {
		if st.p == PhaseArchive {
			slot(false)
			granted := workflow.GetSignalChannel(ctx, SignalFleetSlotGranted)
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(granted, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
			sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
			sel.Select(ctx)
			if ctx.Err() != nil {
				return cancelled("waiting for a slot")
			}
			held = true
			s.note(ctx, id, req.Connection, "hold", st.p)
		}
		tell(st.p, "", "")
		if st.p == PhaseObserve {
			notice(notify.AccessCut, PhaseObserve, workflow.Now(ctx).Add(st.d))
		}
		switch st.p {
		case sc.FailAt:
			return end(PhaseFailed, "failed", temporal.NewNonRetryableApplicationError("scripted failure in "+string(st.p), "Test", nil))
		case sc.ObjectAt:
			return end(PhaseAborted, "aborted: the owner objected; access restored", nil)
		}
		if err := workflow.Sleep(ctx, st.d); err != nil {
			return cancelled(st.p)
		}
		if st.p == sc.VanishAt {
			s.mu.Lock()
			s.gone[id] = activities.ClosedChild{WorkflowID: id, RunID: run, Status: activities.ChildTerminated, Reason: "terminated by an operator; no final report"}
			s.mu.Unlock()
			s.note(ctx, id, req.Connection, "vanished", st.p)
			return Record{}, errors.New("the fleet must learn of this end from Temporal, not from this run")
		}
	}
	// From the drop on there is no way back: cancellation no longer interrupts.
	archive = "s3://archive/" + key + "/"
	tell(PhaseDrop, "", "")
	_ = workflow.Sleep(dctx, cmp.Or(sc.Drop, 5*time.Minute))
	tell(PhaseVerify, "", "")
	_ = workflow.Sleep(dctx, time.Minute)
	s.note(ctx, id, req.Connection, "leave", PhaseVerify)
	held = false
	slot(true)
	tell(PhaseRecord, "", "")
	_ = workflow.Sleep(dctx, time.Minute)
	notice(notify.Dropped, PhaseRecord, time.Time{})
	tell(PhaseDone, "retired", "")
	return Record{Phase: PhaseDone, Outcome: "retired"}, nil
}

func (s *fleetSuite) note(ctx workflow.Context, id, conn, what string, p Phase) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, childEvent{At: workflow.Now(ctx), ID: id, Conn: conn, What: what, Phase: p})
}

func errorOf(err error) string {
	if err == nil {
		return ""
	}
	return errorText(err)
}

type harnessInput struct {
	Fleet FleetState
	// Blockers are workflow ids held by another run before the fleet starts.
	Blockers []string
}

// harness runs the fleet as its child, as a worker would run it at the top: its
// continue-as-new becomes the next run of the same id.
func (s *fleetSuite) harness(ctx workflow.Context, in harnessInput) (FleetStatus, error) {
	for _, id := range in.Blockers {
		bctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: id})
		if err := workflow.ExecuteChildWorkflow(bctx, "Blocker").GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			return FleetStatus{}, err
		}
	}
	fctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: FleetWorkflowID(in.Fleet.Request.Name)})
	var st FleetStatus
	err := workflow.ExecuteChildWorkflow(fctx, FleetWorkflowName, in.Fleet).Get(ctx, &st)
	return st, err
}

// blocker holds an object's workflow id, as a retirement started alone would.
func blocker(ctx workflow.Context) error { return workflow.Await(ctx, func() bool { return false }) }

// fleetReq is a fleet of the given connection/object keys, with short windows.
func fleetReq(keys ...string) FleetRequest {
	r := FleetRequest{Name: fleetName, Reason: ReasonMigration, Requester: "rita", Ticket: "CHG-1",
		SampleWindow: time.Hour, ObserveWindow: 2 * time.Hour}
	for _, k := range keys {
		c, o, _ := strings.Cut(k, "/")
		r.Objects = append(r.Objects, FleetObject{Connection: c, Object: o, Owners: []string{"olga"}})
	}
	return r
}

// manyKeys is conns connections with per objects each: c1/o1 … cN/oM, in file order by
// connection.
func manyKeys(conns, per int) []string {
	var keys []string
	for c := 1; c <= conns; c++ {
		for o := 1; o <= per; o++ {
			keys = append(keys, fmt.Sprintf("c%d/o%d", c, o))
		}
	}
	return keys
}

func (s *fleetSuite) run(in harnessInput) {
	s.env.ExecuteWorkflow("FleetHarness", in)
	s.Require().True(s.env.IsWorkflowCompleted())
}

func (s *fleetSuite) result() FleetStatus {
	var st FleetStatus
	s.Require().NoError(s.env.GetWorkflowError())
	s.Require().NoError(s.env.GetWorkflowResult(&st))
	for _, err := range s.gos {
		s.NoError(*err, "a go the test gave")
	}
	return st
}

// status queries the running fleet; ok is false before it runs.
func (s *fleetSuite) status() (FleetStatus, bool) {
	v, err := s.env.QueryWorkflowByID(fleetID, QueryFleetStatus)
	if err != nil {
		return FleetStatus{}, false
	}
	var st FleetStatus
	s.Require().NoError(v.Get(&st))
	return st, st.WorkflowID != ""
}

// whenever runs act once, at the first poll (every `every` of the workflow clock) at which
// the fleet's status meets cond.
func (s *fleetSuite) whenever(every time.Duration, cond func(FleetStatus) bool, act func(FleetStatus)) {
	var poll func()
	poll = func() {
		if st, ok := s.status(); ok && cond(st) {
			act(st)
			return
		}
		s.env.RegisterDelayedCallback(poll, every)
	}
	s.env.RegisterDelayedCallback(poll, every)
}

// send sends an update to the fleet now and returns its outcome through *err.
func (s *fleetSuite) send(name string, arg any, err *error) {
	*err = errors.New("update never ran")
	s.updates++ // the test environment takes a repeated update id for a retry of the first
	s.Require().NoError(s.env.UpdateWorkflowByID(fleetID, name, fmt.Sprintf("update-%d", s.updates), &testsuite.TestUpdateCallback{
		OnReject: func(e error) { *err = e }, OnAccept: func() {}, OnComplete: func(_ any, e error) { *err = e },
	}, arg))
}

// proceedEach gives every wave from the second its go as soon as the fleet waits for it, as
// dana.
func (s *fleetSuite) proceedEach(every time.Duration, sign func(st FleetStatus, d FleetDecision) FleetDecision) {
	s.proceedFrom(2, every, sign)
}

func (s *fleetSuite) proceedFrom(from int, every time.Duration, sign func(st FleetStatus, d FleetDecision) FleetDecision) {
	var poll func()
	poll = func() {
		if st, ok := s.status(); ok && st.Phase == FleetWaiting && st.Wave >= from {
			d := FleetDecision{By: "dana", Note: "beta looks fine", Wave: st.Wave}
			if sign != nil {
				d = sign(st, d)
			}
			err := new(error)
			s.gos = append(s.gos, err)
			s.send(UpdateFleetProceed, d, err)
		}
		s.env.RegisterDelayedCallback(poll, every)
	}
	s.env.RegisterDelayedCallback(poll, every)
}

func isWaitingFor(wave int) func(FleetStatus) bool {
	return func(st FleetStatus) bool { return st.Phase == FleetWaiting && st.Wave == wave }
}

func phaseOf(key string, p ...Phase) func(FleetStatus) bool {
	return func(st FleetStatus) bool {
		c, _ := st.Child(key)
		return slices.Contains(p, c.Phase)
	}
}

// firstSeen is when the fake child of id first logged what.
func (s *fleetSuite) firstSeen(key, what string) (time.Time, bool) {
	id := keyID(key)
	for _, e := range s.log {
		if e.ID == id && e.What == what {
			return e.At, true
		}
	}
	return time.Time{}, false
}

func (s *fleetSuite) count(key, what string) int {
	id := keyID(key)
	n := 0
	for _, e := range s.log {
		if e.ID == id && e.What == what {
			n++
		}
	}
	return n
}

func keyID(key string) string {
	c, o, _ := strings.Cut(key, "/")
	return WorkflowID(c, o)
}

func (s *fleetSuite) child(st FleetStatus, key string) FleetChild {
	c, ok := st.Child(key)
	s.Require().True(ok, key)
	return c
}

// The beta wave (one object per connection) runs first; nothing of the next wave starts
// until a DBA gives the go, and each wave after it waits for its own.
func (s *fleetSuite) TestBetaWaveThenWaitsForProceed() {
	req := fleetReq("c1/a1", "c1/a2", "c1/a3", "c2/b1", "c2/b2")
	var early, wrongWave, proceed2 error
	var waiting FleetStatus
	var proceededAt time.Time
	s.whenever(10*time.Minute, isWaitingFor(2), func(st FleetStatus) {
		waiting = st
		// A go for a later wave than the one waiting is refused.
		s.send(UpdateFleetProceed, FleetDecision{By: "dana", Wave: 3}, &wrongWave)
		// The go comes late: the fleet waits, and starts nothing meanwhile.
		s.env.RegisterDelayedCallback(func() {
			proceededAt = s.env.Now()
			s.send(UpdateFleetProceed, FleetDecision{By: "dana", Note: "beta is fine", Wave: 2}, &proceed2)
		}, 6*time.Hour)
	})
	s.env.RegisterDelayedCallback(func() {
		s.send(UpdateFleetProceed, FleetDecision{By: "dana", Wave: 2}, &early)
	}, time.Hour)
	s.proceedFrom(3, 10*time.Minute, nil) // the test gives wave 2's go itself, above
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	st := s.result()

	s.ErrorContains(early, "is not waiting for a go: wave 1 (beta) is running")
	s.ErrorContains(wrongWave, "the go is for wave 3, but fleet shop-decom waits for the go of wave 2")
	s.NoError(proceed2)
	s.Equal(FleetWaiting, waiting.Phase)
	s.Contains(waiting.Waiting, "a proven go for wave 2 of 3")
	s.Equal([]string{"c1/a1", "c2/b1"}, waiting.Waves[0].Objects, "beta: the first object of each connection")
	s.Equal([]string{"c1/a2", "c1/a3"}, waiting.Waves[1].Objects)
	s.Equal([]string{"c2/b2"}, waiting.Waves[2].Objects)
	for _, k := range []string{"c1/a2", "c1/a3", "c2/b2"} {
		c := s.child(waiting, k)
		s.False(c.Started, "%s started before the go", k)
		at, ok := s.firstSeen(k, "enter plan")
		s.Require().True(ok)
		s.False(at.Before(proceededAt), "%s started at %s, before the go at %s", k, at, proceededAt)
	}
	b2, _ := s.firstSeen("c2/b2", "enter plan")
	a3done, _ := s.firstSeen("c1/a3", "enter verify")
	s.False(b2.Before(a3done), "wave 3 started before wave 2 was dropped")

	s.Equal(FleetDone, st.Phase)
	s.Equal("done: 5 retired, 0 failed, 0 excluded", st.Outcome)
	for _, w := range st.Waves {
		s.Equal(WaveDone, w.State, w.Name)
	}
	s.Equal("dana", st.Waves[1].Proceed.By)
	s.Equal(proof.MethodUnverified, st.Waves[1].Proceed.Verified.Method)
	s.GreaterOrEqual(st.RunCount, 3, "a new run at every wave boundary")
	for _, c := range st.Objects {
		s.Equal(PhaseDone, c.Phase, c.Key())
		s.Equal("s3://archive/"+c.Key()+"/", c.Archive)
		req := s.seen[c.Key()]
		s.Equal(fleetID, req.Fleet, "the child knows its fleet")
		s.Equal([]string{"olga"}, req.Owners)
		s.Equal("rita", req.Requester)
		s.Equal(fleetName, s.attrs[c.Key()], "RetireFleet = %q lists the child", fleetName)
	}
	s.Require().Len(s.records, 1, "one fleet record")
	s.Equal("fleets/"+fleetName+"/", s.records[0].Path[:len("fleets/"+fleetName+"/")])
	var doc FleetStatus
	s.Require().NoError(json.Unmarshal(s.records[0].JSON, &doc))
	s.Len(doc.Objects, 5)
	s.Contains(s.records[0].Markdown, "](/namespaces/default-test-namespace/workflows/retire:c1:a1)")
	s.Equal([]FleetPlanInput{{Requester: "rita", Objects: req.WithDefaults().Objects}}, s.planned)
}

// people of the fleet's proof tests: rita asks, dana is a DBA, sam is in the directory but
// neither.
type fleetPeople struct{ rita, dana, sam ssh.Signer }

func (s *fleetSuite) pinPeople() fleetPeople {
	signer := func() ssh.Signer {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		s.Require().NoError(err)
		sg, err := ssh.NewSignerFromKey(k)
		s.Require().NoError(err)
		return sg
	}
	p := fleetPeople{rita: signer(), dana: signer(), sam: signer()}
	line := func(sg ssh.Signer) []string {
		return []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sg.PublicKey())))}
	}
	s.plan = FleetPlanResult{DBAs: []string{"dana"}, Requester: "rita", Store: "default", Pins: proof.Pins{People: []proof.Person{
		{ID: "rita", SSHKeys: line(p.rita)}, {ID: "dana", Email: "dana@example.com", SSHKeys: line(p.dana)}, {ID: "sam", SSHKeys: line(p.sam)},
	}}}
	return p
}

func (s *fleetSuite) signed(sg ssh.Signer, decision, run, person, says string) *proof.Proof {
	now := s.env.Now()
	pr, err := proof.SignSSH(sg, proof.Statement{Decision: decision, Workflow: fleetID, Run: run, Person: person, Says: says,
		Nonce: proof.NewNonce(), IssuedAt: now.Unix(), Expires: now.Add(10 * time.Minute).Unix()})
	s.Require().NoError(err)
	return pr
}

func (s *fleetSuite) provenFleet(p fleetPeople, req FleetRequest) FleetRequest {
	req.Proof = s.signed(p.rita, DecisionFleetStart, "", "rita", req.Says())
	return req
}

// dana's go for the wave the fleet waits for, signed for its current run.
func (s *fleetSuite) danaProceeds(p fleetPeople) func(FleetStatus, FleetDecision) FleetDecision {
	return func(st FleetStatus, d FleetDecision) FleetDecision {
		d.Proof = s.signed(p.dana, UpdateFleetProceed, st.RunID, "dana", d.Says())
		return d
	}
}

// On a production worker the go for a wave must be proven, by a DBA or the requester; a
// stranger's, an unproven one, or one made for another run or wave is refused.
func (s *fleetSuite) TestProceedMustBeProven() {
	p := s.pinPeople()
	req := s.provenFleet(p, fleetReq("c1/a1", "c1/a2", "c2/b1"))
	var unproven, stranger, otherRun, otherWave, forged, ok, twice, pause, resume, again error
	var firstRun string
	s.whenever(10*time.Minute, func(st FleetStatus) bool { firstRun = cmp.Or(firstRun, st.RunID); return st.Phase == FleetWaiting }, func(st FleetStatus) {
		s.send(UpdateFleetProceed, FleetDecision{By: "rita", Wave: 2}, &unproven)
		d := FleetDecision{By: "sam", Wave: 2}
		d.Proof = s.signed(p.sam, UpdateFleetProceed, st.RunID, "sam", d.Says())
		s.send(UpdateFleetProceed, d, &stranger)
		d = FleetDecision{By: "dana", Wave: 2}
		d.Proof = s.signed(p.dana, UpdateFleetProceed, firstRun, "dana", d.Says())
		s.send(UpdateFleetProceed, d, &otherRun)
		d.Proof = s.signed(p.dana, UpdateFleetProceed, st.RunID, "dana", FleetDecision{Wave: 3}.Says())
		s.send(UpdateFleetProceed, d, &otherWave)
		d.Proof = s.signed(p.sam, UpdateFleetProceed, st.RunID, "dana", d.Says())
		s.send(UpdateFleetProceed, d, &forged)
		d = FleetDecision{By: "DANA@example.com", Note: "go", Wave: 2}
		d.Proof = s.signed(p.dana, UpdateFleetProceed, st.RunID, "dana", d.Says())
		s.send(UpdateFleetProceed, d, &ok)
		s.send(UpdateFleetProceed, d, &twice)
		// One proof decides once: a pause, a resume, and the same pause again.
		pd := FleetDecision{By: "dana", Note: "hold on"}
		pd.Proof = s.signed(p.dana, UpdateFleetPause, st.RunID, "dana", pd.Says())
		s.send(UpdateFleetPause, pd, &pause)
		rd := FleetDecision{By: "rita", Note: "fine"}
		rd.Proof = s.signed(p.rita, UpdateFleetResume, st.RunID, "rita", rd.Says())
		s.send(UpdateFleetResume, rd, &resume)
		s.send(UpdateFleetPause, pd, &again)
	})
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	st := s.result()

	s.ErrorContains(unproven, "carries no proof")
	s.ErrorContains(stranger, "sam may not proceed in fleet shop-decom: its requester (rita) or a DBA of the owners directory (dana) may")
	s.ErrorContains(otherRun, "decide again on the current run")
	s.ErrorContains(otherWave, "but the decision says")
	s.ErrorContains(forged, "is not one of dana's keys")
	s.NoError(ok)
	s.ErrorContains(twice, "is not waiting for a go: wave 2 (connection c1) is running")
	s.NoError(pause)
	s.NoError(resume)
	s.ErrorContains(again, "already used")
	s.Equal(FleetDone, st.Phase)
	s.Require().NotNil(st.RequesterVerified)
	s.Equal(proof.MethodSSH, st.RequesterVerified.Method)
	s.Require().Len(st.Decisions, 3, "only the proven go, pause and resume are recorded")
	d := st.Decisions[0]
	s.Equal("dana", d.By, "recorded under the directory's id, however it was typed")
	s.Equal(ssh.FingerprintSHA256(p.dana.PublicKey()), d.Verified.Key)
	s.Contains(FleetMarkdown(st, true), "dana **proceed wave 2**")
}

// Without the requester's proof a production fleet starts nothing.
func (s *fleetSuite) TestStartRefusedWithoutRequesterProof() {
	p := s.pinPeople()
	req := fleetReq("c1/a1", "c2/b1")
	req.Proof = s.signed(p.sam, DecisionFleetStart, "", "rita", req.Says())
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.ErrorContains(err, "the requester's proof of identity is refused")
	var app *temporal.ApplicationError
	s.Require().ErrorAs(err, &app)
	s.Equal("Refused", app.Type())
	s.Empty(s.log, "no child started")
	s.Empty(s.records)
}

// Failures up to the budget pause the fleet: no slot is granted, no wave starts; resume
// gives the budget again and the fleet goes on.
func (s *fleetSuite) TestFailurePausesAtBudgetThenResume() {
	req := fleetReq("c1/a1", "c1/a2", "c2/b1", "c2/b2")
	req.Waves.Group = GroupAll
	s.scripts["c2/b1"] = childScript{FailAt: PhaseSample}
	var paused FleetStatus
	var proceedPaused, resume error
	var resumedAt time.Time
	s.whenever(5*time.Minute, func(st FleetStatus) bool { return st.Phase == FleetPaused }, func(st FleetStatus) {
		paused = st
		s.env.RegisterDelayedCallback(func() {
			st, _ := s.status()
			s.Equal(FleetPaused, st.Phase, "still paused")
			s.Equal(SlotWaiting, s.child(st, "c1/a1").Slot, "a1 waits before its archive")
			s.send(UpdateFleetProceed, FleetDecision{By: "dana", Wave: 2}, &proceedPaused)
			resumedAt = s.env.Now()
			s.send(UpdateFleetResume, FleetDecision{By: "dana", Note: "b1 was a test box"}, &resume)
		}, 10*time.Hour)
	})
	s.proceedEach(10*time.Minute, nil)
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	st := s.result()

	s.Equal("the failure budget", paused.Paused.By)
	s.Contains(paused.Waiting, "resume")
	s.Contains(paused.Paused.Note, "c2/b1 ended failed: scripted failure in sample")
	s.ErrorContains(proceedPaused, "is paused")
	s.NoError(resume)
	held, _ := s.firstSeen("c1/a1", "hold")
	s.False(held.Before(resumedAt), "a slot was granted while paused")
	s.Equal(FleetDone, st.Phase)
	s.Equal("done: 3 retired, 1 failed, 0 excluded", st.Outcome)
	s.Require().Len(st.Failures, 1)
	s.Equal("c2/b1", st.Failures[0].Object)
	s.True(s.child(st, "c2/b1").Failed)
	s.Equal(PhaseFailed, s.child(st, "c2/b1").Phase)
}

// Abort before any drop: every child is cancelled and gives access back; nothing more
// starts.
func (s *fleetSuite) TestAbortBeforeAnyDrop() {
	req := fleetReq("c1/a1", "c1/a2", "c2/b1", "c2/b2")
	var abort, after error
	s.whenever(10*time.Minute, phaseOf("c1/a1", PhaseObserve), func(FleetStatus) {
		s.send(UpdateFleetAbort, FleetDecision{By: "rita", Note: "the system stays a quarter longer"}, &abort)
		s.send(UpdateFleetProceed, FleetDecision{By: "dana", Wave: 2}, &after)
	})
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	st := s.result()

	s.NoError(abort)
	s.ErrorContains(after, "was aborted by rita")
	s.Equal(FleetAborted, st.Phase)
	s.Equal("aborted by rita — the system stays a quarter longer: 0 retired, 0 failed, 0 excluded, 2 cancelled before their drop (access given back), 2 never started", st.Outcome)
	for _, k := range []string{"c1/a1", "c2/b1"} {
		c := s.child(st, k)
		s.Equal(PhaseCancelled, c.Phase, k)
		s.Contains(c.Outcome, "access restored")
		s.False(c.Failed)
		s.Zero(s.count(k, "enter drop"))
	}
	for _, k := range []string{"c1/a2", "c2/b2"} {
		s.False(s.child(st, k).Started)
		s.Zero(s.count(k, "enter plan"))
	}
	s.Equal(WaveStopped, st.Waves[0].State)
	s.Equal(WaveSkipped, st.Waves[1].State)
	s.Empty(st.Failures)
}

// Abort after some drops: the dropped are listed with their archives, one in its drop
// finishes it, the ones before their drop are cancelled.
func (s *fleetSuite) TestAbortAfterSomeDrops() {
	req := fleetReq("c1/a1", "c1/a2", "c1/a3", "c1/a4", "c2/b1", "c2/b2")
	req.Waves.Group = GroupAll
	// Wave 2's three objects on c1 take c1's one slot in turn, in whichever order they ask
	// (siblings started together have no fixed order); each drop takes long.
	wave2 := []string{"c1/a2", "c1/a3", "c1/a4"}
	for _, k := range wave2 {
		s.scripts[k] = childScript{Drop: 3 * time.Hour}
	}
	s.scripts["c2/b2"] = childScript{Observe: 10 * time.Hour}
	var abort error
	s.proceedEach(10*time.Minute, nil)
	s.whenever(5*time.Minute, func(st FleetStatus) bool {
		return slices.ContainsFunc(wave2, func(k string) bool { return phaseOf(k, PhaseDone)(st) }) &&
			slices.ContainsFunc(wave2, func(k string) bool { return phaseOf(k, PhaseDrop)(st) })
	}, func(FleetStatus) {
		s.send(UpdateFleetAbort, FleetDecision{By: "dana", Note: "stop here"}, &abort)
	})
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	st := s.result()

	s.NoError(abort)
	s.Equal(FleetAborted, st.Phase)
	var done, cancelled []string
	for _, c := range st.Objects {
		switch c.Phase {
		case PhaseDone:
			done = append(done, c.Key())
			s.Equal("s3://archive/"+c.Key()+"/", c.Archive, "%s is listed with its archive", c.Key())
		case PhaseCancelled:
			cancelled = append(cancelled, c.Key())
			s.True(c.Cancelled)
			s.Zero(s.count(c.Key(), "enter archive"), "%s was cancelled before its archive", c.Key())
			s.Equal(1, s.count(c.Key(), "cancelled"))
		default:
			s.Failf("unexpected phase", "%s ended %s", c.Key(), c.Phase)
		}
	}
	// The beta, the one dropped before the abort, and the one in its drop at the abort
	// finish; the last of c1 and b2, still before their drops, are cancelled.
	s.Len(done, 4, "done: %v", done)
	s.Subset(done, []string{"c1/a1", "c2/b1"})
	s.Len(cancelled, 2, "cancelled: %v", cancelled)
	s.Contains(cancelled, "c2/b2")
	s.Contains(st.Outcome, "4 retired, 0 failed, 0 excluded, 2 cancelled before their drop")
	s.Contains(FleetMarkdown(st, true), "| c1/a1 | 1 | done | retired | s3://archive/c1/a1/ |")
}

// An excluded object not yet started never starts; one running is cancelled before its
// drop; one past its drop cannot be excluded. Excluded objects are no failures.
func (s *fleetSuite) TestExclude() {
	req := fleetReq("c1/a1", "c1/a2", "c1/a3", "c2/b1", "c2/b2")
	s.scripts["c1/a1"] = childScript{Drop: time.Hour}
	var notStarted, running, unknown, twice, pastDrop, noReason error
	s.env.RegisterDelayedCallback(func() {
		s.send(UpdateFleetExclude, FleetExclude{By: "dana", Object: "c2/b2", Reason: "kept for audit"}, &notStarted)
		s.send(UpdateFleetExclude, FleetExclude{By: "dana", Object: "c2/b1", Reason: "billing still reads it"}, &running)
		s.send(UpdateFleetExclude, FleetExclude{By: "dana", Object: "c9/zz", Reason: "x"}, &unknown)
		s.send(UpdateFleetExclude, FleetExclude{By: "dana", Object: "c2/b2", Reason: "again"}, &twice)
		s.send(UpdateFleetExclude, FleetExclude{By: "dana", Object: "c1/a2"}, &noReason)
	}, 30*time.Minute)
	s.whenever(5*time.Minute, phaseOf("c1/a1", PhaseDrop), func(FleetStatus) {
		s.send(UpdateFleetExclude, FleetExclude{By: "dana", Object: "c1/a1", Reason: "too late"}, &pastDrop)
	})
	s.proceedEach(10*time.Minute, nil)
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	st := s.result()

	s.NoError(notStarted)
	s.NoError(running)
	s.ErrorContains(unknown, `"c9/zz" is not an object of fleet shop-decom`)
	s.ErrorContains(twice, "already excluded by dana")
	s.ErrorContains(noReason, "say why")
	s.ErrorContains(pastDrop, "already past its drop")
	s.Equal(FleetDone, st.Phase)
	b1, b2 := s.child(st, "c2/b1"), s.child(st, "c2/b2")
	s.True(b1.Excluded)
	s.Equal(PhaseCancelled, b1.Phase)
	s.Equal(1, s.count("c2/b1", "cancelled"))
	s.Zero(s.count("c2/b1", "enter quiesce"), "cancelled in its sampling")
	s.True(b2.Excluded)
	s.False(b2.Started)
	s.Zero(s.count("c2/b2", "enter plan"))
	s.Equal(WaveSkipped, st.Waves[2].State, "a wave whose objects are all excluded is skipped")
	s.Empty(st.Failures)
	s.Nil(st.Paused)
	s.Equal("done: 3 retired, 0 failed, 2 excluded", st.Outcome)
	s.Equal("kept for audit", b2.ExcludeReason)
}

// At most PerConnection children of one connection are between their archive and their
// verified drop at any moment, as the children themselves logged it.
func (s *fleetSuite) TestAtMostKPerConnection() {
	req := fleetReq(manyKeys(2, 6)...)
	req.Waves.Group, req.Waves.PerConnection = GroupAll, 2
	s.proceedEach(10*time.Minute, nil)
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	st := s.result()
	s.Equal("done: 12 retired, 0 failed, 0 excluded", st.Outcome)
	s.Equal(map[string]int{"c1": 2, "c2": 2}, s.maxHeld(), "two at a time, never three")
}

// maxHeld is, per connection, the most children the fake children's own log shows between
// their slot and its release at once; it fails the test if any entered archive or drop
// without holding a slot.
func (s *fleetSuite) maxHeld() map[string]int {
	holding, most := map[string]map[string]bool{}, map[string]int{}
	for _, e := range s.log {
		if holding[e.Conn] == nil {
			holding[e.Conn] = map[string]bool{}
		}
		switch e.What {
		case "hold":
			holding[e.Conn][e.ID] = true
		case "leave":
			delete(holding[e.Conn], e.ID)
		case "enter archive", "enter drop":
			s.True(holding[e.Conn][e.ID], "%s %s without a slot", e.ID, e.What)
		}
		most[e.Conn] = max(most[e.Conn], len(holding[e.Conn]))
	}
	return most
}

// A fleet that continues as new in the middle of a wave, several times, keeps every child,
// every decision, every failure and its pause; no child starts twice.
func (s *fleetSuite) TestContinueAsNewMidWaveKeepsEverything() {
	p := s.pinPeople()
	req := fleetReq(manyKeys(3, 8)...)
	req.Waves.Group, req.Waves.PerConnection, req.Waves.FailureBudget = GroupAll, 2, 2
	req = s.provenFleet(p, req)
	s.scripts["c2/o5"] = childScript{FailAt: PhaseObserve}
	var pause, resume error
	s.proceedEach(10*time.Minute, s.danaProceeds(p))
	// A pause and a resume in different runs, each proven for its own run.
	s.whenever(5*time.Minute, phaseOf("c1/o4", PhaseObserve), func(st FleetStatus) {
		d := FleetDecision{By: "dana", Note: "look at the graphs"}
		d.Proof = s.signed(p.dana, UpdateFleetPause, st.RunID, "dana", d.Says())
		s.send(UpdateFleetPause, d, &pause)
		pausedRun, pausedAt := st.RunID, s.env.Now()
		s.whenever(30*time.Minute, func(st FleetStatus) bool { return st.RunID != pausedRun || s.env.Now().Sub(pausedAt) > 6*time.Hour }, func(st FleetStatus) {
			d := FleetDecision{By: "rita", Note: "graphs fine"}
			d.Proof = s.signed(p.rita, UpdateFleetResume, st.RunID, "rita", d.Says())
			s.send(UpdateFleetResume, d, &resume)
		})
	})
	s.run(harnessInput{Fleet: FleetState{Request: req, ContinueAfterEvents: 80}})
	st := s.result()

	s.NoError(pause)
	s.NoError(resume)
	s.Equal(FleetDone, st.Phase)
	s.Equal("done: 23 retired, 1 failed, 0 excluded", st.Outcome)
	midWave := 0
	for _, r := range st.Runs {
		if strings.Contains(r.Reason, "events (limit 80)") && r.Wave == 2 {
			midWave++
		}
	}
	s.GreaterOrEqual(midWave, 3, "continued as new in the middle of wave 2: %+v", st.Runs)
	for _, c := range st.Objects {
		s.Equal(1, s.count(c.Key(), "enter plan"), "%s started once", c.Key())
	}
	s.Require().Len(st.Decisions, 3, "the go, the pause and the resume, across runs")
	for _, d := range st.Decisions {
		s.Require().NotNil(d.Verified, d.Decision)
		s.Equal(proof.MethodSSH, d.Verified.Method)
		s.NotEmpty(d.Verified.Nonce)
	}
	s.Equal([]string{UpdateFleetProceed, UpdateFleetPause, UpdateFleetResume}, []string{st.Decisions[0].Decision, st.Decisions[1].Decision, st.Decisions[2].Decision})
	s.Require().Len(st.Failures, 1)
	s.Equal("c2/o5", st.Failures[0].Object)
	s.Equal(map[string]int{"c1": 2, "c2": 2, "c3": 2}, s.maxHeld())
	s.T().Logf("24 children, limit 80: %d runs, %d of them in the middle of wave 2, longest %d events", st.RunCount, midWave, st.MaxEvents)
	s.Less(st.MaxEvents, 200, "runs hand over near their limit")
}

// A thousand children: every one retired, and no run of the fleet near the server's limits.
func (s *fleetSuite) TestThousandChildren() {
	req := fleetReq(manyKeys(10, 100)...)
	req.Waves.Group, req.Waves.N, req.Waves.PerConnection = GroupN, 500, 2
	s.proceedEach(30*time.Minute, nil)
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	st := s.result()
	s.Equal("done: 1000 retired, 0 failed, 0 excluded", st.Outcome)
	s.Len(st.Waves, 3)
	s.Len(st.Waves[0].Objects, 10)
	doc, err := json.Marshal(FleetState{Request: req, Objects: st.Objects, Waves: st.Waves, Decisions: st.Decisions, Runs: st.Runs})
	s.Require().NoError(err)
	s.T().Logf("1000 children: %d runs, longest %d events, state %d KiB; runs: %+v", st.RunCount, st.MaxEvents, len(doc)/1024, st.Runs)
	s.Less(st.MaxEvents, 3000, "no run near the server's limits")
	s.Less(len(doc), 1<<20, "each run's input stays far under the 2 MB payload limit")
	s.Equal(map[string]int{"c1": 2, "c10": 2, "c2": 2, "c3": 2, "c4": 2, "c5": 2, "c6": 2, "c7": 2, "c8": 2, "c9": 2}, s.maxHeld())
}

// A child whose id is already running (a retirement of the object started alone, or by
// another fleet) counts as failed, with that said.
func (s *fleetSuite) TestObjectAlreadyBeingRetiredCountsAsFailed() {
	req := fleetReq("c1/a1", "c1/a2", "c2/b1")
	req.Waves.FailureBudget = 2
	s.proceedEach(10*time.Minute, nil)
	s.run(harnessInput{Fleet: FleetState{Request: req}, Blockers: []string{WorkflowID("c2", "b1")}})
	st := s.result()
	b1 := s.child(st, "c2/b1")
	s.Equal(PhaseFailed, b1.Phase)
	s.Equal("not started: retire:c2:b1 is already running: another retirement or fleet holds c2/b1", b1.Error)
	s.Zero(s.count("c2/b1", "enter plan"))
	s.Equal("done: 2 retired, 1 failed, 0 excluded", st.Outcome)
	s.Nil(st.Paused, "one failure of a budget of two")
}

// An owner's objection ends a child as aborted: it counts against the budget like any
// child that ended without being retired.
func (s *fleetSuite) TestObjectionCountsAgainstTheBudget() {
	req := fleetReq("c1/a1", "c2/b1", "c2/b2")
	s.scripts["c1/a1"] = childScript{ObjectAt: PhaseObserve}
	var resume error
	s.whenever(10*time.Minute, func(st FleetStatus) bool { return st.Phase == FleetPaused }, func(FleetStatus) {
		s.send(UpdateFleetResume, FleetDecision{By: "rita", Note: "a1 stays, go on"}, &resume)
	})
	s.proceedEach(10*time.Minute, nil)
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	st := s.result()
	s.NoError(resume)
	s.Equal(PhaseAborted, s.child(st, "c1/a1").Phase)
	s.Equal("done: 2 retired, 1 failed, 0 excluded", st.Outcome)
}

// With done_when observed, a wave counts done once each child has been observed for
// observed_for: the next wave may start while the last ones still archive and drop.
func (s *fleetSuite) TestDoneWhenObserved() {
	req := fleetReq("c1/a1", "c1/a2", "c1/a3", "c1/a4", "c2/b1")
	req.Waves.Group, req.Waves.DoneWhen, req.Waves.ObservedFor = GroupAll, DoneObserved, time.Hour
	s.scripts["c1/a1"] = childScript{Drop: 10 * time.Hour} // the beta drop takes long
	var wentOn time.Time
	s.proceedEach(10*time.Minute, func(st FleetStatus, d FleetDecision) FleetDecision {
		wentOn = s.env.Now()
		return d
	})
	s.run(harnessInput{Fleet: FleetState{Request: req}})
	st := s.result()
	s.Equal("done: 5 retired, 0 failed, 0 excluded", st.Outcome)
	observed, _ := s.firstSeen("c1/a1", "enter observe")
	dropped, _ := s.firstSeen("c1/a1", "enter verify")
	s.False(wentOn.Before(observed.Add(time.Hour)), "wave 2 went on before a1 was observed for an hour")
	s.True(wentOn.Before(dropped), "wave 2 waited for a1's drop, which done_when observed does not ask for")
	s.True(s.child(st, "c1/a1").Done)
	// The beta's long drop holds c1's only slot: wave 2's children on c1 wait for it.
	held, _ := s.firstSeen("c1/a2", "hold")
	s.False(held.Before(dropped))
}

// A history recorded on a real server (the dev server of the temporal CLI, with fake
// children: the run of a 200-object fleet that ran its beta wave, took a DBA's go while it
// handed over, and continued as new) must replay against today's code.
func TestReplayFleetHistory(t *testing.T) {
	files, err := filepath.Glob("testdata/fleet-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded fleet histories in workflows/testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			replayer := worker.NewWorkflowReplayer()
			replayer.RegisterWorkflowWithOptions(RetireFleet, workflow.RegisterOptions{Name: FleetWorkflowName})
			if err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFleetRequestValidate(t *testing.T) {
	ok := fleetReq("c1/a1", "c1/a2", "c2/b1")
	for _, tc := range []struct {
		name string
		edit func(*FleetRequest)
		want string
	}{
		{"valid", func(*FleetRequest) {}, ""},
		{"name", func(r *FleetRequest) { r.Name = "shop decom" }, `fleet name "shop decom"`},
		{"no objects", func(r *FleetRequest) { r.Objects = nil }, "the fleet has no objects"},
		{"duplicate", func(r *FleetRequest) { r.Objects = append(r.Objects, r.Objects[0]) }, "c1/a1 is listed twice"},
		{"bad connection", func(r *FleetRequest) { r.Objects[1].Connection = "c 1" }, `object 2 (c 1/a2): connection "c 1" is not a profile name`},
		{"bad owner", func(r *FleetRequest) { r.Objects[0].Owners = []string{"o l"} }, `owner "o l" is not a valid name`},
		{"unknown beta", func(r *FleetRequest) { r.Waves.Beta = []string{"c3/x"} }, `beta object "c3/x" is not one of the fleet's objects`},
		{"beta twice", func(r *FleetRequest) { r.Waves.Beta = []string{"c1/a1", "c1/a1"} }, "beta object c1/a1 is listed twice"},
		{"n without n", func(r *FleetRequest) { r.Waves.Group = GroupN }, `group "n" needs n > 0`},
		{"n for all", func(r *FleetRequest) { r.Waves.Group, r.Waves.N = GroupAll, 2 }, `n=2 is for group "n" only`},
		{"group", func(r *FleetRequest) { r.Waves.Group = "halves" }, `group "halves": use`},
		{"done when", func(r *FleetRequest) { r.Waves.DoneWhen = "archived" }, `done_when "archived"`},
		{"observed for dropped", func(r *FleetRequest) { r.Waves.ObservedFor = time.Hour }, `observed_for is for done_when "observed" only`},
		{"observed too long", func(r *FleetRequest) { r.Waves.DoneWhen, r.Waves.ObservedFor = DoneObserved, 3*time.Hour }, "longer than the observation window"},
		{"per connection", func(r *FleetRequest) { r.Waves.PerConnection = -1 }, "per_connection cannot be negative"},
		{"budget", func(r *FleetRequest) { r.Waves.FailureBudget = -1 }, "failure_budget cannot be negative"},
		{"reason", func(r *FleetRequest) { r.Reason = "cleanup" }, `reason "cleanup"`},
		{"requester", func(r *FleetRequest) { r.Requester = "" }, `requester "" is not a valid name`},
		{"system-wide object rule", func(r *FleetRequest) { r.Objects[0].Object = "" }, "the database, schema or pdb:NAME is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			r.Objects = slices.Clone(ok.Objects)
			tc.edit(&r)
			err := r.WithDefaults().Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want %q, got %v", tc.want, err)
			}
		})
	}
	many := fleetReq(manyKeys(1, 30)...)
	for i := range many.Objects {
		many.Objects[i].Connection = "bad conn"
	}
	if err := many.WithDefaults().Validate(); err == nil || !strings.Contains(err.Error(), "and 10 more problems with objects") {
		t.Fatalf("thirty bad objects should say twenty and a count: %v", err)
	}
}

func TestPlanWaves(t *testing.T) {
	keys := []string{"c1/a1", "c2/b1", "c1/a2", "c1/a3", "c2/b2", "c3/d1", "c2/b3"}
	names := func(ws []FleetWave) [][]string {
		var out [][]string
		for _, w := range ws {
			out = append(out, w.Objects)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		edit func(*WavePlan)
		want [][]string
	}{
		{"per-connection by default", func(*WavePlan) {}, [][]string{{"c1/a1", "c2/b1", "c3/d1"}, {"c1/a2", "c1/a3"}, {"c2/b2", "c2/b3"}}},
		{"all", func(w *WavePlan) { w.Group = GroupAll }, [][]string{{"c1/a1", "c2/b1", "c3/d1"}, {"c1/a2", "c1/a3", "c2/b2", "c2/b3"}}},
		{"one", func(w *WavePlan) { w.Group = GroupOne }, [][]string{{"c1/a1", "c2/b1", "c3/d1"}, {"c1/a2"}, {"c1/a3"}, {"c2/b2"}, {"c2/b3"}}},
		{"n", func(w *WavePlan) { w.Group, w.N = GroupN, 3 }, [][]string{{"c1/a1", "c2/b1", "c3/d1"}, {"c1/a2", "c1/a3", "c2/b2"}, {"c2/b3"}}},
		{"explicit beta, in file order", func(w *WavePlan) { w.Beta, w.Group = []string{"c2/b3", "c1/a2"}, GroupAll },
			[][]string{{"c1/a2", "c2/b3"}, {"c1/a1", "c2/b1", "c1/a3", "c2/b2", "c3/d1"}}},
		{"beta of everything", func(w *WavePlan) { w.Beta = keys }, [][]string{{"c1/a1", "c2/b1", "c1/a2", "c1/a3", "c2/b2", "c3/d1", "c2/b3"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fleetReq(keys...)
			tc.edit(&r.Waves)
			ws, err := PlanWaves(r.WithDefaults())
			if err != nil {
				t.Fatal(err)
			}
			if got := names(ws); !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i, w := range ws {
				if w.Number != i+1 || w.State != WavePending {
					t.Fatalf("wave %d: %+v", i, w)
				}
			}
		})
	}
}

// What the requester signs changes with every field that changes what happens, and only
// with those.
func TestFleetSays(t *testing.T) {
	base := fleetReq("c1/a1", "c1/a2", "c2/b1")
	says := base.Says()
	same := base
	same.Waves.Group, same.Waves.PerConnection, same.SampleWindow = GroupPerConnection, 1, time.Hour // the defaults, spelt out
	same.Proof = &proof.Proof{Method: proof.MethodSSH}
	if same.Says() != says {
		t.Fatalf("defaults spelt out or a proof changed what is signed:\n%s\n%s", same.Says(), says)
	}
	for name, edit := range map[string]func(*FleetRequest){
		"order":    func(r *FleetRequest) { r.Objects[0], r.Objects[1] = r.Objects[1], r.Objects[0] },
		"owners":   func(r *FleetRequest) { r.Objects[2].Owners = []string{"olga", "oscar"} },
		"beta":     func(r *FleetRequest) { r.Waves.Beta = []string{"c1/a2"} },
		"budget":   func(r *FleetRequest) { r.Waves.FailureBudget = 3 },
		"k":        func(r *FleetRequest) { r.Waves.PerConnection = 2 },
		"done":     func(r *FleetRequest) { r.Waves.DoneWhen, r.Waves.ObservedFor = DoneObserved, time.Hour },
		"observe":  func(r *FleetRequest) { r.ObserveWindow = 3 * time.Hour },
		"reason":   func(r *FleetRequest) { r.Reason = ReasonDecommission },
		"name":     func(r *FleetRequest) { r.Name = "other" },
		"store":    func(r *FleetRequest) { r.Store = "cold" },
		"strategy": func(r *FleetRequest) { r.Strategy = "rename" },
	} {
		r := base
		r.Objects = slices.Clone(base.Objects)
		for i := range r.Objects {
			r.Objects[i].Owners = slices.Clone(r.Objects[i].Owners)
		}
		edit(&r)
		if r.Says() == says {
			t.Errorf("%s does not change what is signed", name)
		}
	}
	if base.Objects[0].Key() != "c1/a1" {
		t.Fatal("Says changed the request it was called on")
	}
}

func TestFleetMarkdownListsWhatMatters(t *testing.T) {
	st := FleetStatus{WorkflowID: fleetID, RunID: "r2", Namespace: "prod", Request: fleetReq().WithDefaults(), Phase: FleetWaiting, Wave: 2,
		Waiting: "a proven go for wave 2", Waves: []FleetWave{{Number: 1, Name: "beta", Objects: []string{"c1/a|1"}, State: WaveDone}, {Number: 2, Name: "connection c1", Objects: []string{"c1/a2"}, State: WavePending}},
		Objects: []FleetChild{
			{FleetObject: FleetObject{Connection: "c1", Object: "a|1"}, Wave: 1, WorkflowID: "retire:c1:a|1", Started: true, Phase: PhaseDone, Outcome: "retired", Archive: "s3://b/c1/a|1/"},
			{FleetObject: FleetObject{Connection: "c1", Object: "a2"}, Wave: 2, WorkflowID: "retire:c1:a2"},
		}}
	md := FleetMarkdown(st, true)
	for _, want := range []string{
		"## Fleet retirement `shop-decom`", "**Waiting for:** a proven go for wave 2",
		`| c1/a\|1 | 1 | done | retired | s3://b/c1/a\|1/ | [retire:c1:a\|1](/namespaces/prod/workflows/retire:c1:a%7C1) |`,
		"| c1/a2 | 2 | not started |  |  | `retire:c1:a2` |",
		"| 2 connection c1 ◀ | 1 | pending |", "1 not started, 1 done",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in\n%s", want, md)
		}
	}
}

// Two reports a child sends in one task can reach the fleet in the other order, with the same
// clock: the later one by its sequence number stands (it said what the child waits for).
func TestAnOvertakenReportDoesNotHideWhatAChildWaitsFor(t *testing.T) {
	f := &fleet{s: FleetState{Objects: []FleetChild{{WorkflowID: "retire:a:db1", RunID: "r1"}}}}
	f.byID = map[string]int{"retire:a:db1": 0}
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.report(nil, FleetReport{WorkflowID: "retire:a:db1", RunID: "r1", Phase: PhaseArchive, Waiting: "acknowledgement of the access attempts", At: at, Seq: 8})
	f.report(nil, FleetReport{WorkflowID: "retire:a:db1", RunID: "r1", Phase: PhaseArchive, Archive: "s3://b/a/db1/", At: at, Seq: 7})
	c := f.s.Objects[0]
	require.Equal(t, "acknowledgement of the access attempts", c.Waiting)
	require.Equal(t, 8, c.Seq)
}
