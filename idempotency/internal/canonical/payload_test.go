package canonical

import (
	"crypto/sha256"
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// referenceSum is Sum256 written as its contract says: json.Marshal, JSON,
// SHA-256.
func referenceSum(v any) ([sha256.Size]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	canon, err := JSON(b)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(canon), nil
}

// requireSameAsReference checks that the direct encoding of Sum256 gives
// what json.Marshal + JSON give, errors included.
func requireSameAsReference(tb testing.TB, v any) {
	tb.Helper()
	want, wantErr := referenceSum(v)
	got, err := Sum256(v)
	if wantErr != nil {
		require.Error(tb, err, "reference error: %v", wantErr)
		return
	}
	require.NoError(tb, err)
	require.Equal(tb, want, got)
}

func TestSum256DirectMatchesReference(t *testing.T) {
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	deep := any("leaf")
	for range 300 {
		deep = []any{map[string]any{"d": deep}}
	}
	tests := []struct {
		name string
		v    any
	}{
		{"nil", nil},
		{"bools", []any{true, false}},
		{"strings", []any{"", "a\"b\\c", "\x00\x1f\x7f", "<>&", "\u2028\u2029", "日本語😀", "bad \xff utf-8 \xc3"}},
		{"floats", []any{0.0, math.Copysign(0, -1), 4.5, 1e21, 1e-7, 333333333.33333329, -1.7976931348623157e308, 5e-324}},
		{"ints", []any{0, -1, int64(math.MaxInt64), int64(math.MinInt64), uint64(math.MaxUint64), int32(-7), uint32(7), 9007199254740993}},
		{"small ints", []any{int8(-3), uint8(3), int16(300), uint16(300), uint(12)}},
		{"float32", []any{float32(0.1), float32(3.4e38)}},
		{"json.Number", []any{json.Number("1.50"), json.Number("1e2")}},
		{"map", map[string]any{"b": 1.0, "a": []any{"x", nil}, "€": 1, "😀": 2, "\ufb33": 3, "\r": 4}},
		{"map key invalid utf-8", map[string]any{"\xff": 1, "a": 2}},
		{"map keys equal after replacement", map[string]any{"\xff": 1, "\xfe": 2}},
		{"nil map", map[string]any(nil)},
		{"nil slice", []any(nil)},
		{"string map", map[string]string{"b": "2", "a": "1\n"}},
		{"nil string map", map[string]string(nil)},
		{"string slice", []string{"a", "b\t"}},
		{"nil string slice", []string(nil)},
		{"raw", json.RawMessage(` {"b" : 1.50 , "a" : "\u0041"} `)},
		{"nil raw", json.RawMessage(nil)},
		{"bad raw", json.RawMessage(`{"a":1,"a":2}`)},
		{"raw in map", map[string]any{"r": json.RawMessage(`[1.0, 2E3]`)}},
		{"NaN", []any{math.NaN()}},
		{"Inf in map", map[string]any{"x": math.Inf(-1)}},
		{"channel in map", map[string]any{"x": make(chan int)}},
		{"cycle", cyclic},
		{"deep", deep},
		{"struct in map", map[string]any{"s": payloadA{Name: "n", Count: 1}}},
		{"pointer", &payloadA{Name: "n"}},
		{"bytes", []byte("base64 me")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireSameAsReference(t, tt.v)
		})
	}
}

func FuzzSum256(f *testing.F) {
	for _, s := range []string{
		`{"b":[1.50,"\u00e9",{"y":null,"x":true}],"a":-0}`,
		`{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5}`,
		`[1e-7,1e21,"\u001f<>&\u2028",9007199254740993]`,
		`"\ud800"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var v any
		if err := json.Unmarshal(in, &v); err != nil {
			return
		}
		want, wantErr := referenceSum(v)
		got, err := Sum256(v)
		if (wantErr != nil) != (err != nil) || got != want {
			t.Fatalf("Sum256(%q) = %x, %v; reference %x, %v", in, got, err, want, wantErr)
		}
	})
}
