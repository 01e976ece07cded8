package plan

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

func mustKey(t *testing.T, rc idempotency.RunContext, scope idempotency.Scope, parts ...string) idempotency.Key {
	t.Helper()
	k, err := idempotency.Derive(rc, scope, parts...)
	require.NoError(t, err)
	return k
}

func TestEnvAndTaskAreChecked(t *testing.T) {
	_, err := NewEnv("Prod")
	require.ErrorIs(t, err, idempotency.ErrInvalidEnvironment)
	env, err := NewEnv("prod")
	require.NoError(t, err)
	require.Equal(t, "prod", env.Name())
	_, err = env.Task("bad task")
	require.ErrorIs(t, err, idempotency.ErrInvalidTaskID)
	task, err := env.Task("send-email")
	require.NoError(t, err)
	require.Equal(t, "prod", task.Env())
	require.Equal(t, "send-email", task.ID())
}

func TestTriggerWorkflowIDs(t *testing.T) {
	env, _ := NewEnv("prod")
	task, _ := env.Task("send-email")
	rc := idempotency.RunContext{Environment: "prod", TaskID: "parent", RunID: "run-1", Attempt: 1}
	call := func() ([]string, error) { return []string{"once-ordinal", "send-email", "1"}, nil }

	keyed, err := task.Trigger(idempotency.Parts{"order-42"}, "", idempotency.RunContext{}, nil, nil)
	require.NoError(t, err)
	k := mustKey(t, idempotency.RunContext{}, idempotency.ScopeGlobal, "order-42")
	want, err := idempotency.WorkflowID("prod", "send-email", k)
	require.NoError(t, err)
	require.Equal(t, want, keyed.WorkflowID)
	require.Equal(t, idempotency.Memo{KeyText: "order-42", Scope: idempotency.ScopeGlobal}, keyed.Memo())

	unkeyed, err := task.Trigger(nil, "", idempotency.RunContext{}, nil, func() string { return "u-1" })
	require.NoError(t, err)
	require.Equal(t, "prod/send-email/u-1", unkeyed.WorkflowID)
	require.Equal(t, idempotency.Memo{}, unkeyed.Memo(), "an unkeyed run's memo says nothing of a key")

	derived, err := task.Trigger(nil, "", rc, call, nil)
	require.NoError(t, err)
	require.Equal(t, "prod/send-email/"+string(mustKey(t, rc, idempotency.ScopeRun, "once-ordinal", "send-email", "1")), derived.WorkflowID)
	require.True(t, derived.Key.Derived)
	require.Equal(t, idempotency.Memo{}, derived.Memo(), "a key Once derived holds no text a user gave")

	_, err = task.Trigger(nil, "", idempotency.RunContext{}, nil, nil)
	require.ErrorIs(t, err, idempotency.ErrEmptyKey, "no key and no unkeyed suffix")
	_, err = task.Key(idempotency.Parts{"a"}, "forever", rc)
	require.ErrorIs(t, err, idempotency.ErrInvalidScope)
	require.ErrorIs(t, err, once.ErrInvalidInput)
}

// TestOutsideResolvesOnce: a key resolved outside a task is passed on as an
// Input and not hashed again: the same workflow ID, the caller's text kept.
func TestOutsideResolvesOnce(t *testing.T) {
	tk, err := Outside(idempotency.Parts{"customer-7", "invoice-9"})
	require.NoError(t, err)
	require.Equal(t, mustKey(t, idempotency.RunContext{}, idempotency.ScopeGlobal, "customer-7-invoice-9"), tk.Key)
	env, _ := NewEnv("dev")
	task, _ := env.Task("bill")
	tr, err := task.Key(tk, idempotency.ScopeAttempt, idempotency.RunContext{RunID: "r"})
	require.NoError(t, err)
	require.Equal(t, "dev/bill/"+string(tk.Key), tr.WorkflowID, "a resolved key is used as is, whatever the scope")
	require.Equal(t, "customer-7-invoice-9", tr.Memo().KeyText)

	_, err = Outside(idempotency.Parts{""})
	require.ErrorIs(t, err, idempotency.ErrEmptyKey)
}

func TestSearchAttributes(t *testing.T) {
	env, _ := NewEnv("dev")
	task, _ := env.Task("bill")
	tr, err := task.Trigger(idempotency.Parts{"k"}, "", idempotency.RunContext{}, nil, nil)
	require.NoError(t, err)
	require.Equal(t, 3, tr.SearchAttributes().Size())
	unkeyed, err := task.Trigger(nil, "", idempotency.RunContext{}, nil, func() string { return "x" })
	require.NoError(t, err)
	require.Equal(t, 2, unkeyed.SearchAttributes().Size(), "no key attribute without a key")
	require.False(t, errors.Is(err, idempotency.ErrEmptyKey))
}
