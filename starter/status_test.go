package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/workflows"
)

func pendingPlan(lastFailure string) *workflowpb.PendingActivityInfo {
	return &workflowpb.PendingActivityInfo{
		ActivityType: &commonpb.ActivityType{Name: "Plan"},
		State:        enumspb.PENDING_ACTIVITY_STATE_SCHEDULED,
		Attempt:      3,
		LastFailure:  &failurepb.Failure{Message: lastFailure},
	}
}

func pendingArchive(t *testing.T) *workflowpb.PendingActivityInfo {
	details, err := converter.GetDefaultDataConverter().ToPayloads(activities.ArchiveProgress{ArchiveCounts: activities.ArchiveCounts{
		Table: "orders", TablesDone: 3, TablesTotal: 16, Rows: 120000, Bytes: 14889779,
	}})
	require.NoError(t, err)
	return &workflowpb.PendingActivityInfo{
		ActivityType:      &commonpb.ActivityType{Name: "Archive"},
		State:             enumspb.PENDING_ACTIVITY_STATE_STARTED,
		Attempt:           2,
		HeartbeatDetails:  details,
		LastHeartbeatTime: timestamppb.New(testNow.Add(-5 * time.Second)),
	}
}

func TestStatusTextStartsWithPhaseAndWaiting(t *testing.T) {
	var b bytes.Buffer
	renderStatus(&b, statusView{Status: sampleStatus(), ExecutionStatus: "Running"})
	text := b.String()
	lines := strings.Split(text, "\n")
	assert.Equal(t, "phase: observe", lines[0])
	assert.Equal(t, "waiting: owner sign-off (retire approve --as <owner>), or an objection", lines[1])
	for _, want := range []string{
		"retirement: local/shop (workflow retire:local:shop, run run-1, Running)\n",
		"owners: alice, bob\n",
		"requester: carol\n",
		"sampling until: 2026-11-04 10:00 UTC\n",
		"observation: 2026-11-04 10:00 UTC -> 2026-11-25 10:00 UTC (21d)\n",
		"inventory: MariaDB 10.11.6: 2 tables, 120,000 rows, 14.2 MiB; 1 views, 0 routines, 1 triggers, 0 events; accounts that reach it: 1: app@% (database; only this database)\n",
		"access cut: 3 grants revoked, 1 accounts locked, 0 tables moved, 1 sessions killed\n",
		"\ngates:\n",
		"\nextensions:\n  alice by 7d at 2026-11-06 10:00 UTC: quarter end\n",
		"\nclients seen (4320 looks):\n",
		"  acknowledged by dba at 2026-11-04 10:00 UTC: the BI box is retired\n",
	} {
		assert.Contains(t, text, want)
	}
	assert.Regexp(t, `(?m)^  CLIENT\s+PROGRAM\s+HOW\s+TABLES\s+CONNECTIONS\s+FIRST SEEN\s+LAST SEEN$`, text)
	assert.Regexp(t, `(?m)^  report@10\.1\.2\.3\s+metabase\s+-\s+-\s+4\s+2026-11-01 12:00 UTC\s+2026-11-03 12:00 UTC$`, text)
	assert.Regexp(t, `(?m)^  owner sign-off\s+pending\s+-\s+-\s*$`, text)
	assert.Regexp(t, `(?m)^  GATE\s+STATE\s+BY\s+AT\s+DETAIL$`, text)
	assert.Regexp(t, `(?m)^  no unacknowledged clients\s+passed\s+dba\s+2026-11-04 10:00 UTC\s+acknowledged: the BI box is retired$`, text)
}

func TestStatusWithoutWaitingHasNoWaitingLine(t *testing.T) {
	st := sampleStatus()
	st.Waiting = ""
	var b bytes.Buffer
	renderStatus(&b, statusView{Status: st})
	lines := strings.SplitN(b.String(), "\n", 3)
	assert.Equal(t, "phase: observe", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "retirement: "), lines[1])
}

func TestProgressFromArchiveHeartbeat(t *testing.T) {
	d, err := (&app{timeout: time.Second}).describe(context.Background(),
		&fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhaseArchive, pendingArchive(t))},
		"retire:local:shop", "")
	require.NoError(t, err)
	require.Len(t, d.pending, 1)
	p := d.pending[0]
	assert.Equal(t, "archiving orders (3/16 tables, 120,000 rows, 14.2 MiB)", progressLine(p))
	assert.Equal(t, "Archive (attempt 2, last heartbeat 2026-11-20 09:59:55 UTC)", activityLine(p))

	var b bytes.Buffer
	renderStatus(&b, statusView{Status: workflows.Status{Phase: workflows.PhaseArchive}, PendingActivities: d.pending})
	assert.Contains(t, b.String(), "\nprogress: archiving orders (3/16 tables, 120,000 rows, 14.2 MiB)\n")
}

func TestProgressFromSamplingHeartbeat(t *testing.T) {
	details, err := converter.GetDefaultDataConverter().ToPayloads(activities.SampleProgress{
		Looks: 120, Seen: []engine.Session{{User: "app", Host: "10.0.0.1"}, {User: "report", Host: "10.0.0.2"}},
	})
	require.NoError(t, err)
	hb := heartbeatJSON(details)
	assert.Equal(t, "sampling (120 looks, 2 clients seen)", progressLine(pendingActivity{Type: "SampleClients", Heartbeat: hb}))

	seen := `{"looks":120,"seen":[{"user":"app","host":"10.0.0.1"},{"user":"report","host":"10.0.0.2"}]}`
	assert.Equal(t, "sampling (120 looks, 2 clients seen)", progressLine(pendingActivity{Type: "SampleClients", Heartbeat: json.RawMessage(seen)}))
	assert.Equal(t, "sampling (1 look, 0 clients seen)", progressLine(pendingActivity{Type: "SampleClients", Heartbeat: json.RawMessage(`{"looks":1,"seen":0}`)}))
	assert.Equal(t, "", progressLine(pendingActivity{Type: "Plan"}), "no heartbeat, no progress")
	assert.Equal(t, "", progressLine(pendingActivity{Type: "Plan", Heartbeat: json.RawMessage(`"alive"`)}), "not an object")
	assert.Equal(t, "", progressLine(pendingActivity{Type: "Plan", Heartbeat: json.RawMessage(`{"other":1}`)}), "no known field")
}

func TestStatusJSONCarriesPendingActivities(t *testing.T) {
	st := sampleStatus()
	fake := &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhaseArchive, pendingArchive(t)), status: &st}
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop", "-o", "json"}), errOut.String())
	var got map[string]any
	require.NoError(t, json.Unmarshal(out.Bytes(), &got))
	assert.Equal(t, "observe", got["phase"])
	assert.Equal(t, "Running", got["execution_status"])
	pa := got["pending_activities"].([]any)[0].(map[string]any)
	assert.Equal(t, "Archive", pa["type"])
	assert.Equal(t, "orders", pa["heartbeat"].(map[string]any)["table"])
	assert.NotNil(t, got["gates"])
}

func TestStatusOfAFailedRetirementWithoutWorker(t *testing.T) {
	refused := temporal.NewNonRetryableApplicationError("shop does not exist on local", "Refused", nil)
	fake := &fakeTemporal{
		desc:      description(t, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, workflows.PhaseFailed),
		queryErr:  serviceerror.NewDeadlineExceeded("no poller"),
		resultErr: activityFailure("Plan", refused),
	}
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop"}), errOut.String())
	text := out.String()
	assert.True(t, strings.HasPrefix(text, "phase: failed\n"), text)
	assert.Contains(t, text, "\nerror: shop does not exist on local\n")
	assert.Contains(t, text, "\nnote: no worker answered the status query")
	assert.Contains(t, text, "\nowners: alice, bob\n")
}

func TestStatusOfACompletedRetirementReadsTheRecord(t *testing.T) {
	rec := sampleStatus()
	rec.Phase, rec.Waiting, rec.Outcome = workflows.PhaseDone, "", "retired"
	fake := &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, workflows.PhaseDone), result: &rec}
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop"}), errOut.String())
	assert.True(t, strings.HasPrefix(out.String(), "phase: done\noutcome: retired\n"), out.String())
}

func TestStatusRunningWithoutWorker(t *testing.T) {
	fake := &fakeTemporal{desc: description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, workflows.PhaseSample), queryErr: serviceerror.NewDeadlineExceeded("timeout")}
	a, out, errOut := testApp(t, fake, nil)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop"}), errOut.String())
	assert.True(t, strings.HasPrefix(out.String(), "phase: sample\nnote: the workflow did not answer the status query within 30s: is a retire-worker running on task queue \"retire\"?\n"), out.String())
}

func TestStatusNotFound(t *testing.T) {
	fake := &fakeTemporal{descErr: serviceerror.NewNotFound("workflow not found")}
	a, _, errOut := testApp(t, fake, nil)
	assert.Equal(t, 1, a.execute([]string{"status", "local", "shop"}))
	assert.Equal(t, "retire: no retirement of local/shop found (workflow retire:local:shop); see `retire list --all`\n", errOut.String())
}

func TestFormats(t *testing.T) {
	assert.Equal(t, "120,000", thousands(120000))
	assert.Equal(t, "-1,000", thousands(-1000))
	assert.Equal(t, "999", thousands(999))
	assert.Equal(t, "14.2 MiB", bytesText(14889779))
	assert.Equal(t, "512 B", bytesText(512))
	assert.Equal(t, "14d", days(14*24*time.Hour))
	assert.Equal(t, "1d 12h", days(36*time.Hour))
	assert.Equal(t, "", stamp(time.Time{}))
}

// The status says how complete the usage evidence is and what it saw.
func TestStatusTextShowsTheEvidence(t *testing.T) {
	st := sampleStatus()
	from := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	st.Evidence = &workflows.Evidence{
		Sources: []engine.EvidenceSource{{Name: engine.SourceTableCounters, State: engine.SourceAvailable, Detail: "TABLE_STATISTICS"},
			{Name: engine.SourceAuditLog, State: engine.SourceOff, Detail: "set audit_log in the profile"}},
		WindowFrom: from, WindowUntil: from.Add(40 * time.Second), Looked: 29 * time.Second,
		Counted:      true,
		Access:       []engine.TableAccess{{Table: "orders", Reads: 1200, Writes: 3}},
		Unattributed: []engine.TableAccess{{Table: "orders", Reads: 1200, Writes: 3}},
		Problems:     []string{"looked at 29s of the 40s window"},
		Attempts:     []activities.Attempt{{Account: "crm@10.0.0.9", DeniedLogins: 12, FirstSeen: from, LastSeen: from, Source: "audit log"}},
	}
	var b bytes.Buffer
	renderStatus(&b, statusView{Status: st, ExecutionStatus: "Running"})
	text := b.String()
	for _, want := range []string{
		"\nevidence (window 2026-11-01 10:00 UTC -> 2026-11-01 10:00 UTC, looked at 29s):\n",
		"  counted on orders: 1,200 rows read, 3 changed\n",
		"  unattributed: orders (1,200 reads, 3 writes) and no client seen explains it\n",
		"  incomplete: looked at 29s of the 40s window\n",
		"    crm@10.0.0.9: 12 denied logins, 0 refused statements",
	} {
		assert.Contains(t, text, want)
	}
	assert.Regexp(t, `(?m)^  audit-log\s+off\s+set audit_log in the profile$`, text)
}
