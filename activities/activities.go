// Package activities holds what the RetireDatabase workflow asks workers to do. Each activity
// is thin: resolve the profile named in the request, call the engine adapter or the archive,
// heartbeat. Each is idempotent, so a retry after a crash reaches the same end state.
package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/dataretire/retire/activities/archive"
	"github.com/dataretire/retire/activities/engine"
	"github.com/dataretire/retire/activities/mysql"
	"github.com/dataretire/retire/activities/oracle"
	"github.com/dataretire/retire/config"
	"github.com/dataretire/retire/metrics"
)

// Activities is registered with the worker; its methods are the activities.
type Activities struct {
	cfg    *config.Config
	policy Policy

	signal         Signaler // see ReportProgress
	reportInterval time.Duration

	// hub is the worker's one poller per server for every retirement sampling on it, and
	// counters the one for every retirement counting attempts after its cut.
	hub      *lookHub
	counters *counterHub
	// detach runs watches outside the worker's activity slots (see runWatch); nil inline.
	detach *detacher
	// keep shares server settings among retirements (see holdSource); nil: each switches
	// its own.
	keep *keeping
}

// New makes the activities of a worker with this config and window policy.
func New(cfg *config.Config, policy Policy, opts ...Option) *Activities {
	a := &Activities{cfg: cfg, policy: policy, hub: newPollHub[struct{}, engine.ServerLook](), counters: newPollHub[counterQuery, map[string]engine.Counters]()}
	for _, o := range opts {
		o(a)
	}
	return a
}

// refuse marks an error that no retry can fix.
func refuse(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), "Refused", nil)
}

// Plan validates the request against this worker's policy and inventories the object.
func (a *Activities) Plan(ctx context.Context, in PlanInput) (Plan, error) {
	p := a.policy
	if in.SampleWindow < p.MinSampleWindow {
		return Plan{}, refuse("sampling window %s is shorter than this worker allows (%s); short windows need a worker started with --dev", in.SampleWindow, p.MinSampleWindow)
	}
	if in.ObserveWindow < p.MinObserveWindow || in.ObserveWindow > p.MaxObserveWindow {
		return Plan{}, refuse("observation window %s is outside %s..%s; short windows need a worker started with --dev", in.ObserveWindow, p.MinObserveWindow, p.MaxObserveWindow)
	}
	storeName, _, err := a.cfg.Store(in.Store)
	if err != nil {
		return Plan{}, refuse("%v", err)
	}
	var signers *Signers
	if in.ResolveOwners {
		if signers, err = a.signers(ctx, in); err != nil {
			return Plan{}, err
		}
	}
	ad, err := a.adapter(in.Connection)
	if err != nil {
		return Plan{}, err
	}
	if in.RestoreGate {
		if _, err := scratchFor(ad, in.Connection, in.Object); err != nil {
			return Plan{}, classify(err)
		}
	}
	defer keepAlive(ctx)()
	if err := ad.Validate(ctx, in.Object); err != nil {
		return Plan{}, classify(err)
	}
	// What every later phase needs is checked now, while refusing costs nothing: a drop
	// denied weeks later, with access cut, is what this prevents.
	strategy := in.Strategy
	if strategy == "" {
		strategy = engine.StrategyRevoke
	}
	privs, err := ad.CheckPrivileges(ctx, in.Object, strategy)
	if err != nil {
		return Plan{}, classify(err)
	}
	if err := privs.Err(); err != nil {
		return Plan{}, classify(err)
	}
	serverID, err := ad.ServerID(ctx)
	if err != nil {
		return Plan{}, classify(err)
	}
	// How complete the usage evidence will be, said before the window opens; a profile that
	// requires a source this server does not give is refused now.
	var sources []engine.EvidenceSource
	if ep, ok := ad.(engine.EvidenceProber); ok {
		c, _ := a.cfg.Connection(in.Connection)
		if sources, err = evidenceSources(ctx, ep, c, in.Object); err != nil {
			return Plan{}, classify(err)
		}
		for i, s := range sources {
			if !s.Available() && s.Dynamic && slices.Contains(c.Sampling.Enable, s.Name) {
				sources[i].Detail = "retire switches it on for the retirement and puts it back afterwards (sampling.enable)"
			}
		}
	}
	if in.Strategy == engine.StrategyRename {
		// Refusals of the rename strategy (e.g. triggers) must come now, not after weeks.
		if _, err := ad.SnapshotAccess(ctx, in.Object, in.Strategy); err != nil {
			return Plan{}, classify(err)
		}
	}
	inv, err := ad.Inventory(ctx, in.Object)
	if err != nil {
		return Plan{}, classify(err)
	}
	activity.GetLogger(ctx).Info("Inventory", "tables", len(inv.Tables), "rows", inv.TotalRows, "bytes", inv.TotalBytes, "accounts", len(inv.Accounts))
	return Plan{Engine: inv.Engine, ServerID: serverID, Evidence: sources, Inventory: inv, Policy: p, Store: storeName, ReminderDays: a.cfg.Notify.Reminder(), Signers: signers}, nil
}

// SnapshotAccess records the access that the cut will remove. It changes nothing.
func (a *Activities) SnapshotAccess(ctx context.Context, in AccessInput) (engine.AccessSnapshot, error) {
	ad, err := a.adapter(in.Connection)
	if err != nil {
		return engine.AccessSnapshot{}, err
	}
	defer keepAlive(ctx)()
	snap, err := ad.SnapshotAccess(ctx, in.Object, in.Strategy)
	return snap, classify(err)
}

// CutAccess removes the access recorded in the snapshot (logical delete).
func (a *Activities) CutAccess(ctx context.Context, in SnapshotInput) (engine.CutResult, error) {
	ad, err := a.adapter(in.Connection)
	if err != nil {
		return engine.CutResult{}, err
	}
	defer keepAlive(ctx)()
	res, err := ad.Cut(ctx, in.Snapshot)
	if err == nil {
		activity.GetLogger(ctx).Info("Access cut", "revoked", res.Revoked, "locked", res.Locked, "moved", res.Moved, "killed", res.KilledSessions)
	}
	return res, classify(err)
}

// RestoreAccess gives back exactly the access recorded in the snapshot.
func (a *Activities) RestoreAccess(ctx context.Context, in SnapshotInput) error {
	ad, err := a.adapter(in.Connection)
	if err != nil {
		return err
	}
	defer keepAlive(ctx)()
	return classify(ad.Restore(ctx, in.Snapshot))
}

// Drop checks, at the moment of the drop, that the verified archive is still in the store
// and unchanged, then drops the object. Already gone counts as dropped. A drop the server
// refuses (no retry can fix it) that left the object whole (every table of the archive
// still there) fails with ErrTypeDropRefusedIntact: nothing was destroyed, so access can be
// given back.
func (a *Activities) Drop(ctx context.Context, in DropInput) error {
	store, err := a.store(ctx, in.Archive.Store)
	if err != nil {
		return err
	}
	m, sum, err := archive.ReadManifest(ctx, store, in.Archive.Path)
	if err != nil {
		return fmt.Errorf("gate: cannot read the archive manifest before the drop: %w", err)
	}
	if sum != in.Archive.ManifestSHA256 {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("gate: the archive manifest changed since it was verified (sha256 %s, expected %s); refusing to drop", sum, in.Archive.ManifestSHA256), "GateFailed", nil)
	}
	ad, err := a.adapter(in.Connection)
	if err != nil {
		return err
	}
	defer keepAlive(ctx)()
	activity.GetLogger(ctx).Warn("Dropping", "connection", in.Connection, "object", in.Object, "archive", in.Archive.Path)
	err = ad.Drop(ctx, in.Object, in.Snapshot)
	if err == nil || !errors.Is(err, engine.ErrRefused) {
		return classify(err)
	}
	tables := make([]string, len(m.Tables))
	for i, t := range m.Tables {
		tables[i] = t.Name
	}
	whole, why := stillWhole(ctx, ad, in.Object, in.Snapshot, tables)
	if !whole {
		activity.GetLogger(ctx).Error("Drop refused and the object is not whole", "object", in.Object, "error", err, "why", why)
		return classify(err)
	}
	activity.GetLogger(ctx).Error("Drop refused; the object is still whole", "object", in.Object, "error", err, "tables", len(tables))
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the drop of %s was refused and destroyed nothing (all %d archived table(s) are still there): %v",
		in.Object, len(tables), err), ErrTypeDropRefusedIntact, err)
}

// VerifyGone proves the object is gone and reports the bytes freed: what the object
// occupied on disk when the archive was written (access cut, nothing changed since), or
// else the plan's count; BytesFreedMethod says which, and how it was counted.
func (a *Activities) VerifyGone(ctx context.Context, in GoneInput) (engine.GoneReport, error) {
	ad, err := a.adapter(in.Connection)
	if err != nil {
		return engine.GoneReport{}, err
	}
	rep, err := ad.VerifyGone(ctx, in.Object, in.Snapshot)
	if err != nil {
		return rep, classify(err)
	}
	if rep.Gone {
		rep.BytesFreed, rep.BytesFreedMethod = in.BytesFreed, "the plan's inventory (taken before sampling and the cut; the plan says how it counted)"
		if ar := in.Archive; ar != nil && ar.OnDiskMethod != "" {
			rep.BytesFreed, rep.BytesFreedMethod = ar.OnDiskBytes, ar.OnDiskMethod+", measured when the archive was written, with access cut"
		}
		metrics.Freed(activity.GetMetricsHandler(ctx), rep.BytesFreed)
	}
	return rep, nil
}

// WriteRecord writes record.json and record.md beside the archive.
func (a *Activities) WriteRecord(ctx context.Context, in RecordInput) (RecordLocation, error) {
	store, err := a.store(ctx, in.Store)
	if err != nil {
		return RecordLocation{}, err
	}
	j, m, err := archive.PutRecord(ctx, store, in.Path, in.JSON, []byte(in.Markdown))
	if err != nil {
		return RecordLocation{}, err
	}
	return RecordLocation{JSONKey: store.FullKey(j), MarkdownKey: store.FullKey(m), JSONURL: store.URL(j), MarkdownURL: store.URL(m)}, nil
}

func (a *Activities) adapter(connection string) (engine.Adapter, error) {
	return Connect(a.cfg, connection)
}

func (a *Activities) store(ctx context.Context, name string) (*archive.Store, error) {
	return OpenStore(ctx, a.cfg, name)
}

// Connect resolves a connection profile of the config to an engine adapter. The CLI's
// in-process commands (archive, verify, restore) use it too, so they read credentials
// exactly as the worker does.
func Connect(cfg *config.Config, connection string) (engine.Adapter, error) {
	c, err := cfg.Connection(connection)
	if err != nil {
		return nil, refuse("%v", err)
	}
	password, err := c.Password()
	if err != nil {
		return nil, refuse("connection %s: %v", connection, err)
	}
	switch c.Engine {
	case "mysql":
		return mysql.New(mysql.Config{
			Host: c.Host, Port: c.Port, User: c.User, Password: password, Params: c.Params,
			QueryTimeout: c.QueryTimeout, PollInterval: c.PollInterval, AuditLogPath: c.Sampling.AuditLog,
		})
	case "oracle":
		return oracle.New(oracle.Config{
			Host: c.Host, Port: c.Port, Service: c.Service, User: c.User, Password: password, Params: c.Params,
			QueryTimeout: c.QueryTimeout, PollInterval: c.PollInterval, DiagnosticsPack: c.DiagnosticsPack,
			TablespaceMode: c.TablespaceMode, LOBPrefetchRows: c.LOBPrefetchRows,
		})
	}
	return nil, refuse("connection %s: engine %q is not supported", connection, c.Engine)
}

// OpenStore resolves a store profile ("" is the default store).
func OpenStore(ctx context.Context, cfg *config.Config, name string) (*archive.Store, error) {
	_, s, err := cfg.Store(name)
	if err != nil {
		return nil, refuse("%v", err)
	}
	access, secret, err := s.Keys()
	if err != nil {
		return nil, refuse("store %s: %v", name, err)
	}
	return archive.NewStore(ctx, archive.StoreConfig{
		Endpoint: s.Endpoint, AccessKey: access, SecretKey: secret, Bucket: s.Bucket,
		Prefix: s.Prefix, Secure: s.Secure, Region: s.Region,
	})
}

// classify turns the adapter's refusals into non-retryable errors; anything else (a lost
// connection, a lock wait) is retried by Temporal.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, engine.ErrRefused) {
		return temporal.NewNonRetryableApplicationError(err.Error(), "Refused", err)
	}
	return err
}

// keepAlive heartbeats while a single long call runs, so that a dead worker is noticed by
// the heartbeat timeout rather than by the hours-long start-to-close timeout.
func keepAlive(ctx context.Context) (stop func()) {
	return keepAliveWith(ctx, nil)
}

// keepAliveWith is keepAlive for an activity that checkpoints: each beat carries latest()
// again, because the server keeps only the last heartbeat's details and a bare beat would
// erase the checkpoint a retry resumes from.
func keepAliveWith(ctx context.Context, latest func() any) (stop func()) {
	every := 20 * time.Second
	if hb := activity.GetInfo(ctx).HeartbeatTimeout; hb > 0 {
		every = min(max(hb/3, time.Second), every)
	}
	return ticking(ctx, every, func() {
		if latest == nil {
			activity.RecordHeartbeat(ctx)
		} else {
			activity.RecordHeartbeat(ctx, latest())
		}
	})
}

// ticking calls tick every interval until stop is called or ctx ends. stop returns once no
// tick is running any more.
func ticking(ctx context.Context, interval time.Duration, tick func()) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				tick()
			}
		}
	}()
	return func() { close(done); <-exited }
}
