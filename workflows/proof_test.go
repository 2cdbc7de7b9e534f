package workflows

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"golang.org/x/crypto/ssh"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/proof"
)

// people of the proof tests: alice and bob own shop, dba asks, carol is in the directory but
// owns nothing, and the page's key is pinned.
type people struct {
	portal            ed25519.PrivateKey
	alice, dba, carol ssh.Signer
	signers           activities.Signers
}

func (s *lifecycle) people() people {
	signer := func() ssh.Signer {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		s.Require().NoError(err)
		sg, err := ssh.NewSignerFromKey(k)
		s.Require().NoError(err)
		return sg
	}
	_, portal, err := ed25519.GenerateKey(rand.Reader)
	s.Require().NoError(err)
	p := people{portal: portal, alice: signer(), dba: signer(), carol: signer()}
	line := func(sg ssh.Signer) []string {
		return []string{strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sg.PublicKey())))}
	}
	p.signers = activities.Signers{Owners: []string{"alice", "bob"}, Requester: "dba", From: "test directory",
		Pins: proof.Pins{PortalKeys: []string{proof.PortalPublicKey(portal.Public().(ed25519.PublicKey))}, People: []proof.Person{
			{ID: "alice", Email: "alice@example.com", SSHKeys: line(p.alice)}, {ID: "bob"},
			{ID: "dba", SSHKeys: line(p.dba)}, {ID: "carol", SSHKeys: line(p.carol)},
		}}}
	plan := s.results["Plan"].(activities.Plan)
	plan.Signers = &p.signers
	s.results["Plan"] = plan
	return p
}

// provenRequest is the test's request, signed by the requester dba.
func (s *lifecycle) provenRequest(p people) Request {
	req := request(ReasonDecommission)
	now := s.env.Now()
	req.Proof = s.sshSigned(p.dba, proof.Statement{Decision: DecisionStart, Workflow: "retire:local:shop", Person: "dba", Says: req.Says(),
		Nonce: proof.NewNonce(), IssuedAt: now.Unix(), Expires: now.Add(10 * time.Minute).Unix()})
	return req
}

// decision is what the test sends: made in the callback, when the run id and the clock are
// the workflow's.
type decision func(run string, now time.Time) any

// decide sends the decision made at offset at, and returns its outcome through *err.
func (s *lifecycle) decide(at time.Duration, name string, make decision, err *error) {
	*err = errors.New("update never ran")
	s.env.RegisterDelayedCallback(func() {
		v, qerr := s.env.QueryWorkflow(QueryStatus)
		s.Require().NoError(qerr)
		var st Status
		s.Require().NoError(v.Get(&st))
		s.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnReject:   func(e error) { *err = e },
			OnAccept:   func() {},
			OnComplete: func(_ any, e error) { *err = e },
		}, make(st.RunID, s.env.Now()))
	}, at)
}

func (s *lifecycle) statement(decisionName, run, person, says string, now time.Time) proof.Statement {
	return proof.Statement{Decision: decisionName, Workflow: "retire:local:shop", Run: run, Person: person, Says: says,
		Nonce: proof.NewNonce(), IssuedAt: now.Unix(), Expires: now.Add(10 * time.Minute).Unix()}
}

func (s *lifecycle) sshSigned(signer ssh.Signer, st proof.Statement) *proof.Proof {
	pr, err := proof.SignSSH(signer, st)
	s.Require().NoError(err)
	return pr
}

func (s *lifecycle) signoff(signer ssh.Signer, by string, tweak func(*proof.Statement)) decision {
	return func(run string, now time.Time) any {
		in := Signoff{By: by, Comment: "shop is closed"}
		st := s.statement(UpdateApprove, run, by, in.Says(), now)
		if tweak != nil {
			tweak(&st)
		}
		in.Proof = s.sshSigned(signer, st)
		return in
	}
}

// A production worker's retirement takes no decision without proof, and none that proves
// somebody else, something else, or a second time. Refused decisions leave nothing behind.
func (s *lifecycle) TestDecisionsMustProveWhoDecides() {
	p := s.people()
	var (
		unproven, notPinned, requester, stranger, otherRun, otherDecision, expired, forged error
		extend, extendAgain, owner                                                         error
	)
	s.update(4*day, UpdateApprove, Signoff{By: "alice", Comment: "shop is closed"}, &unproven)
	s.decide(4*day, UpdateApprove, s.signoff(p.carol, "alice", nil), &notPinned)
	s.decide(4*day, UpdateApprove, s.signoff(p.dba, "dba", nil), &requester)
	s.decide(4*day, UpdateApprove, s.signoff(p.carol, "carol", nil), &stranger)
	s.decide(4*day, UpdateApprove, s.signoff(p.alice, "alice", func(st *proof.Statement) { st.Run = "an-earlier-run" }), &otherRun)
	s.decide(4*day, UpdateApprove, s.signoff(p.alice, "alice", func(st *proof.Statement) { st.Decision = UpdateObject }), &otherDecision)
	s.decide(4*day, UpdateApprove, s.signoff(p.alice, "alice", func(st *proof.Statement) {
		st.IssuedAt, st.Expires = st.IssuedAt-3600, st.IssuedAt-60
	}), &expired)
	s.decide(4*day, UpdateApprove, func(run string, now time.Time) any {
		in := Signoff{By: "alice", Comment: "shop is closed"}
		pr := s.sshSigned(p.alice, s.statement(UpdateApprove, run, "alice", "approve: something else", now))
		in.Proof = pr
		return in
	}, &forged)
	// One proof, sent twice: the second is a replay.
	var replay *proof.Proof
	s.decide(5*day, UpdateExtend, func(run string, now time.Time) any {
		in := Extension{By: "alice", Extra: day, Reason: "month end"}
		replay = s.sshSigned(p.alice, s.statement(UpdateExtend, run, "alice", in.Says(), now))
		in.Proof = replay
		return in
	}, &extend)
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(UpdateExtend, "", &testsuite.TestUpdateCallback{
			OnReject: func(e error) { extendAgain = e }, OnAccept: func() {}, OnComplete: func(_ any, e error) { extendAgain = e },
		}, Extension{By: "alice", Extra: day, Reason: "month end", Proven: Proven{Proof: replay}})
	}, 5*day+time.Minute)
	s.decide(6*day, UpdateApprove, s.signoff(p.alice, "ALICE@example.com", func(st *proof.Statement) { st.Person = "alice" }), &owner)
	s.execute(s.provenRequest(p))
	s.NoError(s.env.GetWorkflowError())

	s.ErrorContains(unproven, "carries no proof")
	s.ErrorContains(notPinned, "is not one of alice's keys pinned for this retirement")
	s.ErrorContains(requester, "requested this retirement and cannot sign it off")
	s.ErrorContains(stranger, "carol is not an owner")
	s.ErrorContains(otherRun, "for run an-earlier-run")
	s.ErrorContains(otherDecision, `is for "object", not "approve"`)
	s.ErrorContains(expired, "expired")
	s.ErrorContains(forged, "but the decision says")
	s.NoError(extend)
	s.ErrorContains(extendAgain, "already used")
	s.NoError(owner)

	rec := s.record()
	s.Equal(PhaseDone, rec.Phase)
	s.Require().Len(rec.Signoffs, 1, "only the proven owner's sign-off is recorded")
	so := rec.Signoffs[0]
	s.Equal("alice", so.By, "recorded under the directory's id, however it was typed")
	s.Require().NotNil(so.Verified)
	s.Equal(proof.MethodSSH, so.Verified.Method)
	s.Equal(ssh.FingerprintSHA256(p.alice.PublicKey()), so.Verified.Key)
	s.Contains(s.gate(rec, GateSignoff).Detail, "verified: SSH signature by SHA256:")
	s.Len(rec.Extensions, 1, "the replayed extension was not taken")
	s.Equal(14*day+day, rec.ObserveTotal)
	s.Len(rec.Nonces, 3, "the requester's, the extension's and the sign-off's")
}

// A token from the owners' page proves an owner as well as her SSH key does.
func (s *lifecycle) TestPortalTokenSignsOff() {
	p := s.people()
	var owner error
	s.decide(4*day, UpdateApprove, func(run string, now time.Time) any {
		in := Signoff{By: "alice", Comment: "from the page"}
		st := s.statement(UpdateApprove, run, "alice", in.Says(), now)
		st.Auth, st.Issuer = proof.AuthOIDC, "https://login.example.com"
		tok, err := proof.SignToken(p.portal, st)
		s.Require().NoError(err)
		in.Proof = &proof.Proof{Method: proof.MethodPortal, Token: tok}
		return in
	}, &owner)
	s.execute(s.provenRequest(p))
	s.NoError(s.env.GetWorkflowError())
	s.NoError(owner)
	rec := s.record()
	s.Equal(PhaseDone, rec.Phase)
	s.Equal("verified: logged in to the owners' page through https://login.example.com", rec.Signoffs[0].Verified.Text())
	s.Contains(Markdown(rec), "verified: logged in to the owners' page through https://login.example.com")
}

// The requester proves who they are too, against the keys the plan pinned, or the
// retirement is refused before anything is touched.
func (s *lifecycle) TestRequesterProvesWhoAsks() {
	p := s.people()
	req := s.provenRequest(p)
	var owner error
	s.decide(4*day, UpdateApprove, s.signoff(p.alice, "alice", nil), &owner)
	s.execute(req)
	s.NoError(s.env.GetWorkflowError())
	rec := s.record()
	s.Require().NotNil(rec.RequesterVerified)
	s.Equal(proof.MethodSSH, rec.RequesterVerified.Method)
	s.Equal("dba", rec.RequesterVerified.Person)
}

func (s *lifecycle) TestRequesterWithoutProofIsRefused() {
	s.people()
	s.execute(request(ReasonDecommission))
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.ErrorContains(err, "the requester's proof of identity is refused: this decision carries no proof")
	s.Zero(s.ran("SnapshotAccess"), "nothing was touched")
	s.Zero(s.ran("StartSampling"))
}

// Someone the request calls the requester cannot be somebody else's key.
func (s *lifecycle) TestRequesterProofByAnotherKeyIsRefused() {
	p := s.people()
	req := request(ReasonDecommission)
	now := s.env.Now()
	req.Proof = s.sshSigned(p.carol, proof.Statement{Decision: DecisionStart, Workflow: "retire:local:shop", Person: "dba", Says: req.Says(),
		Nonce: proof.NewNonce(), IssuedAt: now.Unix(), Expires: now.Add(10 * time.Minute).Unix()})
	s.execute(req)
	s.ErrorContains(s.env.GetWorkflowError(), "is not one of dba's keys")
}

// People the request adds are told and may object or extend, but the sign-off is for the
// owners the directory names: the requester does not choose who signs.
func (s *lifecycle) TestAddedPeopleDoNotSignOff() {
	p := s.people()
	s.results["Plan"].(activities.Plan).Signers.Added = []string{"carol"}
	var approve, extend, owner error
	s.decide(4*day, UpdateApprove, s.signoff(p.carol, "carol", nil), &approve)
	s.decide(4*day, UpdateExtend, func(run string, now time.Time) any {
		in := Extension{By: "carol", Extra: day, Reason: "quarter end"}
		in.Proof = s.sshSigned(p.carol, s.statement(UpdateExtend, run, "carol", in.Says(), now))
		return in
	}, &extend)
	s.decide(5*day, UpdateApprove, s.signoff(p.alice, "alice", nil), &owner)
	s.execute(s.provenRequest(p))
	s.NoError(s.env.GetWorkflowError())
	s.ErrorContains(approve, "carol was added to this retirement by its requester")
	s.NoError(extend)
	s.NoError(owner)
	s.Equal([]string{"alice"}, []string{s.record().Signoffs[0].By})
	// Everybody concerned is told, by the directory's names and addresses, and no notice
	// carries anybody's keys.
	s.Require().NotEmpty(s.sent)
	for _, ev := range s.sent {
		s.Equal([]string{"alice", "bob", "carol"}, ev.Owners, "%s", ev.Kind)
		s.Equal("dba", ev.Requester)
		for _, p := range ev.People {
			s.Empty(p.SSHKeys, "%s: keys of %s in a notice", ev.Kind, p.ID)
		}
	}
	s.Equal("alice@example.com", s.sent[0].People[1].Email)
}

// A proven run whose workflow id does not name its target is refused: proofs name the
// workflow, so sign-offs for retire:test:scratch must not retire prod/orders.
func (s *lifecycle) TestAWorkflowIDThatHidesItsTargetIsRefused() {
	p := s.people()
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "retire:test:scratch"})
	s.env.ExecuteWorkflow(RetireDatabase, s.provenRequest(p))
	s.ErrorContains(s.env.GetWorkflowError(), "must run as workflow retire:local:shop, not retire:test:scratch")
	s.Zero(s.ran("Plan"))
}

// The drop checks the sign-offs again: one that got past the validators unproven, or by
// someone who is not a pinned owner, licenses nothing.
func TestTheDropChecksWhoSignedAgain(t *testing.T) {
	sg := &activities.Signers{Owners: []string{"alice"}, Requester: "dba", Pins: proof.Pins{People: []proof.Person{{ID: "alice"}, {ID: "dba"}}}}
	r := &retirement{proven: true, s: Status{Request: request(ReasonDecommission), Signers: sg}}
	sign := func(by, method string) {
		r.s.Signoffs = []Signoff{{By: by, Proven: Proven{Verified: &proof.Verified{Person: by, Method: method}}}}
	}
	sign("alice", proof.MethodUnverified)
	require.False(t, r.signedByAnOwner(), "unproven on a worker that requires proof")
	sign("dba", proof.MethodSSH)
	require.False(t, r.signedByAnOwner(), "the requester")
	sign("bob", proof.MethodSSH)
	require.False(t, r.signedByAnOwner(), "not a pinned owner")
	r.s.Signoffs = []Signoff{{By: "alice"}}
	require.False(t, r.signedByAnOwner(), "no verification recorded")
	sign("alice", proof.MethodSSH)
	require.True(t, r.signedByAnOwner())
	sg.Pins.AcceptUnproven = true
	sign("alice", proof.MethodUnverified)
	require.True(t, r.signedByAnOwner(), "a dev worker that takes names at their word")
}

// A retirement that says it belongs to a fleet takes the fleet's proof of its requester only
// when that fleet really is its parent: anyone can type a fleet's name into a start.
func (s *lifecycle) TestAFleetThatDidNotStartTheRetirementProvesNothing() {
	s.people()
	req := request(ReasonDecommission)
	req.Fleet = FleetWorkflowID("shop-system")
	// The test suite runs each external signal's mock in a goroutine of its own: the
	// reports are collected under a lock and put in the order the child numbered them.
	var mu sync.Mutex
	var reports []FleetReport
	s.env.OnSignalExternalWorkflow(mock.Anything, FleetWorkflowID("shop-system"), "", SignalFleetReport, mock.Anything).Return(func(_, _, _, _ string, arg any) error {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, arg.(FleetReport))
		return nil
	}).Maybe()
	s.execute(req)
	s.ErrorContains(s.env.GetWorkflowError(), "this retirement says it belongs to the fleet retire-fleet:shop-system, but that fleet did not start it")
	s.Zero(s.ran("StartSampling"))
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(reports, func(i, j int) bool { return reports[i].Seq < reports[j].Seq })
	var told []string
	for _, r := range reports {
		told = append(told, string(r.Phase))
	}
	s.Equal([]string{"plan", "failed"}, told, "it told the fleet it names where it stands, and that it ended")
}
