package starter

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// A debounced trigger with bad settings, other options, an unknown task or
// a payload too large is an input error before any RPC: nothing is
// signalled. Good settings go on to the server.
func TestDebounceInputErrorsBeforeAnyRPC(t *testing.T) {
	ok := Debounce{Key: "k", Delay: time.Second}
	tests := []struct {
		name    string
		task    string
		payload any
		opts    TriggerOptions
		want    error
	}{
		{"no key", "task", nil, TriggerOptions{Debounce: &Debounce{Delay: time.Second}}, once.ErrInvalidDebounce},
		{"no delay", "task", nil, TriggerOptions{Debounce: &Debounce{Key: "k"}}, once.ErrInvalidDebounce},
		{"maxDelay below delay", "task", nil, TriggerOptions{Debounce: &Debounce{Key: "k", Delay: time.Second, MaxDelay: time.Millisecond}}, once.ErrInvalidDebounce},
		{"unknown mode", "task", nil, TriggerOptions{Debounce: &Debounce{Key: "k", Delay: time.Second, Mode: "x"}}, once.ErrInvalidDebounce},
		{"with a key", "task", nil, TriggerOptions{Debounce: &ok, Key: idempotency.Parts{"x"}}, once.ErrInvalidDebounce},
		{"with a TTL", "task", nil, TriggerOptions{Debounce: &ok, TTL: time.Hour}, once.ErrInvalidDebounce},
		{"with strict", "task", nil, TriggerOptions{Debounce: &ok, Strict: true}, once.ErrInvalidDebounce},
		{"with a start delay", "task", nil, TriggerOptions{Debounce: &ok, StartDelay: time.Second}, once.ErrInvalidDebounce},
		{"with a memo", "task", nil, TriggerOptions{Debounce: &ok, Memo: map[string]any{"a": 1}}, once.ErrInvalidDebounce},
		{"unknown task", "other", nil, TriggerOptions{Debounce: &ok}, ErrUnknownTask},
		{"invalid task", "-bad", nil, TriggerOptions{Debounce: &ok}, idempotency.ErrInvalidTaskID},
		{"payload too large", "task", strings.Repeat("x", 200), TriggerOptions{Debounce: &ok}, ErrPayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newOfflineClient(t, Options{Tasks: []string{"task"}, MaxPayloadBytes: 100})
			run, err := s.Trigger(context.Background(), tt.task, tt.payload, tt.opts)
			require.Nil(t, run)
			require.ErrorIs(t, err, tt.want)
			require.ErrorIs(t, err, once.ErrInvalidInput)
			require.False(t, errors.Is(err, ErrServerUnreachable), "an RPC was made: %v", err)
		})
	}
	t.Run("good settings reach the server", func(t *testing.T) {
		s := newOfflineClient(t, Options{})
		_, err := s.Trigger(context.Background(), "task", map[string]int{"n": 1}, TriggerOptions{Debounce: &ok})
		require.ErrorIs(t, err, ErrServerUnreachable)
	})
}

func TestRunDebouncer(t *testing.T) {
	_, _, ok := (&Run{}).Debouncer()
	require.False(t, ok)
	_, _, ok = (*Run)(nil).Debouncer()
	require.False(t, ok)
	id, runID, ok := (&Run{debounced: &debounced{workflowID: "dev/t/debounce-x", runID: "r"}}).Debouncer()
	require.True(t, ok)
	require.Equal(t, []string{"dev/t/debounce-x", "r"}, []string{id, runID})
}
