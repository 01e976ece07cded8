package idempotency

import (
	"fmt"

	"github.com/once-run/once/idempotency/internal/canonical"
)

// KeyFromPayload returns a key that depends only on the JSON value of v:
// hex(sha256(canonical JSON of json.Marshal(v))), the canonical form being
// that of RFC 8785 (JSON Canonicalization Scheme). Equal payloads give equal
// keys whatever their field order, whitespace or number spelling, so it
// suits "one run per distinct input". The key is final, like any Key: it is
// not combined with a scope. To make it run-scoped, pass its String() as a
// part to Derive (or to the CreateKey functions of packages workflows and
// activities).
//
// v goes through encoding/json, so its rules apply: struct tags, MarshalJSON
// methods, []byte as base64 (pass JSON text you already have as
// json.RawMessage), invalid UTF-8 replaced by U+FFFD. Integers beyond ±2^53
// lose precision in canonical JSON, as RFC 8785 prescribes: pass them as
// strings when they must be told apart. (The types json.Unmarshal produces —
// map[string]any, []any, string, float64, bool, nil — and a few common ones
// are encoded directly, with the same result, because it is faster.)
//
// Errors: ErrPayloadNotSerializable (wrapped together with the
// encoding/json error, or ErrInvalidJSON) when v cannot be marshalled or
// marshals to JSON that is not I-JSON (e.g. duplicate member names from a
// MarshalJSON method).
func KeyFromPayload(v any) (Key, error) {
	sum, err := canonical.Sum256(v)
	if err != nil {
		return "", fmt.Errorf("key from payload %T: %w: %w", v, ErrPayloadNotSerializable, err)
	}
	return hexKey(sum), nil
}

// PayloadHash returns the hash of v's canonical JSON that strict mode
// compares to tell whether a cached run was triggered with the same payload.
// It is the same value as KeyFromPayload(v).
//
// Errors: as KeyFromPayload.
func PayloadHash(v any) (Key, error) { return KeyFromPayload(v) }
