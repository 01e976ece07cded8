//go:build nodev

package workerapp

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNodevWithoutExamples: a -tags nodev build has no example tasks: dev
// mode registers none, and asking for them is a usage error that says so.
func TestNodevWithoutExamples(t *testing.T) {
	m := testMain(t, nil)
	require.NoError(t, m.ParseFlags(nil))
	require.True(t, m.Dev)
	require.False(t, m.Examples, "dev mode registers no examples without them")

	m = testMain(t, map[string]string{"ONCE_EXAMPLES": "false"})
	require.NoError(t, m.ParseFlags([]string{"--address", "x.example:7233", "--examples=false"}))
	require.False(t, m.Examples)

	for name, tt := range map[string]struct {
		vars map[string]string
		args []string
	}{
		"--examples":         {nil, []string{"--address", "x.example:7233", "--examples"}},
		"ONCE_EXAMPLES=true": {map[string]string{"ONCE_EXAMPLES": "true"}, []string{"--address", "x.example:7233"}},
		"--examples in dev":  {nil, []string{"--examples"}},
	} {
		t.Run(name, func(t *testing.T) {
			err := testMain(t, tt.vars).ParseFlags(tt.args)
			require.ErrorIs(t, err, errNoExamples)
			require.ErrorContains(t, err, "built without the example tasks")
		})
	}

	m = testMain(t, nil)
	m.Examples = true
	require.ErrorIs(t, m.Run(context.Background()), errNoExamples)

	var help bytes.Buffer
	m = testMain(t, nil)
	m.Stdout = &help
	require.ErrorIs(t, m.ParseFlags([]string{"--help"}), ErrHelp)
	require.Contains(t, help.String(), "not in this build")
}
