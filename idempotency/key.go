package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// MaxKeyTextBytes is the most key text Derive accepts: the caller's parts
// joined with "-", before any scope part is added.
const MaxKeyTextBytes = 2048

// KeyLen is the length of a Key: 64 lowercase hex characters.
const KeyLen = 2 * sha256.Size

// Key is an idempotency key: the 64-char lowercase hex SHA-256 of the key
// text. A Key is final: Resolve and the trigger functions use it as is and
// never hash it again.
//
// Make one with Derive, KeyFromPayload or ParseKey, or in a task with
// workflows.CreateKey (workflow code) or activities.CreateKey (activities);
// a Key built by conversion (Key("…")) is checked when it is used.
type Key string

// String returns the key as 64 lowercase hex characters.
func (k Key) String() string { return string(k) }

func (Key) isInput() {}

// ParseKey returns s as a Key after checking it is 64 lowercase hex
// characters. It never hashes s: to turn arbitrary text into a key, use
// Parts or Derive.
//
// Errors: ErrInvalidKey (wrapped, with the offending value).
func ParseKey(s string) (Key, error) {
	if len(s) != KeyLen {
		return "", fmt.Errorf("parse key %s: %d bytes, want %d: %w", quoteShort(s), len(s), KeyLen, ErrInvalidKey)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", fmt.Errorf("parse key %s: byte %d is %q, want 0-9 or a-f: %w", quoteShort(s), i, c, ErrInvalidKey)
		}
	}
	return Key(s), nil
}

// Scope says what a key is unique to. The zero value "" means the default:
// ScopeRun inside a task, and (like every scope) nothing outside one.
type Scope string

// Scopes.
const (
	// ScopeRun makes a key unique to the current run: the same parts give the
	// same key in every attempt of the run, and a different key in another
	// run. It is the default inside a task.
	ScopeRun Scope = "run"
	// ScopeAttempt makes a key unique to the current attempt of the run: a
	// retried workflow attempt gets a new key.
	ScopeAttempt Scope = "attempt"
	// ScopeGlobal makes a key depend on its parts only: any caller, in any
	// run or outside every run, gets the same key for the same parts.
	ScopeGlobal Scope = "global"
)

// ParseScope returns s as a Scope. The empty string is valid and means the
// default scope.
//
// Errors: ErrInvalidScope (wrapped, with the offending value).
func ParseScope(s string) (Scope, error) {
	switch sc := Scope(s); sc {
	case "", ScopeRun, ScopeAttempt, ScopeGlobal:
		return sc, nil
	}
	return "", fmt.Errorf("parse scope %s: %w", quoteShort(s), ErrInvalidScope)
}

// Input is what a caller passes as an idempotency key: a Key, used as is,
// Parts, hashed by Derive, or a TriggerKey resolved before (its Key used as
// is, its text and scope kept). Only this package's types implement it.
type Input interface{ isInput() }

// Parts is key text in one or more strings. Resolve joins them with "-",
// appends the scope parts and hashes the result. Parts{"a", "b"} and
// Parts{"a-b"} give the same key, as in trigger.dev.
type Parts []string

func (Parts) isInput() {}

// Derive is the pure core of key creation:
//
//	Key = hex(sha256(strings.Join(append(parts, scopeParts...), "-")))
//
// where the scope parts are
//
//   - ScopeGlobal: none;
//   - ScopeRun: [rc.RunID];
//   - ScopeAttempt: [rc.RunID, decimal rc.Attempt] (an Attempt below 1 counts
//     as 1, the first attempt);
//   - "" (default): as ScopeRun.
//
// With a zero rc (no run: outside any task) every scope adds nothing, so the
// key equals the global one. Derive is deterministic and safe to call from
// workflow code.
//
// Errors (wrapped): ErrInvalidScope; ErrEmptyKey when no part has any text;
// ErrKeyTooLong when the parts joined with "-" exceed MaxKeyTextBytes.
func Derive(rc RunContext, scope Scope, parts ...string) (Key, error) {
	switch scope {
	case "", ScopeRun, ScopeAttempt, ScopeGlobal:
	default:
		return "", fmt.Errorf("derive key: scope %s: %w", quoteShort(string(scope)), ErrInvalidScope)
	}
	return derive(rc, scope, parts)
}

// derive is Derive for a scope already checked.
func derive(rc RunContext, scope Scope, parts []string) (Key, error) {
	n, nonEmpty := len(parts)-1, false
	for _, p := range parts {
		n += len(p)
		nonEmpty = nonEmpty || p != ""
	}
	if !nonEmpty {
		return "", fmt.Errorf("derive key from %d parts: %w", len(parts), ErrEmptyKey)
	}
	if n > MaxKeyTextBytes {
		return "", fmt.Errorf("derive key: key text is %d bytes, %d too many: %w", n, n-MaxKeyTextBytes, ErrKeyTooLong)
	}

	withRun := !rc.IsZero() && scope != ScopeGlobal
	withAttempt := withRun && scope == ScopeAttempt
	total := n
	if withRun {
		total += 1 + len(rc.RunID)
	}
	if withAttempt {
		total += 1 + 10 // int32 has at most 10 digits
	}

	// Build the text in a stack buffer when it fits: the only allocation of
	// the common case is then the returned string. Go zeroes a stack buffer
	// on every call, so the usual short text gets a small one.
	switch {
	case total <= 128:
		var stack [128]byte
		return hashKey(appendKeyText(stack[:0], rc, withRun, withAttempt, parts)), nil
	case total <= 512:
		var stack [512]byte
		return hashKey(appendKeyText(stack[:0], rc, withRun, withAttempt, parts)), nil
	}
	return hashKey(appendKeyText(make([]byte, 0, total), rc, withRun, withAttempt, parts)), nil
}

// appendKeyText appends the key text: the parts joined with "-", then the
// run ID and the attempt when the scope asks for them.
func appendKeyText(buf []byte, rc RunContext, withRun, withAttempt bool, parts []string) []byte {
	for i, p := range parts {
		if i > 0 {
			buf = append(buf, '-')
		}
		buf = append(buf, p...)
	}
	if withRun {
		buf = append(buf, '-')
		buf = append(buf, rc.RunID...)
	}
	if withAttempt {
		attempt := rc.Attempt
		if attempt < 1 {
			attempt = 1
		}
		buf = append(buf, '-')
		buf = strconv.AppendInt(buf, int64(attempt), 10)
	}
	return buf
}

// hashKey returns the hex SHA-256 of b with a single allocation.
func hashKey(b []byte) Key { return hexKey(sha256.Sum256(b)) }

// hexKey returns sum in lowercase hex as a Key, with a single allocation.
func hexKey(sum [sha256.Size]byte) Key {
	var h [KeyLen]byte
	for i := 0; i < sha256.Size; i += 4 {
		binary.BigEndian.PutUint64(h[2*i:], hexDigits8(binary.BigEndian.Uint32(sum[i:])))
	}
	return Key(h[:])
}

// hexDigits8 returns the 8 lowercase hex digits of x, most significant
// first when stored big-endian: each nibble spread to its own byte, then
// '0' added, and 'a'-'0'-10 more where the nibble is 10 or above. It does in
// a few arithmetic steps what encoding/hex does with a table lookup per
// nibble.
func hexDigits8(x uint32) uint64 {
	v := uint64(x)
	v = (v | v<<16) & 0x0000ffff0000ffff
	v = (v | v<<8) & 0x00ff00ff00ff00ff
	v = (v | v<<4) & 0x0f0f0f0f0f0f0f0f
	letters := ((v + 0x0606060606060606) >> 4) & 0x0101010101010101 // 1 where the nibble is ≥ 10
	return v + 0x3030303030303030 + letters*('a'-'0'-10)
}

// Resolve turns an Input into a Key. A Key is checked with ParseKey and
// returned as is (never hashed again; scope and rc do not apply to it), as
// is the Key of a TriggerKey; Parts go through Derive with scope and rc.
//
// Errors (wrapped): ErrInvalidKey for a malformed Key; ErrInvalidScope;
// ErrEmptyKey for a nil Input or empty Parts; ErrKeyTooLong.
func Resolve(in Input, scope Scope, rc RunContext) (Key, error) {
	if _, err := ParseScope(string(scope)); err != nil {
		return "", fmt.Errorf("resolve key: %w", err)
	}
	return resolve(in, scope, rc)
}

// resolve is Resolve for a scope already checked.
func resolve(in Input, scope Scope, rc RunContext) (Key, error) {
	switch v := in.(type) {
	case Key:
		return ParseKey(string(v))
	case TriggerKey:
		return ParseKey(string(v.Key))
	case Parts:
		return derive(rc, scope, v)
	}
	return "", fmt.Errorf("resolve key: no input: %w", ErrEmptyKey)
}

// Text returns the human-readable key text to show in a memo or a UI: the
// parts joined with "-" for Parts, the hex for a Key, "" for nil. It is not
// the hashed text: scope parts are not included.
func Text(in Input) string {
	switch v := in.(type) {
	case Key:
		return string(v)
	case TriggerKey:
		return v.Text
	case Parts:
		return strings.Join(v, "-")
	}
	return ""
}

// quoteShort quotes s for an error message, cut to a readable length.
func quoteShort(s string) string {
	const limit = 80
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:limit]) + fmt.Sprintf("… (%d bytes)", len(s))
}
