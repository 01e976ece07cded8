package idempotency

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
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
			TriggerKey{Key: mustDerive(rc, ScopeRun, "once-ordinal", "child", "1"), Text: "once-ordinal-child-1", Scope: ScopeRun, Derived: true}, nil, ""},
		{"no key, attempt scope", nil, ScopeAttempt, rc, call,
			TriggerKey{Key: mustDerive(rc, ScopeAttempt, "once-ordinal", "child", "1"), Text: "once-ordinal-child-1", Scope: ScopeAttempt, Derived: true}, nil, ""},
		{"a TriggerKey is passed on as it is", TriggerKey{Key: mustDerive(RunContext{}, ScopeGlobal, "t"), Text: "t", Scope: ScopeGlobal}, ScopeAttempt, rc, call,
			TriggerKey{Key: mustDerive(RunContext{}, ScopeGlobal, "t"), Text: "t", Scope: ScopeGlobal}, nil, ""},
		{"a TriggerKey with a bad key", TriggerKey{Key: "abc", Text: "t"}, "", rc, nil, TriggerKey{}, ErrInvalidKey, ""},
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
