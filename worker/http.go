package main

import (
	"fmt"
	"net/http"
	"sync/atomic"
)

// Worker states, as /readyz reports them.
const (
	stateStarting int32 = iota // connecting to Temporal, registering
	stateReady                 // polling the task queue
	stateStopping              // stop requested: finishing running activities
)

var stateNames = map[int32]string{stateStarting: "starting", stateStopping: "stopping", stateReady: "ready"}

// readiness is where the worker stands; the HTTP handlers read it.
type readiness struct{ state atomic.Int32 }

func (r *readiness) set(s int32) { r.state.Store(s) }

// newHTTPHandler serves:
//
//	/healthz  200 while the process runs (liveness)
//	/readyz   200 while the worker polls its task queue, 503 before and once it stops
//	/metrics  Prometheus text format, when metrics is not nil
func newHTTPHandler(r *readiness, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		s := r.state.Load()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if s != stateReady {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, stateNames[s])
	})
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}
