package starter

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/runctx"
)

// A trigger without a policy of its own (FailureDefault) applies the one the
// failed run records (the task's): release replaces the run, none keeps it;
// a trigger's FailureKeep or FailureRelease overrides it.
func TestFailurePolicyOfTheTask(t *testing.T) {
	released := idempotency.Memo{OnFailure: once.FailureRelease}
	for _, tc := range []struct {
		name     string
		memo     idempotency.Memo // of the failed run
		status   enumspb.WorkflowExecutionStatus
		trigger  FailurePolicy
		replaced bool
		methods  []string
	}{
		{"task releases", released, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, FailureDefault, true, []string{"Start", "Describe", "Start", "Describe"}},
		{"task releases timed out", released, enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, FailureDefault, true, []string{"Start", "Describe", "Start", "Describe"}},
		{"task releases terminated", released, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, FailureDefault, true, []string{"Start", "Describe", "Start", "Describe"}},
		{"task releases canceled keeps", released, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, FailureDefault, false, []string{"Start", "Describe"}},
		{"task releases completed keeps", released, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, FailureDefault, false, []string{"Start", "Describe"}},
		{"task keeps", idempotency.Memo{}, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, FailureDefault, false, []string{"Start", "Describe"}},
		{"trigger keeps a task that releases", released, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, FailureKeep, false, []string{"Start"}},
		{"trigger releases a task that keeps", idempotency.Memo{}, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, FailureRelease, true, []string{"Start", "Describe", "Start", "Describe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer()
			old := newRunID()
			f.put(&fakeRun{runID: old, requestID: newKeyRequestID(time.Hour, ""), status: tc.status, memo: memoProto(t, tc.memo)})
			c := newFakeClient(t, f, Options{SeenKeys: -1})
			c.policies = policyHints{} // nothing known of the task
			run, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour, OnFailure: tc.trigger})
			require.NoError(t, err)
			require.Equal(t, tc.methods, f.methods())
			if !tc.replaced {
				require.True(t, run.Cached)
				require.Equal(t, old, run.RunID)
				return
			}
			require.False(t, run.Cached)
			require.NotEqual(t, old, run.RunID)
			require.Equal(t, f.current, run.RunID)
			require.Equal(t, replaceRequestID(old), f.starts()[1].requestID)
		})
	}
}

// A Client that read a closed run of a task without the release entry takes
// the task to keep its keys for policyHintLife: a cached hit is not read
// again; after it, it is.
func TestFailurePolicyHint(t *testing.T) {
	base := time.Now()
	now := base
	f := newFakeServer()
	old := newRunID()
	f.put(&fakeRun{runID: old, requestID: newKeyRequestID(24*time.Hour, ""), status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED})
	c := newFakeClient(t, f, Options{SeenKeys: -1, Now: func() time.Time { return now }})
	c.policies = policyHints{}
	for i, want := range [][]string{
		{"Start", "Describe"},                               // learns: the task keeps
		{"Start", "Describe", "Start"},                      // known
		{"Start", "Describe", "Start", "Start", "Describe"}, // the hint has aged: read again
	} {
		if i == 2 {
			now = base.Add(policyHintLife + time.Second)
		}
		run, err := trigger(t, c, "p", TriggerOptions{TTL: 24 * time.Hour})
		require.NoError(t, err)
		require.True(t, run.Cached)
		require.Equal(t, want, f.methods(), "trigger %d", i)
	}

	// A run that records release is always read, whatever the hint.
	f2 := newFakeServer()
	old2 := newRunID()
	f2.put(&fakeRun{runID: old2, requestID: newKeyRequestID(time.Hour, ""), status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, memo: memoProto(t, idempotency.Memo{OnFailure: once.FailureRelease})})
	c2 := newFakeClient(t, f2, Options{SeenKeys: -1})
	c2.policies = policyHints{}
	run, err := trigger(t, c2, "p", TriggerOptions{TTL: time.Hour})
	require.NoError(t, err)
	require.False(t, run.Cached)
	require.False(t, c2.keeps(fakeTask))
}

// N callers without a policy of their own that find a failed run of a task
// that releases start one new run, and exactly one of them is told so.
func TestFailurePolicyConcurrentRelease(t *testing.T) {
	f := newFakeServer()
	old := newRunID()
	f.put(&fakeRun{runID: old, requestID: newKeyRequestID(time.Hour, ""), status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, memo: memoProto(t, idempotency.Memo{OnFailure: once.FailureRelease})})
	const n = 32
	// Every replacement start is held until all n callers have had their
	// start of the key answered with the failed run: all of them replace it.
	f.holdReplacements(n)
	var (
		wg   sync.WaitGroup
		gate = make(chan struct{})
		runs = make([]*Run, n)
		errs = make([]error, n)
	)
	for i := range n {
		c := newFakeClient(t, f, Options{SeenKeys: -1})
		c.policies = policyHints{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			runs[i], errs[i] = trigger(t, c, "p", TriggerOptions{TTL: time.Hour})
		}()
	}
	close(gate)
	wg.Wait()
	f.mu.Lock()
	require.Len(t, f.runs, 2, "the failed run and exactly one new run")
	newRun := f.current
	f.mu.Unlock()
	started := 0
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, newRun, runs[i].RunID)
		if !runs[i].Cached {
			started++
		}
	}
	require.Equal(t, 1, started)
	require.Len(t, f.starts(), 2*n, "every caller sent its replacement start")
	require.NotEmpty(t, runctx.DecodeMemo(f.runs[newRun].memo, nil).StartNonce)
}

func TestFailurePolicyNames(t *testing.T) {
	for _, p := range []FailurePolicy{FailureDefault, FailureKeep, FailureRelease} {
		got, err := once.ParseFailurePolicy(p.String())
		require.NoError(t, err)
		require.Equal(t, p, got)
	}
	_, err := once.ParseFailurePolicy("retry")
	require.ErrorIs(t, err, once.ErrInvalidInput)
	require.ErrorIs(t, err, ErrInvalidFailurePolicy)
}

// Lookup reports the policy the run records: release when its memo says so,
// else keep (a run that records none, or an unknown name).
func TestLookupFailurePolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		memo idempotency.Memo
		want FailurePolicy
	}{
		{"none recorded: keep", idempotency.Memo{}, FailureKeep},
		{"release recorded", idempotency.Memo{OnFailure: once.FailureRelease}, FailureRelease},
		{"keep recorded", idempotency.Memo{OnFailure: once.FailureKeep}, FailureKeep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer()
			start := time.Now().Add(-time.Hour)
			f.put(&fakeRun{runID: newRunID(), requestID: newKeyRequestID(time.Hour, ""),
				status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, started: start, closed: start.Add(time.Minute),
				memo: memoProto(t, tc.memo)})
			c := newFakeClient(t, f, Options{})
			info, err := c.Lookup(context.Background(), fakeTask, fakeKey, LookupOptions{})
			require.NoError(t, err)
			require.Equal(t, tc.want, info.OnFailure)
		})
	}
}
