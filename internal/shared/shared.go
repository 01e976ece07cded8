// Package shared holds the names that Once's packages must agree on: search
// attribute names, memo keys and the task-queue naming scheme, and the
// no-op logger they use where SDK logs are noise. It has no logic worth
// importing outside this module.
package shared

import (
	"log/slog"

	sdklog "go.temporal.io/sdk/log"
)

// DiscardLogger returns an SDK logger that drops everything: for clients
// whose per-call logs are noise (readiness polls, tests, benchmarks).
func DiscardLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}

// Custom search attributes (Keyword) that Once sets on every run it starts
// when the namespace has them registered.
const (
	SearchAttrTask        = "OnceTask"
	SearchAttrEnvironment = "OnceEnvironment"
	SearchAttrKey         = "OnceKey"
)

// SearchAttributes lists Once's custom search attributes; all are Keyword.
var SearchAttributes = []string{SearchAttrTask, SearchAttrEnvironment, SearchAttrKey}

// Memo keys that Once writes on every run it starts.
const (
	MemoKeyText    = "once.key"         // the key text as the caller gave it
	MemoKeyScope   = "once.scope"       // run | attempt | global
	MemoExpiresAt  = "once.expiresAt"   // RFC 3339 time after which the key may start a new run
	MemoPayloadSum = "once.payloadHash" // canonical payload hash (strict mode)
	MemoTask       = "once.task"
	MemoEnv        = "once.env"
)

// DefaultTaskQueueBase is the prefix of every task queue Once uses.
const DefaultTaskQueueBase = "once"

// TaskQueue returns the task queue of an environment: "<base>-<env>". The
// environment is part of the queue so that a worker of one environment never
// executes another environment's tasks.
func TaskQueue(base, env string) string {
	if base == "" {
		base = DefaultTaskQueueBase
	}
	return base + "-" + env
}
