package activities

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
)

// A watch is an activity that runs for a day of a window (sampling, counting attempts
// after the cut). A thousand retirements watching at once would each hold one of the
// worker's activity slots for days, and the slots would be the fleet's limit. So a
// detaching worker runs a watch outside its slot: the activity returns ErrResultPending
// at once, and the watch goes on in a goroutine of the worker that heartbeats and completes
// it through the client by its task token. Temporal still times it out when the worker
// dies (heartbeat timeout) and retries it, on any worker, from its last heartbeat.
//
// watch is what the body of a watch may use instead of the activity's context, which ends
// when the activity function returns.
type watch[P any] struct {
	Info activity.Info
	Log  log.Logger
	// Prev is the previous attempt's checkpoint, nil on a first attempt.
	Prev *P
	// Beat records the checkpoint a retry resumes from. Detached, the newest one is sent at
	// most every detachedBeat (a thousand watches must not heartbeat every few seconds).
	Beat func(P)
	// Keep records the checkpoint now: for what must not be lost if the next step fails
	// (a client seen that the workflow may not have been told of yet).
	Keep func(P)
}

// detachedBeat is how often a detached watch heartbeats: a quarter of its heartbeat
// timeout, at most 30 s.
func detachedBeat(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		return 30 * time.Second
	}
	return min(max(timeout/4, time.Second), 30*time.Second)
}

// Detach makes the worker run watches outside its activity slots, completing them with c.
// stop ends with the worker: detached watches then heartbeat their checkpoint and leave
// their activities to time out and resume on the next worker.
func Detach(c client.Client, stop context.Context) Option {
	return func(a *Activities) { a.detach = &detacher{client: c, stop: stop} }
}

type detacher struct {
	client client.Client
	stop   context.Context
	wg     sync.WaitGroup
}

// WaitForWatches returns once every detached watch of a has stopped (after the stop
// context ended) or timeout passed. (A function: the worker registers every method of
// Activities as an activity.)
func WaitForWatches(a *Activities, timeout time.Duration) {
	if a.detach == nil {
		return
	}
	done := make(chan struct{})
	go func() { a.detach.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

// runWatch runs body as the activity of ctx: inline (holding the slot) on a worker that
// does not detach, such as a test's activity environment, detached otherwise.
func runWatch[P, R any](a *Activities, ctx context.Context, body func(context.Context, watch[P]) (R, error)) (R, error) {
	w := watch[P]{Info: activity.GetInfo(ctx), Log: activity.GetLogger(ctx)}
	if activity.HasHeartbeatDetails(ctx) {
		var prev P
		if err := activity.GetHeartbeatDetails(ctx, &prev); err == nil {
			w.Prev = &prev
		}
	}
	if a.detach == nil {
		w.Beat = func(p P) { activity.RecordHeartbeat(ctx, p) }
		w.Keep = w.Beat
		return body(ctx, w)
	}
	d := a.detach
	token := w.Info.TaskToken
	// The watch's own context: it ends when the worker stops or Temporal says the activity
	// is cancelled or gone (the workflow ended, the activity timed out).
	wctx, cancel := context.WithCancel(d.stop)
	var mu sync.Mutex
	latest := w.Prev
	w.Beat = func(p P) {
		mu.Lock()
		defer mu.Unlock()
		latest = &p
	}
	beat := func(bctx context.Context) error {
		mu.Lock()
		var details []any
		if latest != nil {
			details = []any{*latest}
		}
		mu.Unlock()
		hctx, hcancel := context.WithTimeout(bctx, 10*time.Second)
		defer hcancel()
		return d.client.RecordActivityHeartbeat(hctx, token, details...)
	}
	w.Keep = func(p P) {
		w.Beat(p)
		if err := beat(wctx); err != nil {
			w.Log.Warn("Could not heartbeat a detached watch's checkpoint; the next beat carries it", "error", err)
		}
	}
	var cancelled, gone bool
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer cancel()
		every := detachedBeat(w.Info.HeartbeatTimeout)
		beats := ticking(wctx, every, func() {
			err := beat(wctx)
			var nf *serviceerror.NotFound
			switch {
			case err == nil:
			case temporal.IsCanceledError(err):
				mu.Lock()
				cancelled = true
				mu.Unlock()
				cancel()
			case errors.As(err, &nf):
				mu.Lock()
				gone = true
				mu.Unlock()
				cancel()
			default:
				w.Log.Warn("Could not heartbeat a detached watch; trying again", "error", err)
			}
		})
		res, err := body(wctx, w)
		beats()
		mu.Lock()
		wasCancelled, wasGone := cancelled, gone
		mu.Unlock()
		// Completing outlives the watch's context, but not by much.
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		switch {
		case wasGone:
			return
		case wasCancelled:
			err = d.client.CompleteActivity(cctx, token, nil, temporal.NewCanceledError())
		case d.stop.Err() != nil:
			// The worker stops: keep the checkpoint; the activity times out and a retry on
			// the next worker resumes from it.
			err = beat(cctx)
		default:
			err = d.client.CompleteActivity(cctx, token, res, err)
		}
		if err != nil {
			w.Log.Error("Could not complete a detached watch; Temporal will time it out and retry it", "error", err)
		}
	}()
	var zero R
	return zero, activity.ErrResultPending
}
