package idempotency

import "context"

// RunContext describes the task run that code executes on behalf of. Its
// RunID and Attempt are the scope parts of run- and attempt-scoped keys.
//
// Inside a task, the runtime packages give it: workflows.RunContext in
// workflow code, activities.RunContext in an activity.
type RunContext struct {
	// Environment is the environment the run belongs to, e.g. "dev"; "" when
	// unknown.
	Environment string `json:"env,omitempty"`
	// TaskID is the task of the run, e.g. "my-task".
	TaskID string `json:"task,omitempty"`
	// RunID is the run's stable ID: WorkflowInfo.FirstRunID of the task's
	// workflow chain, which survives workflow retries, continue-as-new and
	// reset; the workflow ID where the first run ID is unknown (Temporal's
	// test suite, see workflows.RunContext). "" means no run (outside any
	// task).
	RunID string `json:"run,omitempty"`
	// Attempt is the workflow attempt, 1-based.
	Attempt int32 `json:"attempt,omitempty"`
}

// IsZero reports whether rc describes no run, i.e. code outside any task.
// Only RunID counts: a RunContext without a RunID adds no scope part.
func (rc RunContext) IsZero() bool { return rc.RunID == "" }

type runContextKey struct{}

// WithRunContext returns a copy of ctx that carries rc. StoredRunContext
// reads it back, and so do activities.RunContext and activities.CreateKey.
// Once's context propagator calls it for activities; services that act on
// behalf of a run may call it themselves.
func WithRunContext(ctx context.Context, rc RunContext) context.Context {
	return context.WithValue(ctx, runContextKey{}, rc)
}

// StoredRunContext returns the RunContext that WithRunContext stored in ctx,
// and whether one is stored (a stored zero RunContext, which means no run,
// counts). It looks at the context's values only: activities.RunContext
// also knows the run of an activity whose context has none stored.
func StoredRunContext(ctx context.Context) (rc RunContext, stored bool) {
	if ctx == nil {
		return RunContext{}, false
	}
	rc, stored = ctx.Value(runContextKey{}).(RunContext)
	return rc, stored
}
