// Package starter triggers Once tasks from outside a workflow: from services,
// CLIs and activities. Triggering a task with an idempotency key never creates
// a second run.
//
// A keyed trigger starts the workflow "<env>/<task>/<key>" with the reuse
// policy REJECT_DUPLICATE on the task queue of the environment. When a run
// already holds that ID the trigger returns it with Cached set: running,
// completed, failed, timed out, canceled or terminated alike — unless the key
// has expired (TTL), has been reset (ResetKey), or the caller asked to retry
// failed runs (TriggerOptions.RetryFailed).
//
// # Cost
//
// The hot path is one StartWorkflowExecution RPC, whether the key is new or
// cached: the reply to a duplicate start names the existing run and the
// request ID that created it, and Once encodes in that request ID what it
// needs to decide (the TTL, and the payload hash in strict mode); the run's
// creation time comes from its run ID (UUIDv7 on current servers).
// Extra calls happen only on these paths:
//   - expired key: one DescribeWorkflowExecution (is the run still running?),
//     then one more start that replaces it;
//   - reset key: one start that replaces the reset marker (plus one
//     TerminateWorkflowExecution if the marker is still open);
//   - a run Once did not start itself, a retried or continued-as-new run, or a
//     server whose run IDs carry no time: one DescribeWorkflowExecution to read
//     the memo;
//   - strict mode against a run started without strict mode: one
//     GetWorkflowExecutionHistory to hash the original payload;
//   - once per Client: DescribeNamespace and ListSearchAttributes (retention
//     warning; whether Once's search attributes exist).
//
// # Race-free expiry and reset
//
// Replacing an expired or reset run is a start with the reuse policy
// ALLOW_DUPLICATE whose request ID is derived from the run being replaced.
// The server checks the request ID against the current run before it applies
// any policy, so of many callers that replace the same run at the same moment
// exactly one creates the new run and all others get that same run back.
// (Concurrent callers that replace with different TTLs or, in strict mode,
// different payloads derive different request IDs; the running new run still
// makes them cached hits, but a new run that already finished could be
// replaced again.)
//
// ResetKey does not delete anything: it starts a short-lived marker run
// (immediately terminated, never executed by a worker) as the current run of
// the workflow ID, so the old run's history stays readable and the next
// trigger replaces the marker.
//
// # Semantics worth knowing
//
//   - TTL applies to closed runs: a run still running when its key expires is
//     returned as a cached hit; a trigger after it closed starts a new run.
//   - A key also lives no longer than the namespace's retention: a closed
//     workflow ID is forgotten when its history is deleted. New warns through
//     the logger when the TTL asked for is longer.
//   - When several callers replace the same run at once, the server cannot
//     tell them apart: each may see Cached=false for the one new run.
//
// Do not use this package inside workflow code: use the workflows package,
// which starts child workflows deterministically.
package starter
