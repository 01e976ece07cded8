package workflows_test

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/starter"
	"github.com/once-run/once/workflows"
)

// TestDebouncerReplays replays the debouncer's recorded histories (one
// trailing and one leading burst, recorded on a server by
// TestDebounceRecordHistories in cmd/internal/e2e) against the current
// code: a change that would break the debouncers in flight fails here.
func TestDebouncerReplays(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "debounce", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			h, meta, err := starter.ReadHistoryFile(path)
			require.NoError(t, err)
			r := worker.NewWorkflowReplayer()
			workflows.RegisterDebouncer(r, workflows.Runtime{Environment: meta.Environment})
			err = r.ReplayWorkflowHistoryWithOptions(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)), h,
				worker.ReplayWorkflowHistoryOptions{OriginalExecution: workflow.Execution{ID: meta.WorkflowID, RunID: meta.RunID}})
			require.NoError(t, err)
		})
	}
}
