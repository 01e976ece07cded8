package starter

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/once-run/once"
)

// fakeMetrics records counter increments and timer samples by name and tags.
type fakeMetrics struct {
	client.MetricsHandler
	tags    map[string]string
	counts  map[string]int64
	timings map[string]int
}

func (f *fakeMetrics) WithTags(tags map[string]string) client.MetricsHandler {
	merged := map[string]string{}
	for k, v := range f.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &fakeMetrics{tags: merged, counts: f.counts, timings: f.timings}
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

func (f *fakeMetrics) Counter(name string) client.MetricsCounter {
	return counterFunc(func(d int64) { f.counts[name+" "+f.tags[once.TagOutcome]+" "+f.tags[once.TagTask]] += d })
}

func (f *fakeMetrics) Timer(name string) client.MetricsTimer {
	return timerFunc(func(time.Duration) { f.timings[name+" "+f.tags[once.TagOutcome]+" "+f.tags[once.TagTask]]++ })
}

// syncMetrics counts once.MetricTriggers by outcome, safe for concurrent
// use.
type syncMetrics struct {
	client.MetricsHandler
	tags   map[string]string
	mu     *sync.Mutex
	counts map[string]int64
}

func newSyncMetrics() *syncMetrics {
	return &syncMetrics{MetricsHandler: client.MetricsNopHandler, mu: &sync.Mutex{}, counts: map[string]int64{}}
}

func (m *syncMetrics) WithTags(tags map[string]string) client.MetricsHandler {
	merged := map[string]string{}
	for k, v := range m.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return &syncMetrics{MetricsHandler: m.MetricsHandler, tags: merged, mu: m.mu, counts: m.counts}
}

func (m *syncMetrics) Counter(name string) client.MetricsCounter {
	if name != once.MetricTriggers {
		return m.MetricsHandler.Counter(name)
	}
	return counterFunc(func(d int64) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.counts[m.tags[once.TagOutcome]] += d
	})
}

// byOutcome returns the triggers counted so far by outcome.
func (m *syncMetrics) byOutcome() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.counts)
}

func TestObserveCountsAndTimesByOutcome(t *testing.T) {
	m := &fakeMetrics{counts: map[string]int64{}, timings: map[string]int{}}
	c := &Client{opts: Options{Environment: "prod", MetricsHandler: m}}
	for _, outcome := range []string{once.OutcomeStarted, once.OutcomeCached, once.OutcomeCached} {
		_, done := c.observe(context.Background(), "hello")
		done(nil, outcome, nil)
	}
	require.Equal(t, map[string]int64{"once_triggers started hello": 1, "once_triggers cached hello": 2}, m.counts)
	require.Equal(t, map[string]int{"once_trigger_latency started hello": 1, "once_trigger_latency cached hello": 2}, m.timings)
}
