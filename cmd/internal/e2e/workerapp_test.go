package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/workerapp"
)

// workerMain is a worker program whose environment is vars only; the config
// file is a missing one unless vars names another.
func workerMain(t *testing.T, vars map[string]string) *workerapp.Main {
	t.Helper()
	env := map[string]string{"TEMPORAL_CONFIG_FILE": filepath.Join(t.TempDir(), "missing.toml")}
	for k, v := range vars {
		env[k] = v
	}
	m := workerapp.NewMain()
	m.Getenv = func(k string) string { return env[k] }
	m.Environ = func() []string { return nil }
	m.Stdout, m.Stderr = io.Discard, io.Discard
	return m
}

// writeTemporalConfig writes a temporal.toml, as `temporal config set` does.
func writeTemporalConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "temporal.toml")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// The worker runs in dev mode only when neither a flag, the environment nor
// a profile of the config file names an address, or with --dev.
func TestWorkerModeFromConnectionConfig(t *testing.T) {
	file := writeTemporalConfig(t, `
[profile.default]
address = "profile.example:7233"
namespace = "orders"
[profile.other]
address = "other.example:7233"
`)
	onlyOther := writeTemporalConfig(t, "[profile.other]\naddress = \"other.example:7233\"\n")
	tests := []struct {
		name     string
		vars     map[string]string
		args     []string
		dev      bool
		examples bool
	}{
		{"nothing", nil, nil, true, true},
		{"only a namespace", map[string]string{"TEMPORAL_NAMESPACE": "orders"}, nil, true, true},
		{"TEMPORAL_ADDRESS", map[string]string{"TEMPORAL_ADDRESS": "env.example:7233"}, nil, false, false},
		{"default profile of TEMPORAL_CONFIG_FILE", map[string]string{"TEMPORAL_CONFIG_FILE": file}, nil, false, false},
		{"default profile of --config-file", nil, []string{"--config-file", file}, false, false},
		{"file without a default profile", map[string]string{"TEMPORAL_CONFIG_FILE": onlyOther}, nil, true, true},
		{"TEMPORAL_PROFILE", map[string]string{"TEMPORAL_CONFIG_FILE": onlyOther, "TEMPORAL_PROFILE": "other"}, nil, false, false},
		{"--profile", map[string]string{"TEMPORAL_CONFIG_FILE": onlyOther}, []string{"--profile", "other"}, false, false},
		{"--disable-config-file", map[string]string{"TEMPORAL_CONFIG_FILE": file}, []string{"--disable-config-file"}, true, true},
		{"--address", nil, []string{"--address", "flag.example:7233"}, false, false},
		{"--dev over a profile", map[string]string{"TEMPORAL_CONFIG_FILE": file}, []string{"--dev"}, true, true},
		{"--dev=false without address", nil, []string{"--dev=false"}, false, false},
		{"ONCE_EXAMPLES=false in dev mode", map[string]string{"ONCE_EXAMPLES": "false"}, nil, true, false},
		{"--examples with a profile", map[string]string{"TEMPORAL_CONFIG_FILE": file}, []string{"--examples"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := workerMain(t, tt.vars)
			require.NoError(t, m.ParseFlags(tt.args))
			require.Equal(t, tt.dev, m.Dev, "dev mode")
			require.Equal(t, tt.examples, m.Examples, "examples")
		})
	}

	for _, args := range [][]string{
		{"--dev", "--address", "x.example:7233"},
		{"--log-format", "xml"},
		{"--log-level", "loud"},
		{"--profile", "missing", "--config-file", file},
		{"-dev"}, // single-dash long flags are gone: -d -e -v
		{"extra"},
	} {
		require.Error(t, workerMain(t, nil).ParseFlags(args), args)
	}
	m := workerMain(t, nil)
	var out bytes.Buffer
	m.Stdout = &out
	require.ErrorIs(t, m.ParseFlags([]string{"--help"}), workerapp.ErrHelp)
	require.Contains(t, out.String(), "\n      --dev-grpc-addr ADDRESS")
	require.Contains(t, out.String(), "\n  -n, --namespace NAMESPACE")
	require.Contains(t, out.String(), "\nExamples:\n")
	out.Reset()
	require.ErrorIs(t, m.ParseFlags([]string{"--version"}), workerapp.ErrHelp)
	require.True(t, strings.HasPrefix(out.String(), "worker version "), out.String())
}

// syncBuffer is a bytes.Buffer for writers on several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A worker whose address comes from a profile of the config file connects
// there (not dev mode), says so, logs JSON with --log-format json, and runs
// tasks.
func TestWorkerConnectsToProfile(t *testing.T) {
	file := writeTemporalConfig(t, fmt.Sprintf("[profile.default]\naddress = %q\nnamespace = %q\n", srv.Address(), srv.Namespace()))
	env := unique("profile")
	m := workerMain(t, map[string]string{"TEMPORAL_CONFIG_FILE": file, "ONCE_LOG_FORMAT": "json"})
	var stdout bytes.Buffer
	var stderr syncBuffer
	m.Stdout, m.Stderr = &stdout, &stderr
	require.NoError(t, m.ParseFlags([]string{"--env", env, "--examples", "--log-level", "info"}))
	require.False(t, m.Dev)
	ctx := testCtx(t, 2*time.Minute)
	require.NoError(t, m.Run(ctx))
	defer func() { require.NoError(t, m.Close()) }()
	require.Nil(t, m.Server(), "no embedded server")
	require.Contains(t, stdout.String(),
		fmt.Sprintf("Temporal server  %s (namespace %s, from profile \"default\" of %s)", srv.Address(), srv.Namespace(), file))

	run, err := newClient(t).ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: unique("hello"), TaskQueue: once.TaskQueue("", env),
	}, "hello", map[string]string{"name": "Ada"})
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, "Hello, Ada", got)

	logs := strings.TrimSpace(stderr.String())
	require.NotEmpty(t, logs, "the SDK logs the worker's start at info")
	for _, line := range strings.Split(logs, "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "a JSON log line: %s", line)
		require.Contains(t, rec, "msg")
	}
}

// --address and --namespace override TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE
// for the worker too, and it says where the address came from.
func TestWorkerConnectionFlagsOverrideEnv(t *testing.T) {
	env := unique("flags")
	m := workerMain(t, map[string]string{"TEMPORAL_ADDRESS": closedAddress(t), "TEMPORAL_NAMESPACE": "no-such-namespace"})
	var stdout bytes.Buffer
	m.Stdout = &stdout
	require.NoError(t, m.ParseFlags([]string{"--env", env, "--address", srv.Address(), "-n", srv.Namespace(), "--log-level", "error"}))
	require.NoError(t, m.Run(testCtx(t, time.Minute)))
	defer func() { require.NoError(t, m.Close()) }()
	require.Contains(t, stdout.String(), fmt.Sprintf("Temporal server  %s (namespace %s, from --address)", srv.Address(), srv.Namespace()))
}

// closedAddress is a loopback address where nothing listens.
func closedAddress(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := l.Addr().String()
	require.NoError(tb, l.Close())
	return addr
}
