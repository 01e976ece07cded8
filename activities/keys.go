package activities

import (
	"context"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/runctx"
)

// RunContext returns the run context of ctx, an activity's context (or one
// derived from it), and whether there is one.
//
// It looks, in order, for
//
//  1. a RunContext stored by idempotency.WithRunContext, which is where Once's
//     worker (and package oncetest, and worker.ContextPropagator) puts the run
//     context of the workflow that scheduled the activity (a stored zero
//     RunContext means no run, and RunContext reports false without looking
//     further);
//  2. in an activity without that header (a worker that neither is Once's
//     nor has worker.ContextPropagator registered), a fallback built from
//     activity.GetInfo: Environment and TaskID from the workflow ID (see
//     workflows.RunContext), RunID the workflow ID (the rule
//     workflows.RunContext applies where the first run ID is unknown) and
//     Attempt 1 (unknown). Keys made from it are stable across retries of
//     the activity and of the workflow, but on a real server (where workflow
//     code uses FirstRunID) they differ from the keys workflow code makes
//     for the same run, and a later run of the same workflow ID (after a
//     reset or an expired key) gets them again: register the propagator. In
//     Temporal's test suite both sides use the workflow ID, so they match
//     there.
//
// Otherwise it returns a zero RunContext and false: code outside any task.
func RunContext(ctx context.Context) (idempotency.RunContext, bool) { return runctx.From(ctx) }

// CreateKey makes a key from parts for code that has a context.Context
// (activities, and what they call), with the default scope: ScopeRun when
// ctx belongs to a task run (see RunContext), nothing added otherwise. A
// retried activity makes the same key; workflow code of the same run makes
// it with workflows.CreateKey.
//
// Errors: as idempotency.Derive.
func CreateKey(ctx context.Context, parts ...string) (idempotency.Key, error) {
	return CreateKeyWithScope(ctx, "", parts...)
}

// CreateKeyWithScope is CreateKey with an explicit scope.
//
// Errors: as idempotency.Derive.
func CreateKeyWithScope(ctx context.Context, scope idempotency.Scope, parts ...string) (idempotency.Key, error) {
	rc, _ := runctx.From(ctx)
	return idempotency.Derive(rc, scope, parts...)
}
