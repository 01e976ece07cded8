package idempotency

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type goldenVector struct {
	name    string
	scope   Scope
	rc      RunContext
	text    string
	key     Key
	parts   []string
	lineNum int
}

// readGolden reads testdata/golden.tsv, written by testdata/golden.sh with
// printf and sha256sum only.
func readGolden(tb testing.TB) []goldenVector {
	tb.Helper()
	f, err := os.Open("testdata/golden.tsv")
	require.NoError(tb, err)
	defer f.Close()
	var out []goldenVector
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if n == 1 {
			continue // header
		}
		cols := strings.Split(sc.Text(), "\t")
		require.GreaterOrEqual(tb, len(cols), 7, "golden.tsv line %d", n)
		attempt, err := strconv.ParseInt(cols[3], 10, 32)
		require.NoError(tb, err, "golden.tsv line %d", n)
		out = append(out, goldenVector{
			name:    cols[0],
			scope:   Scope(cols[1]),
			rc:      RunContext{Environment: "dev", TaskID: "my-task", RunID: cols[2], Attempt: int32(attempt)},
			text:    cols[4],
			key:     Key(cols[5]),
			parts:   cols[6:],
			lineNum: n,
		})
	}
	require.NoError(tb, sc.Err())
	require.NotEmpty(tb, out)
	return out
}

func TestDeriveGolden(t *testing.T) {
	for _, g := range readGolden(t) {
		t.Run(g.name, func(t *testing.T) {
			got, err := Derive(g.rc, g.scope, g.parts...)
			require.NoError(t, err)
			require.Equal(t, g.key, got, "text %q (golden.tsv line %d)", g.text, g.lineNum)

			got, err = Resolve(Parts(g.parts), g.scope, g.rc)
			require.NoError(t, err)
			require.Equal(t, g.key, got)

			// The golden key itself is final: Resolve returns it unchanged.
			got, err = Resolve(g.key, g.scope, g.rc)
			require.NoError(t, err)
			require.Equal(t, g.key, got)
		})
	}
}

func TestDeriveScopes(t *testing.T) {
	run1 := RunContext{RunID: "run_1", Attempt: 1}
	run1retry := RunContext{RunID: "run_1", Attempt: 2}
	run2 := RunContext{RunID: "run_2", Attempt: 1}
	key := func(rc RunContext, scope Scope) Key {
		t.Helper()
		k, err := Derive(rc, scope, "a", "b")
		require.NoError(t, err)
		return k
	}
	tests := []struct {
		name      string
		a, b      RunContext
		scope     Scope
		wantEqual bool
	}{
		{"run: same across attempts", run1, run1retry, ScopeRun, true},
		{"run: differs across runs", run1, run2, ScopeRun, false},
		{"default: same as run", run1, run1retry, "", true},
		{"attempt: differs across attempts", run1, run1retry, ScopeAttempt, false},
		{"attempt: differs across runs", run1, run2, ScopeAttempt, false},
		{"global: same across runs", run1, run2, ScopeGlobal, true},
		{"global: same inside and outside a task", run1, RunContext{}, ScopeGlobal, true},
		{"run: outside a task equals global", RunContext{}, RunContext{}, ScopeRun, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantEqual {
				require.Equal(t, key(tt.a, tt.scope), key(tt.b, tt.scope))
			} else {
				require.NotEqual(t, key(tt.a, tt.scope), key(tt.b, tt.scope))
			}
		})
	}
	require.Equal(t, key(run1, ""), key(run1, ScopeRun))
	require.Equal(t, key(RunContext{}, ScopeRun), key(run1, ScopeGlobal))
	require.NotEqual(t, key(run1, ScopeRun), key(run1, ScopeGlobal))
}

func TestDeriveValidation(t *testing.T) {
	rc := RunContext{RunID: strings.Repeat("r", 600), Attempt: 1}
	tests := []struct {
		name    string
		scope   Scope
		parts   []string
		wantErr error
	}{
		{"no parts", ScopeRun, nil, ErrEmptyKey},
		{"one empty part", ScopeRun, []string{""}, ErrEmptyKey},
		{"only empty parts", ScopeGlobal, []string{"", "", ""}, ErrEmptyKey},
		{"one non-empty part among empty ones", ScopeRun, []string{"", "x"}, nil},
		{"whitespace is text", ScopeRun, []string{" "}, nil},
		{"exactly 2048 bytes", ScopeRun, []string{strings.Repeat("x", MaxKeyTextBytes)}, nil},
		{"2048 bytes with separators", ScopeAttempt, []string{strings.Repeat("x", 1000), strings.Repeat("y", 1047)}, nil},
		{"2049 bytes", ScopeRun, []string{strings.Repeat("x", MaxKeyTextBytes+1)}, ErrKeyTooLong},
		{"2049 bytes with separators", ScopeGlobal, []string{strings.Repeat("x", 1024), strings.Repeat("y", 1024)}, ErrKeyTooLong},
		{"scope parts do not count", ScopeAttempt, []string{strings.Repeat("x", MaxKeyTextBytes)}, nil},
		{"invalid scope", Scope("Run"), []string{"x"}, ErrInvalidScope},
		{"invalid scope wins over empty key", Scope("weekly"), nil, ErrInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Derive(rc, tt.scope, tt.parts...)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Empty(t, k)
				return
			}
			require.NoError(t, err)
			_, err = ParseKey(string(k))
			require.NoError(t, err)
		})
	}
}

func TestDeriveLongRunIDUsesHeap(t *testing.T) {
	// Key text beyond the stack buffer still hashes the exact text.
	rc := RunContext{RunID: strings.Repeat("r", 3000), Attempt: 7}
	parts := []string{strings.Repeat("p", 2000)}
	got, err := Derive(rc, ScopeAttempt, parts...)
	require.NoError(t, err)
	want := hashKey([]byte(parts[0] + "-" + rc.RunID + "-7"))
	require.Equal(t, want, got)
}

func TestParseKey(t *testing.T) {
	valid := "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"valid", valid, false},
		{"all zeros", strings.Repeat("0", 64), false},
		{"empty", "", true},
		{"63 chars", valid[:63], true},
		{"65 chars", valid + "0", true},
		{"uppercase hex", strings.ToUpper(valid), true},
		{"non-hex letter", "g" + valid[1:], true},
		{"space", " " + valid[1:], true},
		{"non-ascii", "é" + valid[2:], true},
		{"raw text", "order-42", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.in)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidKey)
				require.Empty(t, k)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.in, k.String())
		})
	}
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		in      string
		want    Scope
		wantErr bool
	}{
		{"", "", false},
		{"run", ScopeRun, false},
		{"attempt", ScopeAttempt, false},
		{"global", ScopeGlobal, false},
		{"RUN", "", true},
		{" run", "", true},
		{"runs", "", true},
		{"once", "", true},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			got, err := ParseScope(tt.in)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidScope)
				require.Contains(t, err.Error(), strconv.Quote(tt.in))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestResolve(t *testing.T) {
	rc := RunContext{RunID: "run_1", Attempt: 2}
	k, err := Derive(RunContext{}, ScopeGlobal, "a")
	require.NoError(t, err)
	tests := []struct {
		name    string
		in      Input
		scope   Scope
		want    Key
		wantErr error
	}{
		{"key is used as is", k, ScopeRun, k, nil},
		{"key ignores attempt scope", k, ScopeAttempt, k, nil},
		{"parts are hashed", Parts{"a"}, ScopeGlobal, k, nil},
		{"parts run-scoped differ", Parts{"a"}, ScopeRun, "", nil},
		{"malformed key", Key("a"), ScopeRun, "", ErrInvalidKey},
		{"uppercase key", Key(strings.ToUpper(string(k))), ScopeRun, "", ErrInvalidKey},
		{"nil input", nil, ScopeRun, "", ErrEmptyKey},
		{"nil parts", Parts(nil), ScopeRun, "", ErrEmptyKey},
		{"empty parts", Parts{""}, ScopeRun, "", ErrEmptyKey},
		{"too long parts", Parts{strings.Repeat("x", 2049)}, ScopeRun, "", ErrKeyTooLong},
		{"invalid scope with key", k, Scope("x"), "", ErrInvalidScope},
		{"invalid scope with parts", Parts{"a"}, Scope("x"), "", ErrInvalidScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.in, tt.scope, rc)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			if tt.want != "" {
				require.Equal(t, tt.want, got)
			} else {
				require.NotEqual(t, k, got)
			}
		})
	}
}

func TestText(t *testing.T) {
	k := Key(strings.Repeat("ab", 32))
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"parts joined", Parts{"user-1", "welcome"}, "user-1-welcome"},
		{"unicode", Parts{"café", "😀"}, "café-😀"},
		{"key is its hex", k, string(k)},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Text(tt.in))
		})
	}
}

func TestErrorMessagesNameTheValue(t *testing.T) {
	_, err := ParseKey("not-a-key")
	require.ErrorContains(t, err, `"not-a-key"`)
	_, err = Derive(RunContext{}, ScopeRun, strings.Repeat("x", 3000))
	require.ErrorContains(t, err, "3000 bytes")
	require.True(t, errors.Is(err, ErrKeyTooLong))
	// Long values are cut in messages.
	_, err = ParseKey(strings.Repeat("z", 5000))
	require.Less(t, len(err.Error()), 400)
}

func TestHexDigits8MatchesEncodingHex(t *testing.T) {
	var b [8]byte
	var src [4]byte
	for _, x := range append([]uint32{0, 0x09, 0x0a, 0x0f, 0x10, 0x9a, 0xa9, 0xff, 0xffffffff, 0x01234567, 0x89abcdef}, stride(0x9e3779b9, 1<<16)...) {
		binary.BigEndian.PutUint32(src[:], x)
		binary.BigEndian.PutUint64(b[:], hexDigits8(x))
		if got, want := string(b[:]), hex.EncodeToString(src[:]); got != want {
			t.Fatalf("hexDigits8(%#x) = %q, want %q", x, got, want)
		}
	}
}

// stride returns n values spread over uint32 by a step.
func stride(step uint32, n int) []uint32 {
	out := make([]uint32, n)
	for i := range out {
		out[i] = uint32(i) * step
	}
	return out
}
