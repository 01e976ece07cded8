package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

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

// scrapeCounter reads one once_triggers series from the worker's endpoint.
func scrapeCounter(t *testing.T, addr, env, task, outcome string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	// Sum the series with these labels; the SDK adds its own (namespace,
	// workflow type, …) to counters made in workflow code.
	var sum float64
	for _, m := range regexp.MustCompile(`(?m)^once_triggers\{(.*)\} (\S+)$`).FindAllSubmatch(body, -1) {
		labels := "," + string(m[1]) + ","
		if !strings.Contains(labels, `,environment="`+env+`",`) || !strings.Contains(labels, `,outcome="`+outcome+`",`) ||
			!strings.Contains(labels, `,task="`+task+`",`) {
			continue
		}
		v, err := strconv.ParseFloat(string(m[2]), 64)
		require.NoError(t, err)
		sum += v
	}
	return sum
}

// TestWorkerMetricsCountTriggers runs the worker program against the shared
// server with --metrics-addr and watches the started/cached counters move as
// tasks trigger children: from an activity (through the starter) and from
// workflow code, each retried so that later attempts are cached hits.
func TestWorkerMetricsCountTriggers(t *testing.T) {
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
	require.Zero(t, scrapeCounter(t, addr, env, "child-task", "started"))

	s, err := starter.New(newClient(t), starter.Options{Environment: env, Tasks: map[string]once.TaskConfig{
		examples.MyTask.ID(): examples.MyTask.Config(),
	}})
	require.NoError(t, err)
	_, err = s.TriggerAndWait(ctx, examples.ActivityTriggerTask.ID(), examples.ActivityTriggerPayload{FailAttempts: 2}, nil,
		starter.TriggerOptions{Key: key("activity")})
	require.NoError(t, err)
	require.Equal(t, float64(1), scrapeCounter(t, addr, env, "child-task", "started"), "first activity attempt starts the child")
	require.Equal(t, float64(2), scrapeCounter(t, addr, env, "child-task", "cached"), "two retries find it")

	_, err = s.TriggerAndWait(ctx, examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 1}, nil,
		starter.TriggerOptions{Key: key("workflow")})
	require.NoError(t, err)
	require.Equal(t, float64(2), scrapeCounter(t, addr, env, "child-task", "started"), "workflow attempt 1 starts its child")
	require.Equal(t, float64(3), scrapeCounter(t, addr, env, "child-task", "cached"), "workflow attempt 2 attaches")
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
