package canonical

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		`{"b":[1.50,"\u00e9",{"y":null,"x":true}],"a":-0}`,
		`[1e-7,1e21,"\u001f\ud83d\ude00",333333333.33333329]`,
		`{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5,"\u0080":6,"\u00f6":7}`,
		`"\u0000\b\f\n\r\t\"\\\/"`,
		`{"a":1,"a":2}`,
		`[1 2]`,
		`1e400`,
		`{}`, `[]`, `0`, `-0.0`, `true`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := JSON(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidJSON) || out != nil {
				t.Fatalf("JSON(%q) = %q, %v; want nil and ErrInvalidJSON", in, out, err)
			}
			return
		}
		if !json.Valid(in) {
			t.Fatalf("JSON accepted invalid JSON %q", in)
		}
		if !json.Valid(out) {
			t.Fatalf("JSON(%q) = %q, not valid JSON", in, out)
		}
		again, err := JSON(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("JSON not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
		// Same JSON value before and after.
		var vin, vout any
		if err := json.Unmarshal(in, &vin); err != nil {
			t.Fatalf("encoding/json rejects accepted input %q: %v", in, err)
		}
		if err := json.Unmarshal(out, &vout); err != nil {
			t.Fatalf("encoding/json rejects output %q: %v", out, err)
		}
		if !reflect.DeepEqual(vin, vout) {
			t.Fatalf("value changed: %q -> %q", in, out)
		}
	})
}

// FuzzCanonicalNumber checks the fast path that copies numbers already in
// canonical form against the general one (strconv round trip).
func FuzzCanonicalNumber(f *testing.F) {
	for _, s := range []string{"0", "-0", "1", "9.99", "0.000001", "0.0000001", "123456789012345", "1234567890123456", "0.1000", "-12.5", "1e5", "100000000000000000000", "0.00000123456789012345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := JSON([]byte(s))
		s = strings.Trim(s, " \t\n\r")
		if err != nil || len(s) == 0 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
			return
		}
		v, perr := strconv.ParseFloat(s, 64)
		if perr != nil {
			t.Fatalf("JSON accepted %q that strconv rejects: %v", s, perr)
		}
		if want := string(appendNumber(nil, v)); string(out) != want {
			t.Fatalf("JSON(%q) = %s, want %s", s, out, want)
		}
	})
}
