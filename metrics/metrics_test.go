package metrics

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.temporal.io/sdk/client"
)

// recorder is a client.MetricsHandler that remembers what was recorded, as
// "name{k=v,...}" -> value (counters add up, gauges keep the last value).
type recorder struct {
	mu     *sync.Mutex
	tags   map[string]string
	values map[string]float64
}

func newRecorder() *recorder {
	return &recorder{mu: &sync.Mutex{}, tags: map[string]string{}, values: map[string]float64{}}
}

func (r *recorder) key(name string) string {
	var kv []string
	for k, v := range r.tags {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	return fmt.Sprintf("%s{%s}", name, strings.Join(kv, ","))
}

func (r *recorder) WithTags(tags map[string]string) client.MetricsHandler {
	merged := map[string]string{}
	for k, v := range r.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &recorder{mu: r.mu, tags: merged, values: r.values}
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

func (r *recorder) Counter(name string) client.MetricsCounter {
	return counterFunc(func(d int64) { r.mu.Lock(); r.values[r.key(name)] += float64(d); r.mu.Unlock() })
}

func (r *recorder) Gauge(name string) client.MetricsGauge {
	return gaugeFunc(func(v float64) { r.mu.Lock(); r.values[r.key(name)] = v; r.mu.Unlock() })
}

func (r *recorder) Timer(name string) client.MetricsTimer {
	return timerFunc(func(d time.Duration) { r.mu.Lock(); r.values[r.key(name)] = d.Seconds(); r.mu.Unlock() })
}

func TestArchivedCountsRowsBytesAndRate(t *testing.T) {
	r := newRecorder()
	Archived(r, 5002, 1<<20, 2*time.Second)
	Archived(r, 10, 1<<10, time.Second)
	assert.Equal(t, map[string]float64{
		"retire_archived_rows{}":                 5012,
		"retire_archived_bytes{}":                1<<20 + 1<<10,
		"retire_archive_rate_bytes_per_second{}": 1 << 10, // the last archive's
	}, r.values)
}

func TestArchivedOfAResumedAttemptThatWroteNothing(t *testing.T) {
	r := newRecorder()
	Archived(r, 0, 0, time.Second)
	assert.Equal(t, map[string]float64{"retire_archive_rate_bytes_per_second{}": 0}, r.values,
		"no counter moves, the rate says the attempt wrote nothing")
}

func TestFreedGateFailedPhaseEntered(t *testing.T) {
	r := newRecorder()
	Freed(r, 4096)
	Freed(r, 0)
	GateFailed(r, "archive-verified")
	GateFailed(r, "archive-verified")
	GateFailed(r, "signoff")
	PhaseEntered(r, "plan")
	PhaseEntered(r, "archive")
	PhaseEntered(r.WithTags(map[string]string{"workflow_type": "RetireDatabase"}), "archive")
	assert.Equal(t, map[string]float64{
		"retire_bytes_freed{}":                                             4096,
		"retire_gate_failures{gate=archive-verified}":                      2,
		"retire_gate_failures{gate=signoff}":                               1,
		"retire_phase_entered{phase=plan}":                                 1,
		"retire_phase_entered{phase=archive}":                              1,
		"retire_phase_entered{phase=archive,workflow_type=RetireDatabase}": 1,
	}, r.values)
}

func TestNilHandlerRecordsNothing(t *testing.T) {
	assert.NotPanics(t, func() {
		Archived(nil, 1, 1, time.Second)
		Freed(nil, 1)
		GateFailed(nil, "x")
		PhaseEntered(nil, "plan")
	})
}
