package oncetest

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/workflows"
)

// Errors of ReplayFile (and of ReplayDir's subtests), tested with errors.Is.
var (
	// ErrNoWorkflowID: the history file stores no workflow ID, which Once's
	// tasks need to replay. Record it with starter.RecordRun or `starter
	// history`.
	ErrNoWorkflowID = errors.New(`oncetest: the history file stores no workflow ID ("once": {"workflowId": …}): record it with starter.RecordRun or "starter history"`)

	// ErrNoEnvironment: neither the history file nor its workflow ID names
	// the run's environment, without which a task cannot trigger children.
	ErrNoEnvironment = errors.New(`oncetest: the history file names no environment ("once": {"environment": …}) and its workflow ID is not "<env>/<task>/<key>"`)

	// ErrTaskNotGiven: the history is of a task that was not passed to
	// ReplayFile or ReplayDir.
	ErrTaskNotGiven = errors.New("oncetest: the history's task is not among the tasks given")
)

// ReplayDir replays every history file (*.json) in dir against the current
// code of tasks, each in a subtest named after the file, and fails the
// subtest of a history that does not replay: a change of a task's code that
// would break the runs in flight. Pass every task that has a history in dir
// (a history of another task fails: ErrTaskNotGiven); a task's children
// need not be given. A folder without history files fails the test.
//
// Record the files with starter.RecordRun or `starter history` (the
// format: starter.HistoryMetadata). See ReplayFile for
// the errors a subtest reports.
func ReplayDir(t *testing.T, dir string, tasks ...workflows.Definition) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatalf("oncetest: %v", err)
	}
	if len(paths) == 0 {
		t.Fatalf("oncetest: no history files (*.json) in %s", dir)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			if err := ReplayFile(path, tasks...); err != nil {
				t.Error(err)
			}
		})
	}
}

// ReplayFile replays one history file against the current code of tasks,
// with the workflow ID stored in the file and the tasks registered for the
// run's environment (stored in the file, else read from the workflow ID).
//
// Errors, each with the file's path: ErrNoWorkflowID, ErrNoEnvironment and
// ErrTaskNotGiven (checked before any replay, so that a set-up mistake never
// looks like an incompatible change); the replayer's error when the code
// does not replay the history (its message says "nondeterministic"); file
// and JSON errors.
func ReplayFile(path string, tasks ...workflows.Definition) error {
	h, meta, err := starter.ReadHistoryFile(path)
	if err != nil {
		return err
	}
	if meta.WorkflowID == "" {
		return fmt.Errorf("%s: %w", path, ErrNoWorkflowID)
	}
	env := meta.Environment
	if env == "" {
		env, _, _, _ = idempotency.ParseWorkflowID(meta.WorkflowID)
	}
	if env == "" {
		return fmt.Errorf("%s (workflow ID %s): %w", path, meta.WorkflowID, ErrNoEnvironment)
	}
	if err := idempotency.ValidateEnvironment(env); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var task string
	if events := h.GetEvents(); len(events) > 0 {
		task = events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
	}
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID()
	}
	if !slices.Contains(ids, task) {
		return fmt.Errorf("%s: task %q, given %q: %w", path, task, ids, ErrTaskNotGiven)
	}
	r := worker.NewWorkflowReplayer()
	rt := workflows.Runtime{Environment: env}
	for _, t := range tasks {
		t.Register(r, rt)
	}
	logger := sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
	err = r.ReplayWorkflowHistoryWithOptions(logger, h, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: meta.WorkflowID, RunID: meta.RunID},
	})
	if err != nil {
		return fmt.Errorf("replay %s (task %s, workflow %s, attempt %d): %w", path, task, meta.WorkflowID, meta.Attempt, err)
	}
	return nil
}
