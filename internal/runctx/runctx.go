// Package runctx is the run-context plumbing of Once's task runtime: where
// the idempotency.RunContext of code running in a task comes from, and how
// it travels from workflow code to the activities it schedules. It is bound
// to the Temporal SDK, so that package idempotency stays a pure key core.
//
//   - FromWorkflow: the run context of workflow code, from workflow.GetInfo.
//   - From: the run context of a context.Context (an activity, or code that
//     an activity calls): the one idempotency.WithRunContext stored, else, in
//     an activity, one built from activity.GetInfo.
//   - NewContextPropagator: the propagator that carries it in the header
//     HeaderName and starts the count of an activity attempt's calls
//     (NextCallOrdinal).
//   - DecodeMemo: Once's memo entries of a run, read back.
//
// Users reach it through packages workflows (CreateKey, RunContext),
// activities (CreateKey, RunContext) and worker (ContextPropagator); it is
// internal so that its shape can follow the runtime.
package runctx

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/idempotency"
)

// From returns the run context of ctx and whether there is one.
//
// It looks, in order, for
//
//  1. a RunContext stored by idempotency.WithRunContext, which is where the
//     context propagator (NewContextPropagator) puts the run context of the
//     workflow that scheduled an activity (a stored zero RunContext means no
//     run, and From reports false without looking further);
//  2. in an activity without that header (the worker has no propagator
//     registered), a fallback built from activity.GetInfo: Environment and
//     TaskID from the workflow ID (see FromWorkflow), RunID the workflow ID
//     (the rule FromWorkflow applies where the first run ID is unknown) and
//     Attempt 1 (unknown). Keys made from it are stable across retries of
//     the activity and of the workflow, but on a real server (where workflow
//     code uses FirstRunID) they differ from the keys workflow code makes
//     for the same run, and a later run of the same workflow ID (after a
//     reset or an expired key) gets them again: register the propagator. In
//     Temporal's test suite both sides use the workflow ID, so they match
//     there.
//
// Otherwise it returns a zero RunContext and false: code outside any task.
func From(ctx context.Context) (idempotency.RunContext, bool) {
	if ctx == nil {
		return idempotency.RunContext{}, false
	}
	if rc, stored := idempotency.StoredRunContext(ctx); stored {
		return rc, !rc.IsZero()
	}
	if !activity.IsActivity(ctx) {
		return idempotency.RunContext{}, false
	}
	info := activity.GetInfo(ctx)
	if info.WorkflowExecution.ID == "" {
		return idempotency.RunContext{}, false // a standalone activity: no run
	}
	typeName := ""
	if info.WorkflowType != nil {
		typeName = info.WorkflowType.Name
	}
	rc := idempotency.RunContext{Attempt: 1}
	rc.Environment, rc.TaskID = taskFromWorkflowID(info.WorkflowExecution.ID, typeName)
	rc.RunID = fallbackRunID(info.WorkflowExecution.ID, info.WorkflowExecution.RunID)
	return rc, true
}

// FromWorkflow returns the run context of workflow code from
// workflow.GetInfo. It is deterministic.
//
//   - Environment and TaskID come from the workflow ID when it has the shape
//     "<env>/<task>/<rest>" (see idempotency.ParseWorkflowID); otherwise
//     Environment is "" and TaskID is the workflow type name.
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
func FromWorkflow(ctx workflow.Context) idempotency.RunContext {
	info := workflow.GetInfo(ctx)
	rc := idempotency.RunContext{Attempt: info.Attempt}
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
	if env, task, _, ok := idempotency.ParseWorkflowID(id); ok {
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
