// Command retire-worker runs the RetireDatabase workflow and its activities. It reads the
// connection and store profiles from a YAML file (passwords from env vars or files it
// names) and reaches Temporal through the standard client environment.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"go.temporal.io/sdk/worker"
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

Usage: retire-worker [--config FILE] [--dev] [--log-level info]

Temporal is reached like the temporal CLI does: TEMPORAL_ADDRESS (default localhost:7233),
TEMPORAL_NAMESPACE (default "default"), TEMPORAL_PROFILE, TLS and API key settings.

--dev allows sampling and observation windows shorter than the production minimums
(1 day and 7 days); demos and tests use it. Never run it against production data.

Example:
  RETIRE_LOCAL_PASSWORD=... retire-worker --config deployments/config.example.yaml

Flags:
`)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", envOr("RETIRE_CONFIG", "/etc/retire/config.yaml"), "connection and store profiles (YAML); env RETIRE_CONFIG")
	dev := fs.Bool("dev", false, "allow short windows (demos and tests only)")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	_ = fs.Parse(os.Args[1:])

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
	if *dev {
		throttle = time.Second
		policy = activities.DevPolicy
		logger.Warn("dev mode: short sampling and observation windows are allowed")
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

	c, err := temporalclient.Dial(logger)
	if err != nil {
		return err
	}
	defer c.Close()

	w := worker.New(c, workflows.TaskQueue, worker.Options{
		// Let running activities finish their current step (and heartbeat their checkpoint)
		// on SIGTERM before the process goes.
		WorkerStopTimeout: 30 * time.Second,
		// Heartbeats carry the archive's checkpoints and the CLI's progress: send them
		// within seconds, not the SDK's default of up to a minute.
		MaxHeartbeatThrottleInterval: throttle,
	})
	w.RegisterWorkflow(workflows.RetireDatabase)
	w.RegisterActivity(activities.New(cfg, policy))
	w.RegisterActivity(notify.NewActivities(notifier, cfg.Notify.UIURL))
	logger.Info("retire-worker started", zap.String("task_queue", workflows.TaskQueue), zap.Int("connections", len(cfg.Connections)), zap.Bool("dev", *dev))
	return w.Run(worker.InterruptCh())
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
