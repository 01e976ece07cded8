// Package idempotency makes the idempotency keys of Once: the pure key
// core, with no Temporal import, no server and no I/O. Triggering a task
// twice with the same key never creates a second run, so everything that
// decides what "the same key" is lives here.
//
// # Keys
//
// A Key is the 64-char lowercase hex SHA-256 of the key text, compatible
// with trigger.dev's idempotencyKeys.create:
//
//	Key = hex(sha256(strings.Join(append(parts, scopeParts...), "-")))
//
// Callers pass an Input: Parts (strings to hash) or a Key (used as is, never
// hashed again). Resolve turns either into a Key; Derive is the pure core.
// Key text must have at least one non-empty part and at most
// MaxKeyTextBytes bytes.
//
// # Scopes and defaults
//
//   - ScopeRun (the default inside a task): the run ID is appended, so the
//     key is the same in every attempt of one run and differs between runs.
//   - ScopeAttempt: the run ID and the attempt number are appended.
//   - ScopeGlobal: nothing is appended.
//
// Outside any task there is no run, so every scope adds nothing (the key is
// the global one). The run is identified by RunContext.RunID, the first run
// ID of the workflow chain, which survives retries, continue-as-new and
// reset.
//
// # Where the run context comes from
//
// This package only defines RunContext, and WithRunContext and
// StoredRunContext to carry one in a context.Context. Reading it from a
// running task is the task runtime's job, bound to the Temporal SDK:
//
//   - Workflow code: workflows.CreateKey and workflows.RunContext read
//     workflow.GetInfo (deterministic).
//   - Activities: activities.CreateKey and activities.RunContext read the
//     RunContext that Once's worker carried from the workflow in a Temporal
//     header (worker.ContextPropagator, for workers and test environments of
//     your own), else one built from the activity's info.
//   - Anything else: build a RunContext and call Derive, or store it with
//     WithRunContext for code that reads it from a context.Context.
//
// # Also here
//
// Workflow IDs of the form "<env>/<task>/<key>" (WorkflowID, ParseWorkflowID,
// ValidateEnvironment, ValidateTaskID), TTL parsing (ParseTTL, DefaultTTL),
// key resolution for triggers (ResolveTrigger, BatchItemKey), the memo of a
// keyed run (Memo), and payload keys from RFC 8785 canonical JSON
// (KeyFromPayload, PayloadHash).
//
// # What not to do
//
//   - Do not hash a Key again or convert arbitrary strings to Key: pass
//     strings as Parts, or check them with ParseKey.
//   - Do not make keys in workflow code from a context.Context: use
//     workflows.CreateKey, which is deterministic and knows the run.
//   - Do not put secrets or personal data in key parts: Text is stored in the
//     run's memo, readable by anyone with access to the namespace.
//   - Do not compare errors with ==: they are wrapped; use errors.Is.
//   - Do not import the Temporal SDK here, nor any package of this module
//     but the root package once and this package's internal/canonical: the
//     package stays pure so that every other package can use it (go list
//     -deps shows no go.temporal.io package).
package idempotency
