package starterapp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once/starter"
)

// describe prints the key's effective expiry with what sets it.
func TestDescribeExpiry(t *testing.T) {
	exp := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		out  describeOutput
		want string
	}{
		{"ttl", describeOutput{ExpiresAt: &exp, ExpiryBound: "ttl"}, "Expires    2026-12-07T05:00:00Z (ttl)\n"},
		{"retention", describeOutput{ExpiresAt: &exp, ExpiryBound: "retention"},
			"Expires    2026-12-07T05:00:00Z (retention: the namespace deletes the closed run's history)\n"},
		{"expired", describeOutput{ExpiresAt: &exp, ExpiryBound: "retention", Expired: true},
			"Expires    2026-12-07T05:00:00Z (retention: the namespace deletes the closed run's history; expired: the next trigger starts a new run)\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printDescribe(&b, tt.out)
			require.Contains(t, b.String(), tt.want)
		})
	}
}

// describe prints the run's failure policy, aligned with the other lines,
// after the expiry; its JSON names it as the CLI's --on-failure does.
func TestDescribeOnFailure(t *testing.T) {
	exp := time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)
	for _, p := range []starter.FailurePolicy{starter.FailureKeep, starter.FailureRelease} {
		t.Run(p.String(), func(t *testing.T) {
			out := describeOutput{ExpiresAt: &exp, ExpiryBound: "ttl", OnFailure: p.String()}
			var b bytes.Buffer
			printDescribe(&b, out)
			require.Contains(t, b.String(), "Expires    2026-12-07T05:00:00Z (ttl)\nOn failure "+p.String()+"\n")
			j, err := json.Marshal(out)
			require.NoError(t, err)
			require.Contains(t, string(j), `"onFailure":"`+p.String()+`"`)
		})
	}
}

// trigger --strict-ttl: a TTL beyond the retention is the caller's input to
// change (exit 2).
func TestStrictTTL(t *testing.T) {
	r := run(t, nil, "trigger", "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stdout, "--strict-ttl")
	require.Equal(t, 2, exitCode(fmt.Errorf("trigger hello: %w", starter.ErrTTLBeyondRetention)))
}
