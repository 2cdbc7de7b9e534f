// Package temporalclient dials Temporal the way the temporal CLI does (TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_PROFILE, TLS and API key settings, the shared config file),
// and routes the SDK's logs through zap.
package temporalclient

import (
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
)

// Option adjusts the client options after the environment is read, e.g. WithMetrics.
type Option func(*client.Options)

// WithMetrics makes the client, and the workers built on it, record the SDK's metrics
// (and what activities and workflows record through their metrics handler) into h.
func WithMetrics(h client.MetricsHandler) Option {
	return func(o *client.Options) { o.MetricsHandler = h }
}

// Dial connects with the standard Temporal client environment.
func Dial(logger *zap.Logger, options ...Option) (client.Client, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return nil, fmt.Errorf("temporal client settings: %w", err)
	}
	opts.Logger = Logger(logger)
	for _, o := range options {
		o(&opts)
	}
	c, err := client.Dial(opts)
	if err != nil {
		addr := opts.HostPort
		if addr == "" {
			addr = client.DefaultHostPort
		}
		return nil, fmt.Errorf("cannot reach Temporal at %s (set TEMPORAL_ADDRESS, or start a dev server: make services): %w", addr, err)
	}
	return c, nil
}

// Logger bridges zap to the SDK's logger interface: the SDK logs key/value pairs, which is
// exactly zap's sugared API.
func Logger(z *zap.Logger) log.Logger { return sdkLogger{z.WithOptions(zap.AddCallerSkip(1)).Sugar()} }

type sdkLogger struct{ s *zap.SugaredLogger }

func (l sdkLogger) Debug(msg string, kv ...any) { l.s.Debugw(msg, kv...) }
func (l sdkLogger) Info(msg string, kv ...any)  { l.s.Infow(msg, kv...) }
func (l sdkLogger) Warn(msg string, kv ...any)  { l.s.Warnw(msg, kv...) }
func (l sdkLogger) Error(msg string, kv ...any) { l.s.Errorw(msg, kv...) }

// With keeps the SDK's per-workflow and per-activity fields on every line.
func (l sdkLogger) With(kv ...any) log.Logger { return sdkLogger{l.s.With(kv...)} }
