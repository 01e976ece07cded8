package worker_test

import (
	"errors"
	"testing"

	"github.com/once-run/once"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/once-run/once/examples"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// lazyStarter is a starter whose client never connects: New makes no RPC
// with SearchAttributesOff.
func lazyStarter(tb testing.TB, opts starter.Options) *starter.Client {
	tb.Helper()
	s, err := starter.NewLazy(client.Options{HostPort: "127.0.0.1:1"}, opts)
	require.NoError(tb, err)
	tb.Cleanup(s.Close)
	return s
}

func TestNew(t *testing.T) {
	w, err := worker.New(lazyStarter(t, starter.Options{Environment: "staging"}), worker.Options{
		Tasks: examples.Tasks(), SearchAttributes: worker.SearchAttributesOff,
	})
	require.NoError(t, err)
	require.Equal(t, "staging", w.Environment())
	require.Equal(t, "once-staging", w.TaskQueue())
	require.Equal(t, []string{"hello", "child-task", "my-task", "activity-trigger-task"}, w.Tasks())
	require.Equal(t, "staging", w.Starter().Environment())
	require.Equal(t, "once-staging", w.Starter().TaskQueue())
	require.False(t, w.SearchAttributes())
	require.Empty(t, w.Starter().Options().Tasks, "a starter that lists no tasks may trigger any: another worker of the queue may run it")

	// A starter that lists tasks keeps them, and the worker's are added once.
	w, err = worker.New(lazyStarter(t, starter.Options{Tasks: []string{"elsewhere", "hello"}}), worker.Options{Tasks: examples.Tasks()})
	require.NoError(t, err)
	require.Equal(t, []string{"elsewhere", "hello", "child-task", "my-task", "activity-trigger-task"}, w.Starter().Options().Tasks)

	// The default is off: no search attributes, and no RPC to ask.
	w, err = worker.New(lazyStarter(t, starter.Options{}), worker.Options{})
	require.NoError(t, err)
	require.False(t, w.SearchAttributes())

	w, err = worker.New(lazyStarter(t, starter.Options{TaskQueueBase: "acme"}), worker.Options{SearchAttributes: worker.SearchAttributesOn})
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
		{"duplicate task", worker.Options{Tasks: []workflows.Definition{examples.Hello, examples.Hello}}, nil},
		{"nil task", worker.Options{Tasks: []workflows.Definition{nil}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.SearchAttributes = worker.SearchAttributesOff
			_, err := worker.New(lazyStarter(t, starter.Options{}), tt.opts)
			require.Error(t, err)
			if tt.is != nil {
				require.True(t, errors.Is(err, tt.is), "got %v", err)
			}
		})
	}
	_, err := worker.New(nil, worker.Options{})
	require.Error(t, err)
}
