package idempotency

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
)

func TestResolveTrigger(t *testing.T) {
	rc := RunContext{RunID: "run-1", Attempt: 2}
	mustDerive := func(rc RunContext, scope Scope, parts ...string) Key {
		k, err := Derive(rc, scope, parts...)
		require.NoError(t, err)
		return k
	}
	call := func() ([]string, error) { return []string{"once-ordinal", "child", "1"}, nil }
	tests := []struct {
		name  string
		in    Input
		scope Scope
		rc    RunContext
		call  func() ([]string, error)
		want  TriggerKey
		err   error  // errors.Is
		msg   string // or this message
	}{
		{"parts in a task, default scope", Parts{"a"}, "", rc, call,
			TriggerKey{Key: mustDerive(rc, ScopeRun, "a"), Text: "a", Scope: ScopeRun}, nil, ""},
		{"parts in a task, attempt scope", Parts{"a"}, ScopeAttempt, rc, nil,
			TriggerKey{Key: mustDerive(rc, ScopeAttempt, "a"), Text: "a", Scope: ScopeAttempt}, nil, ""},
		{"parts outside a task are global", Parts{"a", "b"}, ScopeRun, RunContext{}, nil,
			TriggerKey{Key: mustDerive(RunContext{}, ScopeGlobal, "a-b"), Text: "a-b", Scope: ScopeGlobal}, nil, ""},
		{"a Key is used as is", mustDerive(RunContext{}, ScopeGlobal, "x"), "", rc, nil,
			TriggerKey{Key: mustDerive(RunContext{}, ScopeGlobal, "x"), Text: string(mustDerive(RunContext{}, ScopeGlobal, "x")), Scope: ScopeRun}, nil, ""},
		{"no key in a task: the call's key", nil, "", rc, call,
			TriggerKey{Key: mustDerive(rc, ScopeRun, "once-ordinal", "child", "1"), Text: "once-ordinal-child-1", Scope: ScopeRun}, nil, ""},
		{"no key, attempt scope", nil, ScopeAttempt, rc, call,
			TriggerKey{Key: mustDerive(rc, ScopeAttempt, "once-ordinal", "child", "1"), Text: "once-ordinal-child-1", Scope: ScopeAttempt}, nil, ""},
		{"no key, nothing to count: unkeyed", nil, "", rc, nil, TriggerKey{Scope: ScopeRun}, nil, ""},
		{"no key outside a task: unkeyed", nil, "", RunContext{}, call, TriggerKey{Scope: ScopeGlobal}, nil, ""},
		{"global without a key in a task", nil, ScopeGlobal, rc, call, TriggerKey{}, ErrGlobalScopeNeedsKey, ""},
		{"bad scope", Parts{"a"}, "forever", rc, nil, TriggerKey{}, ErrInvalidScope, ""},
		{"empty parts", Parts{""}, "", rc, nil, TriggerKey{}, ErrEmptyKey, ""},
		{"the call's error", nil, "", rc, func() ([]string, error) { return nil, errors.New("no counter") }, TriggerKey{}, nil, "no counter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveTrigger(tt.in, tt.scope, tt.rc, tt.call)
			if tt.msg != "" {
				require.EqualError(t, err, tt.msg)
				return
			}
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	t.Run("a refused call takes no ordinal", func(t *testing.T) {
		calls := 0
		_, err := ResolveTrigger(nil, ScopeGlobal, rc, func() ([]string, error) { calls++; return []string{"x"}, nil })
		require.ErrorIs(t, err, ErrGlobalScopeNeedsKey)
		_, err = ResolveTrigger(Parts{"k"}, "", rc, func() ([]string, error) { calls++; return []string{"x"}, nil })
		require.NoError(t, err)
		require.Zero(t, calls)
	})
}

func TestBatchItemKey(t *testing.T) {
	batch, err := Derive(RunContext{}, ScopeGlobal, "import-7")
	require.NoError(t, err)
	k0, err := BatchItemKey(batch, 0)
	require.NoError(t, err)
	want, err := Derive(RunContext{}, ScopeGlobal, string(batch), "0")
	require.NoError(t, err)
	require.Equal(t, want, k0, "hash(batch key, index), as earlier versions")
	k1, err := BatchItemKey(batch, 1)
	require.NoError(t, err)
	require.NotEqual(t, k0, k1)
	_, err = BatchItemKey("not a key", 0)
	require.ErrorIs(t, err, ErrInvalidKey)
}

// TestNextCallOrdinal: calls are counted per name in the context of one
// activity attempt; a new attempt (a new Extract) counts from 1 again;
// goroutines get distinct ordinals.
func TestNextCallOrdinal(t *testing.T) {
	_, ok := NextCallOrdinal(context.Background(), "t")
	require.False(t, ok, "outside an activity")

	attempt := func() context.Context {
		ctx, err := NewContextPropagator().Extract(context.Background(), headerMap{})
		require.NoError(t, err)
		return ctx
	}
	ctx := attempt()
	for want := 1; want <= 3; want++ {
		n, ok := NextCallOrdinal(ctx, "a")
		require.True(t, ok)
		require.Equal(t, want, n)
	}
	n, _ := NextCallOrdinal(ctx, "b")
	require.Equal(t, 1, n, "counted per name")
	n, _ = NextCallOrdinal(attempt(), "a")
	require.Equal(t, 1, n, "a new attempt counts from 1")

	ctx = attempt()
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, _ := NextCallOrdinal(ctx, "c")
			mu.Lock()
			defer mu.Unlock()
			seen[n] = true
		}()
	}
	wg.Wait()
	require.Len(t, seen, 50)
	require.True(t, seen[1] && seen[50])
}

// TestNextCallOrdinalWithoutPropagator: an activity whose context has no
// counter (no propagator, no Once worker) is counted per attempt in a table.
func TestNextCallOrdinalWithoutPropagator(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	run := func() []int {
		env := s.NewTestActivityEnvironment()
		env.RegisterActivityWithOptions(func(ctx context.Context) ([]int, error) {
			var out []int
			for _, name := range []string{"a", "a", "b", "a"} {
				n, ok := NextCallOrdinal(ctx, name)
				if !ok {
					return nil, errors.New("not counted")
				}
				out = append(out, n)
			}
			return out, nil
		}, activity.RegisterOptions{Name: "count"})
		v, err := env.ExecuteActivity("count")
		require.NoError(t, err)
		var out []int
		require.NoError(t, v.Get(&out))
		return out
	}
	require.Equal(t, []int{1, 2, 1, 3}, run())
}
