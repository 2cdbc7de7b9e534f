// Package oracle is the Oracle adapter of the retirement engine. An object is a schema
// (user) with the tablespaces only it uses, written "SCOTT", or a pluggable database,
// written "pdb:SALESPDB". The adapter inventories it, watches who connects, cuts and
// restores access (lock the account, revoke grants on its objects, tablespaces read-only or
// offline; close the PDB), exports it (a PDB opened READ ONLY RESTRICTED for the while) and
// drops it; as an engine.Loader it rebuilds an archive as a new schema (loader.go).
//
// Every call opens its own session and closes it before returning, and every statement
// runs under its own deadline (Config.QueryTimeout), so nothing is held across the long
// waits of the workflow (idle connections die silently behind firewalls). All SQL goes
// through the conn seam, which tests replace with a fake that records each statement.
package oracle

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/dataretire/retire/activities/engine"
)

// Config says how to reach the server. Params are go-ora URL options (SSL, WALLET,
// TIMEOUT...); the password is never put into a URL.
type Config struct {
	Host     string
	Port     int
	Service  string
	User     string
	Password string
	Params   map[string]string
	// QueryTimeout bounds every single statement (default 30s).
	QueryTimeout time.Duration
	// PollInterval is the pause between two looks at gv$session (default 5s).
	PollInterval time.Duration
	// DiagnosticsPack says the database is licensed for the Diagnostics Pack, so sampling
	// may also read gv$active_session_history (which catches short connections).
	DiagnosticsPack bool
	// TablespaceMode is how the cut quiesces the schema's tablespaces: "read-only"
	// (default: data stays readable for the archive) or "offline".
	TablespaceMode string
	// LOBPrefetchRows is how many rows a scan of a table with LOB or LONG columns fetches per
	// round trip (default 8): go-ora holds every LOB of a fetch in memory at once.
	LOBPrefetchRows int
}

const (
	defaultQueryTimeout    = 30 * time.Second
	defaultPollInterval    = 5 * time.Second
	defaultLOBPrefetchRows = 8
	// scanTimeout bounds a table scan when the caller's context has no deadline.
	scanTimeout = 24 * time.Hour
	// historyLookback is how far back the first look at ASH or the audit trail goes: about
	// what ASH keeps in memory, and harmless to repeat after a retry (ids dedupe).
	historyLookback = time.Hour

	modeReadOnly = "read-only"
	modeOffline  = "offline"
)

// Adapter implements engine.Adapter for Oracle 12.2 and later (19c, 21c, 23ai).
type Adapter struct {
	cfg  Config
	dial dialer

	mu       sync.Mutex
	lastLook map[string]time.Time // per object: when ASH and the audit trail were last read
	auditOn  *bool                // unified auditing, learnt on first use
	// lookBare is set once gv$access or gv$locked_object proved unreadable: looks then read
	// gv$session alone (evidence.go).
	lookBare bool
}

var _ engine.Adapter = (*Adapter)(nil)

// New checks the configuration; it does not connect.
func New(cfg Config) (*Adapter, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Service == "" {
		return nil, fmt.Errorf("oracle connection %s:%d: no service name: %w", cfg.Host, cfg.Port, engine.ErrRefused)
	}
	d, err := goraDialer(cfg)
	if err != nil {
		return nil, err
	}
	return NewWithDialer(cfg, d), nil
}

// NewWithDialer is New with another way to open sessions (tests).
func NewWithDialer(cfg Config, d dialer) *Adapter {
	cfg, _ = withDefaults(cfg)
	return &Adapter{cfg: cfg, dial: d, lastLook: map[string]time.Time{}}
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = 1521
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = defaultQueryTimeout
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.LOBPrefetchRows <= 0 {
		cfg.LOBPrefetchRows = defaultLOBPrefetchRows
	}
	switch cfg.TablespaceMode {
	case "":
		cfg.TablespaceMode = modeReadOnly
	case modeReadOnly, modeOffline:
	default:
		return cfg, fmt.Errorf("tablespace mode %q is not known (use %s or %s): %w", cfg.TablespaceMode, modeReadOnly, modeOffline, engine.ErrRefused)
	}
	return cfg, nil
}

// open starts one session for one call; the caller closes it before returning.
func (a *Adapter) open(ctx context.Context) (conn, error) {
	return a.openWith(ctx, connOptions{})
}

func (a *Adapter) openWith(ctx context.Context, opts connOptions) (conn, error) {
	ctx, cancel := a.timeout(ctx)
	defer cancel()
	c, err := a.dial(ctx, opts)
	return c, classify(err)
}

// timeout gives one statement its own deadline, whatever the caller's context carries.
func (a *Adapter) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.cfg.QueryTimeout)
}

func (a *Adapter) exec(ctx context.Context, c conn, query string, args ...any) error {
	ctx, cancel := a.timeout(ctx)
	defer cancel()
	return classify(c.Exec(ctx, query, args...))
}

// each runs a query under its own deadline and calls fn for every row.
func (a *Adapter) each(ctx context.Context, c conn, query string, args []any, fn func(row []any) error) error {
	ctx, cancel := a.timeout(ctx)
	defer cancel()
	return classify(c.Query(ctx, query, args, fn))
}

// strings1 returns the first column of every row as text.
func (a *Adapter) strings1(ctx context.Context, c conn, query string, args ...any) ([]string, error) {
	out := []string{}
	err := a.each(ctx, c, query, args, func(r []any) error {
		out = append(out, str(r[0]))
		return nil
	})
	return out, err
}

// first returns the first row, or nil when there is none.
func (a *Adapter) first(ctx context.Context, c conn, query string, args ...any) ([]any, error) {
	var out []any
	err := a.each(ctx, c, query, args, func(r []any) error {
		if out == nil {
			out = append([]any{}, r...)
		}
		return nil
	})
	return out, err
}

// int1 returns the first column of the first row as an integer (0 when there is no row).
func (a *Adapter) int1(ctx context.Context, c conn, query string, args ...any) (int64, error) {
	r, err := a.first(ctx, c, query, args...)
	if err != nil || r == nil {
		return 0, err
	}
	return num(r[0])
}

// PollInterval is how often sampling looks at gv$session.
func (a *Adapter) PollInterval() time.Duration { return a.cfg.PollInterval }
