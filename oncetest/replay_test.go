package oncetest

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/once-run/once/examples"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/workflows"
)

// recordedMyTask is a history of my-task's attempt 2 recorded on a server
// (it attached to the child its attempt 1 started), with its metadata.
func recordedMyTask(t *testing.T) string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "examples", "testdata", "replay", "my-task-*-2.json"))
	require.NoError(t, err)
	require.Len(t, paths, 1)
	return paths[0]
}

// TestReplayFileSetUpErrors: a history file without a workflow ID or an
// environment, or of a task not given, is reported as that — not as the
// non-determinism error that a bare replay without the workflow ID gives on
// unchanged code.
func TestReplayFileSetUpErrors(t *testing.T) {
	h, meta, err := starter.ReadHistoryFile(recordedMyTask(t))
	require.NoError(t, err)
	require.Equal(t, "my-task", meta.Task)
	require.Equal(t, int32(2), meta.Attempt)
	require.NotEmpty(t, meta.FirstRunID)
	dir := t.TempDir()

	// A bare replay without the workflow ID: the task finds no environment,
	// fails instead of triggering its child, and the replayer reports that
	// as non-determinism although the code is unchanged.
	r := worker.NewWorkflowReplayer()
	for _, d := range examples.Tasks() {
		d.Register(r, workflows.Runtime{})
	}
	err = r.ReplayWorkflowHistory(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)), h)
	require.ErrorContains(t, err, "nondeterministic")

	plain := filepath.Join(dir, "plain.json")
	b, err := protojson.Marshal(h)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(plain, b, 0o644))
	require.ErrorIs(t, ReplayFile(plain, examples.Tasks()...), ErrNoWorkflowID)

	noEnv := filepath.Join(dir, "no-env.json")
	require.NoError(t, starter.WriteHistoryFile(noEnv, starter.HistoryMetadata{WorkflowID: "order-42"}, h))
	require.ErrorIs(t, ReplayFile(noEnv, examples.Tasks()...), ErrNoEnvironment)

	// With the environment stored, a workflow ID of any shape replays.
	withEnv := filepath.Join(dir, "with-env.json")
	require.NoError(t, starter.WriteHistoryFile(withEnv, starter.HistoryMetadata{WorkflowID: "order-42", Environment: "record"}, h))
	require.NoError(t, ReplayFile(withEnv, examples.Tasks()...))

	require.ErrorIs(t, ReplayFile(recordedMyTask(t), examples.Hello), ErrTaskNotGiven)
	require.NoError(t, ReplayFile(recordedMyTask(t), examples.MyTask))
}
