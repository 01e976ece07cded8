package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once/cmd/internal/starterapp"
	"github.com/once-run/once/starter"
)

// cliEnv is the environment of a CLI run in env: vars, and a missing config
// file unless vars names one.
func cliEnv(t *testing.T, env string, vars map[string]string) map[string]string {
	t.Helper()
	all := map[string]string{
		"ONCE_ENV":             env,
		"TEMPORAL_CONFIG_FILE": filepath.Join(t.TempDir(), "missing.toml"),
	}
	for k, v := range vars {
		all[k] = v
	}
	return all
}

// --address and -n/--namespace win over TEMPORAL_ADDRESS and
// TEMPORAL_NAMESPACE, which win over the profile of the config file; the
// profile alone is enough to connect.
func TestCLIConnectionPrecedence(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	closed := closedAddress(t)
	profile := writeTemporalConfig(t, fmt.Sprintf(`
[profile.default]
address = %q
namespace = %q
[profile.broken]
address = %q
namespace = "no-such-namespace"
`, srv.Address(), srv.Namespace(), closed))
	good := map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "TEMPORAL_NAMESPACE": srv.Namespace()}
	tests := []struct {
		name string
		vars map[string]string
		args []string
		code int
	}{
		{"--address over TEMPORAL_ADDRESS", map[string]string{"TEMPORAL_ADDRESS": closed, "TEMPORAL_NAMESPACE": srv.Namespace()}, []string{"--address", srv.Address()}, 0},
		{"--address over TEMPORAL_ADDRESS, failing", good, []string{"--address", closed}, 1},
		{"-n over TEMPORAL_NAMESPACE", map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "TEMPORAL_NAMESPACE": "no-such-namespace"}, []string{"-n", srv.Namespace()}, 0},
		{"--namespace over TEMPORAL_NAMESPACE, failing", good, []string{"--namespace", "no-such-namespace"}, 1},
		{"profile of TEMPORAL_CONFIG_FILE alone", map[string]string{"TEMPORAL_CONFIG_FILE": profile}, nil, 0},
		{"profile of --config-file alone", nil, []string{"--config-file", profile}, 0},
		{"TEMPORAL_ADDRESS over the profile", map[string]string{"TEMPORAL_CONFIG_FILE": profile, "TEMPORAL_ADDRESS": closed}, nil, 1},
		{"--profile", map[string]string{"TEMPORAL_CONFIG_FILE": profile}, []string{"--profile", "broken"}, 1},
		{"flags over the --profile", map[string]string{"TEMPORAL_CONFIG_FILE": profile, "TEMPORAL_PROFILE": "broken"},
			[]string{"--address", srv.Address(), "--namespace", srv.Namespace()}, 0},
		{"--tls=false over the TLS an API key implies", map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "TEMPORAL_NAMESPACE": srv.Namespace(), "TEMPORAL_API_KEY": "k"}, []string{"--tls=false"}, 0},
		{"TLS an API key implies, failing on a plain server", map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "TEMPORAL_NAMESPACE": srv.Namespace(), "TEMPORAL_API_KEY": "k"}, nil, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"trigger", "echo", "--key", fmt.Sprint("precedence-", i), "--client-connect-timeout", "3s"}, tt.args...)
			r := cliWith(t, cliEnv(t, e.env, tt.vars), "", args...)
			if tt.code == 0 {
				requireOK(t, r)
				require.Contains(t, r.stdout, "started")
			} else {
				requireOneLineError(t, r, tt.code)
			}
		})
	}
}

// Each TLS path flag wins over its environment variable: the error of the
// missing file names the flag's path, not the variable's.
func TestCLITLSFlagsOverrideEnv(t *testing.T) {
	tests := []struct {
		flag, env string
	}{
		{"--tls-cert-path", "TEMPORAL_TLS_CLIENT_CERT_PATH"},
		{"--tls-key-path", "TEMPORAL_TLS_CLIENT_KEY_PATH"},
		{"--tls-ca-path", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"},
	}
	dir := t.TempDir()
	someCert := filepath.Join(dir, "some-cert.pem") // exists: the key is read next
	require.NoError(t, os.WriteFile(someCert, []byte("not a certificate"), 0o600))
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			vars := map[string]string{
				"TEMPORAL_ADDRESS":              srv.Address(),
				"TEMPORAL_TLS_CLIENT_CERT_PATH": filepath.Join(dir, "env-cert.pem"),
				"TEMPORAL_TLS_CLIENT_KEY_PATH":  filepath.Join(dir, "env-key.pem"),
			}
			switch tt.env {
			case "TEMPORAL_TLS_CLIENT_KEY_PATH":
				vars["TEMPORAL_TLS_CLIENT_CERT_PATH"] = someCert
			case "TEMPORAL_TLS_SERVER_CA_CERT_PATH":
				delete(vars, "TEMPORAL_TLS_CLIENT_CERT_PATH")
				delete(vars, "TEMPORAL_TLS_CLIENT_KEY_PATH")
			}
			vars[tt.env] = filepath.Join(dir, "env.pem")
			flagPath := filepath.Join(dir, "flag.pem")
			r := cliWith(t, cliEnv(t, "dev", vars), "", "trigger", "echo", "--key", "k", tt.flag, flagPath)
			requireOneLineError(t, r, 2)
			require.Contains(t, r.stderr, flagPath)
			require.NotContains(t, r.stderr, vars[tt.env])
		})
	}
}

// -o json prints one indented JSON value (an array for batch), -o jsonl one
// compact line per value, as the temporal CLI does.
func TestCLIOutputFormats(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	r := cli(t, e.env, "", "trigger", "echo", "--key", "o", "--payload", `{"n":1}`, "--wait", "-o", "json")
	requireOK(t, r)
	require.True(t, strings.HasPrefix(r.stdout, "{\n  \"workflowId\": "), r.stdout)
	out := decodeJSON[cliTrigger](t, r.stdout)
	require.False(t, out.Cached)
	require.JSONEq(t, `{"n":1}`, string(out.Result))

	r = cli(t, e.env, "", "trigger", "echo", "--key", "o", "--output", "jsonl")
	requireOK(t, r)
	require.Equal(t, 1, strings.Count(r.stdout, "\n"), r.stdout)
	require.True(t, decodeJSON[cliTrigger](t, r.stdout).Cached)
	require.Equal(t, out.RunID, decodeJSON[cliTrigger](t, r.stdout).RunID)

	r = cli(t, e.env, "", "describe", "echo", "--key", "o", "-o", "json")
	requireOK(t, r)
	require.Greater(t, strings.Count(r.stdout, "\n"), 5, "indented")
	d := decodeJSON[cliDescribe](t, r.stdout)
	require.Equal(t, "completed", d.Status)
	require.Equal(t, out.RunID, d.FirstRunID)
	r = cli(t, e.env, "", "describe", "echo", "--key", "o", "-o", "jsonl")
	requireOK(t, r)
	require.Equal(t, 1, strings.Count(r.stdout, "\n"), r.stdout)

	items := `{"key":"b1"}` + "\n" + `{"key":"b2"}` + "\n" + `not json` + "\n"
	r = cli(t, e.env, items, "batch", "echo", "--file", "-", "-o", "json")
	require.Equal(t, 2, r.code, r.stderr)
	require.True(t, strings.HasPrefix(r.stdout, "[\n  {\n"), r.stdout)
	list := decodeJSON[[]cliTrigger](t, r.stdout)
	require.Len(t, list, 3)
	require.Equal(t, []int{1, 2, 3}, []int{list[0].Line, list[1].Line, list[2].Line})
	require.NotEmpty(t, list[0].RunID)
	require.NotEmpty(t, list[2].Error)

	r = cli(t, e.env, items, "batch", "echo", "--file", "-", "-o", "jsonl")
	require.Equal(t, 2, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3)
	for i, l := range lines {
		item := decodeJSON[cliTrigger](t, l)
		require.Equal(t, i+1, item.Line)
		if i < 2 {
			require.True(t, item.Cached, "second batch: cached")
			require.Equal(t, list[i].RunID, item.RunID)
		}
	}

	dir := filepath.Join(t.TempDir(), "replay")
	r = cli(t, e.env, "", "history", "echo", "--key", "o", "--out", dir, "-o", "json")
	requireOK(t, r)
	files := decodeJSON[[]map[string]string](t, r.stdout)
	require.Len(t, files, 1, r.stdout)
	require.FileExists(t, files[0]["file"])
	require.Equal(t, dir, filepath.Dir(files[0]["file"]))

	r = cli(t, e.env, "", "reset", "echo", "--key", "o", "-o", "json")
	requireOK(t, r)
	reset := decodeJSON[map[string]string](t, r.stdout)
	require.Equal(t, "echo", reset["task"])
	require.Equal(t, "o", reset["keyText"])
	require.Len(t, reset["key"], 64)

	r = cli(t, e.env, "", "trigger", "echo", "--key", "o", "-o", "yaml")
	requireOneLineError(t, r, 2)
}

// --command-timeout bounds the whole command: a wait on a run that sleeps
// ends with exit 1 and a reason naming the flag.
func TestCLICommandTimeout(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	start := time.Now()
	r := cli(t, e.env, "", "trigger", "sleepy", "--key", "timeout", "--wait", "--command-timeout", "1s")
	requireOneLineError(t, r, 1)
	require.Contains(t, r.stderr, "--command-timeout 1s")
	require.Less(t, time.Since(start), 15*time.Second)
}

// On a terminal, batch draws a progress bar with the count, the rate and
// the time left on stderr, then a summary with the rate (a batch this small
// may end before the bar redraws with a rate); stdout stays the results.
func TestCLIBatchProgressBar(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	m := starterapp.NewMain()
	m.IsTerminal = func(w io.Writer) bool { return w != os.Stdout } // the test's stderr buffer
	var items strings.Builder
	for i := range 40 {
		fmt.Fprintf(&items, `{"key":"p%d"}`+"\n", i)
	}
	r := cliMain(t, m, cliEnv(t, e.env, map[string]string{"TEMPORAL_ADDRESS": srv.Address(), "TEMPORAL_NAMESPACE": srv.Namespace()}), items.String(),
		"batch", "echo", "--file", "-", "--parallel", "2", "--json")
	requireOK(t, r)
	require.Contains(t, r.stderr, "triggering")
	require.Contains(t, r.stderr, "40/40")
	require.Regexp(t, `\d+(\.\d+)? runs/s`, r.stderr, "rate")
	require.Regexp(t, `\[\d+s:\d+s\]`, r.stderr, "elapsed:left")
	require.Contains(t, r.stderr, "triggered 40/40 in ")
	require.Contains(t, r.stderr, "40 started, 0 cached, 0 failed")
	require.Len(t, strings.Split(strings.TrimSpace(r.stdout), "\n"), 40)
	var first cliTrigger
	require.NoError(t, json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &first))
	require.Equal(t, 1, first.Line)
}
