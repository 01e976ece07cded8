package idempotency

import (
	"fmt"
	"math"
	"time"
)

// DefaultTTL is how long a key lives when the caller gives no TTL: 30 days.
// A key's life is also bounded by the namespace's retention.
const DefaultTTL = 30 * 24 * time.Hour

// ParseTTL parses a key TTL. It accepts
//
//   - a whole number and a unit, as trigger.dev does: "45s", "90m", "12h",
//     "30d" (a day is 24 hours);
//   - a Go duration (time.ParseDuration): "1h30m", "1.5h", "500ms".
//
// The result must be positive. ParseTTL never substitutes DefaultTTL for a
// bad value: the caller decides what an empty string means.
//
// Errors: ErrInvalidTTL (wrapped, with the offending value) for malformed
// text, a zero or negative duration, or one that overflows time.Duration.
func ParseTTL(s string) (time.Duration, error) {
	if d, ok, err := parseUnitTTL(s); ok {
		if err != nil {
			return 0, err
		}
		return checkTTL(s, d)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("parse TTL %s: %w", quoteShort(s), ErrInvalidTTL)
	}
	return checkTTL(s, d)
}

// parseUnitTTL parses ^\d+[smhd]$. ok reports whether s has that shape.
func parseUnitTTL(s string) (d time.Duration, ok bool, err error) {
	if len(s) < 2 {
		return 0, false, nil
	}
	var unit time.Duration
	switch s[len(s)-1] {
	case 's':
		unit = time.Second
	case 'm':
		unit = time.Minute
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	default:
		return 0, false, nil
	}
	digits := s[:len(s)-1]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false, nil
		}
	}
	limit := int64(math.MaxInt64 / unit)
	var n int64
	for i := 0; i < len(digits); i++ {
		n = n*10 + int64(digits[i]-'0')
		if n > limit {
			return 0, true, fmt.Errorf("parse TTL %s: longer than %v: %w", quoteShort(s), time.Duration(math.MaxInt64), ErrInvalidTTL)
		}
	}
	return time.Duration(n) * unit, true, nil
}

func checkTTL(s string, d time.Duration) (time.Duration, error) {
	if d <= 0 {
		return 0, fmt.Errorf("parse TTL %s: %v is not positive: %w", quoteShort(s), d, ErrInvalidTTL)
	}
	return d, nil
}
