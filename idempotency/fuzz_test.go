package idempotency

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func FuzzParseTTL(f *testing.F) {
	for _, s := range []string{"30d", "12h", "90m", "45s", "1h30m", "1.5h", "0s", "-1d", "106752d", "99999999999999999999d", "", "d", "+5m", "1e3s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTTL(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidTTL) || d != 0 {
				t.Fatalf("ParseTTL(%q) = %v, %v; want 0 and ErrInvalidTTL", s, d, err)
			}
			return
		}
		if d <= 0 {
			t.Fatalf("ParseTTL(%q) = %v, want positive", s, d)
		}
		// The number-and-unit form must equal the arithmetic value.
		if len(s) >= 2 && strings.ContainsRune("smhd", rune(s[len(s)-1])) {
			if n, perr := strconv.ParseUint(s[:len(s)-1], 10, 64); perr == nil && s[0] != '+' {
				unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour}[s[len(s)-1]]
				if uint64(d) != n*uint64(unit) || uint64(d)/uint64(unit) != n {
					t.Fatalf("ParseTTL(%q) = %v, want %d × %v", s, d, n, unit)
				}
			}
		}
	})
}

func FuzzDerive(f *testing.F) {
	f.Add("a", "b", "run_1", int32(2), uint8(0))
	f.Add("", "", "run_1", int32(1), uint8(1))
	f.Add("café", "😀", "", int32(0), uint8(2))
	f.Add("x", "", "r", int32(-5), uint8(3))
	f.Fuzz(func(t *testing.T, p1, p2, runID string, attempt int32, scopeIdx uint8) {
		scopes := []Scope{"", ScopeRun, ScopeAttempt, ScopeGlobal, "bogus"}
		scope := scopes[int(scopeIdx)%len(scopes)]
		rc := RunContext{RunID: runID, Attempt: attempt}
		k, err := Derive(rc, scope, p1, p2)

		text := p1 + "-" + p2
		switch {
		case scope == "bogus":
			if !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("scope %q: err = %v, want ErrInvalidScope", scope, err)
			}
			return
		case p1 == "" && p2 == "":
			if !errors.Is(err, ErrEmptyKey) {
				t.Fatalf("empty parts: err = %v, want ErrEmptyKey", err)
			}
			return
		case len(text) > MaxKeyTextBytes:
			if !errors.Is(err, ErrKeyTooLong) {
				t.Fatalf("%d bytes: err = %v, want ErrKeyTooLong", len(text), err)
			}
			return
		case err != nil:
			t.Fatalf("Derive: unexpected error %v", err)
		}
		if _, err := ParseKey(string(k)); err != nil {
			t.Fatalf("Derive returned a malformed key %q: %v", k, err)
		}
		// Reference: the contract, written naively.
		if runID != "" && scope != ScopeGlobal {
			text += "-" + runID
			if scope == ScopeAttempt {
				text += "-" + strconv.Itoa(int(max(attempt, 1)))
			}
		}
		sum := sha256.Sum256([]byte(text))
		if want := hex.EncodeToString(sum[:]); string(k) != want {
			t.Fatalf("Derive = %s, want sha256(%q) = %s", k, text, want)
		}
	})
}
