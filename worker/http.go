package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"
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
//	/debug/pprof/  the Go runtime's profiles, only when profiles is true (they show the
//	          process's internals, so they are off unless asked for)
func newHTTPHandler(r *readiness, metrics http.Handler, profiles bool) http.Handler {
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
	if profiles {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}
