package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/notify"
)

// Regression tests for what a new user found on 2026-12-01 (each failed before its fix).

// People's names compare as people do: "ALICE " is the owner alice, who cannot sign twice by
// changing her case. (That "REQ1" is the requester "req1" when the plan looks for an owner
// other than the requester is tested in activities/signers_test.go.)
func TestPeopleCompareCaseInsensitivelyAndTrimmed(t *testing.T) {
	require.True(t, SamePerson(" Alice", "alice "))
	require.False(t, SamePerson("alice", "alice2"))
}

func (s *lifecycle) TestSignoffNamesCompareCaseInsensitively() {
	var self, owner, twice error
	s.update(4*day, UpdateApprove, Signoff{By: "DBA"}, &self)
	s.update(5*day, UpdateApprove, Signoff{By: "ALICE "}, &owner)
	s.update(6*day, UpdateApprove, Signoff{By: "alice"}, &twice)
	s.execute(request(ReasonDecommission))
	s.NoError(s.env.GetWorkflowError())
	s.ErrorContains(self, "requested this retirement and cannot sign it off")
	s.NoError(owner)
	s.ErrorContains(twice, "already signed off")
	s.Len(s.record().Signoffs, 1)
}

// Which object names are valid is the engine's rule, applied by the plan: the workflow
// refuses only what no engine accepts.
func TestObjectNamesAreTheEnginesBusiness(t *testing.T) {
	for _, ok := range []string{"shop", "pdb:SALESPDB", "HR#2", "SYS$X", strings.Repeat("A", 128), "pdb:" + strings.Repeat("B", 128)} {
		r := request(ReasonMigration)
		r.Object = ok
		require.NoError(t, r.WithDefaults().Validate(), ok)
	}
	for _, bad := range []string{"", "  ", "shop\x00", "shop\nx", strings.Repeat("A", MaxObjectName+1), "\xff"} {
		r := request(ReasonMigration)
		r.Object = bad
		require.Error(t, r.WithDefaults().Validate(), "%q", bad)
	}
}

// The documented `pdb:SALESPDB` starts and runs through the workflow.
func (s *lifecycle) TestPDBRetirementRuns() {
	s.results["Plan"] = activities.Plan{Engine: "oracle", Store: "default", Policy: activities.ProductionPolicy, Signers: &devSigners,
		Inventory: engine.Inventory{Engine: "oracle", Object: "pdb:SALESPDB", Tables: []engine.Table{{Name: "HR.EMP", Rows: 3, Bytes: 65536}}, TotalRows: 3, TotalBytes: 65536}}
	req := request(ReasonMigration)
	req.Object = "pdb:SALESPDB"
	s.execute(req)
	s.NoError(s.env.GetWorkflowError())
	s.Equal(PhaseDone, s.record().Phase)
	s.Equal(1, s.ran("Drop"))
}

// A dry run ends in a phase of its own, so it is never listed beside dropped databases.
func (s *lifecycle) TestDryRunEndsInItsOwnPhase() {
	phases := s.phasesSet()
	req := request(ReasonDecommission)
	req.DryRun = true
	s.execute(req)
	s.NoError(s.env.GetWorkflowError())
	rec := s.record()
	s.Equal(PhaseDryRun, rec.Phase)
	s.True(rec.Phase.Ended())
	s.False(rec.Phase.PastDrop())
	s.Equal(PhaseDryRun, (*phases)[len(*phases)-1], "the search attribute ends as dry-run")
	s.NotContains(*phases, PhaseDone)
	s.Contains(Markdown(rec), "dry run")
}

// The record phase is entered while the record is written, and the run then ends done.
func (s *lifecycle) TestRecordPhaseIsEntered() {
	phases := s.phasesSet()
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.Equal([]Phase{PhasePlan, PhaseSample, PhaseQuiesce, PhaseObserve, PhaseArchive, PhaseDrop, PhaseVerify, PhaseRecord, PhaseDone}, *phases)
	s.Equal(PhaseDone, s.record().Phase, "the record says how it ended, not that it was being written")
}

// phasesSet collects the RetirePhase values the workflow upserts, in order.
func (s *lifecycle) phasesSet() *[]Phase {
	var phases []Phase
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		if v, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(AttrPhase); ok {
			phases = append(phases, Phase(v))
		}
	}).Return(nil)
	return &phases
}

// The lists of running, ended and past-the-drop phases live in one place.
func TestPhaseSets(t *testing.T) {
	for _, p := range Phases {
		require.True(t, p.Valid())
		require.NotEqual(t, p.Ended(), containsPhase(RunningPhases, p), p)
	}
	require.Len(t, Phases, len(RunningPhases)+len(EndedPhases))
	for _, p := range []Phase{PhaseDrop, PhaseVerify, PhaseRecord, PhaseDone} {
		require.True(t, p.PastDrop(), p)
		require.False(t, p.BeforeDrop(), p)
	}
	for _, p := range []Phase{PhasePlan, PhaseSample, PhaseQuiesce, PhaseObserve, PhaseArchive} {
		require.True(t, p.BeforeDrop(), p)
	}
	for _, p := range []Phase{PhaseDryRun, PhaseAborted, PhaseCancelled, PhaseFailed} {
		require.False(t, p.BeforeDrop(), p)
		require.False(t, p.PastDrop(), p)
	}
	require.False(t, Phase("gone").Valid())
}

func containsPhase(ps []Phase, p Phase) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// A drop the server refused while the object stayed whole destroyed nothing: access comes
// back, the run ends failed, and owners are not told that data may be gone.
func (s *lifecycle) TestDropRefusedWithTheObjectWholeGivesAccessBack() {
	delete(s.results, "Drop")
	s.env.OnActivity("Drop", mock.Anything, mock.Anything).Return(
		temporal.NewNonRetryableApplicationError("Error 1044: Access denied for user 'retire'@'%' to database 'shop'", activities.ErrTypeDropRefusedIntact, nil))
	s.execute(request(ReasonMigration))
	s.Error(s.env.GetWorkflowError())
	s.Equal(1, s.ran("RestoreAccess"), "nothing was dropped: access is given back")
	var st Status
	v, err := s.env.QueryWorkflow(QueryStatus)
	s.Require().NoError(err)
	s.Require().NoError(v.Get(&st))
	s.Equal(PhaseFailed, st.Phase)
	s.True(st.AccessRestored)
	s.Equal(GateFailed, s.gate(st, GateDropped).State)
	s.Contains(s.gate(st, GateDropped).Detail, "whole")
	last := s.sent[len(s.sent)-1]
	s.Equal(notify.Aborted, last.Kind)
	s.False(last.DropStarted)
	s.True(last.AccessRestored)
}

// Once a run winds up, a decision is refused with what to do instead; an objection after
// the drop points to retire restore.
func (s *lifecycle) TestObjectionAfterTheDropPointsToRestore() {
	s.delay["WriteRecord"] = time.Hour
	var late error
	// Sampling 3 days, observation 14, then the archive, the drop and the record, which
	// takes an hour here.
	s.update(17*day+30*time.Minute, UpdateObject, Objection{By: "bob", Reason: "needed after all"}, &late)
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.Require().Equal(1, s.ran("WriteRecord"))
	s.ErrorContains(late, "retire restore")
	s.Empty(s.record().Objections)
}

// Windows print in days and hours, never as 841h0m0s.
func TestWindowsPrintInDays(t *testing.T) {
	require.Equal(t, "14d", days(14*day))
	require.Equal(t, "35d 1h", days(35*day+time.Hour))
	require.Equal(t, "1d 12h", days(36*time.Hour))
	require.Equal(t, "1h 30m", days(90*time.Minute))
	require.Equal(t, "30s", days(30*time.Second))
	require.Equal(t, "0s", days(0))
	r := request(ReasonMigration).WithDefaults()
	r.ObserveWindow = 35*day + time.Hour
	require.ErrorContains(t, r.Validate(), "35d 1h is longer than the 35d maximum")
}

// The plan names the server's own identity; the run holds the object on that server for
// as long as it runs, through a lock workflow whose id any other profile reaching the same
// server computes alike.
func (s *lifecycle) TestTheObjectIsHeldOnItsServer() {
	plan := s.results["Plan"].(activities.Plan)
	plan.ServerID = "mariadb-srv1-3306"
	s.results["Plan"] = plan
	var started []string
	s.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		started = append(started, info.WorkflowType.Name+" "+info.WorkflowExecution.ID)
	})
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.Equal([]string{ObjectLockName + " retire-object:mariadb-srv1-3306:shop"}, started)
	rec := s.record()
	s.Equal("retire-object:mariadb-srv1-3306:shop", rec.ObjectLock)
	s.Equal(PhaseDone, rec.Phase)
	s.Equal(ObjectLockID("mariadb-srv1-3306", "shop"), rec.ObjectLock)
}
