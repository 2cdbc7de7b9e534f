package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/notify"
	"github.com/dataretire/retire/proof"
)

// The owners' digest is tested with real RetireDatabase children in a real RetireFleet, every
// activity stubbed as in the lifecycle tests (their stubs and timings, s.results and
// s.delay), so that what a child hands its fleet and what it records are the workflow's own.
// The fleet here runs in one run: the test environment does not do what a server does with a
// signal that comes in the instant a run continues as new (the server makes the run take it
// first), and real children, whose steps all fall on the same instants, meet such instants
// often and then wait for ever. A pending digest carried across runs is tested with the
// fleet tests' fake children (fleet_watch_test.go).

// fleetTop runs a fleet as the child of a top workflow, as fleetSuite's harness does: the test
// environment runs a child's continue-as-new as its next run, and ends a top-level workflow
// at its first.
func fleetTop(ctx workflow.Context, st FleetState) (FleetStatus, error) {
	fctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: FleetWorkflowID(st.Request.Name)})
	var out FleetStatus
	err := workflow.ExecuteChildWorkflow(fctx, FleetWorkflowName, st).Get(ctx, &out)
	return out, err
}

// fleetMail is what a fleet of real children asked the stubs for.
type fleetMail struct {
	mu sync.Mutex
	// digests are the NotifyDigest inputs, with what the renderer made of each.
	digests  []notify.Digest
	rendered []notify.DigestMessages
	// records are the children's retirement records, by connection/object.
	records map[string]Status
	checks  int
}

func (m *fleetMail) digestKinds(i int) map[notify.Kind]int {
	out := map[notify.Kind]int{}
	for _, e := range m.digests[i].Notices {
		out[e.Kind]++
	}
	return out
}

// personal is digest i's mail for who.
func (m *fleetMail) personal(t *testing.T, i int, who string) notify.Message {
	t.Helper()
	j := slices.Index(m.rendered[i].For, who)
	require.GreaterOrEqual(t, j, 0, "digest %d has no mail for %s (for %v)", i+1, who, m.rendered[i].For)
	return m.rendered[i].Personal[j]
}

// digestFleet is a fleet of n objects on three connections, one wave, with short windows:
// every child is cut after a day, reminded two days before its window ends, dropped after 7.
func digestFleet(n int) FleetRequest {
	r := FleetRequest{Name: "erp-decom", Reason: ReasonMigration, Requester: "dba", Ticket: "CHG-30",
		SampleWindow: day, ObserveWindow: 7 * day, Waves: WavePlan{Group: GroupAll, PerConnection: n}}
	for i := 0; i < n; i++ {
		o := FleetObject{Connection: fmt.Sprintf("c%d", i%3+1), Object: fmt.Sprintf("db%02d", i+1)}
		r.Objects = append(r.Objects, o)
		r.Waves.Beta = append(r.Waves.Beta, o.Key())
	}
	return r
}

// executeFleet runs the fleet with real children: every activity as s.results stubs it, the
// children's records, the digests and the owners' direct notices noted.
func (s *lifecycle) executeFleet(st FleetState) *fleetMail {
	m := &fleetMail{records: map[string]Status{}}
	s.env.SetTestTimeout(2 * time.Minute)
	s.env.RegisterWorkflowWithOptions(RetireFleet, workflow.RegisterOptions{Name: FleetWorkflowName})
	s.env.RegisterWorkflowWithOptions(fleetTop, workflow.RegisterOptions{Name: "FleetTop"})
	for name, result := range s.results {
		if name == "WriteRecord" {
			continue
		}
		call := s.env.OnActivity(name, mock.Anything, mock.Anything)
		if result == nil {
			call = call.Return(nil)
		} else {
			call = call.Return(result, nil)
		}
		call.After(s.delay[name]).Maybe()
	}
	s.env.OnActivity("WriteRecord", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RecordInput) (activities.RecordLocation, error) {
		var rec Status
		if err := json.Unmarshal(in.JSON, &rec); err != nil {
			return activities.RecordLocation{}, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.records[rec.Request.Connection+"/"+rec.Request.Object] = rec
		return activities.RecordLocation{JSONKey: in.Path + "record.json"}, nil
	}).Maybe()
	s.env.OnActivity("NotifyOwners", mock.Anything, mock.Anything).Return(func(_ context.Context, ev notify.Event) (notify.Result, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.sent = append(s.sent, ev)
		return notify.Result{Sent: true, To: ev.Recipients()}, nil
	}).Maybe()
	s.env.OnActivity("NotifyDigest", mock.Anything, mock.Anything).Return(func(_ context.Context, d notify.Digest) (notify.DigestResult, error) {
		dm, err := notify.RenderDigest(d, "http://ui")
		if err != nil {
			return notify.DigestResult{}, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.digests, m.rendered = append(m.digests, d), append(m.rendered, dm)
		return notify.DigestResult{Key: d.Key, Sent: true, People: dm.For, Told: dm.Told}, nil
	}).Maybe()
	s.env.OnActivity(ActivityFleetPlan, mock.Anything, mock.Anything).Return(activities.FleetPlan{Pins: devSigners.Pins, DBAs: []string{"dba"}, Requester: "dba", Store: "default",
		// A look a day: the children run in the fleet's first run, whose history has their ends.
		WatchEvery: 24 * time.Hour}, nil).Maybe()
	s.env.OnActivity(ActivityWriteFleetRecord, mock.Anything, mock.Anything).Return(activities.RecordLocation{JSONKey: "fleets/erp-decom/record.json"}, nil).Maybe()
	s.env.OnActivity(ActivityCheckFleetChildren, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FleetChildrenInput) (activities.FleetChildrenResult, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.checks++
		return activities.FleetChildrenResult{}, nil // every child the fleet asks about runs
	}).Maybe()
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "fleet-top"})
	s.env.ExecuteWorkflow("FleetTop", st)
	return m
}

func (s *lifecycle) fleetResult() FleetStatus {
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var st FleetStatus
	s.Require().NoError(s.env.GetWorkflowResult(&st))
	return st
}

// The owners of thirty objects of a fleet each get one digest per step the fleet's objects
// took together (cut, reminder, dropped), listing all thirty with what each asks of them,
// not ninety mails; and each child's own record says which digest told its owners.
func (s *lifecycle) TestFleetOwnersGetDigestsNotAMailPerObject() {
	const objects = 30
	// The owners directory knows the people by name and mailbox, as a production plan pins them.
	plan := s.results["Plan"].(activities.Plan)
	signers := devSigners
	signers.Pins.People = []proof.Person{{ID: "dba", Name: "Dee Bee", Email: "dee@corp.example"}, {ID: "alice", Name: "Alice", Email: "alice@corp.example"}, {ID: "bob", Name: "Bob"}}
	plan.Signers = &signers
	s.results["Plan"] = plan
	m := s.executeFleet(FleetState{Request: digestFleet(objects)})
	st := s.fleetResult()
	s.Equal("done: 30 retired, 0 failed, 0 excluded", st.Outcome)
	s.Equal(1, st.RunCount, "one run (see the top of this file)")

	s.Empty(s.sent, "no child told its owners itself: %d NotifyOwners calls", len(s.sent))
	s.Require().Len(m.digests, 3, "one digest per step the objects took together")
	s.Equal(map[notify.Kind]int{notify.AccessCut: objects}, m.digestKinds(0))
	s.Equal(map[notify.Kind]int{notify.Reminder: objects}, m.digestKinds(1))
	s.Equal(map[notify.Kind]int{notify.Dropped: objects}, m.digestKinds(2))

	for i, d := range m.digests {
		s.Equal(fmt.Sprintf("%s/%s/digest/%d", FleetWorkflowID("erp-decom"), st.RunID, i+1), d.Key, "each digest has its own idempotency key")
		s.Equal("erp-decom", d.Fleet)
		s.Equal(time.Hour, d.Every, "the default interval")
		// Each person one mail: the owners, and the requester where the notice is theirs too.
		want := []string{"dba", "alice", "bob"}
		if i == 1 {
			want = []string{"alice", "bob"} // reminders go to the owners
		}
		s.Equal(want, m.rendered[i].For, "digest %d", i+1)
		for _, mail := range m.rendered[i].Personal {
			s.Equal(fmt.Sprintf("%s/to/%s", d.Key, mail.To[0]), mail.Key)
		}
		s.Len(d.People, 3, "each person once, however many of their notices the digest has")
		for _, e := range d.Notices {
			s.Empty(e.People, "people travel once per digest, not per notice")
			s.Equal("http://ui/namespaces/default-test-namespace/workflows/"+e.WorkflowID+"/"+e.RunID+"/history",
				notify.Link("http://ui", e.Namespace, e.WorkflowID, e.RunID), "the notice names its child's run")
		}
	}
	cut := m.personal(s.T(), 0, "alice")
	s.Equal(map[string]string{"alice": "alice@corp.example"}, cut.Addresses, "mail goes where the directory says")
	s.Contains(cut.Subject, "[retire] fleet erp-decom: news on 30 of your databases, 30 ask something of you (first by ")
	s.Equal(1, strings.Count(cut.Text, "c1/db01 — observe"), "one entry per object:\n%s", cut.Text)
	for i := 1; i <= objects; i++ {
		s.Contains(cut.Text, fmt.Sprintf("/db%02d — observe", i))
		s.Contains(cut.Text, fmt.Sprintf(`retire object c%d db%02d --as alice --reason "<why it is still needed>"`, (i-1)%3+1, i))
	}
	s.Contains(cut.Text, "access cut; observed until ")
	s.Contains(cut.Text, "Asked of you, before ")
	s.NotContains(cut.Text, "--as bob", "alice's digest has alice's commands")
	requester := m.personal(s.T(), 0, "dba")
	s.Contains(requester.Text, "None of them asks anything of you.", "the requester of a migration is only told of the cut")
	dropped := m.personal(s.T(), 2, "bob")
	s.Contains(dropped.Text, "For your information")
	s.Contains(dropped.Text, "dropped; archive (verified before the drop) s3://b/archive/p/; 16.0 KiB freed")

	// The children's own records: what they told, and in which digest.
	s.Require().Len(m.records, objects)
	for key, rec := range m.records {
		s.Require().Len(rec.Notices, 3, key)
		for j, n := range rec.Notices {
			s.Equal(FleetWorkflowID("erp-decom"), n.Digest, "%s notice %d", key, j)
			s.Equal([]notify.Kind{notify.AccessCut, notify.Reminder, notify.Dropped}[j], n.Kind)
		}
		s.Equal([]string{"dba", "alice", "bob"}, rec.Notices[0].To)
		s.Equal("handed to the owners' digest of fleet retire-fleet:erp-decom (its record says when each digest went out)", rec.Notices[0].Delivered())
		s.Contains(Markdown(rec), "| access-cut | ")
		s.Contains(Markdown(rec), "handed to the owners' digest of fleet retire-fleet:erp-decom")
	}
	s.Require().NotNil(st.Digest)
	s.Equal(3, st.Digest.Sent)
	s.Equal(3*objects, st.Digest.Told)
	s.Empty(st.Digest.Pending)
	s.Empty(st.Digest.People, "nobody's entry is kept once their notices went out")
	s.Equal("the fleet ended", st.Digest.Log[2].Why, "the last outcomes go out when the fleet ends")
	md := FleetMarkdown(st, true)
	s.Contains(md, "### Owners' digests")
	s.Contains(md, "| 1 | "+stamp(m.digests[0].At)+" | new notices | 30 | 30 | 3 | yes |")
}
