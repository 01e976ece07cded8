package e2e

// Every trigger converges on exactly one run per intended call: unkeyed
// triggers from an activity, concurrent replacement of an expired, reset or
// failed run, and the errors a caller can act on.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/once-run/once"
	"github.com/once-run/once/activities"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// Tasks of the converge tests.
var (
	// cvLeaf returns its payload.
	cvLeaf = workflows.NewTask("cv-leaf", echoTask, workflows.TaskOptions{})

	// cvFail fails at once, for good.
	cvFail = workflows.NewTask("cv-fail", func(workflow.Context, map[string]any) (string, error) {
		return "", temporal.NewNonRetryableApplicationError("cv-fail fails", "CvFail", nil)
	}, workflows.TaskOptions{})

	// cvSleep sleeps for an hour: a run to wait for in vain.
	cvSleep = workflows.NewTask("cv-sleep", func(ctx workflow.Context, _ map[string]any) (string, error) {
		return "woke", workflow.Sleep(ctx, time.Hour)
	}, workflows.TaskOptions{})

	// cvParent runs cvActivities.TriggerLeaves, retried.
	cvParent = workflows.NewTask("cv-parent", func(ctx workflow.Context, in leavesInput) (leavesOutput, error) {
		var a *cvActivities
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute,
			RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumAttempts: 5},
		})
		var out leavesOutput
		err := workflow.ExecuteActivity(ctx, a.TriggerLeaves, in).Get(ctx, &out)
		return out, err
	}, workflows.TaskOptions{})
)

// leavesInput tells TriggerLeaves how to trigger N leaves without keys.
type leavesInput struct {
	N            int
	Mode         string // "sequential", "goroutines" or "batch"
	FailAttempts int32  // attempts 1…FailAttempts fail after triggering
}

type leafCall struct {
	Call       int
	WorkflowID string
	RunID      string
	Cached     bool
}

type leavesOutput struct {
	Attempt       int32
	ActivityID    string
	Calls         []leafCall // in call order (payload {"call": i} for Calls[i])
	GlobalRefused bool       // an unkeyed global trigger was ErrGlobalScopeNeedsKey
}

// cvActivities triggers leaves through the worker's starter.
type cvActivities struct{ s *starter.Client }

// TriggerLeaves triggers cvLeaf in.N times without a key, payload
// {"call": i}, then fails while the attempt is at most in.FailAttempts.
func (a *cvActivities) TriggerLeaves(ctx context.Context, in leavesInput) (leavesOutput, error) {
	info := activity.GetInfo(ctx)
	out := leavesOutput{Attempt: info.Attempt, ActivityID: info.ActivityID, Calls: make([]leafCall, in.N)}
	_, err := activities.Trigger(ctx, a.s, cvLeaf.ID(), nil, starter.TriggerOptions{Scope: idempotency.ScopeGlobal})
	out.GlobalRefused = errors.Is(err, idempotency.ErrGlobalScopeNeedsKey) && errors.Is(err, once.ErrInvalidInput)
	record := func(i int, run *starter.Run) {
		out.Calls[i] = leafCall{Call: i, WorkflowID: run.WorkflowID, RunID: run.RunID, Cached: run.Cached}
	}
	switch in.Mode {
	case "sequential":
		for i := range in.N {
			run, err := activities.Trigger(ctx, a.s, cvLeaf.ID(), map[string]any{"call": i}, starter.TriggerOptions{})
			if err != nil {
				return out, err
			}
			record(i, run)
		}
	case "goroutines":
		var wg sync.WaitGroup
		errs := make([]error, in.N)
		for i := range in.N {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run, err := activities.Trigger(ctx, a.s, cvLeaf.ID(), map[string]any{"call": i}, starter.TriggerOptions{})
				if errs[i] = err; err == nil {
					record(i, run)
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return out, err
		}
	case "batch":
		items := make([]starter.BatchItem, in.N)
		for i := range items {
			items[i].Payload = map[string]any{"call": i}
		}
		res, err := a.s.BatchTrigger(ctx, cvLeaf.ID(), items, starter.BatchOptions{Parallelism: in.N})
		if err != nil {
			return out, err
		}
		for i, r := range res {
			if r.Err != nil {
				return out, r.Err
			}
			record(i, r.Run)
		}
	default:
		return out, temporal.NewNonRetryableApplicationError("unknown mode "+in.Mode, "CvMode", nil)
	}
	if info.Attempt <= in.FailAttempts {
		return out, temporal.NewApplicationError(fmt.Sprintf("attempt %d fails on purpose", info.Attempt), "CvRetry")
	}
	return out, nil
}

// rpcGate is a gRPC client interceptor for the starter's client. It counts
// the RPCs by method; it can hold the StartWorkflowExecution requests of
// one workflow ID with one reuse policy until n of them have arrived (so
// that n callers release their replacements at the same moment); and it can
// make a method slow (the call waits until its context is done) or fail.
type rpcGate struct {
	calls sync.Map // method → *atomic.Int64

	mu      sync.Mutex
	hold    *startHold
	slowFor map[string]bool
	fail    map[string]error
}

type startHold struct {
	workflowID string
	policy     enumspb.WorkflowIdReusePolicy
	n          int
	arrived    int
	release    chan struct{}
}

const (
	methodStart    = "/temporal.api.workflowservice.v1.WorkflowService/StartWorkflowExecution"
	methodDescribe = "/temporal.api.workflowservice.v1.WorkflowService/DescribeWorkflowExecution"
)

func (g *rpcGate) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	counter, _ := g.calls.LoadOrStore(method, new(atomic.Int64))
	counter.(*atomic.Int64).Add(1)
	g.mu.Lock()
	slow, fail := g.slowFor[method], g.fail[method]
	var wait chan struct{}
	if start, ok := req.(*workflowservice.StartWorkflowExecutionRequest); ok && g.hold != nil &&
		start.GetWorkflowId() == g.hold.workflowID && start.GetWorkflowIdReusePolicy() == g.hold.policy {
		h := g.hold
		if h.arrived++; h.arrived == h.n {
			close(h.release)
		}
		wait = h.release
	}
	g.mu.Unlock()
	if fail != nil {
		if se, ok := fail.(interface{ Status() *status.Status }); ok {
			return se.Status().Err() // as the server's answer arrives
		}
		return fail
	}
	if slow {
		<-ctx.Done()
	}
	if wait != nil {
		select {
		case <-wait:
		case <-time.After(10 * time.Second): // bounded: go on without the others
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// holdStarts arms the hold for n starts of workflowID with policy and
// returns a function that reports how many arrived.
func (g *rpcGate) holdStarts(workflowID string, policy enumspb.WorkflowIdReusePolicy, n int) (arrived func() int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	h := &startHold{workflowID: workflowID, policy: policy, n: n, release: make(chan struct{})}
	g.hold = h
	return func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return h.arrived
	}
}

// failWith makes method fail with err without reaching the server (nil:
// reach it again).
func (g *rpcGate) failWith(method string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fail == nil {
		g.fail = map[string]error{}
	}
	g.fail[method] = err
}

func (g *rpcGate) setSlow(method string, slow bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.slowFor == nil {
		g.slowFor = map[string]bool{}
	}
	g.slowFor[method] = slow
}

// counts returns the RPCs made so far by method and forgets them.
func (g *rpcGate) counts() map[string]int64 {
	out := map[string]int64{}
	g.calls.Range(func(k, v any) bool {
		if n := v.(*atomic.Int64).Swap(0); n > 0 {
			out[k.(string)[strings.LastIndex(k.(string), "/")+1:]] = n
		}
		return true
	})
	return out
}

// convergeEnv is a unique environment with a worker for the cv tasks, and
// a starter whose RPCs go through gate.
type convergeEnv struct {
	*taskEnv
	gate *rpcGate
	// plain is a starter of the environment on the worker's connection
	// (taskEnv.c), whose RPCs do not go through gate.
	plain *starter.Client
}

func newConvergeEnv(tb testing.TB, opts starter.Options) *convergeEnv {
	tb.Helper()
	e := &convergeEnv{taskEnv: &taskEnv{env: unique("cv")}, gate: &rpcGate{}}
	e.plain = newStarter(tb, starter.Options{Environment: e.env, Logger: shared.DiscardLogger()})
	e.c = e.plain.Temporal()
	tasks := []workflows.Definition{cvLeaf, cvFail, cvSleep, cvParent}
	w, err := worker.New(e.plain, worker.Options{Tasks: tasks, Logger: shared.DiscardLogger()})
	require.NoError(tb, err)
	w.RegisterActivity(&cvActivities{s: w.Starter()})
	require.NoError(tb, w.Start())
	tb.Cleanup(w.Stop)

	opts.Environment, opts.Logger = e.env, shared.DiscardLogger()
	e.starter = lazyStarter(tb, srv.Address(), srv.Namespace(), opts, grpc.WithChainUnaryInterceptor(e.gate.intercept))
	return e
}

// TestConvergeActivityUnkeyedCalls: an activity triggers N leaves without a
// key, each with its own payload, and its first attempt fails. Exactly N
// leaf runs exist, each with its payload; the second attempt finds the
// first's runs (all Cached). Sequential calls and a batch keep the pairing of
// payload and run across attempts; goroutines still get N distinct runs.
// Unkeyed with scope global is refused. Each call's key is the documented
// one: run-scoped (the parent run), from the activity ID, the task and the
// ordinal of the call (none for the first).
func TestConvergeActivityUnkeyedCalls(t *testing.T) {
	t.Parallel()
	e := newConvergeEnv(t, starter.Options{})
	ctx := testCtx(t, 2*time.Minute)
	const n = 5
	var allIDs []string
	for _, mode := range []string{"sequential", "goroutines", "batch"} {
		t.Run(mode, func(t *testing.T) {
			var out leavesOutput
			parent := e.triggerAndGet(t, ctx, cvParent.ID(), leavesInput{N: n, Mode: mode, FailAttempts: 1}, &out)
			require.Equal(t, int32(2), out.Attempt)
			require.True(t, out.GlobalRefused, "unkeyed scope global from an activity: ErrGlobalScopeNeedsKey")

			payloads := map[float64]bool{}
			for i, call := range out.Calls {
				require.True(t, call.Cached, "call %d: attempt 2 found the run of attempt 1", i)
				var got map[string]any
				require.NoError(t, e.c.GetWorkflow(ctx, call.WorkflowID, call.RunID).Get(ctx, &got))
				payloads[got["call"].(float64)] = true
				if mode == "goroutines" {
					continue // which call got which ordinal depends on scheduling
				}
				require.Equal(t, map[string]any{"call": float64(i)}, got, "call %d ran its own payload", i)
				parts := []string{"once-activity", out.ActivityID, cvLeaf.ID()}
				if i > 0 {
					parts = append(parts, fmt.Sprint(i+1))
				}
				require.Equal(t, e.childID(t, cvLeaf.ID(), parent.RunID, 0, idempotency.ScopeRun, parts...), call.WorkflowID, "call %d", i)
				allIDs = append(allIDs, call.WorkflowID)
			}
			require.Len(t, payloads, n, "every payload ran")
			if mode == "goroutines" {
				for _, call := range out.Calls {
					allIDs = append(allIDs, call.WorkflowID)
				}
			}
		})
	}
	// 3 parents × n calls × 2 attempts: 3n runs, one per call.
	e.requireRunIDs(t, ctx, cvLeaf.ID(), allIDs)
}

// caller is one of the callers of a race: its options and payload, and
// what its trigger returned.
type caller struct {
	i       int
	opts    starter.TriggerOptions
	payload map[string]any
	run     *starter.Run
	err     error
}

// raceTTL is the TTL that caller i passes: 8 different ones.
func raceTTL(i int) time.Duration { return time.Duration(i%8+1) * time.Hour }

// triggerRace releases n triggers of task with key at once, each with its
// own payload, a TTL of 8 different ones, strict or not, and RetryFailed as
// given.
func triggerRace(ctx context.Context, s *starter.Client, task string, key idempotency.Input, n int, retryFailed bool) []*caller {
	callers := make([]*caller, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range callers {
		c := &caller{i: i, payload: map[string]any{"caller": i}, opts: starter.TriggerOptions{
			Key: key, TTL: raceTTL(i), Strict: i%2 == 0, RetryFailed: retryFailed,
		}}
		callers[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			c.run, c.err = s.Trigger(ctx, task, c.payload, c.opts)
		}()
	}
	close(gate)
	wg.Wait()
	return callers
}

// requireConverged checks that every caller got one and the same run, and
// that only the strict callers whose payload is not that run's failed, with
// ErrKeyReusedWithDifferentPayload. It returns the caller whose start made
// the run (its payload is the run's), checks the run has its TTL and that it
// is the only caller told it started the run (Cached=false).
func requireConverged(t *testing.T, ctx context.Context, e *convergeEnv, callers []*caller) (winner *caller) {
	t.Helper()
	first := callers[0].run
	require.NotNil(t, first, "caller 0: %v", callers[0].err)
	for _, c := range callers {
		require.NotNil(t, c.run, "caller %d: %v", c.i, c.err)
		require.Equal(t, first.RunID, c.run.RunID, "caller %d got another run", c.i)
	}
	input := runHistory(t, ctx, e.c, first.WorkflowID, first.RunID).GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
	var payload map[string]any
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(input, &payload))
	winner = callers[int(payload["caller"].(float64))]
	for _, c := range callers {
		require.Equal(t, c == winner, !c.run.Cached, "caller %d (the run is caller %d's): Cached=%v", c.i, winner.i, c.run.Cached)
		if c.opts.Strict && c != winner {
			require.ErrorIs(t, c.err, starter.ErrKeyReusedWithDifferentPayload, "caller %d: strict, other payload", c.i)
		} else {
			require.NoError(t, c.err, "caller %d", c.i)
		}
	}
	info, err := e.starter.Lookup(ctx, first.Task, callers[0].opts.Key, starter.LookupOptions{})
	require.NoError(t, err)
	require.Equal(t, first.RunID, info.RunID)
	require.WithinDuration(t, info.StartTime.Add(raceTTL(winner.i)), info.ExpiresAt, 10*time.Second, "the new run has the TTL of the caller whose start made it")
	return winner
}

// TestConvergeExpiryRace: after a key's TTL, 32 callers with 8 different
// TTLs, their own payloads, strict or not, trigger at once (their
// replacement starts held until all 32 have sent one, so that they reach the
// server together); the task completes at once, so a replacement that the
// server did not dedupe would replace the new run again. Exactly one new run,
// every caller gets its run ID; repeated 3 times.
func TestConvergeExpiryRace(t *testing.T) {
	t.Parallel()
	e := newConvergeEnv(t, starter.Options{})
	ctx := testCtx(t, 3*time.Minute)
	for rep := 1; rep <= 3; rep++ {
		start := time.Now()
		key := idempotency.Parts{unique("expiring")}
		old, err := e.starter.TriggerAndWait(ctx, cvLeaf.ID(), map[string]any{"caller": -1}, nil, starter.TriggerOptions{Key: key, TTL: time.Second})
		require.NoError(t, err)
		time.Sleep(time.Until(start.Add(1100 * time.Millisecond)))

		arrived := e.gate.holdStarts(old.WorkflowID, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, 32)
		callers := triggerRace(ctx, e.starter, cvLeaf.ID(), key, 32, false)
		winner := requireConverged(t, ctx, e, callers)
		require.NotEqual(t, old.RunID, callers[0].run.RunID)
		countRuns(t, e.c, runsOf(old.WorkflowID), 2)

		// Later triggers are cached hits on the new run (judged from its memo).
		again, err := e.starter.Trigger(ctx, cvLeaf.ID(), nil, starter.TriggerOptions{Key: key, TTL: time.Minute})
		require.NoError(t, err)
		require.True(t, again.Cached)
		require.Equal(t, callers[0].run.RunID, again.RunID)
		t.Logf("rep %d: 32 callers, %d replacement starts held together, 1 new run (caller %d's, TTL %s), %s",
			rep, arrived(), winner.i, raceTTL(winner.i), time.Since(start).Round(time.Millisecond))
	}
}

// TestConvergeResetRace: after ResetKey, 32 callers as in the expiry race:
// exactly one new run (besides the old run and the reset marker), every
// caller gets its run ID; repeated 3 times.
func TestConvergeResetRace(t *testing.T) {
	t.Parallel()
	e := newConvergeEnv(t, starter.Options{})
	ctx := testCtx(t, 3*time.Minute)
	for rep := 1; rep <= 3; rep++ {
		start := time.Now()
		key := idempotency.Parts{unique("reset")}
		old, err := e.starter.TriggerAndWait(ctx, cvLeaf.ID(), map[string]any{"caller": -1}, nil, starter.TriggerOptions{Key: key})
		require.NoError(t, err)
		require.NoError(t, e.starter.ResetKey(ctx, cvLeaf.ID(), key, starter.ResetOptions{}))

		arrived := e.gate.holdStarts(old.WorkflowID, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, 32)
		callers := triggerRace(ctx, e.starter, cvLeaf.ID(), key, 32, false)
		winner := requireConverged(t, ctx, e, callers)
		require.NotEqual(t, old.RunID, callers[0].run.RunID)
		countRuns(t, e.c, runsOf(old.WorkflowID), 3) // old run, marker, new run
		t.Logf("rep %d: 32 callers, %d replacement starts held together, 1 new run (caller %d's), %s",
			rep, arrived(), winner.i, time.Since(start).Round(time.Millisecond))
	}
}

// TestConvergeRetryFailedRace: 16 callers with RetryFailed find the key's
// run failed at once (their replacement starts held until all 16 have sent
// one); the task fails at once again, so a replacement the server did not
// dedupe would start a third run. Exactly one new run for the failed run,
// every caller gets its run ID; repeated 3 times.
func TestConvergeRetryFailedRace(t *testing.T) {
	t.Parallel()
	e := newConvergeEnv(t, starter.Options{})
	ctx := testCtx(t, 3*time.Minute)
	for rep := 1; rep <= 3; rep++ {
		start := time.Now()
		key := idempotency.Parts{unique("failing")}
		old, err := e.starter.TriggerAndWait(ctx, cvFail.ID(), map[string]any{"caller": -1}, nil, starter.TriggerOptions{Key: key})
		require.Error(t, err)
		require.NotNil(t, old)

		arrived := e.gate.holdStarts(old.WorkflowID, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY, 16)
		callers := triggerRace(ctx, e.starter, cvFail.ID(), key, 16, true)
		winner := requireConverged(t, ctx, e, callers)
		require.NotEqual(t, old.RunID, callers[0].run.RunID)
		countRuns(t, e.c, runsOf(old.WorkflowID), 2)
		require.Error(t, callers[0].run.Get(ctx, nil), "the new run failed too")
		t.Logf("rep %d: 16 callers, %d replacement starts held together, 1 new run (caller %d's), %s",
			rep, arrived(), winner.i, time.Since(start).Round(time.Millisecond))
	}
}

// TestConvergeRPCs: what each path costs in RPCs. A key the client has not
// seen answered costs one StartWorkflowExecution, new or cached; a repeat
// trigger of a key it has seen reads the run instead (one
// DescribeWorkflowExecution, no write on the server) and starts only what
// replaces it. With SeenKeys < 0 every trigger starts.
func TestConvergeRPCs(t *testing.T) {
	t.Parallel()
	const start, describe = "StartWorkflowExecution", "DescribeWorkflowExecution"
	type want map[string]int64
	for _, tc := range []struct {
		name                                                 string
		seenKeys                                             int
		hit, expired, firstHitOnReplacement, laterHit, retry want
	}{
		{
			name: "seen keys", seenKeys: 0,
			hit: want{describe: 1}, expired: want{describe: 2, start: 1},
			firstHitOnReplacement: want{describe: 1}, laterHit: want{describe: 1},
			retry: want{describe: 1, start: 1},
		},
		{
			name: "every trigger starts", seenKeys: -1,
			hit: want{start: 1}, expired: want{start: 2, describe: 1},
			firstHitOnReplacement: want{start: 1}, laterHit: want{start: 1},
			retry: want{start: 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newConvergeEnv(t, starter.Options{SeenKeys: tc.seenKeys})
			ctx := testCtx(t, time.Minute)
			trigger := func(key string, opts starter.TriggerOptions) *starter.Run {
				t.Helper()
				opts.Key = idempotency.Parts{key}
				run, err := e.starter.Trigger(ctx, cvLeaf.ID(), map[string]any{}, opts)
				require.NoError(t, err)
				return run
			}
			check := func(w want, what string) {
				t.Helper()
				require.Equal(t, map[string]int64(w), e.gate.counts(), what)
			}
			warmKey := unique("warm")
			warm := trigger(warmKey, starter.TriggerOptions{}) // reads the namespace once
			require.NoError(t, warm.Get(ctx, nil))
			// A hit on the closed run tells the Client that the task keeps
			// its keys (no failure policy in its memo): its later hits are
			// not read for the task's policy (starter/failure.go).
			require.True(t, trigger(warmKey, starter.TriggerOptions{}).Cached)
			e.gate.counts()

			a := unique("a")
			require.False(t, trigger(a, starter.TriggerOptions{}).Cached)
			check(want{start: 1}, "new key")
			require.True(t, trigger(a, starter.TriggerOptions{}).Cached)
			check(tc.hit, "cached hit")

			b := unique("b")
			first := trigger(b, starter.TriggerOptions{TTL: time.Second})
			require.NoError(t, first.Get(ctx, nil))
			time.Sleep(1100 * time.Millisecond)
			e.gate.counts()
			replaced := trigger(b, starter.TriggerOptions{})
			require.False(t, replaced.Cached)
			require.NotEqual(t, first.RunID, replaced.RunID)
			check(tc.expired, "expired: its replacement, and the new run's memo (whose start made it)")
			require.True(t, trigger(b, starter.TriggerOptions{}).Cached)
			check(tc.firstHitOnReplacement, "first hit on a replacement: its memo, read by the replacement")
			require.True(t, trigger(b, starter.TriggerOptions{}).Cached)
			check(tc.laterHit, "later hits: the memo read before")

			require.True(t, trigger(a, starter.TriggerOptions{RetryFailed: true}).Cached)
			check(tc.retry, "RetryFailed on a run that did not fail")
		})
	}
}

// TestConvergeSeenKeyChangedElsewhere: a client that has seen a key
// answered reads its run before it starts; what others did to the key since
// decides as it would for a start. Another client resets the key: the next
// trigger starts a new run. Strict mode still compares payloads. A read that
// fails leaves the decision to the start.
func TestConvergeSeenKeyChangedElsewhere(t *testing.T) {
	t.Parallel()
	e := newConvergeEnv(t, starter.Options{})
	other := e.plain
	ctx := testCtx(t, 2*time.Minute)
	key := idempotency.Parts{unique("k")}
	trigger := func(opts starter.TriggerOptions) (*starter.Run, error) {
		opts.Key = key
		return e.starter.Trigger(ctx, cvLeaf.ID(), map[string]any{"n": 1}, opts)
	}

	first, err := trigger(starter.TriggerOptions{})
	require.NoError(t, err)
	again, err := trigger(starter.TriggerOptions{})
	require.NoError(t, err)
	require.True(t, again.Cached)
	require.Equal(t, first.RunID, again.RunID)
	_, err = trigger(starter.TriggerOptions{Strict: true})
	require.NoError(t, err, "same payload")
	_, err = e.starter.Trigger(ctx, cvLeaf.ID(), map[string]any{"n": 2}, starter.TriggerOptions{Key: key, Strict: true})
	require.ErrorIs(t, err, starter.ErrKeyReusedWithDifferentPayload)

	require.NoError(t, first.Get(ctx, nil), "a key is reset once its run has closed")
	require.NoError(t, other.ResetKey(ctx, cvLeaf.ID(), key, starter.ResetOptions{}))
	e.gate.counts()
	afterReset, err := trigger(starter.TriggerOptions{})
	require.NoError(t, err)
	require.False(t, afterReset.Cached, "reset by another client")
	require.NotEqual(t, first.RunID, afterReset.RunID)
	require.Equal(t, int64(2), e.gate.counts()["DescribeWorkflowExecution"], "the seen key was read first, then the new run's memo (whose start made it)")
	require.NoError(t, afterReset.Get(ctx, nil))

	// A read that fails — the run gone past retention (NotFound), any
	// other error — leaves the decision to the start; a read the caller may
	// not make (PermissionDenied) stops the reads.
	// (A new key's run, which its request ID describes.)
	key = idempotency.Parts{unique("k2")}
	k2, err := trigger(starter.TriggerOptions{})
	require.NoError(t, err)
	// A hit on the closed run tells the Client that the task keeps its keys
	// (starter/failure.go): the hits below are not read for its policy.
	require.NoError(t, k2.Get(ctx, nil))
	_, err = trigger(starter.TriggerOptions{})
	require.NoError(t, err)
	e.gate.counts()
	for _, fail := range []error{serviceerror.NewNotFound("gone"), serviceerror.NewUnavailable("down"), serviceerror.NewPermissionDenied("no reads", "")} {
		e.gate.failWith(methodDescribe, fail)
		run, err := trigger(starter.TriggerOptions{})
		require.NoError(t, err, fail)
		require.True(t, run.Cached, fail)
		require.Equal(t, k2.RunID, run.RunID, fail)
		require.Equal(t, map[string]int64{"DescribeWorkflowExecution": 1, "StartWorkflowExecution": 1}, e.gate.counts(), fail)
	}
	e.gate.failWith(methodDescribe, nil)
	_, err = trigger(starter.TriggerOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"StartWorkflowExecution": 1}, e.gate.counts(), "no reads after PermissionDenied")
}

// TestConvergeCallerGivesUp: when the caller's deadline passes or it
// cancels while a call waits for the server, every call returns an error
// that matches context.DeadlineExceeded or context.Canceled. The starts,
// describes and resets wait on a server made slow (the RPC waits until its
// context is done); Run.Get and the wait of TriggerAndWait on a run that
// does not finish.
func TestConvergeCallerGivesUp(t *testing.T) {
	t.Parallel()
	e := newConvergeEnv(t, starter.Options{})
	ctx := testCtx(t, 2*time.Minute)
	sleeping, err := e.starter.Trigger(ctx, cvSleep.ID(), nil, starter.TriggerOptions{Key: idempotency.Parts{unique("sleep")}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.c.TerminateWorkflow(context.Background(), sleeping.WorkflowID, "", "test cleanup") })
	done, err := e.starter.TriggerAndWait(ctx, cvLeaf.ID(), map[string]any{}, nil, starter.TriggerOptions{Key: idempotency.Parts{unique("done")}})
	require.NoError(t, err)

	calls := []struct {
		name string
		slow string // the RPC made slow, if any
		call func(ctx context.Context) error
	}{
		{"Trigger", methodStart, func(ctx context.Context) error {
			_, err := e.starter.Trigger(ctx, cvLeaf.ID(), nil, starter.TriggerOptions{Key: idempotency.Parts{unique("k")}})
			return err
		}},
		{"TriggerAndWait", "", func(ctx context.Context) error {
			_, err := e.starter.TriggerAndWait(ctx, cvSleep.ID(), nil, nil, starter.TriggerOptions{Key: idempotency.Parts{unique("k")}})
			return err
		}},
		{"Run.Get", "", func(ctx context.Context) error { return sleeping.Get(ctx, nil) }},
		{"BatchTrigger", methodStart, func(ctx context.Context) error {
			res, err := e.starter.BatchTrigger(ctx, cvLeaf.ID(), []starter.BatchItem{{Payload: 1}, {Payload: 2}}, starter.BatchOptions{})
			if err != nil {
				return err
			}
			for i, r := range res {
				if r.Err == nil {
					return fmt.Errorf("item %d: no error", i)
				}
				if i > 0 && !sameCause(res[0].Err, r.Err) {
					return fmt.Errorf("item %d: %v, item 0: %v", i, r.Err, res[0].Err)
				}
			}
			return res[0].Err
		}},
		{"ResetKey", methodDescribe, func(ctx context.Context) error {
			return e.starter.ResetKey(ctx, cvLeaf.ID(), done.Key, starter.ResetOptions{})
		}},
		{"Lookup", methodDescribe, func(ctx context.Context) error {
			_, err := e.starter.Lookup(ctx, cvLeaf.ID(), done.Key, starter.LookupOptions{})
			return err
		}},
	}
	givingUp := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 500*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancel", func() (context.Context, context.CancelFunc) {
			cctx, cancel := context.WithCancel(ctx)
			time.AfterFunc(500*time.Millisecond, cancel)
			return cctx, cancel
		}, context.Canceled},
		{"canceled before the call", func() (context.Context, context.CancelFunc) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			return cctx, cancel
		}, context.Canceled},
	}
	for _, c := range calls {
		for _, g := range givingUp {
			t.Run(c.name+"/"+g.name, func(t *testing.T) {
				if c.slow != "" {
					e.gate.setSlow(c.slow, true)
					defer e.gate.setSlow(c.slow, false)
				}
				cctx, cancel := g.ctx()
				defer cancel()
				start := time.Now()
				err := c.call(cctx)
				t.Logf("after %s: %v", time.Since(start).Round(time.Millisecond), err)
				require.ErrorIs(t, err, g.want)
				other := context.Canceled
				if g.want == context.Canceled {
					other = context.DeadlineExceeded
				}
				require.False(t, errors.Is(err, other), "matches %v too", other)
				require.Less(t, time.Since(start), 5*time.Second)
			})
		}
	}
	// Nothing was started by the calls that gave up but the runs of the
	// TriggerAndWait calls, which started before their wait.
	countRuns(t, e.c, fmt.Sprintf("TaskQueue = '%s' AND WorkflowType = '%s'", once.TaskQueue("", e.env), cvLeaf.ID()), 1)
	countRuns(t, e.c, fmt.Sprintf("TaskQueue = '%s' AND WorkflowType = '%s' AND ExecutionStatus = 'Running'", once.TaskQueue("", e.env), cvSleep.ID()), 1+2)
}

// sameCause reports whether two item errors match the same context error.
func sameCause(a, b error) bool {
	return errors.Is(a, context.Canceled) == errors.Is(b, context.Canceled) &&
		errors.Is(a, context.DeadlineExceeded) == errors.Is(b, context.DeadlineExceeded)
}

// TestConvergeBadInputStartsNothing: a payload over the server's default
// blob size limit and negative durations are input errors
// (once.ErrInvalidInput), found before any RPC; a payload of exactly the
// limit is accepted by the server.
func TestConvergeBadInputStartsNothing(t *testing.T) {
	t.Parallel()
	e := newConvergeEnv(t, starter.Options{})
	ctx := testCtx(t, time.Minute)
	warm, err := e.starter.Trigger(ctx, cvLeaf.ID(), nil, starter.TriggerOptions{Key: idempotency.Parts{unique("warm")}})
	require.NoError(t, err)
	e.gate.counts()

	tests := []struct {
		name    string
		payload any
		opts    starter.TriggerOptions
		want    error
	}{
		{"3 MB payload", strings.Repeat("x", 3<<20), starter.TriggerOptions{}, starter.ErrPayloadTooLarge},
		{"10 MB payload, keyed", strings.Repeat("x", 10<<20), starter.TriggerOptions{Key: idempotency.Parts{"big"}}, starter.ErrPayloadTooLarge},
		{"negative StartDelay", nil, starter.TriggerOptions{StartDelay: -time.Second}, starter.ErrNegativeDuration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, err := e.starter.Trigger(ctx, cvLeaf.ID(), tt.payload, tt.opts)
			require.Nil(t, run)
			require.ErrorIs(t, err, tt.want)
			require.ErrorIs(t, err, once.ErrInvalidInput)
			var tooLarge *starter.PayloadTooLargeError
			if errors.As(err, &tooLarge) {
				require.Equal(t, starter.DefaultMaxPayloadBytes, tooLarge.Limit)
				require.Contains(t, err.Error(), fmt.Sprintf("%d bytes", tooLarge.Size))
				require.Contains(t, err.Error(), fmt.Sprintf("limit is %d", starter.DefaultMaxPayloadBytes))
			}
			require.Empty(t, e.gate.counts(), "an RPC was made")
		})
	}

	t.Run("a payload of the limit starts", func(t *testing.T) {
		n := starter.DefaultMaxPayloadBytes
		for size(t, strings.Repeat("x", n)) > starter.DefaultMaxPayloadBytes {
			n--
		}
		run, err := e.starter.Trigger(ctx, cvLeaf.ID(), strings.Repeat("x", n), starter.TriggerOptions{})
		require.NoError(t, err, "the server refused a payload of its own limit")
		require.NoError(t, e.c.TerminateWorkflow(ctx, run.WorkflowID, run.RunID, "test cleanup"))
		_, err = e.starter.Trigger(ctx, cvLeaf.ID(), strings.Repeat("x", n+1), starter.TriggerOptions{})
		require.ErrorIs(t, err, starter.ErrPayloadTooLarge)
	})
	countRuns(t, e.c, fmt.Sprintf("TaskQueue = '%s' AND WorkflowId != '%s'", once.TaskQueue("", e.env), warm.WorkflowID), 1)
}

// size is the encoded size of v as the starter sends it.
func size(tb testing.TB, v any) int {
	tb.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayloads(v)
	require.NoError(tb, err)
	return proto.Size(p)
}
