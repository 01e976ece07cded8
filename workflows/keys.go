package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/runctx"
)

// RunContext returns the run context of workflow code, from
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
func RunContext(ctx workflow.Context) idempotency.RunContext { return runctx.FromWorkflow(ctx) }

// CreateKey makes a key from parts in workflow code, with the default scope
// ScopeRun. It is deterministic: a replay or a retried attempt of the run
// gets the same key, and an activity of the run makes the same one with
// activities.CreateKey.
//
// Errors: as idempotency.Derive.
func CreateKey(ctx workflow.Context, parts ...string) (idempotency.Key, error) {
	return CreateKeyWithScope(ctx, "", parts...)
}

// CreateKeyWithScope is CreateKey with an explicit scope.
//
// Errors: as idempotency.Derive.
func CreateKeyWithScope(ctx workflow.Context, scope idempotency.Scope, parts ...string) (idempotency.Key, error) {
	return idempotency.Derive(runctx.FromWorkflow(ctx), scope, parts...)
}
