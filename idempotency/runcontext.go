package idempotency

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"
)

// RunContext describes the task run that code executes on behalf of. Its
// RunID and Attempt are the scope parts of run- and attempt-scoped keys.
type RunContext struct {
	// Environment is the environment the run belongs to, e.g. "dev"; "" when
	// unknown.
	Environment string `json:"env,omitempty"`
	// TaskID is the task of the run, e.g. "my-task".
	TaskID string `json:"task,omitempty"`
	// RunID is the run's stable ID: WorkflowInfo.FirstRunID of the task's
	// workflow chain, which survives workflow retries, continue-as-new and
	// reset; the workflow ID where the first run ID is unknown (Temporal's
	// test suite, see RunContextFromWorkflow). "" means no run (outside any
	// task).
	RunID string `json:"run,omitempty"`
	// Attempt is the workflow attempt, 1-based.
	Attempt int32 `json:"attempt,omitempty"`
}

// IsZero reports whether rc describes no run, i.e. code outside any task.
// Only RunID counts: a RunContext without a RunID adds no scope part.
func (rc RunContext) IsZero() bool { return rc.RunID == "" }

type runContextKey struct{}

// WithRunContext returns a copy of ctx that carries rc. Create and
// RunContextFrom read it back. The context propagator calls it for
// activities; services that act on behalf of a run may call it themselves.
func WithRunContext(ctx context.Context, rc RunContext) context.Context {
	return context.WithValue(ctx, runContextKey{}, rc)
}

// RunContextFrom returns the run context of ctx and whether there is one.
//
// It looks, in order, for
//
//  1. a RunContext stored by WithRunContext, which is where the context
//     propagator (NewContextPropagator) puts the run context of the workflow
//     that scheduled an activity (a stored zero RunContext means no run, and
//     RunContextFrom reports false without looking further);
//  2. in an activity without that header (the worker has no propagator
//     registered), a fallback built from activity.GetInfo: Environment and
//     TaskID from the workflow ID (see RunContextFromWorkflow), RunID the
//     workflow ID (the rule RunContextFromWorkflow applies where the first
//     run ID is unknown) and Attempt 1 (unknown). Keys made from it are
//     stable across retries of the activity and of the workflow, but on a
//     real server (where workflow code uses FirstRunID) they differ from the
//     keys workflow code makes for the same run, and a later run of the same
//     workflow ID (after a reset or an expired key) gets them again: register
//     the propagator. In Temporal's test suite both sides use the workflow
//     ID, so they match there.
//
// Otherwise it returns a zero RunContext and false: code outside any task.
func RunContextFrom(ctx context.Context) (RunContext, bool) {
	if ctx == nil {
		return RunContext{}, false
	}
	if rc, ok := ctx.Value(runContextKey{}).(RunContext); ok {
		return rc, !rc.IsZero()
	}
	if !activity.IsActivity(ctx) {
		return RunContext{}, false
	}
	info := activity.GetInfo(ctx)
	if info.WorkflowExecution.ID == "" {
		return RunContext{}, false // a standalone activity: no run
	}
	typeName := ""
	if info.WorkflowType != nil {
		typeName = info.WorkflowType.Name
	}
	rc := RunContext{Attempt: 1}
	rc.Environment, rc.TaskID = taskFromWorkflowID(info.WorkflowExecution.ID, typeName)
	rc.RunID = fallbackRunID(info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
	return rc, true
}

// RunContextFromWorkflow returns the run context of workflow code from
// workflow.GetInfo. It is deterministic.
//
//   - Environment and TaskID come from the workflow ID when it has the shape
//     "<env>/<task>/<rest>" (see ParseWorkflowID); otherwise Environment is ""
//     and TaskID is the workflow type name.
//   - RunID is info.FirstRunID. Where that is empty — Temporal's test suite
//     (testsuite.TestWorkflowEnvironment) leaves it empty; a real server
//     always sets it — it falls back to the workflow ID. That is what
//     FirstRunID is on a server: the same for every attempt of the run (the
//     test suite gives each retry of a child workflow a new run ID, so the
//     run ID would not do), for continue-as-new, and different for runs with
//     different workflow IDs. In one test environment a workflow ID holds one
//     run, so it identifies the run there. Keys, child workflow IDs and
//     ordinal keys are then the same in every attempt, as on the server.
//   - Attempt is info.Attempt.
func RunContextFromWorkflow(ctx workflow.Context) RunContext {
	info := workflow.GetInfo(ctx)
	rc := RunContext{Attempt: info.Attempt}
	rc.Environment, rc.TaskID = taskFromWorkflowID(info.WorkflowExecution.ID, info.WorkflowType.Name)
	rc.RunID = info.FirstRunID
	if rc.RunID == "" {
		rc.RunID = fallbackRunID(info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
	}
	return rc
}

// taskFromWorkflowID returns the environment and task of a workflow ID of
// the shape "<env>/<task>/<rest>", else "" and the workflow type name.
func taskFromWorkflowID(id, typeName string) (env, task string) {
	if env, task, _, ok := ParseWorkflowID(id); ok {
		return env, task
	}
	return "", typeName
}

// fallbackRunID is the run's stable ID where the first run ID is unknown:
// the workflow ID, or the run ID when there is no workflow ID.
func fallbackRunID(workflowID, runID string) string {
	if workflowID == "" {
		return runID
	}
	return workflowID
}

// Create makes a key from parts for code that has a context.Context
// (activities, services, clients), with the default scope: ScopeRun when
// ctx belongs to a task run (see RunContextFrom), nothing added otherwise.
//
// Errors: as Derive.
func Create(ctx context.Context, parts ...string) (Key, error) {
	return CreateWithScope(ctx, "", parts...)
}

// CreateWithScope is Create with an explicit scope.
//
// Errors: as Derive.
func CreateWithScope(ctx context.Context, scope Scope, parts ...string) (Key, error) {
	rc, _ := RunContextFrom(ctx)
	return Derive(rc, scope, parts...)
}

// CreateInWorkflow makes a key from parts in workflow code, with the
// default scope ScopeRun. It is deterministic: a replay or a retried
// attempt of the run gets the same key.
//
// Errors: as Derive.
func CreateInWorkflow(ctx workflow.Context, parts ...string) (Key, error) {
	return CreateInWorkflowWithScope(ctx, "", parts...)
}

// CreateInWorkflowWithScope is CreateInWorkflow with an explicit scope.
//
// Errors: as Derive.
func CreateInWorkflowWithScope(ctx workflow.Context, scope Scope, parts ...string) (Key, error) {
	return Derive(RunContextFromWorkflow(ctx), scope, parts...)
}
