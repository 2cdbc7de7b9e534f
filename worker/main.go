// Command retire-worker runs the RetireDatabase workflow and its activities. It reads the
// connection and store profiles from a YAML file (passwords from env vars or files it
// names) and reaches Temporal through the standard client environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dataretire/retire/activities"
	"github.com/dataretire/retire/activities/notify"
	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/temporalclient"
	"github.com/dataretire/retire/workflows"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "retire-worker:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("retire-worker", flag.ExitOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `retire-worker runs database retirements for Temporal.

Usage: retire-worker [--config FILE] [--dev] [--log-level info] [--listen :9090] [--pprof] [--workflow-cache 1000]

Temporal is reached like the temporal CLI does: TEMPORAL_ADDRESS (default localhost:7233),
TEMPORAL_NAMESPACE (default "default"), TEMPORAL_PROFILE, TLS and API key settings.

--listen serves HTTP: /healthz (200 while the process runs), /readyz (200 while the
worker polls its task queue, 503 before and once it stops) and /metrics (Prometheus: the
Temporal SDK's metrics and retire_*). An empty address turns it off. --pprof adds the Go
runtime's profiles under /debug/pprof/ (heap, goroutines, CPU) on the same address, for
finding where a worker's memory or time goes; keep that address private.

--workflow-cache is how many workflows the worker keeps in memory between their tasks
(default 1000; the least recently used leave first, and are replayed from their history
at their next task): raise it when a worker runs far more retirements at once than that,
lower it to trade memory for replays.

--dev allows sampling and observation windows shorter than the production minimums
(1 day and 7 days), and, unless the config says signoff.require_proof: true, takes
decisions without proof of who made them (recorded as "identity not verified"); demos and
tests use it. Never run it against production data or in a production namespace.

Example:
  RETIRE_LOCAL_PASSWORD=... retire-worker --config deployments/config.example.yaml

Flags:
`)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", envOr("RETIRE_CONFIG", "/etc/retire/config.yaml"), "connection and store profiles (YAML); env RETIRE_CONFIG")
	dev := fs.Bool("dev", false, "allow short windows (demos and tests only)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	listenDefault := ":9090"
	if v, ok := os.LookupEnv("RETIRE_LISTEN"); ok {
		listenDefault = v
	}
	listen := fs.String("listen", listenDefault, "HTTP address of /healthz, /readyz and /metrics, empty: none; env RETIRE_LISTEN")
	profiles := fs.Bool("pprof", false, "also serve the Go runtime's profiles at /debug/pprof/ on --listen")
	cacheDefault := defaultWorkflowCache
	if v, err := strconv.Atoi(os.Getenv("RETIRE_WORKFLOW_CACHE")); err == nil {
		cacheDefault = v
	}
	cache := fs.Int("workflow-cache", cacheDefault, "how many workflows stay in memory between their tasks; env RETIRE_WORKFLOW_CACHE")
	_ = fs.Parse(os.Args[1:])
	if *cache < 1 {
		return fmt.Errorf("--workflow-cache %d: at least 1", *cache)
	}

	var lvl zapcore.Level
	if err := lvl.Set(*level); err != nil {
		return err
	}
	zc := zap.NewProductionConfig()
	zc.Level = zap.NewAtomicLevelAt(lvl)
	zc.Encoding = "console"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	logger, err := zc.Build()
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()

	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	policy := activities.ProductionPolicy
	throttle := 5 * time.Second
	// How often a running archive tells its workflow how far it is, for the UI's current
	// details: each report is a signal in the history, so not often.
	report := time.Minute
	if *dev {
		throttle, report = time.Second, 2*time.Second
		policy = activities.DevPolicy
		logger.Warn("dev mode: short sampling and observation windows are allowed")
		if !cfg.Signoff.RequireProof {
			// Loud on purpose: a dev worker polling a production namespace would take a typed
			// name as an owner's sign-off for every run it plans.
			logger.Warn("dev mode: decisions without proof of who made them are accepted, and recorded as \"identity not verified\"; set signoff.require_proof: true to refuse them")
		}
	}

	// Notification secrets resolve now, so a worker with a missing one fails at start, not
	// weeks later when the first owner should have been told.
	notifier, err := notify.FromConfig(cfg.Notify)
	if err != nil {
		return err
	}
	if notifier == nil {
		logger.Warn("no notify channel configured: owners are not told about their retirements")
	}
	// Personal links to the owners' page: the secret resolves now too, and half a setup
	// (portal_url without link_secret or the reverse, a short secret) refuses to start.
	links, err := notify.LinksFromConfig(cfg.Signoff)
	if err != nil {
		return err
	}
	if links != nil {
		if len(cfg.Signoff.PortalKeys)+len(cfg.Signoff.PortalKeyFiles) == 0 {
			logger.Warn("signoff.portal_url is set but no signoff.portal_keys: decisions made on the owners' page will not verify")
		}
		logger.Info("owners' notices carry personal links to the owners' page", zap.String("portal_url", cfg.Signoff.PortalURL))
	}

	// HTTP first, so that liveness answers while Temporal is dialed.
	var ready readiness
	var prom *promMetrics
	var dialOpts []temporalclient.Option
	if *listen != "" {
		prom = newPromMetrics(logger, time.Second)
		defer func() { _ = prom.Close() }()
		dialOpts = append(dialOpts, temporalclient.WithMetrics(prom.handler))
		stop, err := serveHTTP(logger, *listen, newHTTPHandler(&ready, prom.httpHandler(), *profiles))
		if err != nil {
			return err
		}
		defer stop()
	}

	c, err := temporalclient.Dial(logger, dialOpts...)
	if err != nil {
		return err
	}
	defer c.Close()
	if prom != nil {
		prom.registry.MustRegister(newRetirementsCollector(visibilityCount(c), logger))
	}

	fatal := make(chan error, 1)
	// Process-wide, and read when the first worker is made.
	worker.SetStickyWorkflowCacheSize(*cache)
	w := worker.New(c, workflows.TaskQueue, worker.Options{
		// Let running activities finish their current step (and heartbeat their checkpoint)
		// on SIGTERM before the process goes.
		WorkerStopTimeout: stopTimeout,
		// Heartbeats carry the archive's checkpoints and the CLI's progress: send them
		// within seconds, not the SDK's default of up to a minute.
		MaxHeartbeatThrottleInterval: throttle,
		// The worker stops itself after a fatal error (the namespace is gone, say); the
		// process then exits with it.
		OnFatalError: func(err error) {
			select {
			case fatal <- err:
			default:
			}
		},
	})
	w.RegisterWorkflow(workflows.RetireDatabase)
	w.RegisterWorkflowWithOptions(workflows.ObjectLock, workflow.RegisterOptions{Name: workflows.ObjectLockName})
	w.RegisterWorkflowWithOptions(workflows.RetireFleet, workflow.RegisterOptions{Name: workflows.FleetWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.SettingKeeper, workflow.RegisterOptions{Name: workflows.SettingKeeperName})
	// Watches (sampling, attempts after the cut) run outside the activity slots, so that a
	// thousand retirements in their windows do not fill them; they stop with the worker.
	watchesCtx, stopWatches := context.WithCancel(context.Background())
	defer stopWatches()
	acts := activities.New(cfg, policy, activities.ReportProgress(c.SignalWorkflow, report), activities.Detach(c, watchesCtx),
		activities.Keep(c, workflows.TaskQueue))
	w.RegisterActivity(acts)
	w.RegisterActivity(notify.NewActivities(notifier, cfg.Notify.UIURL, links))

	// Start, not Run: /readyz turns 200 once the pollers run, and 503 as soon as a stop
	// begins, while running activities still get WorkerStopTimeout to finish.
	interrupt := worker.InterruptCh()
	if err := w.Start(); err != nil {
		return err
	}
	ready.set(stateReady)
	logger.Info("retire-worker started", zap.String("task_queue", workflows.TaskQueue), zap.Int("connections", len(cfg.Connections)),
		zap.Bool("dev", *dev), zap.String("listen", *listen))
	var runErr error
	select {
	case s := <-interrupt:
		logger.Info("Stopping: running activities get up to the stop timeout to finish", zap.Any("signal", s), zap.Duration("stop_timeout", stopTimeout))
	case runErr = <-fatal:
		logger.Error("The worker stopped on a fatal error", zap.Error(runErr))
	}
	ready.set(stateStopping)
	w.Stop()
	// Detached watches beat their checkpoint and leave their activities to resume on the
	// next worker.
	stopWatches()
	activities.WaitForWatches(acts, 10*time.Second)
	logger.Info("retire-worker stopped")
	return runErr
}

// defaultWorkflowCache bounds the workflows a worker keeps in memory (the SDK's default is
// 10,000). Retirements wait for days between their steps, and a cached one costs its
// state and a goroutine per coroutine for all that time; one that is not in the cache is
// replayed from its history (a few hundred events) when its next task comes. At 1,000 a
// fleet of a thousand keeps its retirements, and the object locks, which never have a
// task after their first, are the ones that leave.
const defaultWorkflowCache = 1000

// stopTimeout is how long a stopping worker lets running activities finish.
const stopTimeout = 30 * time.Second

// serveHTTP listens on addr (a failure to listen fails the start: probes and scrapes
// would find nothing) and serves h until stop is called.
func serveHTTP(logger *zap.Logger, addr string, h http.Handler) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %s (env RETIRE_LISTEN; empty turns HTTP off): %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("HTTP server failed", zap.Error(err))
		}
	}()
	logger.Info("Serving /healthz, /readyz and /metrics", zap.String("address", ln.Addr().String()))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
