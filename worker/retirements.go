package main

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/dataretire/retire/metrics"
	"github.com/dataretire/retire/workflows"
)

// runningPhases are the phases a running retirement can be in.
var runningPhases = workflows.RunningPhases

// countFunc counts the workflows that match a visibility query.
type countFunc func(ctx context.Context, query string) (int64, error)

// visibilityCount counts through the Temporal client, in the client's namespace.
func visibilityCount(c client.Client) countFunc {
	return func(ctx context.Context, query string) (int64, error) {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err != nil {
			return 0, err
		}
		return resp.GetCount(), nil
	}
}

// retirementsCollector exposes retire_retirements{phase}, the running retirements by
// phase, counted in Temporal's visibility store when Prometheus scrapes: at most once per
// ttl (several workers and several scrapers share a cluster), each time within timeout. A
// failed count never fails the scrape: the last good counts stay exposed (none before the
// first success), retire_visibility_errors_total goes up, and the first failure of a run
// of failures is logged.
type retirementsCollector struct {
	count   countFunc
	ttl     time.Duration
	timeout time.Duration
	logger  *zap.Logger
	now     func() time.Time

	gauge, errs *prometheus.Desc

	mu      sync.Mutex // held while counting, so concurrent scrapes count once
	last    map[workflows.Phase]int64
	tried   time.Time
	errors  int64
	failing bool
}

func newRetirementsCollector(count countFunc, logger *zap.Logger) *retirementsCollector {
	return &retirementsCollector{
		count:   count,
		ttl:     15 * time.Second,
		timeout: 5 * time.Second,
		logger:  logger,
		now:     time.Now,
		gauge: prometheus.NewDesc(metrics.Retirements,
			"Running retirements by phase (Temporal visibility, refreshed at most every 15s).", []string{metrics.TagPhase}, nil),
		errs: prometheus.NewDesc(metrics.VisibilityErrors+"_total",
			"Failed attempts to count the running retirements in Temporal's visibility store.", nil, nil),
	}
}

func (c *retirementsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.gauge
	ch <- c.errs
}

func (c *retirementsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tried.IsZero() || c.now().Sub(c.tried) >= c.ttl {
		c.refresh()
	}
	if c.last != nil {
		for _, p := range runningPhases {
			ch <- prometheus.MustNewConstMetric(c.gauge, prometheus.GaugeValue, float64(c.last[p]), string(p))
		}
	}
	ch <- prometheus.MustNewConstMetric(c.errs, prometheus.CounterValue, float64(c.errors))
}

// refresh counts every phase; it keeps the new counts only if all of them were counted.
func (c *retirementsCollector) refresh() {
	c.tried = c.now()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	counts := make(map[workflows.Phase]int64, len(runningPhases))
	for _, p := range runningPhases {
		n, err := c.count(ctx, workflows.Filter{Phase: p}.Query())
		if err != nil {
			c.errors++
			if !c.failing {
				c.failing = true
				c.logger.Warn("Cannot count the running retirements by phase in Temporal's visibility store; "+
					metrics.Retirements+" keeps its last values until this works again (logged once)",
					zap.String("phase", string(p)), zap.Error(err))
			}
			return
		}
		counts[p] = n
	}
	if c.failing {
		c.failing = false
		c.logger.Info("Counting the running retirements by phase works again")
	}
	c.last = counts
}
