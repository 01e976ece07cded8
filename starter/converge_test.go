package starter

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/runctx"
)

const fakeTask = "task"

var fakeKey = idempotency.Parts{"k"}

// clockAt is a clock that reads base+offset.
func clockAt(base time.Time, offset time.Duration) func() time.Time {
	return func() time.Time { return base.Add(offset) }
}

func newRunID() string { return uuid.Must(uuid.NewV7()).String() }

func newKeyRequestID(ttl time.Duration, hash string) string {
	return requestID{kind: kindNew, ttl: ttl, hash: hash, suffix: uuid.NewString()}.String()
}

func replaceRequestID(replaced string) string {
	return requestID{kind: kindReplace, suffix: replaced}.String()
}

func payloadHash(t *testing.T, payload any) string {
	t.Helper()
	h, err := idempotency.PayloadHash(payload)
	require.NoError(t, err)
	return string(h)
}

func trigger(t *testing.T, c *Client, payload any, opts TriggerOptions) (*Run, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if opts.Key == nil {
		opts.Key = fakeKey
	}
	return c.Trigger(ctx, fakeTask, payload, opts)
}

// requireNewKeyStart: r is the start of a new key with TTL ttl.
func requireNewKeyStart(t *testing.T, r fakeReq, ttl time.Duration) {
	t.Helper()
	rid, ok := parseRequestID(r.requestID)
	require.True(t, ok, "request ID %q", r.requestID)
	require.Equal(t, kindNew, rid.kind)
	require.Equal(t, ttl, rid.ttl)
	require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, r.policy)
}

// TestConvergeNoRun: a key without a run starts one, Cached=false, with one
// start of a new key and no read.
func TestConvergeNoRun(t *testing.T) {
	f := newFakeServer()
	c := newFakeClient(t, f, Options{SeenKeys: -1})
	run, err := trigger(t, c, map[string]any{"a": 1}, TriggerOptions{TTL: time.Hour})
	require.NoError(t, err)
	require.False(t, run.Cached)
	require.Equal(t, f.current, run.RunID)
	require.Equal(t, []string{"Start"}, f.methods())
	requireNewKeyStart(t, f.starts()[0], time.Hour)
	require.Equal(t, run.WorkflowID, f.starts()[0].workflowID)
}

// TestConvergeCached: a run that answers for the key — running, or closed
// and not expired — is returned Cached=true, with no second start.
func TestConvergeCached(t *testing.T) {
	base := time.Now()
	for _, tc := range []struct {
		name    string
		status  enumspb.WorkflowExecutionStatus
		rid     func(runID string) string
		memo    idempotency.Memo
		now     time.Duration
		methods []string // after the first start
	}{
		// The request ID of a new key's run judges it: no read.
		{name: "running", status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
			rid: func(string) string { return newKeyRequestID(time.Hour, "") }, methods: nil},
		{name: "completed not expired", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, now: 59 * time.Minute,
			rid: func(string) string { return newKeyRequestID(time.Hour, "") }, methods: nil},
		{name: "failed not expired without RetryFailed", status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, now: 30 * time.Minute,
			rid: func(string) string { return newKeyRequestID(time.Hour, "") }, methods: nil},
		// A replacement run is judged from its memo: one read.
		{name: "completed replacement not expired", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, now: 2 * time.Hour,
			rid:  func(string) string { return replaceRequestID(newRunID()) },
			memo: idempotency.Memo{KeyText: "k", ExpiresAt: base.Add(3 * time.Hour)}, methods: []string{"Describe"}},
		// A run Once did not start has no expiry: it answers for good.
		{name: "foreign run never expires", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, now: 1000 * time.Hour,
			rid: func(string) string { return uuid.NewString() }, methods: []string{"Describe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer()
			old := newRunID()
			f.put(&fakeRun{runID: old, requestID: tc.rid(old), status: tc.status, memo: memoProto(t, tc.memo)})
			c := newFakeClient(t, f, Options{SeenKeys: -1, Now: clockAt(base, tc.now)})
			run, err := trigger(t, c, "p", TriggerOptions{TTL: 10 * time.Minute})
			require.NoError(t, err)
			require.True(t, run.Cached)
			require.Equal(t, old, run.RunID)
			require.Equal(t, append([]string{"Start"}, tc.methods...), f.methods())
			requireNewKeyStart(t, f.starts()[0], 10*time.Minute)
			require.Equal(t, old, f.current)
		})
	}
}

// TestConvergeReplaces: a run that no longer answers for the key is
// replaced by one start whose request ID is derived from the replaced run
// alone — the same for every caller whatever its TTL, payload and
// strictness — with the reuse policy that lets the server refuse a run that
// still answers.
func TestConvergeReplaces(t *testing.T) {
	base := time.Now()
	callers := []struct {
		payload any
		opts    TriggerOptions
	}{
		{"p", TriggerOptions{}},
		{"q", TriggerOptions{TTL: time.Hour}},
		{map[string]any{"x": 1}, TriggerOptions{TTL: 3 * time.Hour, Strict: true}},
		{nil, TriggerOptions{TTL: 90 * time.Minute}},
	}
	for _, tc := range []struct {
		name        string
		status      enumspb.WorkflowExecutionStatus
		rid         func(runID string) string
		memo        idempotency.Memo
		now         time.Duration
		retryFailed bool
		policy      enumspb.WorkflowIdReusePolicy
		reads       int // Describe calls to judge the old run
	}{
		{name: "failed with RetryFailed", status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, retryFailed: true,
			rid:    func(string) string { return newKeyRequestID(time.Hour, "") },
			policy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY},
		{name: "TTL expired", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, now: 2 * time.Hour,
			rid:    func(string) string { return newKeyRequestID(time.Hour, "") },
			policy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE},
		{name: "replacement TTL expired", status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, now: 2 * time.Hour,
			rid:    func(string) string { return replaceRequestID(newRunID()) },
			memo:   idempotency.Memo{KeyText: "k", ExpiresAt: base.Add(time.Hour)},
			policy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, reads: 1},
		// A marker's request ID says it is one: no read.
		{name: "key reset", status: enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED,
			rid:    func(string) string { return requestID{kind: kindMarker, suffix: newRunID()}.String() },
			policy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE},
		// A marker whose request ID the server does not report: its memo.
		{name: "key reset by memo", status: enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED,
			rid:    func(string) string { return uuid.NewString() },
			memo:   idempotency.Memo{KeyText: "k", Reset: true},
			policy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, reads: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := newRunID()
			oldRID := tc.rid(old)
			var ids []string
			for i, caller := range callers {
				f := newFakeServer()
				f.put(&fakeRun{runID: old, requestID: oldRID, status: tc.status, memo: memoProto(t, tc.memo)})
				now := clockAt(base, tc.now)
				c := newFakeClient(t, f, Options{SeenKeys: -1, Now: now})
				opts := caller.opts
				opts.RetryFailed = tc.retryFailed
				run, err := trigger(t, c, caller.payload, opts)
				require.NoError(t, err, "caller %d", i)
				require.False(t, run.Cached, "caller %d", i)
				require.NotEqual(t, old, run.RunID)
				require.Equal(t, f.current, run.RunID)

				starts := f.starts()
				require.Len(t, starts, 2, "caller %d: %v", i, f.methods())
				requireNewKeyStart(t, starts[0], c.prepareTTL(opts.TTL))
				repl := starts[1]
				require.Equal(t, tc.policy, repl.policy, "caller %d", i)
				require.Equal(t, replaceRequestID(old), repl.requestID, "caller %d", i)
				require.Equal(t, now().Add(c.prepareTTL(opts.TTL)).UTC().Truncate(time.Millisecond),
					repl.memo.ExpiresAt.UTC().Truncate(time.Millisecond), "the replacement's memo carries its expiry")
				if caller.payload != nil {
					require.Equal(t, payloadHash(t, caller.payload), repl.memo.PayloadHash, "caller %d", i)
				}
				want := []string{"Start"}
				for range tc.reads {
					want = append(want, "Describe")
				}
				// The new run's memo: whose start made it (and its payload
				// hash, for a strict caller).
				want = append(want, "Start", "Describe")
				require.Equal(t, want, f.methods(), "caller %d: no termination of a closed run, no other start", i)
				require.NotEmpty(t, repl.memo.StartNonce, "caller %d: the replacement carries its start nonce", i)
				ids = append(ids, repl.requestID)
			}
			for _, id := range ids[1:] {
				require.Equal(t, ids[0], id, "every caller replaces the run with the same request ID")
			}
		})
	}
}

// prepareTTL is the TTL a trigger with ttl gets.
func (c *Client) prepareTTL(ttl time.Duration) time.Duration {
	if ttl == 0 {
		return c.opts.DefaultTTL
	}
	return ttl
}

// TestConvergeRetryFailedOnCompletedRun: RetryFailed asks for a replacement
// that the server refuses when the run completed: the run is cached.
func TestConvergeRetryFailedOnCompletedRun(t *testing.T) {
	f := newFakeServer()
	old := newRunID()
	f.put(&fakeRun{runID: old, requestID: newKeyRequestID(time.Hour, ""), status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED})
	c := newFakeClient(t, f, Options{SeenKeys: -1})
	run, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour, RetryFailed: true})
	require.NoError(t, err)
	require.True(t, run.Cached)
	require.Equal(t, old, run.RunID)
	starts := f.starts()
	require.Len(t, starts, 2, "%v", f.methods())
	require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY, starts[1].policy)
	require.Equal(t, replaceRequestID(old), starts[1].requestID)
	require.Equal(t, old, f.current)
}

// TestConvergeStrictPayload: in strict mode a cached run whose payload hash
// differs is ErrKeyReusedWithDifferentPayload (with the run); the same
// payload is a cached hit.
func TestConvergeStrictPayload(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload any
		wantErr bool
	}{
		{"same payload", map[string]any{"a": 1, "b": 2}, false},
		{"same payload other field order", map[string]any{"b": 2, "a": 1}, false},
		{"different payload", map[string]any{"a": 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer()
			old := newRunID()
			orig := payloadHash(t, map[string]any{"a": 1, "b": 2})
			f.put(&fakeRun{runID: old, requestID: newKeyRequestID(time.Hour, orig), status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING})
			c := newFakeClient(t, f, Options{SeenKeys: -1})
			run, err := trigger(t, c, tc.payload, TriggerOptions{TTL: time.Hour, Strict: true})
			if tc.wantErr {
				require.ErrorIs(t, err, ErrKeyReusedWithDifferentPayload)
			} else {
				require.NoError(t, err)
			}
			require.NotNil(t, run)
			require.True(t, run.Cached)
			require.Equal(t, old, run.RunID)
			require.Equal(t, []string{"Start"}, f.methods(), "judged from the request ID alone")
			rid, ok := parseRequestID(f.starts()[0].requestID)
			require.True(t, ok)
			require.Equal(t, payloadHash(t, tc.payload), rid.hash, "a strict start carries its payload hash")
		})
	}

	// A replacement run records its hash in its memo: read there.
	t.Run("different payload replacement run", func(t *testing.T) {
		f := newFakeServer()
		old := newRunID()
		f.put(&fakeRun{runID: old, requestID: replaceRequestID(newRunID()), status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED,
			memo: memoProto(t, idempotency.Memo{KeyText: "k", ExpiresAt: time.Now().Add(time.Hour), PayloadHash: payloadHash(t, "orig")})})
		c := newFakeClient(t, f, Options{SeenKeys: -1})
		run, err := trigger(t, c, "other", TriggerOptions{TTL: time.Hour, Strict: true})
		require.ErrorIs(t, err, ErrKeyReusedWithDifferentPayload)
		require.True(t, run.Cached)
		require.Equal(t, []string{"Start", "Describe"}, f.methods())
	})
}

// TestConvergeRaceJudgesTheOtherRun: the replacement start is answered with
// a duplicate-start error that names another run (another caller's run took
// the workflow ID meanwhile): converge judges that run — here a cached hit —
// and starts nothing more.
func TestConvergeRaceJudgesTheOtherRun(t *testing.T) {
	base := time.Now()
	f := newFakeServer()
	old := newRunID()
	f.put(&fakeRun{runID: old, requestID: newKeyRequestID(time.Hour, ""), status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED})
	other := newRunID()
	otherMemo := memoProto(t, idempotency.Memo{KeyText: "k", ExpiresAt: base.Add(5 * time.Hour)})
	f.beforeStart = func(f *fakeServer, req *workflowservice.StartWorkflowExecutionRequest) (*workflowservice.StartWorkflowExecutionResponse, error) {
		if req.GetRequestId() == replaceRequestID(old) && f.current == old {
			// Another run took the workflow ID first and is running.
			f.put(&fakeRun{runID: other, requestID: replaceRequestID(newRunID()), status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
				memo: otherMemo})
		}
		return nil, nil
	}
	c := newFakeClient(t, f, Options{SeenKeys: -1, Now: clockAt(base, 2*time.Hour)})
	run, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour})
	require.NoError(t, err)
	require.True(t, run.Cached)
	require.Equal(t, other, run.RunID)
	require.Equal(t, []string{"Start", "Start", "Describe"}, f.methods())
	starts := f.starts()
	require.Equal(t, replaceRequestID(old), starts[1].requestID)
	require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, starts[1].policy)
	require.Equal(t, other, f.requests()[2].runID, "the other run is read")
}

// TestConvergeOpenMarker: a reset marker still running (a ResetKey that
// stopped between its start and its termination) refuses the replacement:
// it is terminated, then replaced.
func TestConvergeOpenMarker(t *testing.T) {
	f := newFakeServer()
	marker := newRunID()
	f.put(&fakeRun{runID: marker, requestID: requestID{kind: kindMarker, suffix: newRunID()}.String(), status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING})
	c := newFakeClient(t, f, Options{SeenKeys: -1})
	run, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour})
	require.NoError(t, err)
	require.False(t, run.Cached)
	require.NotEqual(t, marker, run.RunID)
	require.Equal(t, []string{"Start", "Start", "Terminate", "Start", "Describe"}, f.methods())
	reqs := f.requests()
	require.Equal(t, marker, reqs[2].runID)
	require.Equal(t, replaceRequestID(marker), reqs[1].requestID)
	require.Equal(t, replaceRequestID(marker), reqs[3].requestID)
}

// TestRecheck: a key the client has seen is read first; a read that answers
// is judged with no start, a NotFound read falls back to the start.
func TestRecheck(t *testing.T) {
	t.Run("seen key is read, not started", func(t *testing.T) {
		f := newFakeServer()
		c := newFakeClient(t, f, Options{})
		first, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour})
		require.NoError(t, err)
		require.False(t, first.Cached)
		require.Equal(t, []string{"Start"}, f.methods())
		require.True(t, c.seen.has(first.WorkflowID))

		again, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour})
		require.NoError(t, err)
		require.True(t, again.Cached)
		require.Equal(t, first.RunID, again.RunID)
		require.Equal(t, []string{"Start", "Describe"}, f.methods(), "the repeat reads and does not start")
		d := f.requests()[1]
		require.Equal(t, first.WorkflowID, d.workflowID)
		require.Equal(t, "", d.runID, "the current run is read")
	})
	t.Run("seen key whose run expired is replaced", func(t *testing.T) {
		base := time.Now()
		offset := time.Duration(0)
		f := newFakeServer()
		c := newFakeClient(t, f, Options{Now: func() time.Time { return base.Add(offset) }})
		first, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour})
		require.NoError(t, err)
		f.mu.Lock()
		f.runs[first.RunID].status = enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
		f.mu.Unlock()
		offset = 2 * time.Hour
		again, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour})
		require.NoError(t, err)
		require.False(t, again.Cached)
		require.NotEqual(t, first.RunID, again.RunID)
		require.Equal(t, []string{"Start", "Describe", "Start", "Describe"}, f.methods())
		require.Equal(t, replaceRequestID(first.RunID), f.starts()[1].requestID)
	})
	t.Run("NotFound read falls back to the start", func(t *testing.T) {
		f := newFakeServer()
		c := newFakeClient(t, f, Options{})
		p, err := c.prepare(context.Background(), fakeTask, "p", TriggerOptions{Key: fakeKey}, nil)
		require.NoError(t, err)
		c.seen.put(p.workflowID())
		run, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour})
		require.NoError(t, err)
		require.False(t, run.Cached)
		require.Equal(t, []string{"Describe", "Start"}, f.methods())
		requireNewKeyStart(t, f.starts()[0], time.Hour)
	})
}

// TestConvergeConcurrentReplacement: callers that replace one expired run
// at the same moment — with different TTLs, payloads and strictness, or all
// alike — converge on one new run: each sends the replacement start with the
// one request ID derived from the old run, and the server (request-ID
// dedupe, then the reuse policy) makes one run of them. Exactly one caller
// is told it started the run (Cached=false, outcome restarted): the one
// whose start nonce the run's memo holds, whose TTL the run has; every other
// caller gets the run Cached (outcome cached, or failed for a strict caller
// with another payload).
func TestConvergeConcurrentReplacement(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(i int) (TriggerOptions, any)
	}{
		{"different TTLs payloads and strictness", func(i int) (TriggerOptions, any) {
			return TriggerOptions{TTL: time.Duration(i+1) * time.Hour, Strict: i%2 == 0}, fmt.Sprintf("payload %d", i%3)
		}},
		{"all alike", func(int) (TriggerOptions, any) {
			return TriggerOptions{TTL: time.Hour}, "payload"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := time.Now()
			f := newFakeServer()
			old := newRunID()
			f.put(&fakeRun{runID: old, requestID: newKeyRequestID(time.Hour, ""), status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED})
			const n = 16
			// Every caller's start of the key is answered with the old run
			// before any replacement is taken: all of them judge the old run
			// and replace it.
			f.holdReplacements(n)
			metrics := newSyncMetrics()
			clients := make([]*Client, n)
			for i := range clients {
				clients[i] = newFakeClient(t, f, Options{SeenKeys: -1, Now: clockAt(base, 2*time.Hour), MetricsHandler: metrics})
			}
			var (
				wg   sync.WaitGroup
				gate = make(chan struct{})
				runs = make([]*Run, n)
				errs = make([]error, n)
				ttls = make([]time.Duration, n)
			)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-gate
					opts, payload := tc.opts(i)
					ttls[i] = opts.TTL
					runs[i], errs[i] = trigger(t, clients[i], payload, opts)
				}()
			}
			close(gate)
			wg.Wait()

			f.mu.Lock()
			require.Len(t, f.runs, 2, "the old run and exactly one new run")
			newRun := f.runs[f.current]
			f.mu.Unlock()
			require.NotEqual(t, old, newRun.runID)
			memo := runctx.DecodeMemo(newRun.memo, nil)
			require.NotEmpty(t, memo.StartNonce)
			started := -1
			for i := range n {
				if errs[i] != nil {
					// A strict caller whose payload differs from the new run's.
					require.ErrorIs(t, errs[i], ErrKeyReusedWithDifferentPayload, "caller %d", i)
				}
				require.NotNil(t, runs[i], "caller %d: %v", i, errs[i])
				require.Equal(t, newRun.runID, runs[i].RunID, "caller %d", i)
				if !runs[i].Cached {
					require.Equal(t, -1, started, "callers %d and %d both told they started the run", started, i)
					started = i
				}
			}
			require.NotEqual(t, -1, started, "one caller is told it started the run")
			require.NoError(t, errs[started])
			require.Equal(t, base.Add(2*time.Hour+ttls[started]).UTC().Truncate(time.Millisecond), memo.ExpiresAt.UTC().Truncate(time.Millisecond),
				"the caller told it started the run is the one whose start made it")
			outcomes := metrics.byOutcome()
			require.Equal(t, int64(1), outcomes[once.OutcomeRestarted], "%v", outcomes)
			require.Zero(t, outcomes[once.OutcomeStarted], "%v", outcomes)
			require.Equal(t, int64(n-1), outcomes[once.OutcomeCached]+outcomes[once.OutcomeFailed], "%v", outcomes)
			t.Logf("%d callers: caller %d started the run; outcomes %v", n, started, outcomes)

			var newKey, replace int
			for _, s := range f.starts() {
				if s.requestID == replaceRequestID(old) {
					require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE, s.policy)
					replace++
					continue
				}
				rid, ok := parseRequestID(s.requestID)
				require.True(t, ok)
				require.Equal(t, kindNew, rid.kind, "a start is of the key or of its one replacement: %q", s.requestID)
				require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE, s.policy)
				newKey++
			}
			require.Equal(t, n, newKey, "one start of the key per caller")
			require.Equal(t, n, replace, "one replacement per caller, all with the one request ID: no loop")
		})
	}
}

// TestConvergeReplacementRetried: a replacement start that the server
// answers twice with the run it made — the caller's own start retried (by
// the SDK, after a lost answer) is deduplicated as another caller's is —
// still tells the caller it started the run: its nonce is in the run's memo.
// A replacement the server answers with a run whose memo holds another
// nonce is Cached.
func TestConvergeReplacementRetried(t *testing.T) {
	for _, tc := range []struct {
		name   string
		other  bool // another caller's start made the run
		cached bool
	}{
		{"own start answered again", false, false},
		{"another caller's start", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := time.Now()
			f := newFakeServer()
			old := newRunID()
			f.put(&fakeRun{runID: old, requestID: newKeyRequestID(time.Hour, ""), status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED})
			f.beforeStart = func(f *fakeServer, req *workflowservice.StartWorkflowExecutionRequest) (*workflowservice.StartWorkflowExecutionResponse, error) {
				if req.GetRequestId() != replaceRequestID(old) || f.current != old {
					return nil, nil
				}
				memo := req.GetMemo()
				if tc.other {
					m := runctx.DecodeMemo(memo, nil)
					m.StartNonce = "another caller's"
					memo = memoProto(t, m)
				}
				r := &fakeRun{runID: newRunID(), requestID: req.GetRequestId(), status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, memo: memo}
				f.put(r)
				// As a retried or deduplicated start: the run, Started not set.
				return &workflowservice.StartWorkflowExecutionResponse{RunId: r.runID}, nil
			}
			c := newFakeClient(t, f, Options{SeenKeys: -1, Now: clockAt(base, 2*time.Hour)})
			run, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour})
			require.NoError(t, err)
			require.Equal(t, f.current, run.RunID)
			require.Equal(t, tc.cached, run.Cached)
			require.Equal(t, []string{"Start", "Start", "Describe"}, f.methods())
		})
	}
}

// TestConvergeFailureRelease: with OnFailure FailureRelease (trigger.dev v4)
// a run that failed, timed out or was terminated is replaced by one start
// (ALLOW_DUPLICATE_FAILED_ONLY, the request ID of its replacement); a
// completed, canceled or running run is a cached hit. The status costs one
// read of the run.
func TestConvergeFailureRelease(t *testing.T) {
	for _, tc := range []struct {
		status  enumspb.WorkflowExecutionStatus
		release bool
	}{
		{enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, true},
		{enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT, true},
		{enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED, true},
		{enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, false},
		{enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, false},
		{enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, false},
	} {
		t.Run(tc.status.String(), func(t *testing.T) {
			f := newFakeServer()
			old := newRunID()
			f.put(&fakeRun{runID: old, requestID: newKeyRequestID(time.Hour, ""), status: tc.status})
			c := newFakeClient(t, f, Options{SeenKeys: -1})
			run, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour, OnFailure: FailureRelease})
			require.NoError(t, err)
			if !tc.release {
				require.True(t, run.Cached)
				require.Equal(t, old, run.RunID)
				require.Equal(t, []string{"Start", "Describe"}, f.methods())
				require.Equal(t, old, f.current)
				return
			}
			require.False(t, run.Cached)
			require.NotEqual(t, old, run.RunID)
			require.Equal(t, f.current, run.RunID)
			require.Equal(t, []string{"Start", "Describe", "Start", "Describe"}, f.methods())
			repl := f.starts()[1]
			require.Equal(t, enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY, repl.policy)
			require.Equal(t, replaceRequestID(old), repl.requestID, "every caller replaces the run with the same request ID")
		})
	}

	// FailureKeep (the default) keeps a failed run without reading it.
	t.Run("keep", func(t *testing.T) {
		f := newFakeServer()
		old := newRunID()
		f.put(&fakeRun{runID: old, requestID: newKeyRequestID(time.Hour, ""), status: enumspb.WORKFLOW_EXECUTION_STATUS_FAILED})
		c := newFakeClient(t, f, Options{SeenKeys: -1})
		run, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour})
		require.NoError(t, err)
		require.True(t, run.Cached)
		require.Equal(t, []string{"Start"}, f.methods())
	})

	// A key the client has seen: the recheck's read gives the status, no
	// second read.
	t.Run("seen key", func(t *testing.T) {
		f := newFakeServer()
		c := newFakeClient(t, f, Options{})
		first, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour, OnFailure: FailureRelease})
		require.NoError(t, err)
		f.mu.Lock()
		f.runs[first.RunID].status = enumspb.WORKFLOW_EXECUTION_STATUS_FAILED
		f.mu.Unlock()
		run, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour, OnFailure: FailureRelease})
		require.NoError(t, err)
		require.False(t, run.Cached)
		require.NotEqual(t, first.RunID, run.RunID)
		require.Equal(t, []string{"Start", "Describe", "Start", "Describe"}, f.methods())
	})

	t.Run("invalid", func(t *testing.T) {
		f := newFakeServer()
		c := newFakeClient(t, f, Options{SeenKeys: -1})
		_, err := trigger(t, c, "p", TriggerOptions{OnFailure: FailurePolicy(7)})
		require.ErrorIs(t, err, ErrInvalidFailurePolicy)
		require.ErrorIs(t, err, once.ErrInvalidInput)
		require.Empty(t, f.methods())
	})
}
