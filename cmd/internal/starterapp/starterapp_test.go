package starterapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

type result struct {
	code           int
	stdout, stderr string
}

// run runs the CLI in-process with an empty environment and stdin.
func run(t *testing.T, m *Main, args ...string) result {
	t.Helper()
	return runStdin(t, m, "", args...)
}

// runStdin runs the CLI in-process with an empty environment and stdin.
func runStdin(t *testing.T, m *Main, stdin string, args ...string) result {
	t.Helper()
	if m == nil {
		m = NewMain()
	}
	m.Getenv = func(string) string { return "" }
	m.Environ = func() []string { return nil }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := m.Run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// requireInputError checks exit 2 and one line "starter: <reason>" on
// stderr, with the program's name once.
func requireInputError(t *testing.T, r result) {
	t.Helper()
	require.Equal(t, 2, r.code, "%+v", r)
	require.True(t, strings.HasPrefix(r.stderr, "starter: "), r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "starter:"), "the prefix once: %s", r.stderr)
}

func TestVersion(t *testing.T) {
	r := run(t, &Main{Version: "v1.2.3 (commit abc)"}, "--version")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "starter version v1.2.3 (commit abc)\n", r.stdout)

	r = run(t, nil, "--version")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `^starter version \S.*Temporal Go SDK \d+\.\d+\.\d+`, r.stdout)

	r = run(t, &Main{Name: "temporal-once", DisplayName: "temporal once", Version: "v9"}, "--version")
	require.Equal(t, "temporal once version v9\n", r.stdout)
}

// completion writes each shell's script, naming the program.
func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "__start_starter",
		"zsh":        "#compdef starter",
		"fish":       "complete -c starter",
		"powershell": "Register-ArgumentCompleter",
	} {
		t.Run(shell, func(t *testing.T) {
			r := run(t, nil, "completion", shell)
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stdout, marker)
			require.Empty(t, r.stderr)
		})
	}
	r := run(t, nil, "completion", "tcsh")
	require.Equal(t, 2, r.code, "unknown shell: %+v", r)
}

// The completion the scripts call (__complete) offers the tasks, the -o
// formats and the key scopes.
func TestCompletionCandidates(t *testing.T) {
	r := run(t, nil, cobra.ShellCompRequestCmd, "trigger", "")
	require.Equal(t, 0, r.code, r.stderr)
	if exampleTaskIDs() == nil {
		require.Equal(t, ":4\n", r.stdout, "a -tags nodev build has no example tasks to offer")
	} else {
		require.Contains(t, r.stdout, "hello\n")
		require.Contains(t, r.stdout, "my-task\n")
	}

	r = run(t, nil, cobra.ShellCompRequestCmd, "describe", "hello", "--output", "")
	require.Equal(t, "text\njson\njsonl\n:4\n", r.stdout[:strings.Index(r.stdout, ":4\n")+3])

	r = run(t, nil, cobra.ShellCompRequestCmd, "trigger", "hello", "--sc")
	require.Contains(t, r.stdout, "--scope")
}

// --tasks (or ONCE_TASKS) names the tasks a command may name: another, or
// an invalid ID in the list, exits 2 with one line before any connection;
// completion offers the listed tasks.
func TestTasksFlag(t *testing.T) {
	for _, cmd := range [][]string{
		{"trigger", "hellp", "--key", "k"},
		{"batch", "hellp", "--file", "-"},
		{"reset", "hellp", "--key", "k"},
		{"describe", "hellp"},
		{"history", "hellp", "--key", "k", "--out", t.TempDir()},
	} {
		t.Run(cmd[0], func(t *testing.T) {
			// The address cannot be dialled: the error comes before.
			r := run(t, nil, append(cmd, "--tasks", "hello, my-task", "--address", "127.0.0.1:1")...)
			requireInputError(t, r)
			require.Contains(t, r.stderr, `unknown task "hellp": --tasks (ONCE_TASKS) names only hello, my-task`)
		})
	}

	r := run(t, nil, "trigger", "hello", "--tasks", "hello,-bad", "--address", "127.0.0.1:1")
	requireInputError(t, r)
	require.Contains(t, r.stderr, `--tasks: task "-bad"`)

	m := NewMain()
	env := map[string]string{"ONCE_TASKS": "orders,invoices"}
	var stdout, stderr bytes.Buffer
	code := m.runWith(env, []string{"trigger", "hello", "--address", "127.0.0.1:1"}, &stdout, &stderr)
	require.Equal(t, 2, code, stderr.String())
	require.Contains(t, stderr.String(), `unknown task "hello": --tasks (ONCE_TASKS) names only orders, invoices`)

	stdout.Reset()
	require.Equal(t, 0, m.runWith(env, []string{cobra.ShellCompRequestCmd, "trigger", ""}, &stdout, &stderr))
	require.True(t, strings.HasPrefix(stdout.String(), "orders\ninvoices\n:4\n"), stdout.String())
}

// runWith runs m with the environment env and an empty stdin.
func (m *Main) runWith(env map[string]string, args []string, stdout, stderr *bytes.Buffer) int {
	m.Getenv = func(k string) string { return env[k] }
	m.Environ = func() []string { return nil }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return m.Run(ctx, args, strings.NewReader(""), stdout, stderr)
}

// Every command's --help has examples and GNU-style flags; help goes to
// stdout with exit 0.
func TestHelpHasExamples(t *testing.T) {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		if c.Hidden {
			return
		}
		paths = append(paths, path)
		for _, sub := range c.Commands() {
			walk(sub, append(append([]string(nil), path...), sub.Name()))
		}
	}
	r := &runner{m: &Main{Name: "starter", DisplayName: "starter", Getenv: func(string) string { return "" }}}
	walk(r.rootCommand(), nil)
	require.GreaterOrEqual(t, len(paths), 12, "root, 5 commands, help, completion and its 4 shells")
	for _, path := range paths {
		t.Run(strings.Join(append([]string{"starter"}, path...), " "), func(t *testing.T) {
			res := run(t, nil, append(path, "--help")...)
			require.Equal(t, 0, res.code, res.stderr)
			require.Contains(t, res.stdout, "Usage: starter")
			require.Contains(t, res.stdout, "\nExamples:\n  starter ")
			require.Contains(t, res.stdout, "--help")
			require.NotRegexp(t, `(?m)^\s+-[a-z]{2,}`, res.stdout, "no single-dash long flags")
		})
	}
}

// key prints the hex key, or {"key": …} for -o json and jsonl (the latter
// also as --json).
func TestKeyOutput(t *testing.T) {
	want, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "a", "b")
	require.NoError(t, err)
	r := run(t, nil, "key", "a", "b")
	require.Equal(t, string(want)+"\n", r.stdout)

	r = run(t, nil, "key", "a", "b", "-o", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "{\n  \"key\": \""+string(want)+"\"\n}\n", r.stdout)

	for _, args := range [][]string{{"-o", "jsonl"}, {"--output=jsonl"}, {"--json"}, {"--json", "-o", "jsonl"}} {
		r = run(t, nil, append([]string{"key", "a", "b"}, args...)...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, `{"key":"`+string(want)+`"}`+"\n", r.stdout, args)
	}
}

// Bad shared flags are input errors: exit 2, one line on stderr.
func TestBadSharedFlags(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"key", "a", "-o", "yaml"},
		{"key", "a", "--json", "-o", "json"},
		{"key", "a", "--command-timeout", "soon"},
		{"key", "a", "--command-timeout", "-1s"},
		{"key", "a", "--log-level", "loud"},
		{"key", "a", "--log-format", "xml"},
		{"trigger", "hello", "--grpc-meta", "novalue"},
		{"trigger", "hello", "--config-file", dir}, // a folder, not a file
		{"trigger", "hello", "--profile", "nope"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := run(t, nil, args...)
			require.Equal(t, 2, r.code, "%+v", r)
			require.True(t, strings.HasPrefix(r.stderr, "starter: "), r.stderr)
			require.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
		})
	}
}

// The temporal CLI runs an extension with its own root flags first
// ("temporal once trigger x -o json" runs "temporal-once -o json trigger x"),
// including some that change nothing here; they are accepted.
func TestTemporalExtensionArgs(t *testing.T) {
	m := &Main{Name: "temporal-once", DisplayName: "temporal once"}
	r := run(t, m, "--output", "jsonl", "--color", "never", "--time-format", "iso", "--no-json-shorthand-payloads",
		"--log-level", "never", "--command-timeout", "5s", "--env", "prod", "key", "a")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `{"key":"`)

	r = run(t, m, "trigger", "--help")
	require.Contains(t, r.stdout, "Usage: temporal once trigger <task> [flags]")
	require.Contains(t, r.stdout, "  temporal once trigger hello")

	r = run(t, m, "launch")
	require.Equal(t, 2, r.code)
	require.True(t, strings.HasPrefix(r.stderr, "temporal once: unknown command"), r.stderr)
}

// describe's JSON output keeps its field names (a contract for scripts).
func TestDescribeOutputFields(t *testing.T) {
	b, err := json.Marshal(describeOutput{})
	require.NoError(t, err)
	for _, f := range []string{"task", "workflowId", "runId", "firstRunId", "key", "keyText", "scope", "status", "expired", "reset", "onFailure", "startTime"} {
		require.Contains(t, string(b), `"`+f+`"`)
	}
}

// Every command that talks to the server lists the remote codec flags.
func TestHelpListsCodecFlags(t *testing.T) {
	for _, cmd := range []string{"trigger", "batch", "reset", "describe", "history"} {
		r := run(t, nil, cmd, "--help")
		require.Equal(t, 0, r.code, r.stderr)
		for _, flag := range []string{"--codec-endpoint URL", "--codec-auth VALUE", "--codec-header KEY=VALUE", "TEMPORAL_CODEC_ENDPOINT"} {
			require.Contains(t, r.stdout, flag, cmd)
		}
	}
	// A codec endpoint that is not an http(s) URL is the caller's input.
	r := run(t, nil, "trigger", "hello", "--codec-endpoint", "codec.example:8080")
	requireInputError(t, r)
	require.Contains(t, r.stderr, `--codec-endpoint "codec.example:8080"`)
}

// A payload that is not JSON text is refused before any connection, with
// where the text breaks; an empty stdin or file, or a blank --payload, says
// so. None of them gets the hint for Go values that cannot be marshalled.
func TestPayloadNotJSON(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	broken := filepath.Join(dir, "broken.json")
	require.NoError(t, os.WriteFile(broken, []byte("{\n  \"a\": 1,\n  \"b\" 2\n}\n"), 0o600))
	tests := []struct {
		name, stdin string
		payload     string
		want        string
	}{
		{"truncated stdin", `{"name":`, "@-", "--payload @- (stdin) is not valid JSON: unexpected end of JSON input after byte 8 (line 1, column 8)"},
		{"truncated stdin, newline", `{"name":` + "\n", "@-", "unexpected end of JSON input after byte 8 (line 1, column 8)"},
		{"empty stdin", "", "@-", "--payload @- (stdin): stdin was empty"},
		{"blank stdin", " \n", "@-", "stdin was empty"},
		{"inline", "", `{"a":x}`, "--payload is not valid JSON: invalid character 'x' looking for beginning of value at byte 6 (line 1, column 6)"},
		{"inline, two values", "", `{"a":1} {}`, "invalid character '{' after top-level value at byte 9 (line 1, column 9)"},
		{"inline, characters", "", `["é", ?]`, "at byte 8 (line 1, column 7)"},
		{"inline blank", "", " ", "--payload is blank"},
		{"file", "", "@" + broken, "--payload @" + broken + " is not valid JSON: invalid character '2' after object key at byte 19 (line 3, column 7)"},
		{"empty file", "", "@" + empty, "--payload @" + empty + ": the file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The address cannot be dialled: the error comes before.
			r := runStdin(t, nil, tt.stdin, "trigger", "hello", "--key", "k", "--payload", tt.payload, "--address", "127.0.0.1:1")
			requireInputError(t, r)
			require.Contains(t, r.stderr, tt.want)
			require.NotContains(t, r.stderr, "JSON-serialisable")
			require.NotContains(t, r.stderr, "unreachable")
		})
	}
}

// A misspelt command is reported as an unknown command, once prefixed,
// not as the flags that only the real command has.
func TestUnknownCommandWithFlags(t *testing.T) {
	for _, args := range [][]string{
		{"trgger", "hello", "--address", "x"},
		{"trgger", "hello", "--key=k", "--wait"},
		{"trgger", "--address", "x"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := run(t, nil, args...)
			requireInputError(t, r)
			require.True(t, strings.HasPrefix(r.stderr, `starter: unknown command "trgger": want one of `), r.stderr)
			require.NotContains(t, r.stderr, "flag")
		})
	}
	r := run(t, nil, "completion", "bsh", "--quiet")
	requireInputError(t, r)
	require.Contains(t, r.stderr, `unknown completion command "bsh"`)

	// A bad flag of the root alone, or of a command, is still the flag's
	// fault; the root's error names the program once.
	r = run(t, nil, "--bogus")
	requireInputError(t, r)
	require.Equal(t, "starter: unknown flag: --bogus (see starter --help)\n", r.stderr)
	r = run(t, nil, "trigger", "hello", "--bogus")
	requireInputError(t, r)
	require.Equal(t, "starter: trigger: unknown flag: --bogus (see starter trigger --help)\n", r.stderr)

	r = run(t, &Main{Name: "temporal-once", DisplayName: "temporal once"}, "trgger", "hello", "--address", "x")
	require.Equal(t, 2, r.code)
	require.True(t, strings.HasPrefix(r.stderr, `temporal once: unknown command "trgger"`), r.stderr)
	require.Equal(t, 1, strings.Count(r.stderr, "temporal once:"), r.stderr)
}

// Key parts of white space only are refused as empty ones are, before any
// connection, by every command that takes a key; a blank part beside one
// with text is accepted as an empty one is.
func TestBlankKey(t *testing.T) {
	for _, args := range [][]string{
		{"trigger", "hello", "--key", " "},
		{"trigger", "hello", "--key", ""},
		{"trigger", "hello", "--key", "\t", "--key", " \n"},
		{"reset", "hello", "--key", "  "},
		{"describe", "hello", "--key", " "},
		{"history", "hello", "--key", " ", "--out", t.TempDir()},
		{"key", " "},
		{"key", ""},
	} {
		t.Run(fmt.Sprintf("%q", args), func(t *testing.T) {
			r := run(t, nil, append(args, "--address", "127.0.0.1:1")...)
			if args[0] == "key" {
				r = run(t, nil, args...)
			}
			requireInputError(t, r)
			require.Contains(t, r.stderr, "key is empty")
		})
	}
	_, err := keyParts([]string{" "})
	require.ErrorIs(t, err, idempotency.ErrEmptyKey)
	k, err := keyParts([]string{" ", "a"})
	require.NoError(t, err)
	require.Equal(t, " -a", k.Text)
	want, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, " ", "a")
	require.NoError(t, err)
	require.Equal(t, want, k.Key)

	r := run(t, nil, "key", " ", "a")
	require.Equal(t, 0, r.code, r.stderr)

	// A batch line whose key is blank is an invalid line.
	items, err := readBatch(strings.NewReader(`{"key":" "}`+"\n"+`{"key":["", " "]}`+"\n"+`{"key":"a"}`), "")
	require.NoError(t, err)
	require.Len(t, items, 3)
	require.ErrorIs(t, items[0].err, idempotency.ErrEmptyKey)
	require.ErrorIs(t, items[1].err, idempotency.ErrEmptyKey)
	require.NoError(t, items[2].err)
}

// A strict trigger whose key holds a run of another payload is the caller's
// input to change: exit 2, as a batch line that fails so.
func TestStrictMismatchExitCode(t *testing.T) {
	mismatch := fmt.Errorf("workflow dev/hello/k: %w", starter.ErrKeyReusedWithDifferentPayload)
	require.Equal(t, 2, exitCode(mismatch))
	require.Equal(t, 1, exitCode(errors.New("boom")))
	require.Equal(t, 1, exitCode(fmt.Errorf("x: %w", starter.ErrNotFound)))
	require.Equal(t, 2, exitCode(fmt.Errorf("x: %w", idempotency.ErrInvalidTTL)))

	_, code := batchOutputs([]batchItem{{line: 1}, {line: 2}}, map[int]starter.BatchResult{
		0: {Err: errors.New("boom")},
		1: {Err: mismatch},
	})
	require.Equal(t, 2, code)
}

// A batch without --batch-key says on stderr how many lines start a new run
// every time; with a batch key, or keys on every line, it says nothing.
func TestBatchNotesUnkeyedLines(t *testing.T) {
	for _, tt := range []struct {
		name, batchKey, input, want string
	}{
		{"unkeyed lines", "", `{"payload":1}` + "\n" + `{"key":"a"}` + "\n" + `{"payload":2}`, "starter: note: 2 of 3 lines have no \"key\" and there is no --batch-key"},
		{"every line keyed", "", `{"key":"a"}` + "\n" + `{"key":"b"}`, ""},
		{"a batch key", "b-1", `{"payload":1}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			r := &runner{m: NewMain(), stdin: strings.NewReader(tt.input), stderr: &stderr, env: "dev"}
			_, err := r.batchInput("-", tt.batchKey, 1)
			require.NoError(t, err)
			if tt.want == "" {
				require.Empty(t, stderr.String())
				return
			}
			require.True(t, strings.HasPrefix(stderr.String(), tt.want), stderr.String())
			require.Equal(t, 1, strings.Count(stderr.String(), "\n"), "one line")
		})
	}
}

// A dial that fails in the TLS handshake is told apart from an unreachable
// server.
func TestTLSHandshakeError(t *testing.T) {
	require.True(t, isTLSHandshakeError(errors.New(`connection error: desc = "transport: authentication handshake failed: tls: first record does not look like a TLS handshake"`)))
	require.False(t, isTLSHandshakeError(errors.New(`connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`)))
}
