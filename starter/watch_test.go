package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/workflows"
)

const day = 24 * time.Hour

// archiving is a status in the archive phase of a database of 1,000,000 rows and 500 MiB,
// with the archive activity's heartbeat as the CLI reads it.
func archiving(t *testing.T, attempt int32, rows, bytes int64, at time.Time) statusView {
	t.Helper()
	st := sampleStatus()
	st.Phase, st.Waiting = workflows.PhaseArchive, ""
	st.Plan.Inventory.TotalRows, st.Plan.Inventory.TotalBytes = 1_000_000, 500<<20
	hb, err := json.Marshal(activities.ArchiveProgress{ArchiveCounts: activities.ArchiveCounts{Table: "payment", TablesDone: 3, TablesTotal: 16, ChunksDone: 7, ChunksTotal: 20, Rows: rows, Bytes: bytes}})
	require.NoError(t, err)
	return statusView{Status: st, ExecutionStatus: "Running", PendingActivities: []pendingActivity{
		{Type: "Archive", State: "Started", Attempt: attempt, LastHeartbeat: at, Heartbeat: hb},
	}}
}

// sampling is a status one day into a three-day sampling window, the sample activity having
// looked 120 times and seen two clients.
func sampling(t *testing.T, now time.Time) statusView {
	t.Helper()
	st := sampleStatus()
	st.Phase, st.Waiting = workflows.PhaseSample, ""
	st.StartedAt, st.SampleUntil = now.Add(-day), now.Add(2*day)
	st.SampleLooks, st.Clients = 1000, nil
	hb, err := json.Marshal(activities.SampleProgress{Looks: 120, Seen: []engine.Session{{User: "app", Host: "10.0.0.1"}, {User: "report", Host: "10.0.0.2"}}})
	require.NoError(t, err)
	return statusView{Status: st, ExecutionStatus: "Running", PendingActivities: []pendingActivity{
		{Type: "SampleClients", State: "Started", Attempt: 1, LastHeartbeat: now.Add(-3 * time.Second), Heartbeat: hb},
	}}
}

func TestWatchArchiveBarRateAndTimeLeftFromTwoHeartbeats(t *testing.T) {
	t0 := testNow
	s1, f1 := watchStep(watchState{}, archiving(t, 1, 100_000, 10<<20, t0), t0)
	require.NotNil(t, f1.Progress)
	assert.InDelta(t, 0.1, f1.Progress.Done, 1e-9, "done is rows of the inventory's total rows")
	assert.Zero(t, f1.Progress.RowsPerSec, "one heartbeat gives no rate")
	assert.Equal(t, time.Duration(-1), f1.Progress.Left)
	assert.Contains(t, terminalLines(f1), "time left: unknown")
	assert.True(t, f1.Changed)

	t1 := t0.Add(10 * time.Second)
	s2, f2 := watchStep(s1, archiving(t, 1, 200_000, 20<<20, t1), t1)
	pr := f2.Progress
	assert.InDelta(t, 0.2, pr.Done, 1e-9)
	assert.InDelta(t, 10_000, pr.RowsPerSec, 1e-6, "100,000 rows in 10 s")
	assert.InDelta(t, 1<<20, pr.BytesPerSec, 1e-6, "10 MiB in 10 s")
	assert.Equal(t, 80*time.Second, pr.Left, "800,000 rows left at 10,000 rows/s")
	assert.Equal(t, []string{
		"retire:local:shop  phase: archive  (Running)  at 10:00:10 UTC",
		"archiving payment: 3/16 tables, 7/20 chunks",
		"[######------------------------]  20.0%",
		"rows:  200,000 of 1,000,000 rows (20.0%), 10,000 rows/s",
		"bytes: 20.0 MiB written (500.0 MiB in the database), 1.0 MiB/s",
		"time left: 1m20s",
	}, terminalLines(f2))

	// Twenty seconds on, a keep-alive repeats the same values: the rate stands, the time
	// left counts down, and nothing changed but the clock.
	t2 := t1.Add(20 * time.Second)
	s3, f3 := watchStep(s2, archiving(t, 1, 200_000, 20<<20, t2), t2)
	assert.False(t, f3.Changed)
	assert.Equal(t, s2.points, s3.points)
	assert.InDelta(t, 10_000, f3.Progress.RowsPerSec, 1e-6)
	assert.Equal(t, 60*time.Second, f3.Progress.Left)

	// A new attempt starts the rate over.
	_, f4 := watchStep(s3, archiving(t, 2, 210_000, 21<<20, t2), t2)
	assert.Zero(t, f4.Progress.RowsPerSec)
	assert.Equal(t, time.Duration(-1), f4.Progress.Left)
}

func TestWatchRateIsAMovingWindow(t *testing.T) {
	var s watchState
	var f watchFrame
	at, rows := testNow, int64(0)
	step := func(d time.Duration, add int64) {
		at, rows = at.Add(d), rows+add
		s, f = watchStep(s, archiving(t, 1, rows, rows, at), at)
	}
	step(0, 0)
	step(5*time.Second, 5_000)
	step(5*time.Second, 5_000) // 1,000 rows/s for 10 s,
	for range 12 {
		step(5*time.Second, 50_000) // then 10,000 rows/s for a minute
	}
	assert.InDelta(t, 10_000, f.Progress.RowsPerSec, 1e-6, "the rate is the last 30 s, not the average since the start")
	assert.Len(t, s.points, 7, "heartbeats older than the window are dropped: 40 s to 70 s, every 5 s")
}

func TestWatchSamplingBarIsElapsedOfTheWindow(t *testing.T) {
	_, f := watchStep(watchState{}, sampling(t, testNow), testNow)
	pr := f.Progress
	require.NotNil(t, pr)
	assert.InDelta(t, 1.0/3, pr.Done, 1e-9)
	assert.Equal(t, day, pr.Elapsed)
	assert.Equal(t, 3*day, pr.Window)
	assert.Equal(t, 2*day, pr.Left)
	assert.Equal(t, []string{
		"retire:local:shop  phase: sample  (Running)  at 10:00:00 UTC",
		"sampling: 1,120 looks, 2 clients seen",
		"[##########--------------------]  33.3%",
		"elapsed 1d00h of 3d00h, until 2026-11-22 10:00 UTC",
		"time left: 2d00h",
	}, terminalLines(f))

	// After the window, while the clients wait for an acknowledgement: full, nothing left.
	late := testNow.Add(3 * day)
	_, f = watchStep(watchState{}, sampling(t, testNow), late)
	assert.Equal(t, 1.0, f.Progress.Done)
	assert.Equal(t, time.Duration(0), f.Progress.Left)
}

func TestWatchPlainLine(t *testing.T) {
	s, f := watchStep(watchState{}, archiving(t, 1, 100_000, 10<<20, testNow), testNow)
	assert.Equal(t, "2026-11-20 10:00:00 UTC; phase archive; archiving payment: 3/16 tables, 7/20 chunks; "+
		"100,000 of 1,000,000 rows (10.0%); 10.0 MiB written (500.0 MiB in the database); time left unknown", plainLine(f))
	t1 := testNow.Add(10 * time.Second)
	_, f = watchStep(s, archiving(t, 1, 200_000, 20<<20, t1), t1)
	line := plainLine(f)
	assert.Equal(t, "2026-11-20 10:00:10 UTC; phase archive; archiving payment: 3/16 tables, 7/20 chunks; "+
		"200,000 of 1,000,000 rows (20.0%), 10,000 rows/s; 20.0 MiB written (500.0 MiB in the database), 1.0 MiB/s; time left 1m20s", line)
	assert.NotContains(t, line, "\x1b")
	assert.NotContains(t, line, "\n")

	st := sampleStatus()
	st.Phase, st.Waiting, st.Error = workflows.PhaseFailed, "", "the archive did not verify"
	_, f = watchStep(watchState{}, statusView{Status: st, ExecutionStatus: "Failed"}, testNow)
	assert.Equal(t, "2026-11-20 10:00:00 UTC; phase failed (Failed); error: the archive did not verify", plainLine(f))
	assert.True(t, f.Ended)
}

func TestWatchEndsWithTheRetirement(t *testing.T) {
	for _, tc := range []struct {
		phase     workflows.Phase
		execution string
		ended     bool
	}{
		{workflows.PhaseArchive, "Running", false},
		{workflows.PhaseObserve, "", false},
		{workflows.PhaseDone, "Running", false},    // winding up: its last task may yet be refused
		{workflows.PhaseAborted, "Running", false}, // still giving access back
		{workflows.PhaseDone, "Completed", true},
		{workflows.PhaseDone, "", true},
		{workflows.PhaseCancelled, "Canceled", true},
		{workflows.PhaseFailed, "Failed", true},
		{workflows.PhaseArchive, "Terminated", true}, // closed without a final phase
		{workflows.PhaseObserve, "TimedOut", true},
	} {
		st := sampleStatus()
		st.Phase = tc.phase
		_, f := watchStep(watchState{}, statusView{Status: st, ExecutionStatus: tc.execution}, testNow)
		assert.Equal(t, tc.ended, f.Ended, "%s/%s", tc.phase, tc.execution)
	}
}

func TestBarAndDurations(t *testing.T) {
	assert.Equal(t, "[------------------------------]   0.0%", bar(0))
	assert.Equal(t, "[###############---------------]  50.0%", bar(0.5))
	assert.Equal(t, "[##############################] 100.0%", bar(1.2))
	assert.Equal(t, "[------------------------------]   ?", bar(-1))
	assert.Equal(t, "45s", shortDuration(45*time.Second))
	assert.Equal(t, "3m05s", shortDuration(185*time.Second))
	assert.Equal(t, "2h10m", shortDuration(130*time.Minute))
	assert.Equal(t, "3d04h", shortDuration(76*time.Hour))
}

// watchStepFake serves one status per read, in order, and fails the test when read again
// after the last: a watch must stop by itself once the retirement ends.
type watchStepFake struct {
	fakeTemporal
	t      *testing.T
	steps  []watchFakeStep
	reads  int
	clock  time.Time
	onRead func(n int)
}

type watchFakeStep struct {
	at     time.Time
	desc   *workflowservice.DescribeWorkflowExecutionResponse
	status workflows.Status
}

func (f *watchStepFake) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.reads++
	if f.onRead != nil {
		f.onRead(f.reads)
	}
	i := f.reads - 1
	if i >= len(f.steps) {
		if f.onRead == nil {
			f.t.Fatalf("status read %d times, but the retirement ended at read %d", f.reads, len(f.steps))
		}
		i = len(f.steps) - 1
	}
	s := f.steps[i]
	f.clock, f.status, f.result = s.at, &s.status, &s.status // a closed run's result is its record
	return s.desc, nil
}

func heartbeat(t *testing.T, name string, at time.Time, details any) *workflowpb.PendingActivityInfo {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayloads(details)
	require.NoError(t, err)
	return &workflowpb.PendingActivityInfo{
		ActivityType: &commonpb.ActivityType{Name: name}, State: enumspb.PENDING_ACTIVITY_STATE_STARTED,
		Attempt: 1, HeartbeatDetails: p, LastHeartbeatTime: timestamppb.New(at),
	}
}

// aRetirement is sampling (twice the same), archiving (two heartbeats 10 s apart), done and
// closed.
func aRetirement(t *testing.T) []watchFakeStep {
	running := enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	sample := sampling(t, testNow).Status
	looks := activities.SampleProgress{Looks: 120, Seen: []engine.Session{{User: "app", Host: "10.0.0.1"}, {User: "report", Host: "10.0.0.2"}}}
	arch := archiving(t, 1, 0, 0, testNow).Status
	done := arch
	done.Phase, done.Outcome = workflows.PhaseDone, "retired"
	progress := func(rows, bytes int64) activities.ArchiveProgress {
		return activities.ArchiveProgress{ArchiveCounts: activities.ArchiveCounts{Table: "payment", TablesDone: 3, TablesTotal: 16, ChunksDone: 7, ChunksTotal: 20, Rows: rows, Bytes: bytes}}
	}
	t1 := testNow.Add(time.Hour)
	return []watchFakeStep{
		{testNow, description(t, running, workflows.PhaseSample, heartbeat(t, "SampleClients", testNow, looks)), sample},
		{testNow.Add(time.Second), description(t, running, workflows.PhaseSample, heartbeat(t, "SampleClients", testNow, looks)), sample},
		{t1, description(t, running, workflows.PhaseArchive, heartbeat(t, "Archive", t1, progress(100_000, 10<<20))), arch},
		{t1.Add(10 * time.Second), description(t, running, workflows.PhaseArchive, heartbeat(t, "Archive", t1.Add(10*time.Second), progress(200_000, 20<<20))), arch},
		{t1.Add(11 * time.Second), description(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, workflows.PhaseDone), done},
	}
}

func watchApp(t *testing.T, fake *watchStepFake) (*app, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	a, out, errOut := testApp(t, &fake.fakeTemporal, nil)
	a.dial = func() (temporalAPI, error) { return fake, nil }
	a.now = func() time.Time { return fake.clock }
	return a, out, errOut
}

func TestWatchPlainPrintsOneLinePerChangeAndStopsWhenDone(t *testing.T) {
	fake := &watchStepFake{t: t, steps: aRetirement(t)}
	a, out, errOut := watchApp(t, fake)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop", "--watch", "--interval", "1ms"}), errOut.String())
	assert.Equal(t, len(fake.steps), fake.reads, "stops at the read that shows done")
	assert.NotContains(t, out.String(), "\x1b", "no terminal codes in plain mode")
	assert.Equal(t, []string{
		"2026-11-20 10:00:00 UTC; phase sample; sampling: 1,120 looks, 2 clients seen; 1d00h of 3d00h elapsed; time left 2d00h",
		// the second read showed the same: no line
		"2026-11-20 11:00:00 UTC; phase archive; archiving payment: 3/16 tables, 7/20 chunks; 100,000 of 1,000,000 rows (10.0%); 10.0 MiB written (500.0 MiB in the database); time left unknown",
		"2026-11-20 11:00:10 UTC; phase archive; archiving payment: 3/16 tables, 7/20 chunks; 200,000 of 1,000,000 rows (20.0%), 10,000 rows/s; 20.0 MiB written (500.0 MiB in the database), 1.0 MiB/s; time left 1m20s",
		"2026-11-20 11:00:11 UTC; phase done (Completed); outcome: retired",
	}, strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"))
}

func TestWatchJSONPrintsOneStatusPerLinePerChange(t *testing.T) {
	fake := &watchStepFake{t: t, steps: aRetirement(t)}
	a, out, errOut := watchApp(t, fake)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop", "-w", "-o", "json", "--interval", "1ms"}), errOut.String())
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 4, "five reads, one without a change")
	var phases []string
	var rows []float64
	for _, l := range lines {
		var v statusView
		require.NoError(t, json.Unmarshal([]byte(l), &v), l)
		phases = append(phases, string(v.Phase))
		for _, p := range v.PendingActivities {
			var hb map[string]any
			require.NoError(t, json.Unmarshal(p.Heartbeat, &hb))
			if r, ok := hb["rows"]; ok {
				rows = append(rows, r.(float64))
			}
		}
	}
	assert.Equal(t, []string{"sample", "archive", "archive", "done"}, phases)
	assert.Equal(t, []float64{100_000, 200_000}, rows)
	assert.NotContains(t, out.String(), "\n  ", "compact: one object per line")
}

// A final phase in an open run is winding up (giving access back, or a last task Temporal
// may refuse and have run again): the watch says so and stops once the run has closed.
func TestWatchStopsWhenTheRunOfAFinalPhaseCloses(t *testing.T) {
	for _, tc := range []struct {
		phase  workflows.Phase
		closed enumspb.WorkflowExecutionStatus
	}{
		{workflows.PhaseDone, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED},
		{workflows.PhaseAborted, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED},
		{workflows.PhaseCancelled, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED},
		{workflows.PhaseFailed, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED},
	} {
		phase, closed := tc.phase, tc.closed
		steps := aRetirement(t)[2:5] // archiving, then the final phase with the run open, then closed
		for _, st := range []*watchFakeStep{&steps[1], &steps[2]} {
			st.status.Phase, st.status.Outcome, st.status.Waiting = phase, string(phase), ""
		}
		steps[1].desc = description(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, phase)
		steps[2].desc = description(t, closed, phase)
		fake := &watchStepFake{t: t, steps: steps}
		a, out, errOut := watchApp(t, fake)
		require.Equal(t, 0, a.execute([]string{"status", "local", "shop", "--watch", "--interval", "1ms"}), errOut.String())
		assert.Equal(t, 3, fake.reads, "%s: read until the run closed", phase)
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		require.Len(t, lines, 3, out.String())
		assert.Contains(t, lines[1], "; phase "+string(phase)+"; outcome: "+string(phase)+"; note: winding up: Temporal has not closed the run yet", string(phase))
		assert.Contains(t, lines[2], "; phase "+string(phase)+" ("+closed.String()+")", string(phase))
	}
}

func TestWatchStopsWhenTheExecutionCloses(t *testing.T) {
	steps := aRetirement(t)[2:4]
	// Terminated in the archive phase: the workflow could not record a final phase.
	steps[1].desc = description(t, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, workflows.PhaseArchive)
	fake := &watchStepFake{t: t, steps: steps}
	fake.resultErr = errors.New("workflow execution terminated")
	a, out, errOut := watchApp(t, fake)
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop", "--watch", "--interval", "1ms"}), errOut.String())
	assert.Equal(t, 2, fake.reads)
	assert.Contains(t, out.String(), "; phase failed (Terminated)")
}

func TestWatchOnATerminalRedrawsInPlace(t *testing.T) {
	fake := &watchStepFake{t: t, steps: aRetirement(t)[2:5]}
	a, out, errOut := watchApp(t, fake)
	a.tty = func() (int, bool) { return 60, true }
	require.Equal(t, 0, a.execute([]string{"status", "local", "shop", "--watch", "--interval", "1ms"}), errOut.String())
	frames := strings.Split(out.String(), "\x1b[J")
	require.Len(t, frames, 4, "one clear per frame, three frames")
	assert.Equal(t, "", frames[0], "the first frame starts with a clear")
	assert.True(t, strings.HasSuffix(frames[1], "\r\x1b[6A"), "back up over the six lines of the first frame: %q", frames[1])
	assert.Contains(t, frames[2], "[######------------------------]  20.0%\n")
	assert.Contains(t, frames[2], "time left: 1m20s\n")
	for _, l := range strings.Split(out.String(), "\n") {
		assert.Less(t, len([]rune(l)), 60+len("\r\x1b[6A\x1b[J"), "lines are cut to the width: %q", l)
	}
	assert.Contains(t, frames[3], "phase: done")
}

func TestWatchStopsOnInterrupt(t *testing.T) {
	steps := aRetirement(t)[2:3] // archiving, forever
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake := &watchStepFake{t: t, steps: steps, onRead: func(n int) {
		if n == 3 {
			cancel() // what Ctrl-C does to the watch's context
		}
	}}
	a, _, errOut := watchApp(t, fake)
	require.NoError(t, a.watch(ctx, fake, "local", "shop", "", outputText, time.Millisecond))
	assert.Equal(t, 3, fake.reads)
	assert.Empty(t, errOut.String())
}

func TestWatchFlagsAreChecked(t *testing.T) {
	a, _, errOut := testApp(t, nil, nil)
	assert.Equal(t, 1, a.execute([]string{"status", "local", "shop", "--interval", "5s"}))
	assert.Contains(t, errOut.String(), "--interval only applies with --watch")
	a, _, errOut = testApp(t, nil, nil)
	assert.Equal(t, 1, a.execute([]string{"status", "local", "shop", "--watch", "--interval", "0s"}))
	assert.Contains(t, errOut.String(), "--interval 0s: must be more than 0")
}
