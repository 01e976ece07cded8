// Package httpapi is Once's HTTP API as an http.Handler: a Go service mounts
// it, and cmd/api (and the dev-mode worker) serve it. It is stateless: any
// number of replicas may serve one namespace. It triggers, batches, reads,
// lists and resets runs through a starter.Client, so the client's settings
// (namespace, data converter and codec, interceptors) apply to everything it
// does, and its key derivation, reuse policies and convergence are the
// starter's.
//
//	h, err := httpapi.New(s, httpapi.Options{Tokens: tokens})
//	mux.Handle("/v1/", h)
//	mux.Handle("/openapi.json", h)
//	mux.Handle("/api/", h) // trigger.dev's routes, for @trigger.dev/sdk
//
// # Routes
//
//	POST /v1/tasks/{task}/trigger           trigger (201 new, 200 cached, 202 debounced); key in Idempotency-Key
//	POST /v1/tasks/{task}/batch             JSON array, or NDJSON streamed in and out
//	GET  /v1/tasks/{task}/runs?limit=       the task's runs
//	GET  /v1/tasks/{task}/keys/{key}        the run that holds a key
//	POST /v1/tasks/{task}/keys/{key}/reset  the next trigger starts a new run
//	GET  /v1/runs/{id}?wait=30s             status, attempts, result or failure
//	GET  /openapi.json                      the OpenAPI 3.1 document: the contract
//
// Bodies are JSON; errors are RFC 9457 problem details
// (application/problem+json, type "urn:once:problem:<name>", the ProblemXxx
// constants; see ProblemFor).
// A trigger never answers 409: Temporal decides a key's run atomically, so a
// request that arrives while the key's first one is in flight gets that run
// (200, cached). 409 is a reset of a key whose run is still running, without
// "terminate".
//
// # Trigger options
//
// A trigger's body (and a batch item) may name its failure policy,
// "onFailure": "keep" or "release" (starter.TriggerOptions.OnFailure; absent,
// the task's). A trigger's "debounce": {"key", "delay", "maxDelay", "mode"}
// (Go durations, as "wait") makes it one of a burst (once.Debounce): it
// answers 202 Accepted with debounced: true, the burst's run's workflowId
// and its id, which reads status "pending" until the debouncer starts the
// run. A debounced trigger takes no key, ttl, strict, retryFailed or
// onFailure (400); a request ID does not key it.
//
// A key's description (GET /v1/tasks/{task}/keys/{key}, and GET
// /v1/runs/{id} of a run that holds its key) carries "onFailure": the policy
// the run records (starter.RunInfo.OnFailure), "release" or "keep"; a
// trigger's override is not recorded.
//
// # trigger.dev's routes
//
// Under /api/, the routes that trigger.dev's SDK (@trigger.dev/sdk v4) calls
// from a backend, in trigger.dev's shapes (errors {"error": "…"}), so that
// code written for trigger.dev triggers Once's tasks unchanged:
//
//	POST /api/v1/tasks/{task}/trigger          tasks.trigger
//	POST /api/v3/batches                       tasks.batchTrigger: create (phase 1)
//	POST /api/v3/batches/{batch}/items         tasks.batchTrigger: NDJSON items (phase 2)
//	GET  /api/v3/runs/{id}                     runs.retrieve, runs.poll
//	POST /api/v1/idempotencyKeys/{key}/reset   idempotencyKeys.reset
//
// With the same tokens and environments, and the key lifecycle of trigger.dev
// v4 (starter.FailureRelease). The SDK's keys arrive hashed and are used as
// is; superjson payloads become plain JSON (a Date its ISO string). Batch ids
// are stateless: they hold the batch key. options.debounce is Once's
// debounce (its run DELAYED until it starts). See the README, "Coming from
// trigger.dev", for the options Once reads, ignores and refuses.
//
// # Keys and retries
//
// The Idempotency-Key header holds the key: 64 lowercase hex characters are
// an idempotency.Key, used as is; other text is the one-part key
// idempotency.Parts{text}, hashed as the Go API hashes it; an empty one is
// 400, never an unkeyed trigger. A batch's header is
// its batch key: an item without a key of its own gets
// idempotency.BatchItemKey(batch key, index). A request without a key that
// carries a request ID (X-Request-Id, or trigger.dev's
// X-Trigger-Request-Idempotency-Key) gets a key (a batch key) derived from
// it, idempotency.Derive(RunContext{}, ScopeGlobal, "once-http-request", id),
// in strict mode: a client's retry of the request finds the run its first try
// started, never a second one.
//
// # Run ids
//
// A run's id is "run_" and the base64url of its task, first run ID and the
// workflow ID's suffix after "<env>/<task>/": opaque to clients, stateless
// for the server. The environment is not in it: it is the token's, so a
// token of one environment asking for another's run looks in its own and
// finds nothing (404). A debounced trigger's run has no run ID until its
// debouncer starts it: its id holds, in place of the first run ID, "d." and
// the debouncer's workflow ID suffix and run ID (RunRef.Debounced); it
// finds the run by its workflow ID once the run exists, pending before, 404
// when the debouncer is gone or closed without starting it.
//
// # Tokens
//
// Each bearer token is bound to one environment and optionally to some
// tasks; the handler keeps one starter per environment (starter.Client.With,
// on the same connection). Tokens are stored as SHA-256 hashes (HashToken,
// ParseTokens) and compared in constant time. Without tokens, New refuses
// unless Options.AllowUnauthenticated: then every request acts in the
// starter's environment (the dev-mode worker on loopback).
//
// # Limits
//
// A trigger's body is bounded by the starter's MaxPayloadBytes plus
// Envelope, a batch's by Options.MaxBatchBytes and MaxBatchItems; waits by
// Options.MaxWait. The handler sets no server timeouts: serve it with an
// http.Server that has ReadHeaderTimeout, ReadTimeout, WriteTimeout (longer
// than MaxWait), IdleTimeout and MaxHeaderBytes, as cmd/api does. A streamed
// batch extends its connection's deadlines line by line.
package httpapi
