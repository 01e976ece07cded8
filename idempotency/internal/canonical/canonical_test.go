package canonical

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func canon(tb testing.TB, in string) string {
	tb.Helper()
	out, err := JSON([]byte(in))
	require.NoError(tb, err, "input %q", in)
	return string(out)
}

// RFC 8785 section 3.2.2 (the example of "numbers", "string", "literals").
func TestCanonicalizeRFCExample(t *testing.T) {
	in := `{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`
	want := `{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`
	require.Equal(t, want, canon(t, in))
}

// RFC 8785 section 3.2.3 (sorting by UTF-16 code units).
func TestCanonicalizeRFCSorting(t *testing.T) {
	in := `{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}`
	want := "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"
	require.Equal(t, want, canon(t, in))
}

// RFC 8785 appendix B: IEEE 754 bit patterns and their canonical text.
func TestCanonicalNumbersRFCAppendixB(t *testing.T) {
	tests := []struct{ bits, want string }{
		{"0000000000000000", "0"},
		{"8000000000000000", "0"},
		{"0000000000000001", "5e-324"},
		{"8000000000000001", "-5e-324"},
		{"7fefffffffffffff", "1.7976931348623157e+308"},
		{"ffefffffffffffff", "-1.7976931348623157e+308"},
		{"4340000000000000", "9007199254740992"},
		{"c340000000000000", "-9007199254740992"},
		{"4430000000000000", "295147905179352830000"},
		{"44b52d02c7e14af5", "9.999999999999997e+22"},
		{"44b52d02c7e14af6", "1e+23"},
		{"44b52d02c7e14af7", "1.0000000000000001e+23"},
		{"444b1ae4d6e2ef4e", "999999999999999700000"},
		{"444b1ae4d6e2ef4f", "999999999999999900000"},
		{"444b1ae4d6e2ef50", "1e+21"},
		{"3eb0c6f7a0b5ed8c", "9.999999999999997e-7"},
		{"3eb0c6f7a0b5ed8d", "0.000001"},
		{"41b3de4355555553", "333333333.3333332"},
		{"41b3de4355555554", "333333333.33333325"},
		{"41b3de4355555555", "333333333.3333333"},
		{"41b3de4355555556", "333333333.3333334"},
		{"41b3de4355555557", "333333333.33333343"},
		{"becbf647612f3696", "-0.0000033333333333333333"},
		{"43143ff3c1cb0959", "1424953923781206.2"},
	}
	for _, tt := range tests {
		t.Run(tt.bits, func(t *testing.T) {
			u, err := strconv.ParseUint(tt.bits, 16, 64)
			require.NoError(t, err)
			f := math.Float64frombits(u)
			require.Equal(t, tt.want, string(appendNumber(nil, f)))

			// The same through the parser, from Go's own spelling of f.
			in := strconv.FormatFloat(f, 'g', -1, 64)
			require.Equal(t, tt.want, canon(t, in))
			require.Equal(t, tt.want, canon(t, tt.want), "canonical text is a fixed point")
		})
	}
}

func TestCanonicalNumbers(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1e+30", "1e+30"},
		{"1E30", "1e+30"},
		{"4.50", "4.5"},
		{"0.002", "0.002"},
		{"2e-3", "0.002"},
		{"1e-7", "1e-7"},
		{"0.0000001", "1e-7"},
		{"1e-6", "0.000001"},
		{"-0", "0"},
		{"-0.0", "0"},
		{"0e10", "0"},
		{"100", "100"},
		{"1E2", "100"},
		{"-12", "-12"},
		{"123456789012345", "123456789012345"},
		{"1234567890123456", "1234567890123456"},
		{"12345678901234567890", "12345678901234567000"},
		{"9007199254740993", "9007199254740992"},
		{"1e21", "1e+21"},
		{"1e20", "100000000000000000000"},
		{"0.1", "0.1"},
		{"1.0", "1"},
		{"1e-9", "1e-9"},
		{"1.5e-10", "1.5e-10"},
		{"-1.5e300", "-1.5e+300"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			require.Equal(t, tt.want, canon(t, tt.in))
		})
	}
}

func TestCanonicalStrings(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", `"abc"`, `"abc"`},
		{"solidus unescaped", `"a\/b"`, `"a/b"`},
		{"standard escapes", `"\b\f\n\r\t\"\\"`, `"\b\f\n\r\t\"\\"`},
		{"other controls lowercase hex", `"\u0001\u001F\u0000"`, `"\u0001\u001f\u0000"`},
		{"DEL stays literal", `"\u007f"`, "\"\x7f\""},
		{"html escapes undone", `"\u003c\u003e\u0026"`, `"<>&"`},
		{"line separators literal", `"\u2028\u2029"`, "\"\u2028\u2029\""},
		{"non-ascii literal", `"\u00e9t\u00E9"`, `"été"`},
		{"surrogate pair", `"\ud83d\ude00"`, `"😀"`},
		{"raw utf-8 kept", `"日本語"`, `"日本語"`},
		{"escaped letters", `"\u0041\u0062"`, `"Ab"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, canon(t, tt.in))
		})
	}
}

func TestCanonicalStructure(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"whitespace removed", " { \"b\" : [ 1 , 2 ] ,\n\t\"a\" : { } } ", `{"a":{},"b":[1,2]}`},
		{"nested objects sorted", `{"z":{"y":1,"x":2},"a":[{"d":1,"c":2}]}`, `{"a":[{"c":2,"d":1}],"z":{"x":2,"y":1}}`},
		{"prefix sorts first", `{"ab":1,"a":2}`, `{"a":2,"ab":1}`},
		{"uppercase before lowercase", `{"b":1,"B":2}`, `{"B":2,"b":1}`},
		{"empty name", `{"a":1,"":2}`, `{"":2,"a":1}`},
		{"escaped names sorted by value", `{"\u0062":1,"a":2}`, `{"a":2,"b":1}`},
		{"top-level scalar", ` 42 `, `42`},
		{"top-level string", `"x"`, `"x"`},
		{"literals", `[true,false,null]`, `[true,false,null]`},
		{"empty array", `[ ]`, `[]`},
		{"empty object", `{ }`, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, canon(t, tt.in))
		})
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ``},
		{"only space", `  `},
		{"truncated object", `{"a`},
		{"truncated member", `{"a":1,"b`},
		{"missing colon", `{"a" 1}`},
		{"missing comma in object", `{"a":1 "b":2}`},
		{"missing comma in array", `[1 2]`},
		{"trailing comma in array", `[1,]`},
		{"trailing comma in object", `{"a":1,}`},
		{"unquoted name", `{a:1}`},
		{"single quotes", `{'a':1}`},
		{"duplicate name", `{"a":1,"a":2}`},
		{"duplicate name after unescape", `{"a":1,"\u0061":2}`},
		{"duplicate name unsorted", `{"b":1,"a":2,"b":3}`},
		{"two values", `1 2`},
		{"trailing garbage", `{} x`},
		{"leading zero", `01`},
		{"plus sign", `+1`},
		{"bare dot", `.5`},
		{"dot without digits", `1.`},
		{"exponent without digits", `1e`},
		{"hex number", `0x10`},
		{"NaN", `NaN`},
		{"Infinity", `Infinity`},
		{"overflow", `1e400`},
		{"negative overflow", `-1e400`},
		{"bad literal", `tru`},
		{"literal prefix", `nulls`},
		{"raw control char", "\"a\x01b\""},
		{"raw newline", "\"a\nb\""},
		{"invalid escape", `"\x41"`},
		{"short unicode escape", `"\u12"`},
		{"bad hex in escape", `"\u12g4"`},
		{"lone high surrogate", `"\ud800"`},
		{"high surrogate then text", `"\ud800abc"`},
		{"high then high surrogate", `"\ud800\ud800"`},
		{"lone low surrogate", `"\udc00"`},
		{"swapped surrogates", `"\udc00\ud800"`},
		{"invalid utf-8", "\"\xff\""},
		{"invalid utf-8 after escape", "\"\\n\xc3\""},
		{"encoded surrogate in utf-8", "\"\xed\xa0\x80\""},
		{"unterminated string", `"abc`},
		{"unterminated array", `[1`},
		{"too deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := JSON([]byte(tt.in))
			require.ErrorIs(t, err, ErrInvalidJSON, "got %q", out)
			require.Nil(t, out)
		})
	}
	// The depth limit itself is accepted.
	deep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	require.Equal(t, deep, canon(t, deep))
}

func TestCanonicalizeIsIdempotent(t *testing.T) {
	for _, in := range []string{
		`{"b":[1.50,"\u00e9",{"y":null,"x":true}],"a":-0}`,
		`[1e-7,1e21,"\u001f\ud83d\ude00"]`,
	} {
		once := canon(t, in)
		require.Equal(t, once, canon(t, once))
	}
}

type payloadA struct {
	Name  string  `json:"name"`
	Count int     `json:"count"`
	Price float64 `json:"price"`
	Tags  []string
}
