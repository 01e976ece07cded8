package plan

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

func TestDebouncerChecksSettings(t *testing.T) {
	e, err := NewEnv("prod")
	require.NoError(t, err)
	task, err := e.Task("send-email")
	require.NoError(t, err)
	tests := []struct {
		name string
		d    once.Debounce
		err  error
	}{
		{"trailing", once.Debounce{Key: "u1", Delay: time.Second, MaxDelay: 5 * time.Second, Mode: once.DebounceTrailing}, nil},
		{"mode defaults to leading", once.Debounce{Key: "u1", Delay: time.Second}, nil},
		{"maxDelay equal to delay", once.Debounce{Key: "u1", Delay: time.Second, MaxDelay: time.Second}, nil},
		{"no key", once.Debounce{Delay: time.Second}, once.ErrInvalidDebounce},
		{"blank key", once.Debounce{Key: " ", Delay: time.Second}, once.ErrInvalidDebounce},
		{"no delay", once.Debounce{Key: "u1"}, once.ErrInvalidDebounce},
		{"negative delay", once.Debounce{Key: "u1", Delay: -time.Second}, once.ErrInvalidDebounce},
		{"maxDelay below delay", once.Debounce{Key: "u1", Delay: time.Second, MaxDelay: time.Millisecond}, once.ErrInvalidDebounce},
		{"negative maxDelay", once.Debounce{Key: "u1", Delay: time.Second, MaxDelay: -1}, once.ErrInvalidDebounce},
		{"unknown mode", once.Debounce{Key: "u1", Delay: time.Second, Mode: "both"}, once.ErrInvalidDebounce},
		{"key too long", once.Debounce{Key: strings.Repeat("x", 3000), Delay: time.Second}, idempotency.ErrKeyTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := task.Debouncer(tt.d)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				require.ErrorIs(t, err, once.ErrInvalidInput)
				return
			}
			require.NoError(t, err)
			require.Contains(t, []once.DebounceMode{once.DebounceLeading, once.DebounceTrailing}, d.Settings.Mode)
		})
	}
}

// The debouncer's workflow ID is laid out under the task's prefix and
// cannot be a task run's: the last part is "debounce-<key>", not a key or
// a UUID. Its run's ID is an ordinary keyed run's, the same for the
// starter (from the signal-with-start's run ID) and for the debouncer
// (from its own workflow ID).
func TestDebouncerIDs(t *testing.T) {
	e, _ := NewEnv("prod")
	task, _ := e.Task("send-email")
	d, err := task.Debouncer(once.Debounce{Key: "user-42", Delay: time.Second})
	require.NoError(t, err)
	key := mustKey(t, idempotency.RunContext{}, idempotency.ScopeGlobal, "once-debounce", "user-42")
	require.Equal(t, "prod/send-email/debounce-"+string(key), d.WorkflowID)
	require.LessOrEqual(t, len(d.WorkflowID), 255)
	// No key makes a task run's workflow ID equal to it.
	_, _, rest, ok := idempotency.ParseWorkflowID(d.WorkflowID)
	require.True(t, ok)
	_, err = idempotency.ParseKey(rest)
	require.Error(t, err)

	gotTask, gotKey, ok := ParseDebouncer(d.WorkflowID)
	require.True(t, ok)
	require.Equal(t, task, gotTask)
	require.Equal(t, d.Key, gotKey)
	for _, id := range []string{"prod/send-email/" + string(key), "prod/send-email/debounce-xyz", "nope"} {
		_, _, ok := ParseDebouncer(id)
		require.False(t, ok, id)
	}

	run, err := d.Run("run-1")
	require.NoError(t, err)
	again, err := gotTask.DebouncedRun(gotKey, "run-1")
	require.NoError(t, err)
	require.Equal(t, run, again)
	require.Equal(t, "prod/send-email/"+string(mustKey(t, idempotency.RunContext{}, idempotency.ScopeGlobal, "once-debounce", string(key), "run-1")), run.WorkflowID)
	require.Equal(t, idempotency.Memo{}, run.Memo(), "a derived key: no key text in the run's memo")
	other, _ := d.Run("run-2")
	require.NotEqual(t, run.WorkflowID, other.WorkflowID, "one run per debouncer run")
	_, err = d.Run("")
	require.True(t, errors.Is(err, idempotency.ErrEmptyKey))
}
