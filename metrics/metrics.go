// Package metrics names the metrics retire records and records them through the Temporal
// SDK's metrics handler (client.MetricsHandler), so that they reach the same place as the
// SDK's own: the worker's /metrics endpoint.
//
// Activities pass activity.GetMetricsHandler(ctx); workflows pass
// workflow.GetMetricsHandler(ctx), which records nothing while a workflow replays. This
// package imports nothing but the SDK's client package, so workflows may use it.
//
// The names here are the ones recorded. The worker's Prometheus endpoint appends _total to
// counters (OpenMetrics naming): retire_archived_rows is scraped as
// retire_archived_rows_total.
package metrics

import (
	"time"

	"go.temporal.io/sdk/client"
)

// Metric names.
const (
	// ArchivedRows counts rows written to archives (counter).
	ArchivedRows = "retire_archived_rows"
	// ArchivedBytes counts bytes written to archives (counter).
	ArchivedBytes = "retire_archived_bytes"
	// ArchiveRate is the write rate of the last archive to finish (gauge).
	ArchiveRate = "retire_archive_rate_bytes_per_second"
	// BytesFreed counts bytes freed by verified drops (counter).
	BytesFreed = "retire_bytes_freed"
	// GateFailures counts gates that stopped a retirement, by gate (counter).
	GateFailures = "retire_gate_failures"
	// PhaseEntries counts retirements entering a phase, by phase (counter).
	PhaseEntries = "retire_phase_entered"
	// Retirements is the number of running retirements, by phase (gauge). The worker
	// computes it from Temporal's visibility store when it is scraped.
	Retirements = "retire_retirements"
	// VisibilityErrors counts failed attempts to compute Retirements (counter).
	VisibilityErrors = "retire_visibility_errors"
)

// Tag keys.
const (
	TagGate  = "gate"
	TagPhase = "phase"
)

// Archived records an archive that finished: the rows and bytes this attempt wrote, and
// its rate over the time it took.
func Archived(h client.MetricsHandler, rows, bytes int64, took time.Duration) {
	if h == nil {
		return
	}
	if rows > 0 {
		h.Counter(ArchivedRows).Inc(rows)
	}
	if bytes > 0 {
		h.Counter(ArchivedBytes).Inc(bytes)
	}
	if took > 0 && bytes >= 0 {
		h.Gauge(ArchiveRate).Update(float64(bytes) / took.Seconds())
	}
}

// Freed records the bytes a verified drop freed.
func Freed(h client.MetricsHandler, bytes int64) {
	if h == nil || bytes <= 0 {
		return
	}
	h.Counter(BytesFreed).Inc(bytes)
}

// GateFailed records that a gate (archive verification, restore test, sign-off, ...)
// stopped a retirement.
func GateFailed(h client.MetricsHandler, gate string) {
	if h == nil {
		return
	}
	h.WithTags(map[string]string{TagGate: gate}).Counter(GateFailures).Inc(1)
}

// PhaseEntered records that a retirement entered a phase.
func PhaseEntered(h client.MetricsHandler, phase string) {
	if h == nil {
		return
	}
	h.WithTags(map[string]string{TagPhase: phase}).Counter(PhaseEntries).Inc(1)
}
