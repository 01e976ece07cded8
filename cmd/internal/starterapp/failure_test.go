package starterapp

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// --on-failure takes keep or release (trigger and batch); another value is
// an input error, before any connection.
func TestOnFailureFlag(t *testing.T) {
	for _, cmd := range []string{"trigger", "batch"} {
		r := run(t, nil, cmd, "--help")
		require.Equal(t, 0, r.code)
		require.Contains(t, r.stdout, "--on-failure")
		args := []string{cmd, "hello", "--key", "k", "--on-failure", "retry", "--address", "127.0.0.1:1"}
		if cmd == "batch" {
			args = []string{cmd, "hello", "--file", "-", "--on-failure", "retry", "--address", "127.0.0.1:1"}
		}
		r = run(t, nil, args...)
		requireInputError(t, r)
		require.Contains(t, r.stderr, "--on-failure")
		require.Contains(t, r.stderr, "keep or release")
	}
}
