// Package oncetest is the test kit for Once tasks: unit tests in Temporal's
// test environment that count what the server counts, and replay tests of
// recorded histories in three lines.
//
// Unit tests. NewEnv returns a testsuite.TestWorkflowEnvironment with the
// given tasks registered for an environment (a Runtime with it, as the worker
// package registers them), the run-context propagator, and an answer to the
// runtime's activity AttachRun taken from the child runs of the test: a
// retried parent that attaches to the child an earlier attempt started gets
// that child's result, with no mock. ExecuteTask runs a task with its retry
// policy, so its second attempt can be tested (the test environment never
// retries a top-level workflow: ExecuteTask runs the task as a child of a
// workflow of the kit, which it does retry). ChildStarts and ChildWorkflowIDs
// count and list the child runs started per task:
//
//	env := oncetest.NewEnv(t, oncetest.Options{}, PlaceOrder, Ship)
//	env.ExecuteTask(PlaceOrder, Order{ID: "42"})
//	require.NoError(t, env.GetWorkflowError())
//	require.Equal(t, 1, env.ChildStarts(Ship.ID()))
//
// In the test environment a run's stable ID is its workflow ID (it has no
// first run ID; see workflows.RunContext), so keys, ordinal
// keys and child workflow IDs are the same in every attempt, as on a server.
//
// Replay tests. starter.RecordRun writes every attempt of a run from a
// Temporal server into a folder, one history file per execution (an
// attempt, or the worker's restart of a run started without the task's
// retry policy or timeouts, which replays as well), with the workflow ID,
// run ID, attempt, task and environment stored with the history (see
// starter.HistoryMetadata; the CLI's "starter history" does the same).
// ReplayDir replays every history file of a folder against the current code
// of the tasks:
//
//	func TestReplay(t *testing.T) {
//		oncetest.ReplayDir(t, "testdata/replay", PlaceOrder)
//	}
//
// A history file without a workflow ID or an environment is reported as
// that (ErrNoWorkflowID, ErrNoEnvironment), never as a non-determinism error.
//
// The package is for tests and test tools: it imports testing, testify and
// the SDK's testsuite. Do not use it in a worker.
package oncetest
