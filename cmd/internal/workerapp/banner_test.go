package workerapp

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBannerWithoutDev: a worker that connects shows the server and its
// codec, the password hidden, once each, before it dials (here, with the
// context already done, in vain).
func TestBannerWithoutDev(t *testing.T) {
	m := testMain(t, nil)
	var stdout bytes.Buffer
	m.Stdout = &stdout
	require.NoError(t, m.ParseFlags([]string{"--address", "127.0.0.1:1", "-n", "ns", "--http-addr", "",
		"--codec-endpoint", "http://user:s3cret@127.0.0.1:1/{namespace}"}))
	require.False(t, m.Dev)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorContains(t, m.Run(ctx), "connect to Temporal at 127.0.0.1:1")
	require.NoError(t, m.Close())
	require.Equal(t, "Temporal server  127.0.0.1:1 (namespace ns, from --address)\n"+
		"Codec            http://user:xxxxx@127.0.0.1:1/ns\n", stdout.String())
}

// testMain is a worker Main that reads only vars from the environment (no
// config file), its output discarded.
func testMain(t *testing.T, vars map[string]string) *Main {
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
