package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/workflows"
)

// report is what the bench measured, as printed (and written as JSON).
type report struct {
	Name     string         `json:"name"`
	N        int            `json:"n"`
	Profiles map[string]int `json:"profiles"`
	Waves    []waveRow      `json:"waves"`
	Plan     string         `json:"plan"`
	Phases   []phaseRow     `json:"phases"`
	Elapsed  float64        `json:"elapsed_s"`
	Proceeds []proceed      `json:"proceeds"`

	WorkerPID  int     `json:"worker_pid"`
	HWMKiB     int64   `json:"vm_hwm_kib"`
	MaxRSSKiB  int64   `json:"max_vm_rss_kib"`
	CPUSeconds float64 `json:"worker_cpu_s"`
	// The most task slots in use at one poll, and the most goroutines.
	MaxActivitySlots int `json:"max_activity_slots_used"`
	MaxWorkflowSlots int `json:"max_workflow_slots_used"`
	MaxGoroutines    int `json:"max_goroutines"`

	ChildEvents       []int64 `json:"child_events"`
	ChildEventsMax    int64   `json:"child_events_max"`
	ChildEventsMedian float64 `json:"child_events_median"`
	ChildBytesMax     int64   `json:"child_history_bytes_max"`
	FleetRunEvents    []int64 `json:"fleet_run_events"`
	FleetRunsMax      int64   `json:"fleet_run_events_max"`
	FleetSaysMax      int     `json:"fleet_status_max_events"`
	KeeperRunEvents   []int64 `json:"keeper_run_events"`
	KeeperHandovers   int     `json:"keeper_continued_as_new"`
	HoldsSentAgain    int     `json:"holds_sent_again"` // -1: the worker's log could not be read
	Listed            int     `json:"listed_by_retire_fleet"`

	Baseline   float64 `json:"baseline_qps"`
	QPS        float64 `json:"qps"`
	QPSPer     float64 `json:"qps_per_retirement_in_flight"`
	WindowSecs float64 `json:"sample_observe_s"`
	WindowQPS  float64 `json:"sample_observe_qps"`
	// Steady: the polls in which every retirement in flight sampled (or observed) and
	// none had changed phase for steadyFor: what the window costs, without the one-off
	// statements of a window's opening or a cut.
	SteadySampleQPS   float64 `json:"steady_sampling_qps"`
	SteadySampleSecs  float64 `json:"steady_sampling_s"`
	SteadySampleN     int     `json:"steady_sampling_retirements"`
	SteadyObserveQPS  float64 `json:"steady_observation_qps"`
	SteadyObserveSecs float64 `json:"steady_observation_s"`
	SteadyObserveN    int     `json:"steady_observation_retirements"`
	WindowPer         float64 `json:"sample_observe_qps_per_retirement_in_flight"`
	PeakQPS           float64 `json:"peak_qps"`
	PeakAt            float64 `json:"peak_at_s"`
	MaxInFlight       int     `json:"max_in_flight"`
	Conns             int64   `json:"connections_opened"`
	MaxThreads        int64   `json:"max_threads_connected"`

	Children int      `json:"children"`
	Done     int      `json:"done"`
	Verified int      `json:"dropped_with_verified_archive"`
	Left     int      `json:"databases_left"`
	Problems []string `json:"problems,omitempty"`
	Outcome  string   `json:"outcome"`
	Record   string   `json:"record"`
	ChildP50 float64  `json:"child_duration_median_s"`
	ChildMax float64  `json:"child_duration_max_s"`
	// complete: the fleet ended and the children were read; otherwise only the polls.
	complete bool
}

type phaseRow struct {
	Phase   string  `json:"phase"`
	FirstIn float64 `json:"first_in_s"` // -1: never seen
	AllPast float64 `json:"all_past_s"`
}

type waveRow struct {
	Number  int     `json:"number"`
	Name    string  `json:"name"`
	Objects int     `json:"objects"`
	Started float64 `json:"started_s"`
	Done    float64 `json:"done_s"`
}

func (r *report) allGood() bool {
	return r.Children == r.N && r.Verified == r.N && r.Left == 0 && len(r.Problems) == 0
}

// report gathers, once the fleet has ended, what only Temporal and MariaDB can say: the
// histories of every child and every run of the fleet, each child's record, the databases.
func (b *bench) report(ctx context.Context, st workflows.FleetStatus) (*report, error) {
	r := b.measured(st)
	b.gather(ctx, r, st)
	// The databases themselves.
	names, err := ours(ctx, b.db)
	if err != nil {
		return nil, err
	}
	for i := 1; i <= b.n; i++ {
		if slices.Contains(names, DBName(i)) {
			r.Left++
		}
	}
	return r, nil
}

// measured is what the polls measured, up to the last one: the phases, the worker, MariaDB.
func (b *bench) measured(st workflows.FleetStatus) *report {
	r := &report{Name: b.name, N: b.n, Profiles: map[string]int{}, WorkerPID: b.pid, Proceeds: b.proceeds,
		Outcome: st.Outcome, FleetSaysMax: st.MaxEvents}
	last := b.samples[len(b.samples)-1]
	r.Elapsed = last.At.Seconds()
	w := st.Request.WithDefaults()
	r.Plan = fmt.Sprintf("%s, sample %s, observe %s, group %s", w.Reason, w.SampleWindow, w.ObserveWindow, w.Waves.Group)
	if w.Waves.Group == workflows.GroupN {
		r.Plan += fmt.Sprintf(" (n=%d)", w.Waves.N)
	}
	r.Plan += fmt.Sprintf(", per_connection %d, done_when %s", w.Waves.PerConnection, w.Waves.DoneWhen)
	for _, wv := range st.Waves {
		row := waveRow{Number: wv.Number, Name: wv.Name, Objects: len(wv.Objects), Started: -1, Done: -1}
		if !wv.StartedAt.IsZero() {
			row.Started = wv.StartedAt.Sub(b.t0).Seconds()
		}
		if !wv.DoneAt.IsZero() {
			row.Done = wv.DoneAt.Sub(b.t0).Seconds()
		}
		r.Waves = append(r.Waves, row)
	}
	if st.RecordKeys != nil {
		r.Record = st.RecordKeys.JSONKey
	}

	for _, p := range workflows.RunningPhases {
		row := phaseRow{Phase: string(p), FirstIn: -1, AllPast: -1}
		if i, ok := b.firstIn[p]; ok {
			row.FirstIn = b.samples[i].At.Seconds()
		}
		if i, ok := b.allPast[p]; ok {
			row.AllPast = b.samples[i].At.Seconds()
		}
		r.Phases = append(r.Phases, row)
	}

	// The worker, read while it still runs.
	rss, hwm := procMem(b.pid)
	r.HWMKiB = hwm
	for _, s := range b.samples {
		r.MaxRSSKiB = max(r.MaxRSSKiB, s.RSSKiB)
		r.MaxInFlight = max(r.MaxInFlight, s.InFlight)
		r.MaxThreads = max(r.MaxThreads, s.Threads)
		r.MaxActivitySlots = max(r.MaxActivitySlots, s.ActivitySlots)
		r.MaxWorkflowSlots = max(r.MaxWorkflowSlots, s.WorkflowSlots)
		r.MaxGoroutines = max(r.MaxGoroutines, s.Goroutines)
	}
	r.MaxRSSKiB = max(r.MaxRSSKiB, rss)
	r.CPUSeconds = float64(procCPU(b.pid)-b.samples[0].CPUTicks) / 100

	// MariaDB's counters.
	if b.baseline != nil && b.baseline.secs() > 0 {
		r.Baseline = float64(b.baseline.Questions) / b.baseline.secs()
	}
	all := func(a, z sample) bool { return true }
	r.QPS, r.QPSPer, _ = b.rate(0, len(b.samples)-1, all)
	// Sampling and observation alone: the polls between which retirements were in flight
	// and none was in archive, drop, verify or record, nor got there (children waiting for
	// a slot are in observe: once archives go, they are not alone any more).
	quiet := func(a, z sample) bool {
		return a.InFlight+z.InFlight > 0 && a.ArchiveDrop == 0 && z.ArchiveDrop == 0 && a.PastObserve == z.PastObserve
	}
	r.WindowQPS, r.WindowPer, r.WindowSecs = b.rate(0, len(b.samples)-1, quiet)
	r.SteadySampleQPS, r.SteadySampleSecs, r.SteadySampleN = b.steadyRate(func(s sample) int { return s.Sampling })
	r.SteadyObserveQPS, r.SteadyObserveSecs, r.SteadyObserveN = b.steadyRate(func(s sample) int { return s.Observing })
	for i := 1; i < len(b.samples); i++ {
		if q, _, _ := b.rate(i-1, i, all); q > r.PeakQPS {
			r.PeakQPS, r.PeakAt = q, b.samples[i].At.Seconds()
		}
	}
	r.Conns = last.Connections - b.samples[0].Connections
	for _, ch := range st.Objects {
		r.Profiles[ch.Connection]++
	}
	return r
}

// gather reads, once the fleet has ended, every child's history and record and every run
// of the fleet.
func (b *bench) gather(ctx context.Context, r *report, st workflows.FleetStatus) {
	// Every child: its history and its record.
	var durations []float64
	for _, ch := range st.Objects {
		if !ch.Started {
			r.Problems = append(r.Problems, ch.Key()+" never started")
			continue
		}
		r.Children++
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		desc, err := b.c.DescribeWorkflowExecution(rctx, ch.WorkflowID, ch.RunID)
		if err == nil {
			info := desc.GetWorkflowExecutionInfo()
			r.ChildEvents = append(r.ChildEvents, info.GetHistoryLength())
			r.ChildBytesMax = max(r.ChildBytesMax, info.GetHistorySizeBytes())
		} else {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: cannot describe %s: %v", ch.Key(), ch.WorkflowID, err))
		}
		var rec workflows.Record
		err = b.c.GetWorkflow(rctx, ch.WorkflowID, ch.RunID).Get(rctx, &rec)
		cancel()
		switch {
		case err != nil:
			r.Problems = append(r.Problems, fmt.Sprintf("%s: no record: %v", ch.Key(), err))
			continue
		case rec.Phase == workflows.PhaseDone:
			r.Done++
		}
		var missing []string
		if rec.Archive == nil || ch.Archive == "" {
			missing = append(missing, "no archive")
		}
		if rec.Verification == nil || !rec.Verification.OK {
			missing = append(missing, "archive not verified")
		}
		if rec.Gone == nil || !rec.Gone.Gone {
			missing = append(missing, "not verified gone")
		}
		if rec.RecordKeys == nil {
			missing = append(missing, "no record written")
		}
		if len(missing) == 0 && rec.Phase == workflows.PhaseDone {
			r.Verified++
		} else {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %s: %s", ch.Key(), rec.Phase, strings.Join(missing, ", ")))
		}
		if !rec.FinishedAt.IsZero() {
			durations = append(durations, rec.FinishedAt.Sub(rec.StartedAt).Seconds())
		}
	}
	if len(r.ChildEvents) > 0 {
		ev := slices.Clone(r.ChildEvents)
		slices.Sort(ev)
		r.ChildEventsMax = ev[len(ev)-1]
		r.ChildEventsMedian = median(ev)
	}
	if len(durations) > 0 {
		slices.Sort(durations)
		r.ChildP50, r.ChildMax = medianF(durations), durations[len(durations)-1]
	}

	// Every run of the fleet: it continues as new at each wave boundary.
	runs, _, err := b.runsOf(ctx, fmt.Sprintf("WorkflowId = '%s'", workflows.FleetWorkflowID(b.name)))
	if err != nil {
		r.Problems = append(r.Problems, "cannot list the fleet's runs: "+err.Error())
	}
	r.FleetRunEvents = runs
	for _, n := range runs {
		r.FleetRunsMax = max(r.FleetRunsMax, n)
	}
	// The setting keeper takes a hold and a release from every retirement, and continues as
	// new every 2,000 events: at N=1000 a hold that came as it did was once lost.
	if r.KeeperRunEvents, r.KeeperHandovers, err = b.runsOf(ctx, fmt.Sprintf("WorkflowType = '%s'", workflows.SettingKeeperName)); err != nil {
		r.Problems = append(r.Problems, "cannot list the setting keepers' runs: "+err.Error())
	}
	r.HoldsSentAgain = b.holdsSentAgain()
	if r.HoldsSentAgain < 0 {
		r.Problems = append(r.Problems, "cannot read the worker's log (-worker-log) to count the holds sent again")
	}
	r.Listed = b.listed(ctx, r.Children+len(runs))
	r.complete = true
}

// rate is the server's statements per second between two samples, without the bench's own,
// and the same per retirement in flight (statements over retirement-seconds), over the
// intervals between polls that take accepts; seconds is how long those were.
func (b *bench) rate(i0, i1 int, take func(a, z sample) bool) (qps, per, seconds float64) {
	if i1 <= i0 {
		return 0, 0, 0
	}
	var q int64
	var secs, inflight float64
	for i := i0 + 1; i <= i1; i++ {
		a, z := b.samples[i-1], b.samples[i]
		if !a.ok || !z.ok || !take(a, z) {
			continue
		}
		dt := (z.At - a.At).Seconds()
		q += (z.Questions - a.Questions) - (z.Own - a.Own)
		secs += dt
		inflight += dt * float64(a.InFlight+z.InFlight) / 2
	}
	if secs == 0 {
		return 0, 0, 0
	}
	qps = float64(q) / secs
	if inflight > 0 {
		per = float64(q) / inflight
	}
	return qps, per, secs
}

// steadyFor is how long no child may have changed phase for a poll to count as steady.
const steadyFor = 10 * time.Second

// steadyRate is the statements per second over the polls in which every retirement in
// flight was in the phase in counts and the children had not changed phase for steadyFor,
// taking the polls with the most retirements in flight (n). Windows shorter than the
// fleet's mass start leave no such poll for the whole fleet: then n is the beta wave's.
func (b *bench) steadyRate(in func(sample) int) (qps, seconds float64, n int) {
	same := func(a, z sample) bool {
		return a.InFlight == z.InFlight && in(a) == in(z) && a.SampleObs == z.SampleObs && a.PastObserve == z.PastObserve
	}
	steady := func(i int) bool {
		z := b.samples[i]
		if z.InFlight == 0 || in(z) != z.InFlight {
			return false
		}
		for j := i - 1; j >= 0; j-- {
			if !same(b.samples[j], z) {
				return false
			}
			if z.At-b.samples[j].At >= steadyFor {
				return true
			}
		}
		return false
	}
	// By the number in flight: the beta wave's steady polls are not the whole fleet's.
	q, secs := map[int]int64{}, map[int]float64{}
	for i := 1; i < len(b.samples); i++ {
		a, z := b.samples[i-1], b.samples[i]
		if !a.ok || !z.ok || !steady(i) {
			continue
		}
		q[z.InFlight] += (z.Questions - a.Questions) - (z.Own - a.Own)
		secs[z.InFlight] += (z.At - a.At).Seconds()
		n = max(n, z.InFlight)
	}
	if secs[n] == 0 {
		return 0, 0, 0
	}
	return float64(q[n]) / secs[n], secs[n], n
}

// runsOf lists the runs a visibility query finds, oldest first, with each one's history
// length (the fleet's: WorkflowId = 'retire-fleet:<name>'; the setting keepers': by type),
// and how many of them continued as new.
func (b *bench) runsOf(ctx context.Context, q string) (events []int64, handedOver int, err error) {
	type run struct {
		start  time.Time
		events int64
	}
	var runs []run
	var token []byte
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := b.c.ListWorkflow(rctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 100, NextPageToken: token})
		cancel()
		if err != nil {
			return nil, 0, err
		}
		for _, e := range resp.GetExecutions() {
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
				handedOver++
			}
			n := e.GetHistoryLength()
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if desc, err := b.c.DescribeWorkflowExecution(rctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId()); err == nil {
				n = desc.GetWorkflowExecutionInfo().GetHistoryLength()
			}
			cancel()
			runs = append(runs, run{start: e.GetStartTime().AsTime(), events: n})
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].start.Before(runs[j].start) })
	events = make([]int64, len(runs))
	for i, r := range runs {
		events[i] = r.events
	}
	return events, handedOver, nil
}

// listed counts the closed workflows `RetireFleet = "<name>"` lists (the children and the
// fleet's runs), waiting a little for visibility to catch up.
func (b *bench) listed(ctx context.Context, want int) int {
	q := fmt.Sprintf("RetireFleet = %q", b.name)
	n := 0
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		n = 0
		running := 0
		var token []byte
		for {
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			resp, err := b.c.ListWorkflow(rctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 1000, NextPageToken: token})
			cancel()
			if err != nil {
				return -1
			}
			for _, e := range resp.GetExecutions() {
				n++
				if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
					running++
				}
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				break
			}
		}
		if (n >= want && running == 0) || time.Now().After(end) {
			return n
		}
	}
}

func median(v []int64) float64 {
	if len(v)%2 == 1 {
		return float64(v[len(v)/2])
	}
	return float64(v[len(v)/2-1]+v[len(v)/2]) / 2
}

func medianF(v []float64) float64 {
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func secs(s float64) string {
	if s < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f s", s)
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func (r *report) print(out io.Writer) {
	var profiles []string
	for p, n := range r.Profiles {
		profiles = append(profiles, fmt.Sprintf("%s %d", p, n))
	}
	sort.Strings(profiles)
	fmt.Fprintf(out, "\nbench-fleet %s: %d databases over %d profiles of one MariaDB (%s), one worker, one Temporal dev server\n",
		r.Name, r.N, len(r.Profiles), strings.Join(profiles, ", "))
	fmt.Fprintf(out, "  %s\n", r.Plan)
	var waves []string
	for _, w := range r.Waves {
		s := fmt.Sprintf("wave %d (%s, %d): %s..%s", w.Number, w.Name, w.Objects, secs(w.Started), secs(w.Done))
		for _, p := range r.Proceeds {
			if p.Wave == w.Number {
				s += fmt.Sprintf(", go signed at %s", secs(p.At.Seconds()))
			}
		}
		waves = append(waves, s)
	}
	fmt.Fprintf(out, "  %s\n", strings.Join(waves, "; "))

	fmt.Fprintf(out, "\n| phase | first child in it | all %d children past it |\n|---|---|---|\n", r.N)
	for _, p := range r.Phases {
		fmt.Fprintf(out, "| %s | %s | %s |\n", p.Phase, secs(p.FirstIn), secs(p.AllPast))
	}
	if r.complete {
		fmt.Fprintf(out, "| (fleet ended) | | %s |\n", secs(r.Elapsed))
	} else {
		fmt.Fprintf(out, "| (bench stopped) | | %s |\n", secs(r.Elapsed))
	}

	counts := func(ns []int64) string {
		out := make([]string, len(ns))
		for i, n := range ns {
			out[i] = fmt.Sprint(n)
		}
		return strings.Join(out, ", ")
	}
	fmt.Fprintf(out, "\n| measure | value |\n|---|---|\n")
	row := func(k, v string, args ...any) { fmt.Fprintf(out, "| %s | %s |\n", k, fmt.Sprintf(v, args...)) }
	if r.complete {
		row("wall time", "%.1f s from `retire fleet start` to the fleet's result (polled every few seconds; times in the phase table are polls)", r.Elapsed)
	} else {
		row("wall time", "%.1f s from `retire fleet start` until the bench stopped (PARTIAL: the fleet did not end)", r.Elapsed)
	}
	row("worker peak RSS", "VmHWM %s at the end; max VmRSS polled %s (pid %d)", mib(r.HWMKiB), mib(r.MaxRSSKiB), r.WorkerPID)
	row("worker CPU", "%.1f s user+system, %.0f%% of one core over the run", r.CPUSeconds, 100*r.CPUSeconds/max(r.Elapsed, 1))
	if r.MaxGoroutines > 0 {
		row("worker task slots", "at most %d activity and %d workflow task slots in use at a poll (of the SDK's 1,000 each); at most %d goroutines",
			r.MaxActivitySlots, r.MaxWorkflowSlots, r.MaxGoroutines)
	}
	row("MariaDB statements/s, overall", "%.1f q/s (Questions); %.2f per retirement in flight (at most %d in flight); baseline before the start %.1f q/s",
		r.QPS, r.QPSPer, r.MaxInFlight, r.Baseline)
	if r.WindowSecs > 0 {
		row("MariaDB statements/s, plan..observation alone", "%.1f q/s; %.2f per retirement in flight (over %.0f s of polls in which retirements planned, sampled, cut or observed and none archived or dropped)",
			r.WindowQPS, r.WindowPer, r.WindowSecs)
	}
	if r.SteadySampleSecs > 0 {
		row("MariaDB statements/s, steady sampling", "%.1f q/s with %d retirements sampling (over %.0f s of polls in which every retirement in flight sampled and none had changed phase for %s)",
			r.SteadySampleQPS, r.SteadySampleN, r.SteadySampleSecs, steadyFor)
	}
	if r.SteadyObserveSecs > 0 {
		row("MariaDB statements/s, steady observation", "%.1f q/s with %d retirements observing (likewise)", r.SteadyObserveQPS, r.SteadyObserveN)
	}
	row("MariaDB statements/s, peak poll", "%.1f q/s at %.1f s", r.PeakQPS, r.PeakAt)
	row("MariaDB connections", "%d opened (%.1f per retirement); at most %d connected at once", r.Conns, float64(r.Conns)/float64(max(r.N, 1)), r.MaxThreads)
	if r.complete {
		row("events per history, children", "max %d, median %.0f over %d RetireDatabase runs (largest history %.0f KiB)",
			r.ChildEventsMax, r.ChildEventsMedian, len(r.ChildEvents), float64(r.ChildBytesMax)/1024)
		row("events per history, fleet", "largest run %d events; %d runs: %s (the fleet's own max_events: %d)",
			r.FleetRunsMax, len(r.FleetRunEvents), counts(r.FleetRunEvents), r.FleetSaysMax)
		row("events per history, setting keeper", "%d runs: %s (%d of them continued as new)", len(r.KeeperRunEvents), counts(r.KeeperRunEvents), r.KeeperHandovers)
		if r.HoldsSentAgain >= 0 {
			row("setting keeper, holds sent again", "%d (a hold the keeper had not counted after 30 s; the worker's log says each)", r.HoldsSentAgain)
		}
		row("child duration", "median %.1f s, max %.1f s (start to record, from each record)", r.ChildP50, r.ChildMax)
		row("children", "%d of %d started, %d done, %d dropped with a verified archive (record: archive, verification ok, verified gone, record written); %d fleetbench_ databases left",
			r.Children, r.N, r.Done, r.Verified, r.Left)
		row("visibility", "RetireFleet = %q lists %d closed workflows (%d children + %d fleet runs)", r.Name, r.Listed, r.Children, len(r.FleetRunEvents))
		row("fleet outcome", "%s; record %s", r.Outcome, orDash(r.Record))
	}
	for _, p := range r.Problems {
		fmt.Fprintf(out, "PROBLEM: %s\n", p)
	}
	if !r.complete {
		fmt.Fprintln(out, "\nPARTIAL: the fleet did not end; histories, records and databases are read only once it has.")
	}
	fmt.Fprintln(out, "\nStatements are MariaDB's server-wide Questions without the bench's own: other clients of the server (tests running beside it) count too; the baseline says how much.")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// holdsSentAgain counts the worker's log lines of a hold sent again (activities.HoldSentAgain),
// or -1 when the log cannot be read.
func (b *bench) holdsSentAgain() int {
	f, err := os.Open(b.workerLog)
	if err != nil {
		return -1
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		if strings.Contains(sc.Text(), activities.HoldSentAgain) {
			n++
		}
	}
	if sc.Err() != nil {
		return -1
	}
	return n
}
