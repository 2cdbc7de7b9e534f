package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/dataretire/retire/workflows"
)

// bench is one run of a fleet, measured.
type bench struct {
	name, file, key, retire string
	workerLog               string
	n, pid                  int
	poll, timeout, stall    time.Duration
	keep                    bool
	out                     string
	// profiles is the worker's --listen address when it serves /debug/pprof/: the bench
	// then keeps the heap profile of the worker's largest RSS, and counts its goroutines.
	profiles   string
	profileRSS int64

	c  client.Client
	db *sql.DB
	// own counts the statements the bench itself sent on db since it opened it.
	own int64

	t0       time.Time
	baseline *window
	samples  []sample
	// firstIn: the sample at which the first child was seen in the phase or past it;
	// allPast: the sample at which every child of the fleet was past it.
	firstIn, allPast map[workflows.Phase]int
	proceeds         []proceed
	fleetPhases      []fleetPhaseAt
	lastView         string
	lastChange       time.Time
	waitingSeen      map[string]bool
}

// sample is one poll: MariaDB's counters, the worker's memory and CPU, the fleet's children.
type sample struct {
	At          time.Duration `json:"at_ns"`
	Questions   int64         `json:"questions"`
	Queries     int64         `json:"queries"`
	Connections int64         `json:"connections"`
	Threads     int64         `json:"threads_connected"`
	Own         int64         `json:"own_statements"`
	RSSKiB      int64         `json:"rss_kib"`
	HWMKiB      int64         `json:"hwm_kib"`
	CPUTicks    int64         `json:"cpu_ticks"`
	Goroutines  int           `json:"goroutines,omitempty"`
	// The worker's task slots in use, from its /metrics (temporal_worker_task_slots_used).
	ActivitySlots int    `json:"activity_slots_used,omitempty"`
	WorkflowSlots int    `json:"workflow_slots_used,omitempty"`
	InFlight      int    `json:"in_flight"`    // started, not ended
	SampleObs     int    `json:"sample_obs"`   // in sample, quiesce or observe
	Sampling      int    `json:"sampling"`     // in sample
	Observing     int    `json:"observing"`    // in observe
	ArchiveDrop   int    `json:"archive_drop"` // in archive, drop, verify or record
	PastObserve   int    `json:"past_observe"` // in archive or later, or done
	FleetPhase    string `json:"fleet_phase"`
	ok            bool
}

type proceed struct {
	Wave int           `json:"wave"`
	At   time.Duration `json:"at_s"`
}

type fleetPhaseAt struct {
	Phase string        `json:"phase"`
	Wave  int           `json:"wave"`
	At    time.Duration `json:"at_s"`
}

// window is MariaDB's counters between two moments.
type window struct {
	From, To  time.Duration
	Questions int64
	Queries   int64
}

func (w window) secs() float64 { return (w.To - w.From).Seconds() }

func runCommand(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	b := &bench{}
	fs.StringVar(&b.name, "name", "", "the fleet's name (as in the file)")
	fs.StringVar(&b.file, "file", "", "the fleet file")
	fs.StringVar(&b.key, "key", "", "the DBA's SSH private key: signs the start, each go, and an abort")
	fs.StringVar(&b.retire, "retire", "bin/retire", "the retire CLI")
	fs.IntVar(&b.n, "n", 0, "how many objects the fleet has")
	fs.IntVar(&b.pid, "worker-pid", 0, "the worker's process id (its memory and CPU are read from /proc)")
	fs.StringVar(&b.workerLog, "worker-log", "", "the worker's log: the holds it sent the setting keeper again are counted in it")
	fs.DurationVar(&b.poll, "poll", 2*time.Second, "how often the fleet, the worker and MariaDB are read")
	fs.DurationVar(&b.timeout, "timeout", 30*time.Minute, "give up after this long")
	fs.DurationVar(&b.stall, "stall", 3*time.Minute, "give up when nothing moved for this long")
	fs.BoolVar(&b.keep, "keep", false, "on failure, leave the fleet as it is (do not abort it)")
	fs.StringVar(&b.out, "out", "", "also write the measurements as JSON here")
	fs.StringVar(&b.profiles, "profiles", "", "the worker's --listen address, when it runs with --pprof: keep the heap profile at the peak RSS next to -out")
	_ = fs.Parse(args)
	if b.name == "" || b.file == "" || b.key == "" || b.n == 0 || b.pid == 0 {
		return errors.New("run needs -name, -file, -key, -n and -worker-pid")
	}
	b.firstIn, b.allPast = map[workflows.Phase]int{}, map[workflows.Phase]int{}
	b.waitingSeen = map[string]bool{}

	var err error
	if b.db, err = openDB(false); err != nil {
		return err
	}
	defer b.db.Close()
	addr := envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233")
	if b.c, err = client.Dial(client.Options{HostPort: addr, Namespace: envOr("TEMPORAL_NAMESPACE", "default"), Logger: quietLogger{}}); err != nil {
		return fmt.Errorf("cannot reach Temporal at %s: %w", addr, err)
	}
	defer b.c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), b.timeout+10*time.Minute)
	defer cancel()
	final, err := b.drive(ctx)
	if err != nil {
		if len(b.samples) > 1 {
			fmt.Printf("\nwhat the polls measured until the bench stopped:\n")
			b.measured(final).print(os.Stdout)
		}
		return err
	}
	rep, err := b.report(ctx, final)
	if err != nil {
		return err
	}
	rep.print(os.Stdout)
	if b.out != "" {
		data, _ := json.MarshalIndent(struct {
			Report  *report   `json:"report"`
			Samples []sample  `json:"samples"`
			Waves   []proceed `json:"proceeds"`
		}{rep, b.samples, b.proceeds}, "", "  ")
		if err := os.WriteFile(b.out, data, 0o644); err != nil {
			return err
		}
	}
	if !rep.allGood() {
		return fmt.Errorf("the fleet ended, but not every database was dropped with a verified archive (see the table)")
	}
	return nil
}

// since is the time since the fleet was started.
func (b *bench) since() time.Duration { return time.Since(b.t0) }

// drive starts the fleet, gives each wave its go when the fleet waits for it, and polls
// until the fleet has ended; it returns the fleet's last status (its result).
func (b *bench) drive(ctx context.Context) (workflows.FleetStatus, error) {
	// What the server does without the fleet: neighbours, the idle worker, the bench.
	base, err := b.measureBaseline(ctx, 5*time.Second)
	if err != nil {
		return workflows.FleetStatus{}, err
	}
	b.baseline = &base

	fmt.Printf("starting fleet %s (%d objects): %s fleet start %s --sign-with %s\n", b.name, b.n, b.retire, b.file, b.key)
	start := exec.CommandContext(ctx, b.retire, "fleet", "start", b.file, "--sign-with", b.key, "--plan-timeout", "10m")
	start.Env = cliEnv()
	var startOut bytes.Buffer
	start.Stdout, start.Stderr = &startOut, &startOut
	b.t0 = time.Now()
	b.lastChange = b.t0
	b.takeSample(ctx, nil)
	if err := start.Start(); err != nil {
		return workflows.FleetStatus{}, err
	}
	started := make(chan error, 1)
	go func() { started <- start.Wait() }()

	ticker := time.NewTicker(b.poll)
	defer ticker.Stop()
	deadline := b.t0.Add(b.timeout)
	var last workflows.FleetStatus
	for {
		select {
		case err := <-started:
			started = nil
			fmt.Printf("[%6.1fs] retire fleet start said:\n%s", b.since().Seconds(), indent(startOut.String()))
			if err != nil {
				return last, b.fail(ctx, last, nil, "retire fleet start failed (%v)", err)
			}
		case <-ticker.C:
		case <-ctx.Done():
			return last, ctx.Err()
		}
		st, closed, err := b.status(ctx)
		switch {
		case err != nil && closed:
			return st, b.fail(ctx, st, nil, "the fleet's workflow ended without completing: %v", err)
		case err != nil:
			fmt.Printf("[%6.1fs] cannot read the fleet (retrying): %v\n", b.since().Seconds(), err)
		case st.WorkflowID == "":
			// Not started yet.
		default:
			last = st
		}
		b.takeSample(ctx, &last)
		if last.WorkflowID != "" {
			b.track(last)
			if err := b.check(ctx, last); err != nil {
				return last, err
			}
			if closed && last.Phase == workflows.FleetDone {
				if started != nil {
					<-started
					fmt.Printf("retire fleet start said:\n%s", indent(startOut.String()))
				}
				return last, nil
			}
			if last.Phase == workflows.FleetWaiting && !b.proceeded(last.Wave) {
				if err := b.proceed(ctx, last); err != nil {
					return last, b.fail(ctx, last, nil, "%v", err)
				}
			}
		}
		if time.Now().After(deadline) {
			return last, b.fail(ctx, last, nil, "timed out after %s (TIMEOUT): the fleet had not ended", b.timeout)
		}
		if time.Since(b.lastChange) > b.stall {
			return last, b.fail(ctx, last, nil, "nothing moved for %s (STALL): no child changed phase or what it waits for", b.stall)
		}
	}
}

func (b *bench) proceeded(wave int) bool {
	for _, p := range b.proceeds {
		if p.Wave == wave {
			return true
		}
	}
	return false
}

// proceed gives the go of the wave the fleet waits for, signed by the DBA, as a DBA would
// once the wave before it went well: that is the bench's only decision.
func (b *bench) proceed(ctx context.Context, st workflows.FleetStatus) error {
	note := fmt.Sprintf("bench-fleet: wave %d done, go for wave %d", st.Wave-1, st.Wave)
	var out []byte
	var err error
	for try := 1; try <= 3; try++ {
		cmd := exec.CommandContext(ctx, b.retire, "fleet", "proceed", b.name, "--as", "dba", "--note", note, "--sign-with", b.key)
		cmd.Env = cliEnv()
		out, err = cmd.CombinedOutput()
		if err == nil {
			break
		}
		fmt.Printf("[%6.1fs] retire fleet proceed (try %d): %v: %s", b.since().Seconds(), try, err, out)
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		return fmt.Errorf("retire fleet proceed %s failed: %s", b.name, strings.TrimSpace(string(out)))
	}
	b.proceeds = append(b.proceeds, proceed{Wave: st.Wave, At: b.since()})
	fmt.Printf("[%6.1fs] signed go: retire fleet proceed %s --as dba --sign-with %s: %s\n", b.since().Seconds(), b.name, b.key, strings.TrimSpace(string(out)))
	b.lastChange = time.Now()
	return nil
}

// status reads the fleet: the query of its current run while it runs, its result once it
// has completed. closed says the fleet's workflow is over.
func (b *bench) status(ctx context.Context) (workflows.FleetStatus, bool, error) {
	var st workflows.FleetStatus
	id := workflows.FleetWorkflowID(b.name)
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	desc, err := b.c.DescribeWorkflowExecution(rctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	info := desc.GetWorkflowExecutionInfo()
	switch info.GetStatus() {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		v, err := b.c.QueryWorkflow(rctx, id, "", workflows.QueryFleetStatus)
		if err != nil {
			return st, false, err
		}
		return st, false, v.Get(&st)
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		err := b.c.GetWorkflow(rctx, id, info.GetExecution().GetRunId()).Get(rctx, &st)
		return st, true, err
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return st, false, errors.New("between two runs")
	default:
		// Failed, terminated, cancelled or timed out: what the query still says, if it can.
		if v, qerr := b.c.QueryWorkflow(rctx, id, info.GetExecution().GetRunId(), workflows.QueryFleetStatus); qerr == nil {
			_ = v.Get(&st)
		}
		return st, true, fmt.Errorf("workflow %s is %s", id, strings.ToLower(info.GetStatus().String()))
	}
}

// rank orders a child's phase: -1 not started, 0.. the running phases, then done.
func rank(p workflows.Phase) int {
	if p == "" {
		return -1
	}
	for i, q := range workflows.RunningPhases {
		if p == q {
			return i
		}
	}
	if p == workflows.PhaseDone {
		return len(workflows.RunningPhases)
	}
	return -2 // ended otherwise: check fails the bench on it
}

// track notes when the first child reached each phase and when all were past it, and when
// the fleet's own phase changed.
func (b *bench) track(st workflows.FleetStatus) {
	idx := len(b.samples) - 1
	now := b.samples[idx].At
	if len(b.fleetPhases) == 0 || b.fleetPhases[len(b.fleetPhases)-1].Phase != string(st.Phase) || b.fleetPhases[len(b.fleetPhases)-1].Wave != st.Wave {
		b.fleetPhases = append(b.fleetPhases, fleetPhaseAt{Phase: string(st.Phase), Wave: st.Wave, At: now})
	}
	if len(st.Objects) == 0 {
		return
	}
	lowest, highest := len(workflows.RunningPhases), -1
	for _, ch := range st.Objects {
		r := rank(ch.Phase)
		if r == -2 {
			continue
		}
		lowest, highest = min(lowest, r), max(highest, r)
	}
	for i, p := range workflows.RunningPhases {
		if _, ok := b.firstIn[p]; !ok && highest >= i {
			b.firstIn[p] = idx
		}
		if _, ok := b.allPast[p]; !ok && lowest > i {
			b.allPast[p] = idx
		}
	}
	view := string(st.Phase) + strconv.Itoa(st.Wave) + " " + phaseCounts(st)
	for _, ch := range st.Objects {
		view += ch.Waiting + ch.Slot
	}
	if view != b.lastView {
		b.lastView, b.lastChange = view, time.Now()
		s := b.samples[len(b.samples)-1]
		g := ""
		if s.Goroutines > 0 {
			g = fmt.Sprintf(", %d goroutines", s.Goroutines)
		}
		fmt.Printf("[%6.1fs] fleet %s, wave %d of %d | %s | worker RSS %.0f MiB%s\n", now.Seconds(), st.Phase, st.Wave, len(st.Waves),
			phaseCounts(st), float64(s.RSSKiB)/1024, g)
	}
}

// phaseCounts says how many children are in each phase.
func phaseCounts(st workflows.FleetStatus) string {
	counts := map[workflows.Phase]int{}
	slots := 0
	for _, ch := range st.Objects {
		counts[ch.Phase]++
		if ch.Slot == workflows.SlotWaiting {
			slots++
		}
	}
	starting := 0
	for _, ch := range st.Objects {
		if ch.Started && ch.Phase == "" {
			starting++
		}
	}
	var parts []string
	if n := counts[""] - starting; n > 0 {
		parts = append(parts, fmt.Sprintf("not started %d", n))
	}
	if starting > 0 {
		parts = append(parts, fmt.Sprintf("starting %d", starting))
	}
	for _, p := range workflows.Phases {
		if n := counts[p]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", p, n))
		}
	}
	if slots > 0 {
		parts = append(parts, fmt.Sprintf("(%d waiting for a slot)", slots))
	}
	return strings.Join(parts, ", ")
}

// check stops the bench when the fleet or a child waits for a person, failed or paused.
func (b *bench) check(ctx context.Context, st workflows.FleetStatus) error {
	for _, ch := range st.Objects {
		switch {
		case ch.Phase == workflows.PhaseFailed || ch.Phase == workflows.PhaseAborted || ch.Phase == workflows.PhaseCancelled:
			return b.fail(ctx, st, &ch, "%s ended %s: %s %s", ch.Key(), ch.Phase, ch.Outcome, ch.Error)
		case ch.Waiting != "" && !strings.HasPrefix(ch.Waiting, "a slot of the fleet"):
			return b.fail(ctx, st, &ch, "%s (workflow %s) is in phase %s and waits for a person: %q. The bench acknowledges nothing: "+
				"a retirement that needs a person cannot be measured as if it did not", ch.Key(), ch.WorkflowID, ch.Phase, ch.Waiting)
		}
	}
	switch st.Phase {
	case workflows.FleetPaused:
		return b.fail(ctx, st, nil, "the fleet paused: %s; failures %+v", st.Waiting, st.Failures)
	case workflows.FleetAborted, workflows.FleetAborting:
		return b.fail(ctx, st, nil, "the fleet is %s: %s", st.Phase, st.Outcome)
	}
	return nil
}

// fail says where the fleet stands and what the stuck child says of itself, aborts the
// fleet (signed) unless KEEP, so that every child before its drop gives access back and puts
// back the settings it switched on, and returns the error.
func (b *bench) fail(ctx context.Context, st workflows.FleetStatus, ch *workflows.FleetChild, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	fmt.Printf("\n[%6.1fs] BENCH STOPPED: %s\n", b.since().Seconds(), msg)
	if st.WorkflowID != "" {
		fmt.Printf("\n-- retire fleet status %s\n%s", b.name, indent(b.cli(ctx, "fleet", "status", b.name)))
	}
	if ch != nil {
		fmt.Printf("\n-- retire status %s %s\n%s", ch.Connection, ch.Object, indent(b.cli(ctx, "status", ch.Connection, ch.Object)))
	}
	if b.keep || st.WorkflowID == "" || st.Phase == workflows.FleetDone || st.Phase == workflows.FleetAborted {
		return errors.New(msg)
	}
	why := "bench-fleet stopped: " + msg
	if len(why) > 300 {
		why = why[:300]
	}
	fmt.Printf("\n-- aborting the fleet (signed by dba) so that its retirements give access back and put their settings back\n")
	fmt.Print(indent(b.cli(ctx, "fleet", "abort", b.name, "--as", "dba", "--reason", why, "--sign-with", b.key)))
	for end := time.Now().Add(3 * time.Minute); time.Now().Before(end); time.Sleep(b.poll) {
		if s, closed, _ := b.status(ctx); closed {
			fmt.Printf("fleet ended: %s (%s)\n", s.Phase, s.Outcome)
			break
		}
	}
	return errors.New(msg)
}

// cli runs the retire CLI and returns what it printed, errors included.
func (b *bench) cli(ctx context.Context, args ...string) string {
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, b.retire, args...)
	cmd.Env = cliEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		out = append(out, []byte("("+err.Error()+")\n")...)
	}
	return string(out)
}

// cliEnv is the environment of the CLI: no ssh-agent of the machine's signs for anybody
// here, only --sign-with.
func cliEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "SSH_AUTH_SOCK=") && !strings.HasPrefix(e, "RETIRE_SIGN_WITH=") {
			env = append(env, e)
		}
	}
	return env
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}

// counters reads MariaDB's server-wide statement and connection counters (one statement).
func (b *bench) counters(ctx context.Context) (q, qs, conns, threads int64, err error) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b.own++
	rows, err := b.db.QueryContext(rctx, `SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions','Queries','Connections','Threads_connected')`)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v int64
		if err = rows.Scan(&k, &v); err != nil {
			return
		}
		switch k {
		case "Questions":
			q = v
		case "Queries":
			qs = v
		case "Connections":
			conns = v
		case "Threads_connected":
			threads = v
		}
	}
	err = rows.Err()
	return
}

func (b *bench) measureBaseline(ctx context.Context, d time.Duration) (window, error) {
	q0, qs0, _, _, err := b.counters(ctx)
	if err != nil {
		return window{}, err
	}
	own0 := b.own
	time.Sleep(d)
	q1, qs1, _, _, err := b.counters(ctx)
	if err != nil {
		return window{}, err
	}
	own := b.own - own0
	return window{From: 0, To: d, Questions: q1 - q0 - own, Queries: qs1 - qs0 - own}, nil
}

// takeSample reads the counters, the worker's memory and CPU, and counts the children.
func (b *bench) takeSample(ctx context.Context, st *workflows.FleetStatus) {
	s := sample{At: b.since()}
	var err error
	s.Questions, s.Queries, s.Connections, s.Threads, err = b.counters(ctx)
	s.Own = b.own
	s.ok = err == nil
	if err != nil {
		fmt.Printf("[%6.1fs] cannot read MariaDB's counters: %v\n", b.since().Seconds(), err)
	}
	s.RSSKiB, s.HWMKiB = procMem(b.pid)
	s.CPUTicks = procCPU(b.pid)
	b.profile(ctx, &s)
	if st != nil {
		s.FleetPhase = string(st.Phase)
		for _, ch := range st.Objects {
			if rank(ch.Phase) > rank(workflows.PhaseObserve) {
				s.PastObserve++
			}
			if !ch.Started || ch.Ended() {
				continue
			}
			s.InFlight++
			switch ch.Phase {
			case workflows.PhaseSample, workflows.PhaseQuiesce, workflows.PhaseObserve:
				s.SampleObs++
				s.Sampling += b2i(ch.Phase == workflows.PhaseSample)
				s.Observing += b2i(ch.Phase == workflows.PhaseObserve)
			case workflows.PhaseArchive, workflows.PhaseDrop, workflows.PhaseVerify, workflows.PhaseRecord:
				s.ArchiveDrop++
			}
		}
	}
	b.samples = append(b.samples, s)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// profile counts the worker's goroutines and, when its RSS is 16 MiB past the last
// profile's, keeps its heap profile (heap-peak.pb.gz beside -out): what the peak is made of.
func (b *bench) profile(ctx context.Context, s *sample) {
	if b.profiles == "" {
		return
	}
	body, err := b.fetchProfile(ctx, "goroutine?debug=1")
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(body), "\n")
	s.Goroutines, _ = strconv.Atoi(strings.TrimPrefix(first, "goroutine profile: total "))
	if m, err := b.fetch(ctx, "/metrics"); err == nil {
		s.ActivitySlots, s.WorkflowSlots = slotsUsed(string(m))
	}
	if b.out == "" || s.RSSKiB < b.profileRSS+16*1024 {
		return
	}
	if heap, err := b.fetchProfile(ctx, "heap"); err == nil {
		if os.WriteFile(filepath.Join(filepath.Dir(b.out), "heap-peak.pb.gz"), heap, 0o644) == nil {
			b.profileRSS = s.RSSKiB
		}
	}
}

// slotsUsed reads the activity and workflow task slots in use from the worker's metrics.
func slotsUsed(metrics string) (activity, workflow int) {
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, "temporal_worker_task_slots_used{") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		switch {
		case strings.Contains(line, `worker_type="ActivityWorker"`):
			activity = int(v)
		case strings.Contains(line, `worker_type="WorkflowWorker"`):
			workflow = int(v)
		}
	}
	return activity, workflow
}

func (b *bench) fetchProfile(ctx context.Context, what string) ([]byte, error) {
	return b.fetch(ctx, "/debug/pprof/"+what)
}

func (b *bench) fetch(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.profiles+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", path, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// procMem reads VmRSS and VmHWM (KiB) of a process.
func procMem(pid int) (rss, hwm int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}

// procCPU reads a process's user and system time, in clock ticks (USER_HZ, 100 on Linux).
func procCPU(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	// The command name is in parentheses and may hold spaces: fields count after it.
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	sy, _ := strconv.ParseInt(f[12], 10, 64)
	return u + sy
}

// quietLogger keeps the SDK's client logging off the bench's output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
