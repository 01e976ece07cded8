// Package idempotency makes the idempotency keys of Once: the pure key
// logic, with no Temporal server and no I/O. Triggering a task twice with
// the same key never creates a second run, so everything that decides what
// "the same key" is lives here.
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
//   - Workflow code: CreateInWorkflow reads workflow.GetInfo (deterministic).
//   - Activities: Create reads the RunContext that the propagator from
//     NewContextPropagator carried in the header HeaderName. Register that
//     propagator on the worker's client.
//   - Anything else: WithRunContext stores a RunContext in a context.Context.
//
// # Also here
//
// Workflow IDs of the form "<env>/<task>/<key>" (WorkflowID, ParseWorkflowID,
// ValidateEnvironment, ValidateTaskID), TTL parsing (ParseTTL, DefaultTTL),
// and payload keys from RFC 8785 canonical JSON (Canonicalize,
// KeyFromPayload, PayloadHash).
//
// # What not to do
//
//   - Do not hash a Key again or convert arbitrary strings to Key: pass
//     strings as Parts, or check them with ParseKey.
//   - Do not call Create with a context.Context from workflow code: use
//     CreateInWorkflow, which is deterministic and knows the run.
//   - Do not put secrets or personal data in key parts: Text is stored in the
//     run's memo, readable by anyone with access to the namespace.
//   - Do not compare errors with ==: they are wrapped; use errors.Is.
//   - Do not import anything of this module from here: the package stays
//     pure so that every other package can use it.
package idempotency
