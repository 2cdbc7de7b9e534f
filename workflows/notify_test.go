package workflows

import (
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/notify"
)

func (s *lifecycle) kinds() []notify.Kind {
	var out []notify.Kind
	for _, ev := range s.sent {
		out = append(out, ev.Kind)
	}
	return out
}

func (s *lifecycle) sentAt(ev notify.Event, offset time.Duration) {
	s.WithinDuration(s.start.Add(offset), ev.At, time.Minute, "%s sent at the wrong time", ev.Kind)
}

// Default windows: sampling days 0-3, observation days 3-17, reminder 2 days before its end.
func (s *lifecycle) TestOwnersAreToldAtEachStep() {
	var err error
	s.update(19*day+12*time.Hour, UpdateApprove, Signoff{By: "alice"}, &err)
	s.execute(request(ReasonDecommission))
	s.NoError(s.env.GetWorkflowError())
	s.NoError(err)

	s.Equal([]notify.Kind{notify.AccessCut, notify.Reminder, notify.SignoffNeeded, notify.SignoffNeeded, notify.SignoffNeeded, notify.Dropped}, s.kinds())
	cut, reminder, asks, dropped := s.sent[0], s.sent[1], s.sent[2:5], s.sent[5]
	s.sentAt(cut, 3*day)
	s.WithinDuration(s.start.Add(17*day), cut.Until, time.Minute, "the access-cut notice gives the window's end")
	s.sentAt(reminder, 15*day)
	s.Equal(cut.Until, reminder.Until)
	for i, ask := range asks {
		s.sentAt(ask, 17*day+time.Duration(i)*day)
		s.Equal(i, ask.Seq, "daily sign-off requests have distinct idempotency keys")
		s.Empty(ask.Signed)
	}
	s.Equal("p/", dropped.ArchivePath)
	s.Equal(int64(16384), dropped.BytesFreed)
	s.Equal([]string{"alice"}, dropped.Signed)
	for _, ev := range s.sent {
		s.Equal("local", ev.Connection)
		s.Equal("shop", ev.Object)
		s.Equal([]string{"alice", "bob"}, ev.Owners)
		s.Equal("dba", ev.Requester)
	}
	rec := s.record()
	s.Len(rec.Notices, 6, "the record lists every notice")
	for _, n := range rec.Notices {
		s.True(n.Sent, n.Kind)
		s.Empty(n.Error)
	}
}

func (s *lifecycle) TestClientsSeenAreTold() {
	s.results["SampleClients"] = s.looked(activities.SampleResult{Seen: []engine.Session{{User: "sms", Host: "10.0.0.7", Count: 4}}, Looks: 10})
	var ack error
	s.update(4*day, UpdateAcknowledge, Acknowledgement{By: "dba", Note: "moved"}, &ack)
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.Require().NotEmpty(s.sent)
	s.Equal(notify.ClientsSeen, s.sent[0].Kind)
	s.sentAt(s.sent[0], 3*day)
	s.Require().Len(s.sent[0].Clients, 1)
	s.Contains(s.sent[0].Clients[0], "sms@10.0.0.7")
}

func (s *lifecycle) TestExtensionMovesTheReminder() {
	var ext error
	s.update(16*day, UpdateExtend, Extension{By: "bob", Extra: 5 * day, Reason: "month end"}, &ext)
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	s.NoError(ext)
	var reminders []notify.Event
	for _, ev := range s.sent {
		if ev.Kind == notify.Reminder {
			reminders = append(reminders, ev)
		}
	}
	s.Require().Len(reminders, 2, "one reminder per window end")
	s.sentAt(reminders[0], 15*day)
	s.Equal(0, reminders[0].Seq)
	s.sentAt(reminders[1], 20*day)
	s.Equal(1, reminders[1].Seq)
	s.WithinDuration(s.start.Add(22*day), reminders[1].Until, time.Minute)
}

func (s *lifecycle) TestShortWindowHasNoReminder() {
	req := request(ReasonMigration)
	req.ObserveWindow = 7 * day
	s.results["Plan"] = func() activities.Plan {
		p := s.results["Plan"].(activities.Plan)
		p.ReminderDays = 7
		return p
	}()
	s.execute(req)
	s.NoError(s.env.GetWorkflowError())
	s.Equal([]notify.Kind{notify.AccessCut, notify.Dropped}, s.kinds(), "the access-cut notice already gave the date")
}

// A relay that is down must cost a few minutes of retries, never the retirement.
func (s *lifecycle) TestNotificationFailureNeverStopsTheRetirement() {
	s.notifyErr = temporal.NewApplicationError("relay down", "NotifyFailed")
	s.execute(request(ReasonMigration))
	s.NoError(s.env.GetWorkflowError())
	rec := s.record()
	s.Equal(PhaseDone, rec.Phase)
	s.Equal(1, s.ran("Drop"))
	s.Len(s.sent, 3*5, "three notices, five attempts each, then given up")
	s.Len(rec.Notices, 3)
	for _, n := range rec.Notices {
		s.False(n.Sent)
		s.Contains(n.Error, "relay down")
	}
	s.Less(s.calls["Archive"][0].Sub(s.start), 17*day+time.Hour, "failing notifications delayed the retirement")
}

func (s *lifecycle) TestObjectionTellsOwnersItEnded() {
	var err error
	s.update(5*day, UpdateObject, Objection{By: "bob", Reason: "billing still reads it"}, &err)
	s.execute(request(ReasonDecommission))
	s.NoError(s.env.GetWorkflowError())
	s.Equal([]notify.Kind{notify.AccessCut, notify.Aborted}, s.kinds())
	s.True(s.sent[1].AccessRestored)
	s.Contains(s.sent[1].Outcome, "bob objected")
}

// A drop that fails after it has begun is not "aborted without dropping anything": the
// owners hear that data may be gone and where the verified archive is; access is not
// given back (the workflow cannot know what is left) and nothing awaits a person any more.
func (s *lifecycle) TestDropFailureTellsOwnersDataMayBeGone() {
	delete(s.results, "Drop")
	s.env.OnActivity("Drop", mock.Anything, mock.Anything).Return(temporal.NewNonRetryableApplicationError("lost connection", "Test", nil))
	s.execute(request(ReasonMigration))
	s.Error(s.env.GetWorkflowError())
	s.Equal([]notify.Kind{notify.AccessCut, notify.Reminder, notify.Aborted}, s.kinds())
	last := s.sent[len(s.sent)-1]
	s.True(last.DropStarted)
	s.False(last.AccessRestored)
	s.Equal("p/", last.ArchivePath)
	s.Equal(0, s.ran("RestoreAccess"), "after the drop began, access is not given back")

	var st Status
	v, err := s.env.QueryWorkflow(QueryStatus)
	s.Require().NoError(err)
	s.Require().NoError(v.Get(&st))
	s.Equal(PhaseFailed, st.Phase)
	s.Empty(st.Waiting)
}

func (s *lifecycle) TestNobodyIsToldOfWhatNeverTouchedThem() {
	s.env.RegisterDelayedCallback(func() { s.env.CancelWorkflow() }, 12*time.Hour)
	s.execute(request(ReasonMigration))
	s.Error(s.env.GetWorkflowError())
	s.Empty(s.sent, "cancelled during sampling: nothing changed, nobody heard of it")

	s.SetupTest()
	req := request(ReasonDecommission)
	req.DryRun = true
	s.execute(req)
	s.NoError(s.env.GetWorkflowError())
	s.Empty(s.sent, "a dry run tells nobody")
}

// The record is what an auditor reads years later: who asked, who signed and when, every
// gate with its time and actor, where the archive is, the hash that pins it, bytes freed,
// and who was told.
func (s *lifecycle) TestRecordReadsAsAnAuditDocument() {
	var err error
	s.update(4*day, UpdateApprove, Signoff{By: "alice", Comment: "shop closed"}, &err)
	s.results["Archive"] = activities.ArchiveResult{Store: "default", Bucket: "b", Path: "local/shop/run/", ManifestKey: "archive/local/shop/run/manifest.json",
		URL: "s3://b/archive/local/shop/run/", ManifestSHA256: "0f1e2d", Tables: 1, Rows: 3, Files: 4, Bytes: 2048}
	s.execute(request(ReasonDecommission))
	s.NoError(s.env.GetWorkflowError())
	md := Markdown(s.record())
	for _, want := range []string{
		"## Retirement of `local/shop`", "**Phase:** done — retired",
		"| Requested by | dba — identity not verified (dev worker: a name typed on the CLI) |", "| Owners | alice, bob (from the request) |",
		"— “shop closed” — identity not verified (dev worker: a name typed on the CLI)",
		"| owner sign-off | passed | alice |", "alice **signed off**", "“shop closed”",
		"| Location | s3://b/archive/local/shop/run/ (store default) |",
		"SHA-256 `0f1e2d`", "| Contents | 1 tables, 3 rows in 4 files, 2.0 KiB |",
		"| Verification | passed: every object read back",
		"| Bytes freed | 16.0 KiB (16384 bytes) |",
		"`retire restore local/shop/run/ --connection <profile> --into <new name>`",
		"### Owners told", "| access-cut |", "| dropped |",
	} {
		s.Contains(md, want)
	}
}
