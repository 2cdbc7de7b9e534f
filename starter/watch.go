package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	enumspb "go.temporal.io/api/enums/v1"
	"golang.org/x/term"

	"github.com/dataretire/retire/workflows"
)

// `retire status --watch`: read the status every --interval and show it until the retirement
// ends or Ctrl-C. What a refresh shows is computed by watchStep, a pure function of what the
// watch saw before, the status now and the clock; the loop around it only reads and prints.
// Three ways to print it:
//   - terminal: the frame is redrawn in place, with a progress bar;
//   - plain (stdout is not a terminal): one line per change, for logs;
//   - -o json: one compact statusView per line per change.

const (
	// rateWindow is how far back archive heartbeats count for the rate: long enough to
	// smooth chunk-sized steps, short enough to follow a slower table.
	rateWindow = 30 * time.Second
	barWidth   = 30
)

// progressPoint is one archive heartbeat value, at the time the activity reported it.
type progressPoint struct {
	At    time.Time
	Rows  int64
	Bytes int64
}

// watchState is what a watch remembers between refreshes.
type watchState struct {
	activity string          // type#attempt of the activity the points come from
	points   []progressPoint // oldest first, spanning about rateWindow
	key      string          // what the last refresh showed, less the clock
}

// watchFrame is what one refresh shows.
type watchFrame struct {
	Now        time.Time
	Retirement string // workflow id
	Phase      workflows.Phase
	Execution  string
	Waiting    string
	Outcome    string
	Error      string
	Note       string
	Activities []string // activity lines when no progress is known
	Progress   *watchProgress
	// Changed is true when something other than the clock moved since the previous refresh.
	Changed bool
	// Ended is true once the retirement is over: the watch stops after this frame.
	Ended bool
}

// watchProgress is the bar of the sampling or archive phase.
type watchProgress struct {
	Label  string  // "archiving payment", "sampling"
	Detail string  // "3/16 tables, 7/20 chunks"
	Done   float64 // 0..1, or -1 when unknown
	// Archive: rows and bytes done, the inventory's totals, and rates (0: not known yet).
	Rows, RowsTotal, Bytes, BytesTotal int64
	RowsPerSec, BytesPerSec            float64
	// Sampling: time into the window and its length.
	Elapsed, Window time.Duration
	Until           time.Time
	// Left is the time left, or -1 when unknown.
	Left time.Duration
}

// beat is a heartbeat read by field name, like progressLine does.
type beat struct {
	Table       string          `json:"table"`
	TablesDone  int             `json:"tables_done"`
	TablesTotal int             `json:"tables_total"`
	ChunksDone  int             `json:"chunks_done"`
	ChunksTotal int             `json:"chunks_total"`
	Rows        *int64          `json:"rows"`
	Bytes       *int64          `json:"bytes"`
	Looks       *int            `json:"looks"`
	Seen        json.RawMessage `json:"seen"`
}

// watchStep computes the next state and the frame to show for v at now. It is pure: prev is
// not modified.
func watchStep(prev watchState, v statusView, now time.Time) (watchState, watchFrame) {
	st := v.Status
	f := watchFrame{
		Now: now, Retirement: st.WorkflowID, Phase: st.Phase, Execution: v.ExecutionStatus,
		Waiting: st.Waiting, Outcome: st.Outcome, Error: st.Error, Note: joinNotes(v.Note, v.laterNote()),
		Ended: ended(v),
	}
	next := watchState{key: changeKey(v)}
	f.Changed = next.key != prev.key

	var archiving *pendingActivity
	var hb beat
	for i, p := range v.PendingActivities {
		var b beat
		if json.Unmarshal(p.Heartbeat, &b) == nil && b.Rows != nil && st.Phase == workflows.PhaseArchive {
			archiving, hb = &v.PendingActivities[i], b
			break
		}
		if b.Looks != nil {
			hb = b
		}
	}
	switch {
	case archiving != nil:
		next.activity = fmt.Sprintf("%s#%d", archiving.Type, archiving.Attempt)
		next.points = observe(prev, next.activity, archiving.LastHeartbeat, hb, now)
		f.Progress = archiveProgress(st, hb, next.points, now)
	case st.Phase == workflows.PhaseSample && !st.SampleUntil.IsZero():
		f.Progress = sampleProgress(st, hb, now)
	}
	if f.Progress == nil {
		for _, p := range v.PendingActivities {
			line := activityLine(p)
			if pl := progressLine(p); pl != "" {
				line += ": " + pl
			}
			f.Activities = append(f.Activities, line)
		}
	}
	return next, f
}

// ended: the retirement's run closed. A final phase alone is not the end while the run is
// open: the workflow may still be giving access back, and its last task may not be accepted
// yet.
func ended(v statusView) bool { return runEnded(v.ExecutionStatus, terminal(v.Phase)) }

// runEnded says whether a run is over, for the watches of retirements and fleets: once
// Temporal closed it (a continue-as-new goes on in the next run). Only without an execution
// status (none read) does the workflow's own final phase say.
func runEnded(execution string, finalPhase bool) bool {
	switch execution {
	case "", enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED.String():
		return finalPhase
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING.String(), enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW.String():
		return false
	}
	return true
}

// changeKey is the status without what changes on its own: the keep-alive heartbeats of an
// activity that makes no progress move its last heartbeat time only.
func changeKey(v statusView) string {
	v.PendingActivities = append([]pendingActivity(nil), v.PendingActivities...)
	for i := range v.PendingActivities {
		v.PendingActivities[i].LastHeartbeat = time.Time{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// observe returns the points of prev with hb added when its values are new. A new activity
// or attempt, or a count that went back, starts over: the rate is of this run only.
func observe(prev watchState, activity string, at time.Time, hb beat, now time.Time) []progressPoint {
	if at.IsZero() {
		at = now
	}
	p := progressPoint{At: at, Rows: *hb.Rows}
	if hb.Bytes != nil {
		p.Bytes = *hb.Bytes
	}
	pts := append([]progressPoint(nil), prev.points...)
	if prev.activity != activity {
		pts = nil
	}
	if n := len(pts); n > 0 {
		last := pts[n-1]
		switch {
		case p.Rows < last.Rows || p.Bytes < last.Bytes || !p.At.After(last.At):
			if p.Rows == last.Rows && p.Bytes == last.Bytes {
				return pts // the same heartbeat again
			}
			pts = nil
		case p.Rows == last.Rows && p.Bytes == last.Bytes:
			return pts // a keep-alive: no progress to count
		}
	}
	pts = append(pts, p)
	for len(pts) > 2 && p.At.Sub(pts[1].At) >= rateWindow {
		pts = pts[1:]
	}
	return pts
}

func archiveProgress(st workflows.Status, hb beat, pts []progressPoint, now time.Time) *watchProgress {
	pr := &watchProgress{Label: "archiving", Done: -1, Left: -1, Rows: *hb.Rows}
	if hb.Bytes != nil {
		pr.Bytes = *hb.Bytes
	}
	if hb.Table != "" {
		pr.Label += " " + hb.Table
	}
	var detail []string
	if hb.TablesTotal > 0 {
		detail = append(detail, fmt.Sprintf("%d/%d tables", hb.TablesDone, hb.TablesTotal))
		pr.Done = float64(hb.TablesDone) / float64(hb.TablesTotal)
	}
	if hb.ChunksTotal > 0 {
		detail = append(detail, fmt.Sprintf("%d/%d chunks", hb.ChunksDone, hb.ChunksTotal))
	}
	pr.Detail = strings.Join(detail, ", ")
	if st.Plan != nil {
		pr.RowsTotal, pr.BytesTotal = st.Plan.Inventory.TotalRows, st.Plan.Inventory.TotalBytes
	}
	// Rows are the measure: the heartbeat's bytes are compressed Parquet, not comparable
	// with the inventory's bytes on disk.
	if pr.RowsTotal > 0 {
		pr.Done = min(1, float64(pr.Rows)/float64(pr.RowsTotal))
	}
	if n := len(pts); n >= 2 {
		first, last := pts[0], pts[n-1]
		if dt := last.At.Sub(first.At).Seconds(); dt > 0 {
			pr.RowsPerSec = float64(last.Rows-first.Rows) / dt
			pr.BytesPerSec = float64(last.Bytes-first.Bytes) / dt
		}
		if pr.RowsPerSec > 0 && pr.RowsTotal > 0 {
			left := time.Duration(float64(max(0, pr.RowsTotal-pr.Rows)) / pr.RowsPerSec * float64(time.Second))
			// Count down between heartbeats.
			pr.Left = max(0, left-now.Sub(last.At))
		}
	}
	return pr
}

func sampleProgress(st workflows.Status, hb beat, now time.Time) *watchProgress {
	looks, clients := st.SampleLooks, len(st.Clients)
	if hb.Looks != nil {
		looks += *hb.Looks
		if n, ok := count(hb.Seen); ok {
			clients = n
		}
	}
	lookText := thousands(int64(looks)) + " looks"
	if looks == 1 {
		lookText = "1 look"
	}
	pr := &watchProgress{
		Label:  "sampling",
		Detail: lookText + ", " + plural(clients, "client", "clients") + " seen",
		Window: st.SampleUntil.Sub(st.StartedAt),
		Until:  st.SampleUntil,
	}
	pr.Elapsed = min(max(0, now.Sub(st.StartedAt)), pr.Window)
	pr.Left = max(0, st.SampleUntil.Sub(now))
	pr.Done = 1
	if pr.Window > 0 {
		pr.Done = float64(pr.Elapsed) / float64(pr.Window)
	}
	return pr
}

// notes are the frame's "waiting: ...", "outcome: ...", "error: ...", "note: ..." and
// "activity: ..." items, those that are set, in that order.
func (f watchFrame) notes() []string {
	var out []string
	for _, n := range [][2]string{{"waiting", f.Waiting}, {"outcome", f.Outcome}, {"error", f.Error}, {"note", f.Note}} {
		if n[1] != "" {
			out = append(out, n[0]+": "+n[1])
		}
	}
	for _, a := range f.Activities {
		out = append(out, "activity: "+a)
	}
	return out
}

// terminalLines is the frame as redrawn on a terminal.
func terminalLines(f watchFrame) []string {
	head := fmt.Sprintf("%s  phase: %s", orDash(f.Retirement), orDash(string(f.Phase)))
	if f.Execution != "" {
		head += "  (" + f.Execution + ")"
	}
	lines := []string{head + "  at " + f.Now.UTC().Format("15:04:05 MST")}
	lines = append(lines, f.notes()...)
	if pr := f.Progress; pr != nil {
		lines = append(lines, pr.Label+said(pr.Detail), bar(pr.Done))
		if pr.Window > 0 {
			lines = append(lines, fmt.Sprintf("elapsed %s of %s, until %s", shortDuration(pr.Elapsed), shortDuration(pr.Window), stamp(pr.Until)))
		} else {
			lines = append(lines, "rows:  "+rowsText(pr), "bytes: "+bytesDone(pr))
		}
		lines = append(lines, "time left: "+leftText(pr.Left))
	}
	return lines
}

// plainLine is the frame as one line of a log.
func plainLine(f watchFrame) string {
	parts := []string{f.Now.UTC().Format("2006-01-02 15:04:05 MST"), "phase " + orDash(string(f.Phase))}
	if f.Execution != "" && f.Execution != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING.String() {
		parts[1] += " (" + f.Execution + ")"
	}
	parts = append(parts, f.notes()...)
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+v)
		}
	}
	if pr := f.Progress; pr != nil {
		add("", pr.Label+said(pr.Detail))
		if pr.Window > 0 {
			add("", fmt.Sprintf("%s of %s elapsed", shortDuration(pr.Elapsed), shortDuration(pr.Window)))
		} else {
			add("", rowsText(pr))
			add("", bytesDone(pr))
		}
		add("time left ", leftText(pr.Left))
	}
	return strings.Join(parts, "; ")
}

func rowsText(pr *watchProgress) string {
	s := thousands(pr.Rows)
	if pr.RowsTotal > 0 {
		s += " of " + thousands(pr.RowsTotal)
	}
	s += " rows"
	if pr.Done >= 0 {
		s += fmt.Sprintf(" (%.1f%%)", 100*pr.Done)
	}
	if pr.RowsPerSec > 0 {
		s += ", " + thousands(int64(pr.RowsPerSec+0.5)) + " rows/s"
	}
	return s
}

func bytesDone(pr *watchProgress) string {
	s := bytesText(pr.Bytes) + " written"
	if pr.BytesTotal > 0 {
		s += " (" + bytesText(pr.BytesTotal) + " in the database)"
	}
	if pr.BytesPerSec > 0 {
		s += ", " + bytesText(int64(pr.BytesPerSec+0.5)) + "/s"
	}
	return s
}

// bar draws done (0..1) as [#####-----] 50.0%; unknown (-1) draws an empty bar.
func bar(done float64) string {
	if done < 0 {
		return "[" + strings.Repeat("-", barWidth) + "]   ?"
	}
	done = min(1, done)
	n := int(done * barWidth)
	return fmt.Sprintf("[%s%s] %5.1f%%", strings.Repeat("#", n), strings.Repeat("-", barWidth-n), 100*done)
}

func leftText(d time.Duration) string {
	if d < 0 {
		return "unknown"
	}
	return shortDuration(d)
}

// shortDuration prints the two largest units: 45s, 3m05s, 2h10m, 3d04h.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	s := int64(d / time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", s)
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// screen redraws a frame in place: back to the first line of the previous frame, clear
// below, write. Lines are cut to the width so that none wraps and the count stays right.
type screen struct {
	w     io.Writer
	width int
	lines int
}

func (s *screen) draw(lines []string) {
	var b strings.Builder
	if s.lines > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA", s.lines)
	}
	b.WriteString("\x1b[J")
	for _, l := range lines {
		if s.width > 1 && utf8.RuneCountInString(l) >= s.width {
			l = string([]rune(l)[:s.width-1])
		}
		b.WriteString(l + "\n")
	}
	s.lines = len(lines)
	_, _ = io.WriteString(s.w, b.String())
}

// terminalWidth says whether stdout is a terminal that takes cursor moves, and its width.
func (a *app) terminalWidth() (int, bool) {
	f, ok := a.out.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || a.getenv("TERM") == "dumb" {
		return 0, false
	}
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil || w <= 0 {
		w = 80
	}
	return w, true
}

// watch shows the status of connection/object every interval until the retirement ends or
// ctx is done (Ctrl-C). A refresh that fails after the first is reported and retried.
func (a *app) watch(ctx context.Context, c temporalAPI, connection, object, runID string, out output, interval time.Duration) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	width, tty := a.tty()
	scr := &screen{w: a.out, width: width}
	var st watchState
	var lastErr string
	for first := true; ; first = false {
		v, err := a.loadStatus(ctx, c, connection, object, runID)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && first:
			return err
		case err != nil:
			if msg := oneLine(err.Error()); msg != lastErr {
				fmt.Fprintf(a.errOut, "retire: %s (retrying every %s)\n", msg, interval)
				lastErr = msg
			}
		default:
			lastErr = ""
			var f watchFrame
			st, f = watchStep(st, v, a.now())
			switch {
			case out == outputJSON:
				if f.Changed {
					if err := writeJSONLine(a.out, v); err != nil {
						return err
					}
				}
			case tty:
				scr.draw(terminalLines(f))
			case f.Changed:
				fmt.Fprintln(a.out, plainLine(f))
			}
			if f.Ended {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

func writeJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v) // compact, one line, newline-terminated
}

// joinNotes makes one note of several, leaving out empty ones.
func joinNotes(notes ...string) string {
	return strings.Join(slices.DeleteFunc(notes, func(n string) bool { return n == "" }), "; ")
}
