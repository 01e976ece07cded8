//go:build nodev

package workerapp

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func nodevMain(t *testing.T, vars map[string]string) *Main {
	t.Helper()
	env := map[string]string{"TEMPORAL_CONFIG_FILE": filepath.Join(t.TempDir(), "missing.toml")}
	for k, v := range vars {
		env[k] = v
	}
	m := NewMain()
	m.Getenv = func(k string) string { return env[k] }
	m.Environ = func() []string { return nil }
	m.Stdout, m.Stderr = io.Discard, io.Discard
	return m
}

// TestNodevWithoutExamples: a -tags nodev build has no example tasks: dev
// mode registers none, and asking for them is a usage error that says so.
func TestNodevWithoutExamples(t *testing.T) {
	m := nodevMain(t, nil)
	require.NoError(t, m.ParseFlags(nil))
	require.True(t, m.Dev)
	require.False(t, m.Examples, "dev mode registers no examples without them")

	m = nodevMain(t, map[string]string{"ONCE_EXAMPLES": "false"})
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
			err := nodevMain(t, tt.vars).ParseFlags(tt.args)
			require.ErrorIs(t, err, errNoExamples)
			require.ErrorContains(t, err, "built without the example tasks")
		})
	}

	m = nodevMain(t, nil)
	m.Examples = true
	require.ErrorIs(t, m.Run(context.Background()), errNoExamples)

	var help bytes.Buffer
	m = nodevMain(t, nil)
	m.Stdout = &help
	require.ErrorIs(t, m.ParseFlags([]string{"--help"}), ErrHelp)
	require.Contains(t, help.String(), "not in this build")
}
