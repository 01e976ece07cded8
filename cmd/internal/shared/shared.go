// Package shared holds what the binaries, tools and server-backed tests of
// this module share and no library user needs: a no-op SDK logger, the
// --log-level/--log-format logger, the --version text, and the flag set and
// main of the long-running programs (the worker, the API). The names that
// operators and callers share are in the root package once.
package shared

import (
	"log/slog"
	"strconv"

	sdklog "go.temporal.io/sdk/log"
)

// DiscardLogger returns an SDK logger that drops everything: for clients
// whose per-call logs are noise (readiness polls, tests, benchmarks).
func DiscardLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}

// EnvBool reads a boolean environment value: false when empty or not a
// bool (strconv.ParseBool).
func EnvBool(v string) bool {
	b, _ := strconv.ParseBool(v)
	return b
}

// OrDefault is s, or def when s is empty.
func OrDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
