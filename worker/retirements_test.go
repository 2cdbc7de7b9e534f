package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeVisibility answers CountWorkflow queries from a map of phase -> count, or fails.
type fakeVisibility struct {
	mu      sync.Mutex
	counts  map[string]int64
	fail    error
	queries []string
}

var phaseInQuery = regexp.MustCompile(`^WorkflowType = 'RetireDatabase' AND RetirePhase = '(\w+)' AND ExecutionStatus = 'Running'$`)

func (f *fakeVisibility) count(_ context.Context, q string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.fail != nil {
		return 0, f.fail
	}
	m := phaseInQuery.FindStringSubmatch(q)
	if m == nil {
		return 0, errors.New("unexpected query " + q)
	}
	return f.counts[m[1]], nil
}

func (f *fakeVisibility) set(counts map[string]int64, fail error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts, f.fail = counts, fail
}

func (f *fakeVisibility) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queries)
}

type scraper struct {
	t   *testing.T
	srv *httptest.Server
}

func newScraper(t *testing.T, c prometheus.Collector) *scraper {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	t.Cleanup(srv.Close)
	return &scraper{t, srv}
}

// scrape returns the sample lines.
func (s *scraper) scrape() []string {
	code, body := get(s.t, s.srv, "/metrics")
	require.Equal(s.t, http.StatusOK, code, "a scrape never fails: %s", body)
	var lines []string
	for _, l := range strings.Split(body, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestRetirementsByPhaseCachedAndKeptOnErrors(t *testing.T) {
	vis := &fakeVisibility{counts: map[string]int64{"sample": 1, "observe": 3, "archive": 1}}
	core, logs := observer.New(zapcore.InfoLevel)
	c := newRetirementsCollector(vis.count, zap.New(core))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	s := newScraper(t, c)

	first := []string{
		`retire_retirements{phase="plan"} 0`,
		`retire_retirements{phase="sample"} 1`,
		`retire_retirements{phase="quiesce"} 0`,
		`retire_retirements{phase="observe"} 3`,
		`retire_retirements{phase="archive"} 1`,
		`retire_retirements{phase="drop"} 0`,
		`retire_retirements{phase="verify"} 0`,
		`retire_retirements{phase="record"} 0`,
		`retire_visibility_errors_total 0`,
	}
	assert.ElementsMatch(t, first, s.scrape())
	assert.Equal(t, 8, vis.calls(), "one count per running phase")

	// Within 15 s the counts come from the cache.
	vis.set(map[string]int64{"observe": 4}, nil)
	now = now.Add(14 * time.Second)
	assert.ElementsMatch(t, first, s.scrape())
	assert.Equal(t, 8, vis.calls())

	// Visibility fails: the last good counts stay, the error counter goes up, the scrape
	// still succeeds, and the failure is logged once however long it lasts.
	vis.set(nil, errors.New("visibility store unavailable"))
	for i := 1; i <= 3; i++ {
		now = now.Add(15 * time.Second)
		got := s.scrape()
		assert.ElementsMatch(t, append(first[:8:8], fmt.Sprint(`retire_visibility_errors_total `, i)), got)
	}
	assert.Equal(t, 1, logs.FilterMessageSnippet("Cannot count the running retirements").Len())

	// Back: new counts, and one line saying so.
	vis.set(map[string]int64{"observe": 4}, nil)
	now = now.Add(15 * time.Second)
	got := s.scrape()
	assert.Contains(t, got, `retire_retirements{phase="observe"} 4`)
	assert.Contains(t, got, `retire_retirements{phase="sample"} 0`)
	assert.Contains(t, got, `retire_visibility_errors_total 3`)
	assert.Equal(t, 1, logs.FilterMessage("Counting the running retirements by phase works again").Len())

	// A new outage is logged again.
	vis.set(nil, errors.New("again"))
	now = now.Add(15 * time.Second)
	s.scrape()
	assert.Equal(t, 2, logs.FilterMessageSnippet("Cannot count the running retirements").Len())
}

func TestRetirementsBeforeAnyGoodCountShowsOnlyErrors(t *testing.T) {
	vis := &fakeVisibility{fail: errors.New("RetirePhase is not a registered search attribute")}
	c := newRetirementsCollector(vis.count, zap.NewNop())
	s := newScraper(t, c)
	assert.Equal(t, []string{`retire_visibility_errors_total 1`}, s.scrape(), "no made-up zeros")
	assert.Equal(t, 1, vis.calls(), "the first failure ends the round")
}

// A visibility store that hangs holds a scrape for the timeout, not for ever.
func TestRetirementsCountIsBoundedByTheTimeout(t *testing.T) {
	c := newRetirementsCollector(func(ctx context.Context, _ string) (int64, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	}, zap.NewNop())
	c.timeout = 100 * time.Millisecond
	s := newScraper(t, c)
	start := time.Now()
	assert.Equal(t, []string{`retire_visibility_errors_total 1`}, s.scrape())
	assert.Less(t, time.Since(start), 2*time.Second)
}
