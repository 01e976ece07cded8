package idempotency

import (
	"github.com/once-run/once"
	"github.com/once-run/once/idempotency/internal/canonical"
)

// Sentinel errors. Functions in this package return them wrapped with the
// offending value, so test with errors.Is, not ==. Every one of them also
// matches once.ErrInvalidInput.
var (
	// ErrEmptyKey means no key part has any text: pass at least one
	// non-empty string.
	ErrEmptyKey = once.InputError("idempotency: key is empty: pass at least one non-empty part")

	// ErrKeyTooLong means the key text (the parts joined with "-") is longer
	// than MaxKeyTextBytes: pass shorter parts, or hash long data first with
	// KeyFromPayload and use the resulting Key.
	ErrKeyTooLong = once.InputError("idempotency: key text is too long: at most 2048 bytes of key text in all")

	// ErrInvalidKey means a value used as a Key is not 64 lowercase hex
	// characters: create keys with Derive, KeyFromPayload or the CreateKey
	// functions of packages workflows and activities, or pass raw strings as
	// Parts so they are hashed.
	ErrInvalidKey = once.InputError("idempotency: invalid key: want 64 lowercase hex characters (a SHA-256); pass other strings as Parts")

	// ErrInvalidScope means a scope is none of "run", "attempt", "global"
	// (or "" for the default).
	ErrInvalidScope = once.InputError(`idempotency: invalid scope: use "run", "attempt", "global" or "" for the default`)

	// ErrInvalidTaskID means a task ID does not match
	// ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$.
	ErrInvalidTaskID = once.InputError("idempotency: invalid task ID: use 1 to 128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit")

	// ErrInvalidEnvironment means an environment name does not match
	// ^[a-z0-9][a-z0-9-]{0,31}$.
	ErrInvalidEnvironment = once.InputError("idempotency: invalid environment: use 1 to 32 characters of a-z 0-9 - starting with a letter or digit")

	// ErrInvalidTTL means a TTL is not a positive duration such as "30d",
	// "12h", "90m", "45s" or a Go duration like "1h30m".
	ErrInvalidTTL = once.InputError(`idempotency: invalid TTL: use a positive duration such as "30d", "12h", "90m", "45s" or "1h30m"`)

	// ErrPayloadNotSerializable means a payload could not be turned into
	// JSON (channels, functions, NaN or ±Inf floats, cyclic values, a
	// MarshalJSON method that fails or emits invalid JSON): pass a value that
	// encoding/json can marshal.
	ErrPayloadNotSerializable = once.InputError("idempotency: payload is not JSON-serialisable: pass a value encoding/json can marshal (no channels, funcs, NaN or Inf)")

	// ErrInvalidJSON means the JSON a payload marshals to is not I-JSON
	// (RFC 7493) and has no canonical form: duplicate object member names,
	// invalid UTF-8 or lone surrogates, numbers outside the IEEE 754 double
	// range, or nesting deeper than 10000 (e.g. from a MarshalJSON method or
	// a json.RawMessage). KeyFromPayload returns it wrapped together with
	// ErrPayloadNotSerializable.
	ErrInvalidJSON = canonical.ErrInvalidJSON

	// ErrGlobalScopeNeedsKey means a trigger asked for scope global without
	// a key. A key derived for it (from the ordinal of the call, or the
	// activity) would let unrelated runs share one child: pass a Key.
	ErrGlobalScopeNeedsKey = once.InputError("idempotency: scope global needs a key: pass one")
)
