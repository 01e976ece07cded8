package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/workerapp"
	"github.com/once-run/once/examples"
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

// xorPayloadCodec is the codec of the test codec servers of the worker's
// tests: it XORs the whole serialized payload, under its own encoding;
// payloads of other encodings pass as they are.
type xorPayloadCodec struct{}

const xorPayloadEncoding = "binary/once-e2e-xor"

func xorBytes(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ 0x5a
	}
	return out
}

func (xorPayloadCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		b, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(xorPayloadEncoding)}, Data: xorBytes(b)}
	}
	return out, nil
}

func (xorPayloadCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != xorPayloadEncoding {
			out[i] = p
			continue
		}
		out[i] = &commonpb.Payload{}
		if err := proto.Unmarshal(xorBytes(p.GetData()), out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// xorCodecServer is a remote codec server of xorPayloadCodec that answers
// only requests with the Authorization auth, and counts the requests it
// answered by the X-Namespace they name.
func xorCodecServer(t *testing.T, auth string) (*httptest.Server, func(namespace string) int64) {
	t.Helper()
	var mu sync.Mutex
	served := map[string]int64{}
	handler := converter.NewPayloadCodecHTTPHandler(xorPayloadCodec{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != auth {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		served[r.Header.Get("X-Namespace")]++
		mu.Unlock()
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s, func(namespace string) int64 {
		mu.Lock()
		defer mu.Unlock()
		return served[namespace]
	}
}

// requireEncodedRun waits for the run to close and checks, with a client
// without the codec, that its input and result are stored encoded by the
// codec and that secret is nowhere in its history.
func requireEncodedRun(t *testing.T, ctx context.Context, raw client.Client, workflowID, runID, secret string) {
	t.Helper()
	r := readStoredRun(t, ctx, raw, workflowID, runID)
	input, result := r.started.GetInput().GetPayloads(), r.completed.GetResult().GetPayloads()
	require.False(t, bytes.Contains(r.events, []byte(secret)), "the history of %s holds %q in plaintext", workflowID, secret)
	require.NotEmpty(t, input)
	for _, p := range append(input, result...) {
		require.Equal(t, xorPayloadEncoding, string(p.GetMetadata()[converter.MetadataEncoding]), "a payload of %s went through the codec", workflowID)
	}
}

// The worker takes the codec flags (--codec-endpoint, --codec-auth), says
// so in its banner, and runs tasks whose payloads the codec server encodes:
// the run a CLI with the same flags starts, and the child its activity
// triggers through the worker's starter. The CLI prints the decoded result.
func TestWorkerCodec(t *testing.T) {
	const auth, secret = "Bearer worker-codec", "Grace-Hopper-7c1e"
	codec, served := xorCodecServer(t, auth)
	env := unique("codec")
	m := workerMain(t, map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "TEMPORAL_NAMESPACE": srv.Namespace()})
	var stdout bytes.Buffer
	m.Stdout = &stdout
	require.NoError(t, m.ParseFlags([]string{"--env", env, "--examples", "--log-level", "error",
		"--codec-endpoint", codec.URL + "/{namespace}", "--codec-auth", auth}))
	ctx := testCtx(t, 2*time.Minute)
	require.NoError(t, m.Run(ctx))
	defer func() { require.NoError(t, m.Close()) }()
	require.Contains(t, stdout.String(), fmt.Sprintf("\nCodec            %s/%s\n", codec.URL, srv.Namespace()))
	require.Same(t, m.Starter().Temporal(), m.Client(), "the worker polls with its starter's client")

	vars := map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "TEMPORAL_NAMESPACE": srv.Namespace(), "ONCE_ENV": env,
		"TEMPORAL_CODEC_ENDPOINT": codec.URL + "/{namespace}", "TEMPORAL_CODEC_AUTH": auth}
	r := cliWith(t, vars, "", "trigger", "hello", "--key", "codec", "--payload", `{"name":"`+secret+`"}`, "--wait", "--json")
	requireOK(t, r)
	out := decodeJSON[cliTrigger](t, r.stdout)
	require.JSONEq(t, `"Hello, `+secret+`"`, string(out.Result), "the CLI decoded the worker's result")
	raw := newClient(t)
	requireEncodedRun(t, ctx, raw, out.WorkflowID, out.RunID, secret)

	r = cliWith(t, vars, "", "describe", "hello", "--key", "codec", "--json")
	requireOK(t, r)
	require.JSONEq(t, `"Hello, `+secret+`"`, string(decodeJSON[cliDescribe](t, r.stdout).Result), "describe decoded the result")

	// A task whose activity triggers a child through the worker's starter:
	// the child's payload and result go through the codec too.
	r = cliWith(t, vars, "", "trigger", examples.ActivityTriggerTask.ID(), "--key", "codec-child", "--wait", "--json")
	requireOK(t, r)
	var child examples.TriggerChildOutput
	require.NoError(t, json.Unmarshal(decodeJSON[cliTrigger](t, r.stdout).Result, &child), r.stdout)
	require.NotEmpty(t, child.RunID)
	parent := decodeJSON[cliTrigger](t, r.stdout).WorkflowID
	requireEncodedRun(t, ctx, raw, child.WorkflowID, child.RunID, parent) // the child's payload names its parent
	require.Positive(t, served(srv.Namespace()), "the codec server was asked for the namespace")
}
