// Package once is Once's vocabulary: the names that its packages, its
// operators and its callers share — memo keys, search attribute names,
// metric and span names and outcome labels, the default environment and the
// task-queue rule, a typed reference to a task, a task's failure policy
// (FailurePolicy) and its names, and the umbrella error of invalid input.
//
// It imports no other package of Once, and every other package may import
// it. It holds no logic beyond naming: keys live in package idempotency,
// triggering from services in package starter, the task runtime in package
// workflows, and the wiring of a worker in package worker.
package once

// DefaultEnvironment is the environment of a starter or worker whose
// options name none.
const DefaultEnvironment = "dev"

// DefaultTaskQueueBase is the prefix of every task queue Once uses.
const DefaultTaskQueueBase = "once"

// TaskQueue returns the task queue of an environment: "<base>-<env>", with
// DefaultTaskQueueBase when base is empty. The environment is part of the
// queue so that a worker of one environment never executes another
// environment's tasks.
func TaskQueue(base, env string) string {
	if base == "" {
		base = DefaultTaskQueueBase
	}
	return base + "-" + env
}

// Memo keys that Once writes on the runs it starts, visible in the Temporal
// Web UI and CLI: only what the workflow ID "<env>/<task>/<key>" and type do
// not tell. These constants are the one place that names them:
// idempotency.Memo.Fields writes them, and the starter reads them back.
const (
	MemoKeyText     = "once.key"         // the key text as the caller gave it
	MemoKeyScope    = "once.scope"       // run | attempt | global
	MemoExpiresAt   = "once.expiresAt"   // RFC 3339 time after which the key may start a new run
	MemoPayloadHash = "once.payloadHash" // canonical payload hash (strict mode)
	MemoTask        = "once.task"        // the task ID (runs of earlier versions)
	MemoEnvironment = "once.env"         // the environment (runs of earlier versions)
	MemoReset       = "once.reset"       // true on the marker run that ResetKey puts in place
	MemoStartNonce  = "once.startNonce"  // the random token of the start that made a replacement run: tells its caller from those the server answered with the run
	MemoOnFailure   = "once.onFailure"   // "release" on a run of a task whose failure releases its key (FailurePolicy); written by the task's runtime
)

// Custom search attributes (Keyword) that Once sets on the runs it starts
// only when asked to (starter.Options.SearchAttributes,
// worker.SearchAttributesMode) and the namespace has them. Runs are found
// without them, by WorkflowType and WorkflowId, on every server.
const (
	SearchAttrTask        = "OnceTask"
	SearchAttrEnvironment = "OnceEnvironment"
	SearchAttrKey         = "OnceKey"
)

// SearchAttributes lists Once's custom search attributes; all are Keyword.
func SearchAttributes() []string {
	return []string{SearchAttrTask, SearchAttrEnvironment, SearchAttrKey}
}

// MetricTriggers counts triggers, from services and from inside tasks, with
// the tags TagTask, TagEnvironment and TagOutcome. Through a Prometheus
// naming scope (the SDK's contrib/tally, as Once's worker serves it) it is
// the counter once_triggers_total.
const MetricTriggers = "once_triggers"

// MetricTriggerLatency times triggers with the tags of MetricTriggers: from
// the call to the decision (started, cached, …) for the starter; from the
// workflow task that triggers to the one that learns the outcome, in
// workflow time, for triggers from workflow code. It is a timer of the SDK's
// metrics handler: through a Prometheus naming scope, the histogram
// once_trigger_latency_seconds.
const MetricTriggerLatency = "once_trigger_latency"

// Tags of MetricTriggers and MetricTriggerLatency.
const (
	TagTask        = "task"
	TagEnvironment = "environment"
	TagOutcome     = "outcome"
)

// Outcomes of a trigger, the values of TagOutcome.
const (
	OutcomeStarted   = "started"   // a new run
	OutcomeCached    = "cached"    // an existing run answered for the key
	OutcomeRestarted = "restarted" // a new run replaced an expired, reset or released one: once per replacement, for the caller whose start made it (the others: cached)
	OutcomeFailed    = "failed"    // the trigger returned an error
)

// Tracing: the names of the spans the starter adds to a trace
// (starter.Options.Tracer) and of their attributes. A trigger's span is
// "<SpanTrigger>:<task>"; the task's run (the SDK's RunWorkflow span) is its
// child. A cached hit starts no run: its trigger span gets a child
// "<SpanCached>:<task>" with SpanAttrCached "true".
const (
	SpanTrigger         = "Trigger"
	SpanCached          = "Cached"
	SpanAttrTask        = "once.task"
	SpanAttrEnvironment = "once.environment"
	SpanAttrCached      = "once.cached"
	SpanAttrWorkflowID  = "temporalWorkflowID" // as the SDK's spans
	SpanAttrRunID       = "temporalRunID"      // as the SDK's spans
)

// Types of the failures (temporal.ApplicationError) with which a worker
// ends a run at once, without retrying it.
const (
	// ErrTypeUnknownTask: no task of that ID is registered on the worker
	// that took the run.
	ErrTypeUnknownTask = "OnceUnknownTask"
	// ErrTypeBadPayload: the run's payload does not decode into the task's
	// payload type.
	ErrTypeBadPayload = "OncePayloadInvalid"
)

// TaskRef names a task with its payload type P and result type R, without
// its code: what a service needs to trigger the task with types checked at
// compile time (starter.TriggerTask). A workflows.Task returns its own with
// Ref; a service that should not import the package that implements the
// task declares one with NewTaskRef. The task's retry policy and timeouts
// are not part of it: they are the task's, applied by the worker to every
// run.
type TaskRef[P, R any] struct {
	id string
}

// NewTaskRef returns a reference to the task id with payload type P and
// result type R.
func NewTaskRef[P, R any](id string) TaskRef[P, R] {
	return TaskRef[P, R]{id: id}
}

// ID is the task ID, also the workflow type name.
func (r TaskRef[P, R]) ID() string { return r.id }
