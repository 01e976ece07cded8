package e2e

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/cmd/internal/workerapp"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// TestTypedTriggers: a service triggers tasks with their payload and result
// types checked at compile time, with the task's Ref or a TaskRef declared
// without the task's code; the task's retry policy applies, though no
// trigger sends it.
func TestTypedTriggers(t *testing.T) {
	e := newTaskEnv(t, true)
	ctx := testCtx(t, time.Minute)
	// A starter that knows the tasks it triggers, and nothing of their
	// retry policies.
	s, err := e.starter.With(starter.Options{Environment: e.env, Tasks: []string{"hello", "my-task"}, Logger: shared.DiscardLogger()})
	require.NoError(t, err)

	key := idempotency.Parts{unique("typed")}
	run, err := starter.TriggerTask(ctx, s, examples.Hello.Ref(), examples.HelloPayload{Name: "Ada"}, starter.TriggerOptions{Key: key})
	require.NoError(t, err)
	require.False(t, run.Cached)
	greeting, err := run.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, "Hello, Ada", greeting)

	// A reference declared by the service, without importing the task's code.
	helloRef := once.NewTaskRef[examples.HelloPayload, string]("hello")
	again, err := starter.TriggerTask(ctx, s, helloRef, examples.HelloPayload{Name: "Ada"}, starter.TriggerOptions{Key: key})
	require.NoError(t, err)
	require.True(t, again.Cached)
	require.Equal(t, run.RunID, again.RunID)
	// A reference to a task the starter does not know: refused at once.
	_, err = starter.TriggerTask(ctx, s, once.NewTaskRef[examples.HelloPayload, string]("helo"), examples.HelloPayload{}, starter.TriggerOptions{})
	require.ErrorIs(t, err, starter.ErrUnknownTask)

	// my-task fails its first attempt: only the task's retry policy (the
	// worker's) lets it complete in attempt 2.
	myRun, err := starter.TriggerTaskAndWait(ctx, s, examples.MyTask.Ref(), examples.MyTaskPayload{FailAttempts: 1}, starter.TriggerOptions{Key: idempotency.Parts{unique("typed-my")}})
	require.NoError(t, err)
	require.Equal(t, int32(2), myRun.Result.Attempt)
	require.NotEmpty(t, myRun.RunID)

	// A typed batch: results in order, a repeated item key is cached.
	items := []starter.TaskBatchItem[examples.HelloPayload]{
		{Payload: examples.HelloPayload{Name: "Grace"}},
		{Payload: examples.HelloPayload{Name: "Alan"}, Options: starter.TriggerOptions{Key: key}},
	}
	results, err := starter.BatchTriggerTask(ctx, s, examples.Hello.Ref(), items, starter.BatchOptions{BatchKey: idempotency.Parts{unique("typed-batch")}})
	require.NoError(t, err)
	require.Len(t, results, 2)
	require.NoError(t, results[0].Err)
	got, err := results[0].Run.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, "Hello, Grace", got)
	require.NoError(t, results[1].Err)
	require.True(t, results[1].Run.Cached, "item 2 reuses the key of the first trigger")
	require.Equal(t, run.RunID, results[1].Run.RunID)
}

// TestWorkerAppExamplesOnlyWhenAsked: the worker binary registers the
// example tasks in dev mode, and elsewhere only with --examples; a worker
// built with worker.New registers what it is given.
func TestWorkerAppExamplesOnlyWhenAsked(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		want bool
	}{
		{"dev mode", map[string]string{}, nil, true},
		{"dev mode, off", map[string]string{}, []string{"--examples=false"}, false},
		{"server address", map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:7233"}, nil, false},
		{"server address, --examples", map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:7233"}, []string{"--examples"}, true},
		{"server address, ONCE_EXAMPLES", map[string]string{"TEMPORAL_ADDRESS": "127.0.0.1:7233", "ONCE_EXAMPLES": "true"}, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := workerapp.NewMain()
			m.Getenv = func(k string) string { return tt.env[k] }
			m.Stdout, m.Stderr = io.Discard, io.Discard
			require.NoError(t, m.ParseFlags(tt.args))
			require.Equal(t, tt.want, m.Examples)
		})
	}
}
