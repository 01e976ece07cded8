package worker_test

import (
	"errors"
	"testing"

	"github.com/once-run/once"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// lazyClient is a client that never connects: New makes no RPC with
// SearchAttributesOff.
func lazyClient(tb testing.TB) client.Client {
	tb.Helper()
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	return c
}

func TestNew(t *testing.T) {
	w, err := worker.New(lazyClient(t), worker.Options{
		Environment: "staging", Tasks: examples.Tasks(), SearchAttributes: worker.SearchAttributesOff,
	})
	require.NoError(t, err)
	require.Equal(t, "staging", w.Environment())
	require.Equal(t, "once-staging", w.TaskQueue())
	require.Equal(t, []string{"hello", "child-task", "my-task", "activity-trigger-task"}, w.Tasks())
	require.Equal(t, "staging", w.Starter().Environment())
	require.Equal(t, "once-staging", w.Starter().TaskQueue())
	require.False(t, w.SearchAttributes())

	// The default is off: no search attributes, and no RPC to ask.
	w, err = worker.New(lazyClient(t), worker.Options{})
	require.NoError(t, err)
	require.False(t, w.SearchAttributes())

	w, err = worker.New(lazyClient(t), worker.Options{TaskQueueBase: "acme", SearchAttributes: worker.SearchAttributesOn})
	require.NoError(t, err)
	require.Equal(t, once.DefaultEnvironment, w.Environment())
	require.Equal(t, "acme-dev", w.TaskQueue())
	require.True(t, w.SearchAttributes())
}

func TestNewErrors(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts worker.Options
		is   error
	}{
		{"invalid environment", worker.Options{Environment: "Prod"}, idempotency.ErrInvalidEnvironment},
		{"duplicate task", worker.Options{Tasks: []workflows.Definition{examples.Hello, examples.Hello}}, nil},
		{"nil task", worker.Options{Tasks: []workflows.Definition{nil}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.SearchAttributes = worker.SearchAttributesOff
			_, err := worker.New(lazyClient(t), tt.opts)
			require.Error(t, err)
			if tt.is != nil {
				require.True(t, errors.Is(err, tt.is), "got %v", err)
			}
		})
	}
	_, err := worker.New(nil, worker.Options{})
	require.Error(t, err)
}
