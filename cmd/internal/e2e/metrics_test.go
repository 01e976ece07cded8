package e2e

import (
	"bytes"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/devserver"
	"github.com/once-run/once/cmd/internal/workerapp"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
)

// scrape reads the worker's /metrics.
func scrape(t *testing.T, addr string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return body
}

// families parses a scrape in the Prometheus text format.
func families(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	var p expfmt.TextParser
	mf, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err)
	return mf
}

// sumSeries sums the counter values, or the histogram sample counts, of the
// series of family name whose labels include want. The SDK adds its own
// labels (namespace, task_queue, workflow_type, …) to metrics recorded in
// workflow and activity code.
func sumSeries(mf map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	for _, m := range mf[name].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		sum += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return sum
}

// dashboardMetrics are the series that Temporal's Grafana dashboard for the
// Go SDK with tally (temporalio/dashboards, sdk/temporal-go-java-sdks-tally.json)
// queries and that a worker that ran workflows and activities, some failing,
// has emitted. The dashboard's other series appear only on events these
// tests do not cause (empty polls, local activities, cancellations, forced
// evictions).
var dashboardMetrics = []string{
	"temporal_request_total",
	"temporal_request_latency_seconds_bucket",
	"temporal_long_request_latency_seconds_bucket",
	"temporal_workflow_completed_total",
	"temporal_workflow_failed_total",
	"temporal_workflow_endtoend_latency_seconds_bucket",
	"temporal_workflow_task_queue_poll_succeed_total",
	"temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
	"temporal_workflow_task_execution_latency_seconds_bucket",
	"temporal_activity_execution_latency_seconds_bucket",
	"temporal_activity_execution_failed_total",
	"temporal_activity_schedule_to_start_latency_seconds_bucket",
	"temporal_activity_schedule_to_start_latency_seconds_count",
	"temporal_activity_succeed_endtoend_latency_seconds_bucket",
	"temporal_worker_task_slots_available",
	"temporal_worker_task_slots_used",
	"temporal_sticky_cache_size",
}

// seriesNames lists every sample name of a scrape: a histogram's family name
// with _bucket, _sum and _count.
func seriesNames(mf map[string]*dto.MetricFamily) map[string]bool {
	names := map[string]bool{}
	for name, f := range mf {
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[name+suffix] = true
			}
			continue
		}
		names[name] = true
	}
	return names
}

// TestWorkerMetrics runs the worker program against the shared server with
// --metrics-addr and watches the trigger metrics move as tasks trigger
// children: from an activity (through the starter) and from workflow code,
// each retried so that later attempts are cached hits. The scrape then has
// the series Temporal's SDK dashboard queries, the Go runtime and process
// collectors, and nothing promlint objects to.
func TestWorkerMetrics(t *testing.T) {
	t.Setenv("TEMPORAL_ADDRESS", srv.Address())
	env := unique("metrics")
	m := workerapp.NewMain()
	m.Stdout, m.Stderr = io.Discard, io.Discard
	require.NoError(t, m.ParseFlags([]string{"--env", env, "--examples", "--metrics-addr", "127.0.0.1:0", "--log-level", "error"}))
	require.False(t, m.Dev)
	ctx := testCtx(t, 2*time.Minute)
	require.NoError(t, m.Run(ctx))
	defer func() { require.NoError(t, m.Close()) }()
	addr := m.MetricsAddress()
	child := func(outcome string) map[string]string {
		return map[string]string{once.TagTask: examples.ChildTask.ID(), once.TagEnvironment: env, once.TagOutcome: outcome}
	}
	triggers := func(outcome string) float64 {
		return sumSeries(families(t, scrape(t, addr)), "once_triggers_total", child(outcome))
	}
	// Counters reach Prometheus at tally's report interval (a second).
	waitTriggers := func(outcome string, want float64, why string) {
		t.Helper()
		eventually(t, 10*time.Second, why, func() (bool, error) { return triggers(outcome) == want, nil })
	}
	require.Zero(t, triggers(once.OutcomeStarted))

	s := newStarter(t, starter.Options{Environment: env})
	_, err := s.TriggerAndWait(ctx, examples.ActivityTriggerTask.ID(), examples.ActivityTriggerPayload{FailAttempts: 2}, nil,
		starter.TriggerOptions{Key: key("activity")})
	require.NoError(t, err)
	waitTriggers(once.OutcomeStarted, 1, "the first activity attempt starts the child")
	waitTriggers(once.OutcomeCached, 2, "two retries find it")

	_, err = s.TriggerAndWait(ctx, examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 1}, nil,
		starter.TriggerOptions{Key: key("workflow")})
	require.NoError(t, err)
	waitTriggers(once.OutcomeStarted, 2, "workflow attempt 1 starts its child")
	waitTriggers(once.OutcomeCached, 3, "workflow attempt 2 attaches")

	body := scrape(t, addr)
	mf := families(t, body)
	latency := mf["once_trigger_latency_seconds"]
	require.NotNil(t, latency, "trigger latency histogram")
	require.Equal(t, dto.MetricType_HISTOGRAM, latency.GetType())
	require.Equal(t, float64(2), sumSeries(mf, "once_trigger_latency_seconds", child(once.OutcomeStarted)))
	require.Equal(t, float64(3), sumSeries(mf, "once_trigger_latency_seconds", child(once.OutcomeCached)))
	require.Equal(t, dto.MetricType_COUNTER, mf["once_triggers_total"].GetType())

	names := seriesNames(mf)
	for _, name := range dashboardMetrics {
		require.True(t, names[name], "dashboard series %s in\n%s", name, body)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		require.True(t, names[name], "runtime/process series %s", name)
	}
	for name := range mf {
		require.False(t, strings.HasPrefix(name, "temporal_") && strings.HasSuffix(name, "_latency"), "a latency without unit: %s", name)
	}

	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	require.NoError(t, err)
	require.Empty(t, problems, "promlint")
}

func TestEnsureSearchAttributesRegistersMissing(t *testing.T) {
	needsEmbedded(t)
	s, err := devserver.Start(devserver.Options{
		DBFile:           filepath.Join(t.TempDir(), "bare.db"),
		SearchAttributes: map[string]enumspb.IndexedValueType{},
	})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Stop()) }()
	c := dial(t, s.Address(), s.Namespace())
	ctx := testCtx(t, time.Minute)
	list := func() map[string]enumspb.IndexedValueType {
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.Namespace()})
		require.NoError(t, err)
		return resp.GetCustomAttributes()
	}
	for _, name := range once.SearchAttributes() {
		require.NotContains(t, list(), name)
	}
	require.NoError(t, worker.EnsureSearchAttributes(ctx, c, s.Namespace()))
	require.NoError(t, worker.EnsureSearchAttributes(ctx, c, s.Namespace()), "idempotent")
	for _, name := range once.SearchAttributes() {
		require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, list()[name], name)
	}
}
