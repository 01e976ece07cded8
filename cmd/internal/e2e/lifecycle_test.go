package e2e

// Key lifecycle (issue 25): after any replacement of a key's run — expiry,
// reset, a released failure — exactly one caller is told it started the new
// run; and every expiry reported is the effective one, min(TTL, close time
// + the namespace's retention), with the bound that sets it.

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uber-go/tally/v4"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
	"go.temporal.io/sdk/converter"

	"github.com/once-run/once"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// triggerCounts are the triggers a tally test scope counted
// (once.MetricTriggers, through the SDK's tally handler, as the worker
// counts them) by outcome, for task.
func triggerCounts(scope tally.TestScope, task string) map[string]int64 {
	out := map[string]int64{}
	for _, c := range scope.Snapshot().Counters() {
		if c.Name() == once.MetricTriggers && c.Tags()[once.TagTask] == task {
			out[c.Tags()[once.TagOutcome]] += c.Value()
		}
	}
	return out
}

// TestLifecycleOneCallerStarts: after an expiry, a reset and a failure
// released (OnFailure FailureRelease), 32 callers — each with a Client of
// its own, as 32 processes — trigger the key at once (their replacement
// starts held until all 32 have sent one), with equal TTLs and payloads or
// with 8 TTLs and 32 payloads. One new run; exactly one caller gets
// Cached=false, the one whose payload the run has; the trigger metric counts
// one restarted (the outcome of the start that replaced the run), no
// started, 31 cached.
func TestLifecycleOneCallerStarts(t *testing.T) {
	t.Parallel()
	e := newConvergeEnv(t, starter.Options{})
	ctx := testCtx(t, 4*time.Minute)
	const n = 32
	type replace struct {
		name   string
		task   string
		policy enumspb.WorkflowIdReusePolicy
		runs   int64 // of the key, after the race: the old run, a marker, the new run
		// prepare makes the key's run one to replace.
		prepare func(t *testing.T, key idempotency.Parts) *starter.Run
		opts    starter.TriggerOptions
	}
	replacements := []replace{
		{name: "expiry", task: cvLeaf.ID(), policy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, runs: 2,
			prepare: func(t *testing.T, key idempotency.Parts) *starter.Run {
				start := time.Now()
				old, err := e.plain.TriggerAndWait(ctx, cvLeaf.ID(), map[string]any{"caller": -1}, nil, starter.TriggerOptions{Key: key, TTL: time.Second})
				require.NoError(t, err)
				time.Sleep(time.Until(start.Add(1100 * time.Millisecond)))
				return old
			}},
		{name: "reset", task: cvLeaf.ID(), policy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, runs: 3,
			prepare: func(t *testing.T, key idempotency.Parts) *starter.Run {
				old, err := e.plain.TriggerAndWait(ctx, cvLeaf.ID(), map[string]any{"caller": -1}, nil, starter.TriggerOptions{Key: key})
				require.NoError(t, err)
				require.NoError(t, e.plain.ResetKey(ctx, cvLeaf.ID(), key, starter.ResetOptions{}))
				return old
			}},
		{name: "released failure", task: cvFail.ID(), policy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY, runs: 2,
			opts: starter.TriggerOptions{OnFailure: starter.FailureRelease},
			prepare: func(t *testing.T, key idempotency.Parts) *starter.Run {
				old, err := e.plain.TriggerAndWait(ctx, cvFail.ID(), map[string]any{"caller": -1}, nil, starter.TriggerOptions{Key: key})
				require.Error(t, err)
				require.NotNil(t, old)
				return old
			}},
	}
	for _, r := range replacements {
		for _, alike := range []bool{true, false} {
			name := r.name + "/different TTLs and payloads"
			if alike {
				name = r.name + "/equal TTLs and payloads"
			}
			t.Run(name, func(t *testing.T) {
				key := idempotency.Parts{unique("lifecycle")}
				old := r.prepare(t, key)

				scope := tally.NewTestScope("", nil)
				metrics := sdktally.NewMetricsHandler(scope)
				callers := make([]*caller, n)
				clients := make([]*starter.Client, n)
				for i := range callers {
					opts := r.opts
					opts.Key = key
					c := &caller{i: i, opts: opts, payload: map[string]any{"caller": i}}
					if alike {
						c.opts.TTL, c.payload = time.Hour, map[string]any{"caller": "any"}
					} else {
						c.opts.TTL = raceTTL(i)
					}
					callers[i] = c
					var err error
					clients[i], err = e.starter.With(starter.Options{Environment: e.env, MetricsHandler: metrics, Logger: e.starter.Options().Logger})
					require.NoError(t, err)
				}
				arrived := e.gate.holdStarts(old.WorkflowID, r.policy, n)
				var wg sync.WaitGroup
				gate := make(chan struct{})
				for i, c := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-gate
						c.run, c.err = clients[i].Trigger(ctx, r.task, c.payload, c.opts)
					}()
				}
				close(gate)
				wg.Wait()

				started := -1
				for _, c := range callers {
					require.NoError(t, c.err, "caller %d", c.i)
					require.Equal(t, callers[0].run.RunID, c.run.RunID, "caller %d: one run for all", c.i)
					if !c.run.Cached {
						require.Equal(t, -1, started, "callers %d and %d both told they started the run", started, c.i)
						started = c.i
					}
				}
				require.NotEqual(t, -1, started, "one caller is told it started the run")
				require.NotEqual(t, old.RunID, callers[0].run.RunID)
				countRuns(t, e.c, runsOf(old.WorkflowID), r.runs)
				if !alike {
					input := runHistory(t, ctx, e.c, old.WorkflowID, callers[0].run.RunID).GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
					var payload map[string]any
					require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(input, &payload))
					require.Equal(t, float64(started), payload["caller"], "the caller told it started the run is the one whose payload the run has")
				}
				counts := triggerCounts(scope, r.task)
				require.Equal(t, map[string]int64{once.OutcomeRestarted: 1, once.OutcomeCached: n - 1}, counts,
					"one start (restarted: it replaced the run), every other trigger cached")
				t.Logf("%d callers, %d replacement starts held together: 1 run, caller %d told it started it; outcomes %v",
					n, arrived(), started, counts)
			})
		}
	}
}

// TestLifecycleEffectiveExpiry: on a namespace with one day's retention,
// every expiry reported is the effective one. TTL 30d: a run running
// reports its TTL's; once it closed, the trigger (of a key its Client has
// seen: it reads the run), Lookup and the CLI's describe report the
// retention's, close time + 1d. TTL 1h: the TTL's everywhere. With
// RefuseTTLBeyondRetention (the CLI's --strict-ttl) a TTL of 30d is an
// input error and nothing starts. The worker's banner shows the retention.
func TestLifecycleEffectiveExpiry(t *testing.T) {
	needsEmbedded(t)
	t.Parallel()
	ctx := testCtx(t, 3*time.Minute)
	const day = 24 * time.Hour
	ns := "once-e2e-one-day"
	registerNamespace(t, ctx, ns) // retention: one day
	env := unique("expiry")

	// The worker program on that namespace: its banner, and the runs.
	w := workerMain(t, nil)
	var banner bytes.Buffer
	w.Stdout = &banner
	require.NoError(t, w.ParseFlags([]string{"--env", env, "--examples", "--address", srv.Address(), "-n", ns, "--log-level", "error"}))
	require.NoError(t, w.Run(ctx))
	defer func() { require.NoError(t, w.Close()) }()
	require.Contains(t, banner.String(), "\nRetention        1d\n")

	s := mustDialStarter(t, client.Options{HostPort: srv.Address(), Namespace: ns}, starter.Options{Environment: env})
	retention, err := s.Retention(ctx)
	require.NoError(t, err)
	require.Equal(t, day, retention)
	hello := examples.Hello.ID()
	payload := examples.HelloPayload{Name: "Ada"}

	t.Run("TTL 30d: the retention", func(t *testing.T) {
		key := idempotency.Parts{unique("long")}
		run, err := s.Trigger(ctx, hello, payload, starter.TriggerOptions{Key: key, TTL: 30 * day})
		require.NoError(t, err)
		require.False(t, run.Cached)
		require.Equal(t, starter.ExpiryTTL, run.ExpiryBound, "running: the TTL's")
		require.WithinDuration(t, time.Now().Add(30*day), run.ExpiresAt, time.Minute)
		require.NoError(t, run.Get(ctx, nil))

		info, err := s.Lookup(ctx, hello, key, starter.LookupOptions{})
		require.NoError(t, err)
		require.False(t, info.CloseTime.IsZero())
		require.Equal(t, starter.ExpiryRetention, info.ExpiryBound)
		require.True(t, info.CloseTime.Add(day).Equal(info.ExpiresAt), "close %v + 1d, got %v", info.CloseTime, info.ExpiresAt)
		require.False(t, info.Expired)

		again, err := s.Trigger(ctx, hello, payload, starter.TriggerOptions{Key: key, TTL: 30 * day})
		require.NoError(t, err)
		require.True(t, again.Cached)
		require.Equal(t, starter.ExpiryRetention, again.ExpiryBound, "a seen key: the trigger read the closed run")
		require.True(t, info.ExpiresAt.Equal(again.ExpiresAt), "lookup %v, trigger %v", info.ExpiresAt, again.ExpiresAt)

		d := cliWith(t, map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "TEMPORAL_NAMESPACE": ns, "ONCE_ENV": env},
			"", "describe", hello, "--key", key[0], "-o", "json")
		requireOK(t, d)
		got := decodeJSON[struct {
			ExpiresAt   time.Time `json:"expiresAt"`
			ExpiryBound string    `json:"expiryBound"`
		}](t, d.stdout)
		require.Equal(t, "retention", got.ExpiryBound)
		require.True(t, info.ExpiresAt.Equal(got.ExpiresAt), "lookup %v, describe %v", info.ExpiresAt, got.ExpiresAt)
	})

	t.Run("TTL 1h: the TTL", func(t *testing.T) {
		key := idempotency.Parts{unique("short")}
		run, err := s.Trigger(ctx, hello, payload, starter.TriggerOptions{Key: key, TTL: time.Hour})
		require.NoError(t, err)
		require.Equal(t, starter.ExpiryTTL, run.ExpiryBound)
		require.NoError(t, run.Get(ctx, nil))
		info, err := s.Lookup(ctx, hello, key, starter.LookupOptions{})
		require.NoError(t, err)
		require.Equal(t, starter.ExpiryTTL, info.ExpiryBound)
		require.WithinDuration(t, info.StartTime.Add(time.Hour), info.ExpiresAt, 5*time.Second)
		again, err := s.Trigger(ctx, hello, payload, starter.TriggerOptions{Key: key, TTL: time.Hour})
		require.NoError(t, err)
		require.True(t, again.Cached)
		require.Equal(t, starter.ExpiryTTL, again.ExpiryBound)
		require.True(t, info.ExpiresAt.Equal(again.ExpiresAt), "lookup %v, trigger %v", info.ExpiresAt, again.ExpiresAt)

		// A Client that has not seen the key learns it from the duplicate
		// start alone: the TTL ends before start + retention, so it is the
		// TTL's, with no read.
		fresh, err := s.With(starter.Options{Environment: env, SeenKeys: -1})
		require.NoError(t, err)
		hit, err := fresh.Trigger(ctx, hello, payload, starter.TriggerOptions{Key: key, TTL: time.Hour})
		require.NoError(t, err)
		require.True(t, hit.Cached)
		require.Equal(t, starter.ExpiryTTL, hit.ExpiryBound)
		require.WithinDuration(t, info.ExpiresAt, hit.ExpiresAt, time.Second, "counted from the run ID's time")
	})

	t.Run("refused beyond the retention", func(t *testing.T) {
		strict, err := s.With(starter.Options{Environment: env, RefuseTTLBeyondRetention: true})
		require.NoError(t, err)
		key := idempotency.Parts{unique("refused")}
		run, err := strict.Trigger(ctx, hello, payload, starter.TriggerOptions{Key: key, TTL: 30 * day})
		require.Nil(t, run)
		require.ErrorIs(t, err, starter.ErrTTLBeyondRetention)
		require.ErrorIs(t, err, once.ErrInvalidInput)
		_, err = s.Lookup(ctx, hello, key, starter.LookupOptions{})
		require.ErrorIs(t, err, starter.ErrNotFound, "nothing started")

		r := cliWith(t, map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "TEMPORAL_NAMESPACE": ns, "ONCE_ENV": env},
			"", "trigger", hello, "--key", key[0], "--ttl", "30d", "--strict-ttl", "--payload", `{"name":"Ada"}`)
		requireOneLineError(t, r, 2)
		require.Contains(t, r.stderr, "retention")
		_, err = s.Lookup(ctx, hello, key, starter.LookupOptions{})
		require.ErrorIs(t, err, starter.ErrNotFound, "nothing started by the CLI")

		ok, err := strict.Trigger(ctx, hello, payload, starter.TriggerOptions{Key: key, TTL: time.Hour})
		require.NoError(t, err, "a TTL within the retention")
		require.False(t, ok.Cached)
	})
}
