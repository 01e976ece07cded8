package starter

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestRequestIDRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		id   requestID
	}{
		{"new without hash", requestID{kind: kindNew, ttl: 30 * 24 * time.Hour, suffix: uuid.NewString()}},
		{"new with hash", requestID{kind: kindNew, ttl: 1500 * time.Millisecond, hash: "ab12", suffix: "x"}},
		{"replace", requestID{kind: kindReplace, suffix: "0192e7a4-0000-7000-8000-000000000000"}},
		{"replace of earlier versions", requestID{kind: kindReplace, ttl: time.Hour, hash: "ab12", suffix: "0192e7a4-0000-7000-8000-000000000000"}},
		{"marker", requestID{kind: kindMarker, suffix: "r.with.dots"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRequestID(tt.id.String())
			require.True(t, ok, tt.id.String())
			require.Equal(t, tt.id, got)
		})
	}
}

// TestReplaceRequestIDDependsOnlyOnTheReplacedRun: callers that replace
// one run with different TTLs and payloads send the same request ID, so the
// server dedupes them onto one run.
func TestReplaceRequestIDDependsOnlyOnTheReplacedRun(t *testing.T) {
	const replaced = "0192e7a4-0000-7000-8000-000000000000"
	require.Equal(t, "once1.r.-.-."+replaced, requestID{kind: kindReplace, suffix: replaced}.String())
	got, ok := parseRequestID("once1.r.-.-." + replaced)
	require.True(t, ok)
	require.Zero(t, got.ttl, "no TTL: judged from the memo")
	require.Empty(t, got.hash)
}

func TestParseRequestIDRejectsOthers(t *testing.T) {
	for _, s := range []string{
		"", uuid.NewString(), "once1.n.1.-", "once2.n.1.-.x", "once1.q.1.-.x", "once1.nn.1.-.x",
		"once1.n.-5.-.x", "once1.n.ten.-.x",
	} {
		t.Run(s, func(t *testing.T) {
			_, ok := parseRequestID(s)
			require.False(t, ok)
		})
	}
}

func TestRunIDTime(t *testing.T) {
	before := time.Now().Add(-time.Millisecond)
	v7, err := uuid.NewV7()
	require.NoError(t, err)
	got, ok := runIDTime(v7.String())
	require.True(t, ok)
	require.WithinDuration(t, before, got, time.Second)

	_, ok = runIDTime(uuid.NewString()) // v4 carries no time
	require.False(t, ok)
	_, ok = runIDTime("not-a-uuid")
	require.False(t, ok)
}
