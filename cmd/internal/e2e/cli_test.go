package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once/cmd/internal/starterapp"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// cliResult is one run of the starter CLI.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cli runs the starter CLI in-process against the shared server, in env
// (through ONCE_ENV), with stdin.
func cli(t *testing.T, env, stdin string, args ...string) cliResult {
	t.Helper()
	return cliWith(t, map[string]string{
		"TEMPORAL_ADDRESS":   srv.Address(),
		"TEMPORAL_NAMESPACE": srv.Namespace(),
		"ONCE_ENV":           env,
	}, stdin, args...)
}

func cliWith(t *testing.T, vars map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	return cliMain(t, starterapp.NewMain(), vars, stdin, args...)
}

func cliMain(t *testing.T, m *starterapp.Main, vars map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	m.Getenv = func(k string) string { return vars[k] }
	m.Environ = func() []string { return nil }
	m.DialTimeout = 3 * time.Second
	var stdout, stderr bytes.Buffer
	code := m.Run(testCtx(t, time.Minute), args, strings.NewReader(stdin), &stdout, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

type cliTrigger struct {
	WorkflowID string          `json:"workflowId"`
	RunID      string          `json:"runId"`
	Cached     bool            `json:"cached"`
	Result     json.RawMessage `json:"result"`
	Error      string          `json:"error"`
	Line       int             `json:"line"`
}

func decodeJSON[T any](t *testing.T, text string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(text), &v), text)
	return v
}

func requireOK(t *testing.T, r cliResult) {
	t.Helper()
	require.Equal(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
}

// requireOneLineError checks the "starter: <reason>" contract.
func requireOneLineError(t *testing.T, r cliResult, code int) {
	t.Helper()
	require.Equal(t, code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.True(t, strings.HasPrefix(r.stderr, "starter: "), "stderr: %q", r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %q", r.stderr)
	require.Greater(t, len(strings.TrimSpace(r.stderr)), len("starter: "), "a reason")
}

// Triggering twice from the CLI returns the same run, the second cached.
func TestCLITriggerTwiceIsCached(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	r1 := cli(t, e.env, "", "trigger", "echo", "--key", "order-1", "--payload", `{"n":1}`, "--json")
	requireOK(t, r1)
	first := decodeJSON[cliTrigger](t, r1.stdout)
	require.False(t, first.Cached)
	require.True(t, strings.HasPrefix(first.WorkflowID, e.env+"/echo/"), first.WorkflowID)
	require.NotEmpty(t, first.RunID)

	r2 := cli(t, e.env, "", "trigger", "echo", "--key", "order-1", "--payload", `{"n":2}`, "--json")
	requireOK(t, r2)
	second := decodeJSON[cliTrigger](t, r2.stdout)
	require.True(t, second.Cached)
	require.Equal(t, first.WorkflowID, second.WorkflowID)
	require.Equal(t, first.RunID, second.RunID)

	// Readable output, --env flag over ONCE_ENV.
	r3 := cli(t, "other", "", "trigger", "echo", "--key", "order-1", "--env", e.env)
	requireOK(t, r3)
	require.Contains(t, r3.stdout, "cached")
	require.Contains(t, r3.stdout, first.RunID)
	countRuns(t, e.c, runsOf(first.WorkflowID), 1)
}

// --wait prints the run's result; a failed run exits 1.
func TestCLITriggerWait(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	dir := t.TempDir()
	file := filepath.Join(dir, "p.json")
	require.NoError(t, os.WriteFile(file, []byte(`{"greeting":"hi"}`), 0o600))
	r := cli(t, e.env, "", "trigger", "echo", "--key", "w", "--payload", "@"+file, "--wait", "--json")
	requireOK(t, r)
	out := decodeJSON[cliTrigger](t, r.stdout)
	require.False(t, out.Cached)
	require.JSONEq(t, `{"greeting":"hi"}`, string(out.Result))

	// Payload from stdin, cached run's result as is.
	r = cli(t, e.env, `{"greeting":"other"}`, "trigger", "echo", "--key", "w", "--payload", "@-", "--wait", "--json")
	requireOK(t, r)
	out = decodeJSON[cliTrigger](t, r.stdout)
	require.True(t, out.Cached)
	require.JSONEq(t, `{"greeting":"hi"}`, string(out.Result))

	r = cli(t, e.env, "", "trigger", "fail", "--key", "f", "--wait", "--json")
	requireOneLineError(t, r, 1)
	out = decodeJSON[cliTrigger](t, r.stdout)
	require.NotEmpty(t, out.RunID)
	require.NotEmpty(t, out.Error)
}

// A strict trigger whose key holds a run of another payload prints that run
// and exits 2: the caller's input to change (another key, or the payload).
func TestCLIStrictMismatch(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	r := cli(t, e.env, "", "trigger", "echo", "--key", "s", "--payload", `{"n":1}`, "--strict", "--json")
	requireOK(t, r)
	first := decodeJSON[cliTrigger](t, r.stdout)

	r = cli(t, e.env, "", "trigger", "echo", "--key", "s", "--payload", `{ "n" : 1 }`, "--strict", "--json")
	requireOK(t, r)
	require.True(t, decodeJSON[cliTrigger](t, r.stdout).Cached, "the same payload, spelt otherwise")

	r = cli(t, e.env, "", "trigger", "echo", "--key", "s", "--payload", `{"n":2}`, "--strict", "--json")
	requireOneLineError(t, r, 2)
	require.Contains(t, r.stderr, "different payload")
	out := decodeJSON[cliTrigger](t, r.stdout)
	require.Equal(t, first.RunID, out.RunID, "the key's run is printed")
	require.NotEmpty(t, out.Error)
	countRuns(t, e.c, runsOf(first.WorkflowID), 1)
}

// Batch: one output line per input line, in order; a duplicate key maps to
// the same run; a bad line is reported and the rest proceed; a repeated
// batch with a batch key returns the same runs, all cached.
func TestCLIBatch(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	file := filepath.Join(t.TempDir(), "items.jsonl")
	require.NoError(t, os.WriteFile(file, []byte(strings.Join([]string{
		`{"payload": {"a": 1}, "key": "dup"}`,
		`{"payload": {"a": 2}, "key": "dup"}`,
		`{"payload": {"a": 3}, "key": "dup"`, // bad JSON
		`{"payload": {"a": 4}, "key": ["p", "q"]}`,
		``,
		`{"payload": {"a": 6}, "key": 7}`, // bad key type
		`{"payload": {"a": 7}}`,           // keyless: batch key + index
	}, "\n")), 0o600))

	run := func() []cliTrigger {
		r := cli(t, e.env, "", "batch", "echo", "--file", file, "--batch-key", "b1", "--parallel", "2", "--json")
		require.Equal(t, 2, r.code, "a bad line gives exit 2; stderr: %s", r.stderr)
		require.Empty(t, r.stderr, "no progress when stderr is not a terminal")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Len(t, lines, 6, r.stdout)
		out := make([]cliTrigger, len(lines))
		for i, l := range lines {
			out[i] = decodeJSON[cliTrigger](t, l)
		}
		require.Equal(t, []int{1, 2, 3, 4, 6, 7}, []int{out[0].Line, out[1].Line, out[2].Line, out[3].Line, out[4].Line, out[5].Line})
		for _, i := range []int{0, 1, 3, 5} {
			require.Empty(t, out[i].Error, "line %d", out[i].Line)
			require.NotEmpty(t, out[i].RunID, "line %d", out[i].Line)
		}
		require.Contains(t, out[2].Error, "line 3")
		require.Contains(t, out[4].Error, "line 6")
		require.Empty(t, out[2].RunID)
		require.Equal(t, out[0].WorkflowID, out[1].WorkflowID)
		require.Equal(t, out[0].RunID, out[1].RunID)
		return out
	}
	first := run()
	require.True(t, first[0].Cached != first[1].Cached, "exactly one of the duplicate-key items is cached")
	require.False(t, first[3].Cached)
	require.False(t, first[5].Cached)
	second := run()
	for _, i := range []int{0, 1, 3, 5} {
		require.True(t, second[i].Cached, "line %d", second[i].Line)
		require.Equal(t, first[i].RunID, second[i].RunID)
	}
	k, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "p", "q")
	require.NoError(t, err)
	require.Equal(t, e.env+"/echo/"+string(k), first[3].WorkflowID)
	countRuns(t, e.c, runsInEnv(e.env), 3)
}

// Batch progress goes to stderr only when stderr is a terminal; stdout
// stays one JSON line per item.
func TestCLIBatchProgressOnTerminal(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	m := starterapp.NewMain()
	m.IsTerminal = func(io.Writer) bool { return true }
	r := cliMain(t, m, map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "ONCE_ENV": e.env},
		`{"key":"a"}`+"\n"+`{"key":"b"}`+"\n", "batch", "echo", "--file", "-", "--json")
	requireOK(t, r)
	require.Contains(t, r.stderr, "triggered 2/2")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2)
	for i, l := range lines {
		out := decodeJSON[cliTrigger](t, l)
		require.Equal(t, i+1, out.Line)
		require.False(t, out.Cached)
	}
}

type cliDescribe struct {
	Status     string          `json:"status"`
	KeyText    string          `json:"keyText"`
	Key        string          `json:"key"`
	Scope      string          `json:"scope"`
	ExpiresAt  *time.Time      `json:"expiresAt"`
	Reset      bool            `json:"reset"`
	OnFailure  string          `json:"onFailure"`
	FirstRunID string          `json:"firstRunId"`
	Result     json.RawMessage `json:"result"`
}

// describe shows the key's run; reset makes the next trigger start a new
// run; resetting a running run needs --terminate.
func TestCLIDescribeReset(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	r := cli(t, e.env, "", "trigger", "echo", "--key", "d", "--key", "1", "--ttl", "2d", "--payload", `{"v":1}`, "--wait", "--json")
	requireOK(t, r)
	first := decodeJSON[cliTrigger](t, r.stdout)

	r = cli(t, e.env, "", "describe", "echo", "--key", "d", "--key", "1", "--json")
	requireOK(t, r)
	d := decodeJSON[cliDescribe](t, r.stdout)
	require.Equal(t, "completed", d.Status)
	require.Equal(t, "d-1", d.KeyText)
	require.Equal(t, "global", d.Scope)
	require.Equal(t, first.RunID, d.FirstRunID)
	require.NotNil(t, d.ExpiresAt)
	require.WithinDuration(t, time.Now().Add(48*time.Hour), *d.ExpiresAt, time.Minute)
	require.JSONEq(t, `{"v":1}`, string(d.Result))
	r = cli(t, e.env, "", "describe", "echo", "--key", "d", "--key", "1")
	requireOK(t, r)
	require.Contains(t, r.stdout, "completed")
	require.Contains(t, r.stdout, "d-1")

	requireOK(t, cli(t, e.env, "", "reset", "echo", "--key", "d", "--key", "1"))
	r = cli(t, e.env, "", "describe", "echo", "--key", "d", "--key", "1", "--json")
	requireOK(t, r)
	require.True(t, decodeJSON[cliDescribe](t, r.stdout).Reset)

	r = cli(t, e.env, "", "trigger", "echo", "--key", "d", "--key", "1", "--json")
	requireOK(t, r)
	again := decodeJSON[cliTrigger](t, r.stdout)
	require.False(t, again.Cached)
	require.NotEqual(t, first.RunID, again.RunID)

	// Unknown key: runtime failure, not input error.
	requireOneLineError(t, cli(t, e.env, "", "describe", "echo", "--key", "never"), 1)

	// A running run: reset refuses without --terminate.
	requireOK(t, cli(t, e.env, "", "trigger", "sleepy", "--key", "busy"))
	requireOneLineError(t, cli(t, e.env, "", "reset", "sleepy", "--key", "busy"), 1)
	requireOK(t, cli(t, e.env, "", "reset", "sleepy", "--key", "busy", "--terminate"))
	r = cli(t, e.env, "", "trigger", "sleepy", "--key", "busy", "--json")
	requireOK(t, r)
	require.False(t, decodeJSON[cliTrigger](t, r.stdout).Cached)
}

// key prints the 64-hex key of idempotency.Derive.
func TestCLIKey(t *testing.T) {
	r := cli(t, "dev", "", "key", "a", "b")
	requireOK(t, r)
	want, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "a", "b")
	require.NoError(t, err)
	require.Equal(t, string(want)+"\n", r.stdout)

	r = cli(t, "dev", "", "key", "a", "--scope", "attempt", "--run-id", "r1", "--attempt", "2")
	requireOK(t, r)
	want, err = idempotency.Derive(idempotency.RunContext{RunID: "r1", Attempt: 2}, idempotency.ScopeAttempt, "a")
	require.NoError(t, err)
	require.Equal(t, string(want)+"\n", r.stdout)
}

// --help on every command exits 0 with usage on stdout.
func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"trigger", "--help"}, {"batch", "-h"}, {"reset", "--help"}, {"describe", "--help"}, {"key", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := cli(t, "dev", "", args...)
			requireOK(t, r)
			require.Contains(t, r.stdout, "Usage: starter")
		})
	}
}

// Every invalid input exits 2 with one line on stderr and starts nothing.
func TestCLIBadInputs(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	badPayload := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(badPayload, []byte(`{"a":`), 0o600))
	goodFile := filepath.Join(t.TempDir(), "items.jsonl")
	require.NoError(t, os.WriteFile(goodFile, []byte(`{"key":"x"}`+"\n"), 0o600))
	long := strings.Repeat("k", idempotency.MaxKeyTextBytes+1)
	tests := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"launch", "echo"}},
		{"trigger without task", []string{"trigger"}},
		{"two tasks", []string{"trigger", "echo", "echo2"}},
		{"invalid task", []string{"trigger", "bad task!", "--key", "k"}},
		{"unknown flag", []string{"trigger", "echo", "--bogus"}},
		{"payload not JSON", []string{"trigger", "echo", "--key", "k", "--payload", `{"a":`}},
		{"payload file not JSON", []string{"trigger", "echo", "--key", "k", "--payload", "@" + badPayload}},
		{"payload file missing", []string{"trigger", "echo", "--key", "k", "--payload", "@" + badPayload + ".missing"}},
		{"zero TTL", []string{"trigger", "echo", "--key", "k", "--ttl", "0s"}},
		{"negative TTL", []string{"trigger", "echo", "--key", "k", "--ttl", "-5m"}},
		{"malformed TTL", []string{"trigger", "echo", "--key", "k", "--ttl", "10x"}},
		{"bad scope", []string{"trigger", "echo", "--key", "k", "--scope", "session"}},
		{"bad env flag", []string{"trigger", "echo", "--key", "k", "--env", "Prod_1"}},
		{"empty key", []string{"trigger", "echo", "--key", ""}},
		{"blank key", []string{"trigger", "echo", "--key", " "}},
		{"payload from empty stdin", []string{"trigger", "echo", "--key", "k", "--payload", "@-"}},
		{"misspelt command with its flags", []string{"trgger", "echo", "--key", "k", "--address", srv.Address()}},
		{"key too long", []string{"trigger", "echo", "--key", long}},
		{"strict without key", []string{"trigger", "echo", "--strict"}},
		{"bool flag with value", []string{"trigger", "echo", "--wait=maybe"}},
		{"batch without file", []string{"batch", "echo"}},
		{"batch zero parallel", []string{"batch", "echo", "--file", goodFile, "--parallel", "0"}},
		{"batch key too long", []string{"batch", "echo", "--file", goodFile, "--batch-key", long}},
		{"reset without key", []string{"reset", "echo"}},
		{"reset invalid task", []string{"reset", "-echo", "--key", "k"}},
		{"describe empty key", []string{"describe", "echo", "--key", ""}},
		{"key without parts", []string{"key"}},
		{"key run scope without run ID", []string{"key", "a", "--scope", "run"}},
		{"key attempt zero", []string{"key", "a", "--scope", "attempt", "--run-id", "r", "--attempt", "0"}},
		{"key empty part", []string{"key", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireOneLineError(t, cli(t, e.env, "", tt.args...), 2)
		})
	}
	t.Run("bad ONCE_ENV", func(t *testing.T) {
		requireOneLineError(t, cli(t, "NOT VALID", "", "trigger", "echo", "--key", "k"), 2)
	})
	// Nothing started: a good trigger afterwards is the environment's only run.
	requireOK(t, cli(t, e.env, "", "trigger", "echo", "--key", "k", "--wait"))
	countRuns(t, e.c, runsInEnv(e.env), 1)
}

// A server that does not answer exits 1 with a one-line reason.
func TestCLIServerUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	r := cliWith(t, map[string]string{"TEMPORAL_ADDRESS": addr}, "", "trigger", "echo", "--key", "k")
	requireOneLineError(t, r, 1)
	require.Contains(t, r.stderr, "unreachable")
}

// TestCLITriggerAppliesTaskRetryPolicy: the CLI starts the example tasks with
// their retry policy, so my-task failing its first attempt completes on the
// second, as one run with one child.
func TestCLITriggerAppliesTaskRetryPolicy(t *testing.T) {
	e := newTaskEnv(t, true)
	r := cli(t, e.env, "", "trigger", "my-task", "--payload", `{"failAttempts":1}`, "--key", "retry", "--wait", "--json")
	requireOK(t, r)
	out := decodeJSON[cliTrigger](t, r.stdout)
	var res struct {
		Attempt int32 `json:"attempt"`
	}
	require.NoError(t, json.Unmarshal(out.Result, &res))
	require.Equal(t, int32(2), res.Attempt)
}
