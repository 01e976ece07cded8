package activities_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/once-run/once/activities"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

func newStarter(tb testing.TB, env string) *starter.Client {
	tb.Helper()
	s, err := starter.NewLazy(client.Options{HostPort: "127.0.0.1:1"}, starter.Options{Environment: env})
	require.NoError(tb, err)
	tb.Cleanup(s.Close)
	return s
}

// TestTriggerChecksTheRun: the helpers refuse, before any RPC, a call
// outside a task run, without a starter, or with a starter of another
// environment.
func TestTriggerChecksTheRun(t *testing.T) {
	inRun := idempotency.WithRunContext(context.Background(), idempotency.RunContext{Environment: "dev", TaskID: "t", RunID: "r", Attempt: 1})
	for _, tt := range []struct {
		name string
		ctx  context.Context
		s    *starter.Client
		is   error
	}{
		{"no starter", inRun, nil, activities.ErrNoStarter},
		{"no run", context.Background(), newStarter(t, "dev"), activities.ErrNoRunContext},
		{"other environment", inRun, newStarter(t, "prod"), activities.ErrEnvironmentMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := activities.Trigger(tt.ctx, tt.s, "child-task", nil, starter.TriggerOptions{})
			require.True(t, errors.Is(err, tt.is), "got %v", err)
			_, err = activities.TriggerAndWait(tt.ctx, tt.s, "child-task", nil, nil, starter.TriggerOptions{})
			require.True(t, errors.Is(err, tt.is), "got %v", err)
		})
	}
}
