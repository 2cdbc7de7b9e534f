package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/notify"
	"github.com/dataretire/retire/proof"
)

const day = 24 * time.Hour

// Every evidence source available, and counters that count nothing.
var (
	allSources = []engine.EvidenceSource{{Name: engine.SourceSessions, State: engine.SourceAvailable}, {Name: engine.SourceLocks, State: engine.SourceAvailable},
		{Name: engine.SourceTableCounters, State: engine.SourceAvailable}, {Name: engine.SourceAttempts, State: engine.SourceAvailable}}
	counters = engine.Counters{On: true, Epoch: "e1", Source: "test", Tables: []engine.TableCounter{{Table: "t", Reads: 10}}}
)

// The workflow is tested with the Temporal test environment: activities are stubbed (they
// have their own integration tests against real MariaDB and MinIO) and time skips, so a
// 35-day window runs in milliseconds.
type lifecycle struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env     *testsuite.TestWorkflowEnvironment
	start   time.Time
	calls   map[string][]time.Time // activity name -> when it ran (workflow clock)
	results map[string]any
	delay   map[string]time.Duration
	// sent are the notifications the workflow asked for, in order; notifyErr fails them.
	sent      []notify.Event
	notifyErr error
	// mu guards calls and sent: activities run on goroutines of their own (the attempts
	// watcher runs beside the others).
	mu sync.Mutex
}

func TestLifecycle(t *testing.T) { suite.Run(t, new(lifecycle)) }

// devSigners are what a dev worker without an owners directory pins: the request's names,
// taken at their word. The proof tests (proof_test.go) pin real keys.
var devSigners = activities.Signers{Owners: []string{"alice", "bob"}, Requester: "dba", Pins: proof.Pins{AcceptUnproven: true}, Unlisted: true, From: "the request"}

var snapshot = engine.AccessSnapshot{Object: "shop", Strategy: engine.StrategyRevoke,
	Grants: []engine.Grant{{User: "app", Host: "%", Privileges: "SELECT", On: "`shop`.*"}}}

func (s *lifecycle) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflow(RetireDatabase)
	s.env.RegisterWorkflowWithOptions(ObjectLock, workflow.RegisterOptions{Name: ObjectLockName})
	s.env.RegisterActivity(&activities.Activities{})
	s.env.RegisterActivity(&notify.Activities{})
	s.sent, s.notifyErr = nil, nil
	s.start = s.env.Now()
	s.calls = map[string][]time.Time{}
	// Like the real one, the sampling activity watches for the day it is given.
	s.delay = map[string]time.Duration{"SampleClients": day}
	s.results = map[string]any{
		"Plan": activities.Plan{Engine: "mariadb", Store: "default", Policy: activities.ProductionPolicy, Signers: &devSigners,
			Inventory: engine.Inventory{Engine: "mariadb", Object: "shop", Tables: []engine.Table{{Name: "t", Rows: 3, Bytes: 16384}}, TotalRows: 3, TotalBytes: 16384}},
		"StartSampling":   activities.SamplingStart{At: s.start, Sources: allSources, Counters: &counters},
		"SampleClients":   activities.SampleResult{Looks: 100, Spans: []engine.Span{{From: s.start, To: s.start.Add(60 * day)}}, Counters: &counters},
		"WatchAttempts":   activities.AttemptsResult{},
		"LookBeforeCut":   activities.BeforeCut{Counters: &counters},
		"RestoreSettings": nil,
		"SnapshotAccess":  snapshot,
		"CutAccess":       engine.CutResult{Revoked: 1},
		"Archive":         activities.ArchiveResult{Store: "default", Bucket: "b", Path: "p/", URL: "s3://b/archive/p/", ManifestSHA256: "abc", Tables: 1, Rows: 3},
		"VerifyArchive":   activities.Verification{OK: true, Tables: 1, Rows: 3, Files: 3},
		"Drop":            nil,
		"VerifyGone":      engine.GoneReport{Gone: true, BytesFreed: 16384},
		"RestoreAccess":   nil,
		"WriteRecord":     activities.RecordLocation{JSONKey: "p/record.json", MarkdownKey: "p/record.md"},
		"TestRestore":     activities.RestoreCheck{OK: true, Scratch: "_retire_v_shop", Tables: 1, Rows: 3},
	}
}

// execute stubs every activity with s.results (tests override entries first), noting when
// each ran, and runs the workflow.
func (s *lifecycle) execute(req Request) {
	for name, result := range s.results {
		fn := func(mock.Arguments) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.calls[name] = append(s.calls[name], s.env.Now())
		}
		call := s.env.OnActivity(name, mock.Anything, mock.Anything)
		if result == nil {
			call = call.Return(nil)
		} else {
			call = call.Return(result, nil)
		}
		call.After(s.delay[name]).Run(fn).Maybe()
	}
	s.env.OnActivity("NotifyOwners", mock.Anything, mock.Anything).Return(func(_ context.Context, ev notify.Event) (notify.Result, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		ev.At = s.env.Now()
		s.sent = append(s.sent, ev)
		return notify.Result{Sent: true, To: ev.Owners}, s.notifyErr
	}).Maybe()
	// Proven runs must run under the workflow id that names their target.
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: WorkflowID(req.Connection, req.Object)})
	s.env.ExecuteWorkflow(RetireDatabase, req)
}

// looked is a sampling result that looked at the whole window, with counters that count
// nothing new.
func (s *lifecycle) looked(res activities.SampleResult) activities.SampleResult {
	res.Spans, res.Counters = []engine.Span{{From: s.start, To: s.start.Add(60 * day)}}, &counters
	return res
}

func request(reason Reason) Request {
	return Request{Connection: "local", Object: "shop", Reason: reason, Owners: []string{"alice", "bob"}, Requester: "dba"}
}

// update sends an update at offset from the start and returns its outcome through *err.
func (s *lifecycle) update(at time.Duration, name string, arg any, err *error) {
	accepted := false
	*err = errors.New("update never ran")
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnReject:   func(e error) { *err = e },
			OnAccept:   func() { accepted = true },
			OnComplete: func(_ any, e error) { *err = e; _ = accepted },
		}, arg)
	}, at)
}

func (s *lifecycle) record() Record {
	var rec Record
	s.Require().NoError(s.env.GetWorkflowResult(&rec))
	return rec
}

func (s *lifecycle) ran(name string) int { return len(s.calls[name]) }

func (s *lifecycle) gate(rec Record, name string) Gate {
	for _, g := range rec.Gates {
		if g.Name == name {
			return g
		}
	}
	s.FailNow("no gate " + name)
	return Gate{}
}

func (s *lifecycle) TestDecommissionWithSignoff() {
	var err error
	s.update(3*day, UpdateApprove, Signoff{By: "alice", Comment: "system is off"}, &err)
	s.execute(request(ReasonDecommission))

	s.True(s.env.IsWorkflowCompleted())
	s.NoError(s.env.GetWorkflowError())
	s.NoError(err)
	rec := s.record()
	s.Equal(PhaseDone, rec.Phase)
	s.Equal("retired", rec.Outcome)
	s.Equal(1, s.ran("Drop"))
	s.Equal(1, s.ran("CutAccess"))
	s.Equal(0, s.ran("RestoreAccess"))
	// Default windows: 3 days of sampling, then 14 days of observation before the archive.
	s.GreaterOrEqual(s.calls["Archive"][0].Sub(s.start), 17*day)
	s.Equal("alice", s.gate(rec, GateSignoff).By)
	for _, g := range []string{GatePlan, GateClients, GateAccessCut, GateWindow, GateSignoff, GateNoObjection, GateArchive, GateDropped, GateGone} {
		s.Equal(GatePassed, s.gate(rec, g).State, g)
	}
	s.Equal(GateWaived, s.gate(rec, GateRestorable).State)
	s.Equal(int64(16384), rec.Gone.BytesFreed)
	s.Equal(1, s.ran("WriteRecord"))
}

func (s *lifecycle) TestMigrationNeedsNoSignoff() {
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	rec := s.record()
	s.Equal(PhaseDone, rec.Phase)
	s.Equal(GateWaived, s.gate(rec, GateSignoff).State)
	s.Equal(1, s.ran("Drop"))
	s.Empty(rec.Signoffs)
}

func (s *lifecycle) TestDecommissionWaitsForSignoffAfterWindow() {
	var err error
	s.update(30*day, UpdateApprove, Signoff{By: "bob"}, &err)
	s.execute(request(ReasonDecommission))
	s.NoError(s.env.GetWorkflowError())
	s.NoError(err)
	s.Equal(1, s.ran("Drop"))
	s.GreaterOrEqual(s.calls["Drop"][0].Sub(s.start), 30*day, "no drop before the owner signed")
}

func (s *lifecycle) TestObjectionOnDay5RestoresAndAborts() {
	var err error
	s.update(5*day, UpdateObject, Objection{By: "bob", Reason: "billing still reads it"}, &err)
	s.execute(request(ReasonDecommission))
	s.NoError(s.env.GetWorkflowError())
	s.NoError(err)
	rec := s.record()
	s.Equal(PhaseAborted, rec.Phase)
	s.True(rec.AccessRestored)
	s.Equal(1, s.ran("RestoreAccess"))
	s.Equal(0, s.ran("Archive"))
	s.Equal(0, s.ran("Drop"))
	s.Equal(GateFailed, s.gate(rec, GateNoObjection).State)
	s.Equal("bob", s.gate(rec, GateNoObjection).By)
	s.Equal(1, s.ran("WriteRecord"), "an aborted retirement still leaves a record")
}

func (s *lifecycle) TestObjectionRestoresTheSnapshotTaken() {
	var err error
	s.update(5*day, UpdateObject, Objection{By: "alice", Reason: "still needed"}, &err)
	var restored activities.SnapshotInput
	s.env.OnActivity("RestoreAccess", mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SnapshotInput) error {
		restored = in
		return nil
	}).Once()
	delete(s.results, "RestoreAccess")
	s.execute(request(ReasonDecommission))
	s.NoError(s.env.GetWorkflowError())
	s.Equal("shop", restored.Object)
	s.Equal(snapshot, restored.Snapshot, "restore gets exactly the snapshot taken before the cut")
}

func (s *lifecycle) TestExtendUpTo35DaysButNotPast() {
	var ok, tooFar, signed error
	req := request(ReasonMigration)
	s.update(4*day, UpdateExtend, Extension{By: "alice", Extra: 21 * day, Reason: "quarter end"}, &ok)
	s.update(5*day, UpdateExtend, Extension{By: "bob", Extra: day}, &tooFar)
	s.update(6*day, UpdateApprove, Signoff{By: "alice"}, &signed)
	s.execute(req)
	s.NoError(s.env.GetWorkflowError())
	s.NoError(ok)
	s.ErrorContains(tooFar, "may not exceed 35d")
	rec := s.record()
	s.Equal(35*day, rec.ObserveTotal)
	// 3 days of sampling + 35 days of observation, not 14.
	s.GreaterOrEqual(s.calls["Archive"][0].Sub(s.start), 38*day)
}

func (s *lifecycle) TestRequesterAndStrangerCannotSignOff() {
	var self, stranger, empty, owner error
	s.update(2*day, UpdateApprove, Signoff{By: "dba"}, &self)
	s.update(2*day, UpdateApprove, Signoff{By: "mallory"}, &stranger)
	s.update(2*day, UpdateApprove, Signoff{By: ""}, &empty)
	s.update(20*day, UpdateApprove, Signoff{By: "alice"}, &owner)
	s.execute(request(ReasonDecommission))
	s.NoError(s.env.GetWorkflowError())
	s.ErrorContains(self, "requested this retirement and cannot sign it off")
	s.ErrorContains(stranger, "mallory is not an owner")
	s.Error(empty)
	s.NoError(owner)
	rec := s.record()
	s.Len(rec.Signoffs, 1)
	s.Equal("alice", rec.Signoffs[0].By)
	s.GreaterOrEqual(s.calls["Drop"][0].Sub(s.start), 20*day, "rejected sign-offs did not let the drop through")
}

func (s *lifecycle) TestClientsSeenWaitForAcknowledgement() {
	seen := []engine.Session{{User: "sms", Host: "10.0.0.7", Count: 4}}
	s.results["SampleClients"] = s.looked(activities.SampleResult{Seen: seen, Looks: 10})
	var early, ack error
	s.update(day, UpdateAcknowledge, Acknowledgement{By: "dba", Note: "too early"}, &early)
	s.update(10*day, UpdateAcknowledge, Acknowledgement{By: "dba", Note: "sms moved to the new db on 11-20"}, &ack)
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.ErrorContains(early, "not waiting for an acknowledgement")
	s.NoError(ack)
	s.GreaterOrEqual(s.calls["CutAccess"][0].Sub(s.start), 10*day, "access was cut before the clients were acknowledged")
	rec := s.record()
	s.Equal("dba", s.gate(rec, GateClients).By)
	s.Equal(seen[0].User, rec.Clients[0].User)
}

func (s *lifecycle) TestArchiveVerificationFailureBlocksDrop() {
	s.results["VerifyArchive"] = activities.Verification{OK: false, Problems: []string{"data/t/part-00000.parquet: sha256 mismatch"}}
	s.execute(request(ReasonMigration))
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	s.ErrorContains(err, "could not be verified, so nothing was dropped")
	s.Equal(0, s.ran("Drop"))
	s.Equal(2, s.ran("Archive"), "one fresh attempt before giving up")
	s.Equal(1, s.ran("RestoreAccess"), "a failed retirement gives access back")
}

func (s *lifecycle) TestRestoreGateRunsWhenAsked() {
	req := request(ReasonMigration)
	req.Verify = VerifyRestore
	s.execute(req)
	s.NoError(s.env.GetWorkflowError())
	rec := s.record()
	s.Equal(1, s.ran("TestRestore"))
	s.Equal(GatePassed, s.gate(rec, GateRestorable).State)
	s.True(s.calls["TestRestore"][0].Before(s.calls["Drop"][0]) || s.calls["TestRestore"][0].Equal(s.calls["Drop"][0]))
	s.Equal(1, s.ran("Drop"))
}

func (s *lifecycle) TestRestoreGateFailureBlocksDrop() {
	req := request(ReasonMigration)
	req.Verify = VerifyRestore
	s.results["TestRestore"] = activities.RestoreCheck{OK: false, Problems: []string{"table t: CHECKSUM TABLE differs"}}
	s.execute(req)
	s.ErrorContains(s.env.GetWorkflowError(), "did not restore identically, so nothing was dropped")
	s.Equal(0, s.ran("Drop"))
	s.Equal(1, s.ran("RestoreAccess"), "access comes back when the retirement fails before the drop")
}

func (s *lifecycle) TestRestoreGateSkippedByDefault() {
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.Equal(0, s.ran("TestRestore"))
	s.Equal(GateWaived, s.gate(s.record(), GateRestorable).State)
}

// The workflow does not know the engine: an Oracle schema goes through the same gates.
func (s *lifecycle) TestOracleSchemaRetirement() {
	s.results["Plan"] = activities.Plan{Engine: "oracle", Store: "default", Policy: activities.ProductionPolicy, Signers: &devSigners,
		Inventory: engine.Inventory{Engine: "oracle", Object: "SCOTT", Tablespaces: []string{"SCOTT_DATA"}, TotalRows: 14, TotalBytes: 65536}}
	s.results["SnapshotAccess"] = engine.AccessSnapshot{Object: "SCOTT", Strategy: engine.StrategyRevoke,
		Tablespaces: []engine.TablespaceState{{Name: "SCOTT_DATA", Status: "ONLINE"}}}
	req := request(ReasonDecommission)
	req.Connection, req.Object = "orcl", "SCOTT"
	var err error
	s.update(4*day, UpdateApprove, Signoff{By: "alice"}, &err)
	s.execute(req)
	s.NoError(s.env.GetWorkflowError())
	s.NoError(err)
	rec := s.record()
	s.Equal(PhaseDone, rec.Phase)
	s.Equal("retire:orcl:SCOTT", WorkflowID(req.Connection, req.Object))
	s.Equal(1, s.ran("Drop"))
}

func (s *lifecycle) TestCancelBeforeDropRestoresAccess() {
	s.env.RegisterDelayedCallback(func() { s.env.CancelWorkflow() }, 6*day)
	s.execute(request(ReasonMigration))
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	var canceled *temporal.CanceledError
	s.True(errors.As(err, &canceled), "workflow ends cancelled: %v", err)
	s.Equal(1, s.ran("RestoreAccess"))
	s.Equal(0, s.ran("Drop"))
	s.Equal(0, s.ran("Archive"))
}

func (s *lifecycle) TestCancelDuringSamplingChangesNothing() {
	s.env.RegisterDelayedCallback(func() { s.env.CancelWorkflow() }, 12*time.Hour)
	s.execute(request(ReasonMigration))
	s.Error(s.env.GetWorkflowError())
	s.Equal(0, s.ran("CutAccess"))
	s.Equal(0, s.ran("RestoreAccess"), "nothing was cut, nothing to restore")
}

func (s *lifecycle) TestDryRunChangesNothing() {
	req := request(ReasonDecommission)
	req.DryRun = true
	s.execute(req)
	s.NoError(s.env.GetWorkflowError())
	for _, name := range []string{"SnapshotAccess", "CutAccess", "Archive", "Drop", "RestoreAccess"} {
		s.Equal(0, s.ran(name), name)
	}
	s.Equal(1, s.ran("Plan"))
	s.Equal(3, s.ran("SampleClients"), "three days, one look-activity per day")
	s.Contains(s.record().Outcome, "dry run")
}

func (s *lifecycle) TestInvalidRequestFailsFast() {
	req := request(ReasonDecommission)
	req.Object = "shop\x00; DROP DATABASE mysql"
	s.execute(req)
	s.ErrorContains(s.env.GetWorkflowError(), "control character")
	s.Equal(0, s.ran("Plan"))
}

func (s *lifecycle) TestStatusQueryShowsPhase() {
	var status Status
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(QueryStatus)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&status))
	}, 5*day)
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.Equal(PhaseObserve, status.Phase)
	s.Equal(s.start.Add(3*day+14*day).UTC(), status.ObserveUntil.UTC())
}

func TestRequestValidation(t *testing.T) {
	r := request(ReasonDecommission).WithDefaults()
	require.NoError(t, r.Validate())
	r = request("cleanup").WithDefaults()
	require.ErrorContains(t, r.Validate(), "use \"decommission\"")
	r = request(ReasonMigration).WithDefaults()
	r.ObserveWindow = 36 * day
	require.ErrorContains(t, r.Validate(), "maximum")
	require.Equal(t, "retire:local:shop", WorkflowID("local", "shop"))
}

func TestParseDays(t *testing.T) {
	d, err := ParseDays("14d")
	require.NoError(t, err)
	require.Equal(t, 14*day, d)
	d, err = ParseDays("90s")
	require.NoError(t, err)
	require.Equal(t, 90*time.Second, d)
	_, err = ParseDays("fortnight")
	require.Error(t, err)
}

// The Archive activity reports its progress by signal; the status and the UI's current
// details show it while the export runs, and drop it (and any late report) afterwards.
func (s *lifecycle) TestArchiveProgressReachesStatusAndDetails() {
	s.delay["Archive"] = 6 * time.Hour
	s.results["Plan"] = activities.Plan{Engine: "mariadb", Store: "default", Policy: activities.ProductionPolicy, Signers: &devSigners,
		Inventory: engine.Inventory{Engine: "mariadb", Object: "shop", Tables: []engine.Table{{Name: "t", Rows: 4000, Bytes: 1 << 20}}, TotalRows: 4000, TotalBytes: 1 << 20}}
	report := func(at time.Duration, c activities.ArchiveCounts) {
		s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(activities.SignalArchiveProgress, c) }, at)
	}
	var during Status
	var details string
	// Before the export: nobody is archiving, so the report is dropped.
	report(day, activities.ArchiveCounts{Table: "early", Rows: 1})
	report(17*day+2*time.Hour, activities.ArchiveCounts{Table: "t", TablesTotal: 1, ChunksDone: 3, ChunksTotal: 4, Rows: 3000, Bytes: 3 << 20})
	s.env.RegisterDelayedCallback(func() {
		v, err := s.env.QueryWorkflow(QueryStatus)
		s.Require().NoError(err)
		s.Require().NoError(v.Get(&during))
		v, err = s.env.QueryWorkflow("__temporal_workflow_metadata")
		s.Require().NoError(err)
		var md sdkpb.WorkflowMetadata
		s.Require().NoError(v.Get(&md))
		details = md.GetCurrentDetails()
	}, 17*day+3*time.Hour)
	// After the export: a late report changes nothing.
	report(17*day+7*time.Hour, activities.ArchiveCounts{Table: "late", Rows: 9})
	s.execute(request(ReasonMigration))

	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(s.calls["Archive"], 1)
	started := s.calls["Archive"][0].Add(-6 * time.Hour) // the stub notes when it returns
	s.Require().Less(started, s.start.Add(17*day+2*time.Hour), "the report must fall inside the export")
	s.Equal(PhaseArchive, during.Phase)
	s.Require().NotNil(during.Archiving)
	s.Equal(activities.ArchiveCounts{Table: "t", TablesTotal: 1, ChunksDone: 3, ChunksTotal: 4, Rows: 3000, Bytes: 3 << 20}, during.Archiving.ArchiveCounts)
	s.True(started.Equal(during.Archiving.Since), "since %s, want %s", during.Archiving.Since, started)
	s.True(s.start.Add(17*day+2*time.Hour).Equal(during.Archiving.At), "at %s", during.Archiving.At)
	s.Contains(details, "| table | `t` (0 of 1 tables done) |")
	s.Contains(details, "| chunks | 3 of 4 |")
	s.Contains(details, "| rows | 3000 of 4000 (75%) |")
	s.Contains(details, "| written | 3.0 MiB |")
	s.Contains(details, "| average rate | 436 B/s, 0.4 rows/s since "+stamp(started)+" |") // 3 MiB and 3000 rows in 2 h
	s.Contains(details, "| time left | about 40m0s |")
	s.Nil(s.record().Archiving, "the record keeps no progress")
}

// An objection while the run waits for a sign-off ends it: the record must not still say
// that it waits for one.
func (s *lifecycle) TestObjectionWhileAwaitingSignoffLeavesNothingWaiting() {
	var err error
	s.update(20*day, UpdateObject, Objection{By: "bob", Reason: "found a reader"}, &err)
	s.execute(request(ReasonDecommission))
	s.NoError(err)
	rec := s.record()
	s.Equal(PhaseAborted, rec.Phase)
	s.Empty(rec.Waiting)
	s.NotContains(Markdown(rec), "Waiting for")
}

// Invariant 1 against the progress reports: a report that says every row is written is no
// archive. When the export itself fails, nothing is verified and nothing is dropped.
func (s *lifecycle) TestAFullProgressReportIsNoArchive() {
	delete(s.results, "Archive")
	s.env.OnActivity("Archive", mock.Anything, mock.Anything).After(6*time.Hour).
		Return(activities.ArchiveResult{}, temporal.NewNonRetryableApplicationError("store refused the upload", "Test", nil))
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(activities.SignalArchiveProgress, activities.ArchiveCounts{TablesDone: 1, TablesTotal: 1, ChunksDone: 4, ChunksTotal: 4, Rows: 3, Bytes: 16384})
	}, 17*day+time.Hour)
	s.execute(request(ReasonMigration))

	s.Error(s.env.GetWorkflowError())
	s.Equal(0, s.ran("VerifyArchive"))
	s.Equal(0, s.ran("Drop"), "dropped on the word of a progress report")
	s.Equal(1, s.ran("RestoreAccess"), "access is given back")
	var rec Status
	v, err := s.env.QueryWorkflow(QueryStatus)
	s.Require().NoError(err)
	s.Require().NoError(v.Get(&rec))
	s.Equal(PhaseFailed, rec.Phase)
	s.Nil(rec.Archive)
	s.Nil(rec.Archiving)
	s.Equal(GatePending, s.gate(rec, GateArchive).State)
}
