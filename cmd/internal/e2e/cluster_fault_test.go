package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// clusterScriptEnv names the cluster script (scripts/cluster) when the tests
// run against the cluster it brought up; the fault tests below use it to
// kill and restart the history service and PostgreSQL.
const clusterScriptEnv = "ONCE_CLUSTER_SCRIPT"

// needsCluster skips a test that breaks parts of a multi-process cluster
// unless the tests run against scripts/cluster's cluster. It returns the
// script's path.
func needsCluster(tb testing.TB) string {
	tb.Helper()
	script := os.Getenv(clusterScriptEnv)
	if script == "" || embedded != nil {
		tb.Skipf("needs the multi-process cluster of scripts/cluster (%s and %s set, as .ci/run does)", clusterScriptEnv, externalAddrEnv)
	}
	return script
}

// cluster runs the cluster script with args, bounded to two minutes.
func cluster(tb testing.TB, script string, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...).CombinedOutput()
	require.NoError(tb, err, "scripts/cluster %v: %s", args, out)
	tb.Logf("scripts/cluster %v: %s", args, out)
}

// runsUnder is the visibility query of every run whose workflow ID starts
// with prefix.
func runsUnder(prefix string) string { return fmt.Sprintf("WorkflowId STARTS_WITH '%s'", prefix) }

// runIDs records the run ID every successful trigger returned per key and
// fails the test when two successes disagree.
type runIDs struct {
	mu   sync.Mutex
	byID map[string]string
}

func (r *runIDs) add(tb testing.TB, key, runID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byID == nil {
		r.byID = map[string]string{}
	}
	if prev, ok := r.byID[key]; ok && prev != runID {
		tb.Errorf("key %s: a successful trigger returned run %s, a later one %s", key, prev, runID)
	}
	r.byID[key] = runID
}

// len counts the keys that start with prefix.
func (r *runIDs) len(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k := range r.byID {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// TestClusterHistorySIGKILLDuringBatch: a 1,000-item batch while the history
// service is killed with SIGKILL and started again. Items that failed are
// retried by repeating the batch; in the end every key has exactly one run,
// and every item that succeeded in any pass returned that run.
func TestClusterHistorySIGKILLDuringBatch(t *testing.T) {
	script := needsCluster(t)
	env := unique("cb")
	st := newStarter(t, starter.Options{
		Environment: env, Logger: shared.DiscardLogger(), RequestTimeout: 10 * time.Second,
	})
	ctx := testCtx(t, 8*time.Minute)
	const n = 1000
	items := make([]starter.BatchItem, n)
	for i := range items {
		items[i] = starter.BatchItem{Payload: map[string]int{"i": i}}
	}
	opts := starter.BatchOptions{BatchKey: idempotency.Parts{unique("batch")}}
	var seen runIDs
	pass := func() (failed int) {
		results, err := st.BatchTrigger(ctx, faultTask, items, opts)
		require.NoError(t, err)
		for i, r := range results {
			if r.Err != nil {
				failed++
				continue
			}
			seen.add(t, strconv.Itoa(i), r.Run.RunID)
		}
		return failed
	}

	done := make(chan int, 1)
	go func() { done <- pass() }()
	time.Sleep(300 * time.Millisecond) // mid-batch
	cluster(t, script, "kill", "history")
	time.Sleep(2 * time.Second)
	cluster(t, script, "start", "history")
	failed := <-done
	t.Logf("first pass: %d of %d items failed while history was down", failed, n)
	for round := 0; failed > 0 && round < 10; round++ {
		failed = pass()
		t.Logf("retry pass %d: %d items failed", round+1, failed)
	}
	require.Zero(t, failed, "items still failing after 10 passes")
	require.Equal(t, n, seen.len(""))
	countRuns(t, newClient(t), runsUnder(env+"/"+faultTask+"/"), n)
}

// TestClusterHistorySIGKILLDuringTriggers: concurrent keyed triggers and
// parents with children while history is killed and started again.
func TestClusterHistorySIGKILLDuringTriggers(t *testing.T) {
	script := needsCluster(t)
	faultDuringTriggers(t,
		func() { cluster(t, script, "kill", "history") },
		func() { cluster(t, script, "start", "history") })
}

// TestClusterPostgresStopDuringTriggers: the same while PostgreSQL stops
// with an immediate shutdown and starts again.
func TestClusterPostgresStopDuringTriggers(t *testing.T) {
	script := needsCluster(t)
	faultDuringTriggers(t,
		func() { cluster(t, script, "pg-stop") },
		func() { cluster(t, script, "pg-start") })
}

// faultDuringTriggers runs 8 goroutines triggering up to 50 shared keys and 10
// my-task parents (each attempt 1 fails, attempt 2 attaches to its child)
// while break and then heal run. Triggers that fail are retried until they
// succeed (bounded). Afterwards: every key has exactly one run and every
// success returned it; every parent completed with exactly one child.
func faultDuringTriggers(t *testing.T, breakIt, heal func()) {
	e := newTaskEnv(t, true)
	ctx := testCtx(t, 8*time.Minute)
	const keys, callers, parents = 50, 8, 10
	var seen runIDs
	// trigger retries until the trigger succeeds (at most 200 tries, 250ms
	// apart); safe to call from any goroutine.
	trigger := func(task, key string, payload any) error {
		for attempt := 0; ; attempt++ {
			run, err := e.starter.Trigger(ctx, task, payload, starter.TriggerOptions{Key: idempotency.Parts{key}})
			if err == nil {
				seen.add(t, task+"/"+key, run.RunID)
				return nil
			}
			if attempt >= 200 || ctx.Err() != nil {
				return fmt.Errorf("trigger %s %s never succeeded: %w", task, key, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := trigger(faultTask, fmt.Sprintf("k%d", (i+g)%keys), nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	parentKeys := make([]string, parents)
	for i := range parentKeys {
		parentKeys[i] = fmt.Sprintf("parent-%d", i)
	}
	wg.Add(1)
	go func() { // parents are triggered before, during and after the fault
		defer wg.Done()
		for _, k := range parentKeys {
			if err := trigger(examples.MyTask.ID(), k, examples.MyTaskPayload{FailAttempts: 1}); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(400 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second)
	breakIt()
	time.Sleep(2 * time.Second)
	heal()
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()
	require.False(t, t.Failed(), "every trigger succeeded in the end")

	// Every parent completes (its second attempt attaches to its child).
	for _, k := range parentKeys {
		require.NoError(t, trigger(examples.MyTask.ID(), k, examples.MyTaskPayload{FailAttempts: 1}))
		id, err := idempotency.WorkflowID(e.env, examples.MyTask.ID(), mustKey(t, k))
		require.NoError(t, err)
		var res examples.MyTaskResult
		require.NoError(t, e.c.GetWorkflow(ctx, id, "").Get(ctx, &res), "parent %s", k)
		require.Equal(t, int32(2), res.Attempt)
	}
	triggered := seen.len(faultTask + "/")
	t.Logf("%d of %d keys triggered during the fault", triggered, keys)
	require.Positive(t, triggered)
	countRuns(t, e.c, runsUnder(e.env+"/"+faultTask+"/"), int64(triggered))
	// Three executions each: the starter sends no retry policy, so the
	// worker restarts the run with my-task's (one continue-as-new), then
	// its two attempts.
	countRuns(t, e.c, runsUnder(e.env+"/"+examples.MyTask.ID()+"/"), 3*parents)
	countRuns(t, e.c, runsUnder(e.env+"/"+examples.ChildTask.ID()+"/"), parents)
}

// mustKey is the key of the global parts {k}.
func mustKey(tb testing.TB, k string) idempotency.Key {
	tb.Helper()
	key, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, k)
	require.NoError(tb, err)
	return key
}
