package connection_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/once-run/once/cmd/internal/connection"
)

// resolve parses args into a fresh flag set and resolves them against env
// (a map; TEMPORAL_CONFIG_FILE points to a missing file unless env names one).
func resolve(tb testing.TB, env map[string]string, args ...string) *connection.Config {
	tb.Helper()
	cfg, err := tryResolve(tb, env, args...)
	require.NoError(tb, err)
	return cfg
}

func tryResolve(tb testing.TB, env map[string]string, args ...string) (*connection.Config, error) {
	tb.Helper()
	vars := map[string]string{connection.EnvConfigFile: filepath.Join(tb.TempDir(), "missing.toml")}
	for k, v := range env {
		vars[k] = v
	}
	var f connection.Flags
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.AddClientFlags(fs)
	f.AddConfigFlags(fs)
	require.NoError(tb, fs.Parse(args))
	environ := func() []string {
		var list []string
		for k, v := range vars {
			list = append(list, k+"="+v)
		}
		return list
	}
	return f.Resolve(fs, connection.EnvLookup(func(k string) string { return vars[k] }, environ))
}

// writeConfig writes a temporal.toml and returns its path.
func writeConfig(tb testing.TB, text string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "temporal.toml")
	require.NoError(tb, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// Every connection flag wins over its environment variable, which wins over
// the profile.
func TestFlagOverEnvOverProfile(t *testing.T) {
	profile := writeConfig(t, `
[profile.default]
address = "profile:7233"
namespace = "profile-ns"
api_key = "profile-key"
authority = "profile-authority"
[profile.default.tls]
client_cert_path = "/profile/cert.pem"
client_key_path = "/profile/key.pem"
server_ca_cert_path = "/profile/ca.pem"
server_name = "profile.example"
[profile.default.grpc_meta]
x-team = "profile"
`)
	tests := []struct {
		name   string
		envVar string
		envVal string
		flag   []string
		get    func(envconfig.ClientConfigProfile) any
		// profile, env and flag values as get returns them
		fromProfile, fromEnv, fromFlag any
	}{
		{"address", "TEMPORAL_ADDRESS", "env:7233", []string{"--address", "flag:7233"},
			func(p envconfig.ClientConfigProfile) any { return p.Address }, "profile:7233", "env:7233", "flag:7233"},
		{"namespace", "TEMPORAL_NAMESPACE", "env-ns", []string{"--namespace", "flag-ns"},
			func(p envconfig.ClientConfigProfile) any { return p.Namespace }, "profile-ns", "env-ns", "flag-ns"},
		{"namespace short", "TEMPORAL_NAMESPACE", "env-ns", []string{"-n", "flag-ns"},
			func(p envconfig.ClientConfigProfile) any { return p.Namespace }, "profile-ns", "env-ns", "flag-ns"},
		{"api key", "TEMPORAL_API_KEY", "env-key", []string{"--api-key", "flag-key"},
			func(p envconfig.ClientConfigProfile) any { return p.APIKey }, "profile-key", "env-key", "flag-key"},
		{"client authority", "TEMPORAL_CLIENT_AUTHORITY", "env-authority", []string{"--client-authority", "flag-authority"},
			func(p envconfig.ClientConfigProfile) any { return p.Authority }, "profile-authority", "env-authority", "flag-authority"},
		{"tls cert path", "TEMPORAL_TLS_CLIENT_CERT_PATH", "/env/cert.pem", []string{"--tls-cert-path", "/flag/cert.pem"},
			func(p envconfig.ClientConfigProfile) any { return p.TLS.ClientCertPath }, "/profile/cert.pem", "/env/cert.pem", "/flag/cert.pem"},
		{"tls key path", "TEMPORAL_TLS_CLIENT_KEY_PATH", "/env/key.pem", []string{"--tls-key-path", "/flag/key.pem"},
			func(p envconfig.ClientConfigProfile) any { return p.TLS.ClientKeyPath }, "/profile/key.pem", "/env/key.pem", "/flag/key.pem"},
		{"tls ca path", "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "/env/ca.pem", []string{"--tls-ca-path", "/flag/ca.pem"},
			func(p envconfig.ClientConfigProfile) any { return p.TLS.ServerCACertPath }, "/profile/ca.pem", "/env/ca.pem", "/flag/ca.pem"},
		{"tls server name", "TEMPORAL_TLS_SERVER_NAME", "env.example", []string{"--tls-server-name", "flag.example"},
			func(p envconfig.ClientConfigProfile) any { return p.TLS.ServerName }, "profile.example", "env.example", "flag.example"},
		{"tls disable host verification", "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION", "true", []string{"--tls-disable-host-verification=false"},
			func(p envconfig.ClientConfigProfile) any { return p.TLS.DisableHostVerification }, false, true, false},
		{"tls off", "TEMPORAL_TLS", "true", []string{"--tls=false"},
			func(p envconfig.ClientConfigProfile) any { return p.TLS.Disabled }, false, false, true},
		{"tls on", "TEMPORAL_TLS", "false", []string{"--tls"},
			func(p envconfig.ClientConfigProfile) any { return p.TLS.Disabled }, false, true, false},
		{"grpc meta", "TEMPORAL_GRPC_META_X_TEAM", "env", []string{"--grpc-meta", "X-Team=flag"},
			func(p envconfig.ClientConfigProfile) any { return p.GRPCMeta["x-team"] }, "profile", "env", "flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := map[string]string{"TEMPORAL_CONFIG_FILE": profile}
			require.Equal(t, tt.fromProfile, tt.get(resolve(t, file).Profile), "profile alone")
			withEnv := map[string]string{"TEMPORAL_CONFIG_FILE": profile, tt.envVar: tt.envVal}
			require.Equal(t, tt.fromEnv, tt.get(resolve(t, withEnv).Profile), "env over profile")
			require.Equal(t, tt.fromFlag, tt.get(resolve(t, withEnv, tt.flag...).Profile), "flag over env")
			require.Equal(t, tt.fromFlag, tt.get(resolve(t, file, tt.flag...).Profile), "flag over profile")
		})
	}
}

// --profile and --config-file choose the file and the profile over
// TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE; the origin of the address says
// which layer named it.
func TestProfileAndConfigFile(t *testing.T) {
	a := writeConfig(t, `
[profile.default]
address = "a-default:7233"
[profile.other]
address = "a-other:7233"
namespace = "other-ns"
`)
	b := writeConfig(t, "[profile.default]\naddress = \"b-default:7233\"\n")

	cfg := resolve(t, map[string]string{"TEMPORAL_CONFIG_FILE": a})
	require.Equal(t, "a-default:7233", cfg.Profile.Address)
	require.Equal(t, connection.SourceProfile, cfg.AddressFrom)
	require.Equal(t, a, cfg.ConfigFile)
	require.Equal(t, `profile "default" of `+a, cfg.Origin())
	require.Equal(t, "default", cfg.Namespace())

	cfg = resolve(t, map[string]string{"TEMPORAL_CONFIG_FILE": a, "TEMPORAL_PROFILE": "other"})
	require.Equal(t, "a-other:7233", cfg.Profile.Address)
	require.Equal(t, "other-ns", cfg.Namespace())

	cfg = resolve(t, map[string]string{"TEMPORAL_CONFIG_FILE": a, "TEMPORAL_PROFILE": "nope"}, "--profile", "other")
	require.Equal(t, "a-other:7233", cfg.Profile.Address, "--profile over TEMPORAL_PROFILE")

	cfg = resolve(t, map[string]string{"TEMPORAL_CONFIG_FILE": a}, "--config-file", b)
	require.Equal(t, "b-default:7233", cfg.Profile.Address, "--config-file over TEMPORAL_CONFIG_FILE")
	require.Equal(t, b, cfg.ConfigFile)

	cfg = resolve(t, map[string]string{"TEMPORAL_CONFIG_FILE": a, "TEMPORAL_ADDRESS": "env:7233"})
	require.Equal(t, connection.SourceEnv, cfg.AddressFrom)
	require.Equal(t, "TEMPORAL_ADDRESS", cfg.Origin())

	cfg = resolve(t, map[string]string{"TEMPORAL_CONFIG_FILE": a, "TEMPORAL_ADDRESS": "env:7233"}, "--address", "flag:7233")
	require.Equal(t, connection.SourceFlag, cfg.AddressFrom)
	require.Equal(t, "--address", cfg.Origin())

	cfg = resolve(t, map[string]string{"TEMPORAL_CONFIG_FILE": a, "TEMPORAL_ADDRESS": "env:7233"}, "--disable-config-env")
	require.Equal(t, "a-default:7233", cfg.Profile.Address, "--disable-config-env ignores TEMPORAL_ADDRESS")

	cfg = resolve(t, map[string]string{"TEMPORAL_CONFIG_FILE": a}, "--disable-config-file")
	require.Equal(t, connection.SourceNone, cfg.AddressFrom)
	require.Empty(t, cfg.Origin())

	_, err := tryResolve(t, map[string]string{"TEMPORAL_CONFIG_FILE": a}, "--profile", "missing")
	require.ErrorContains(t, err, "missing")
}

// Nothing names an address: SourceNone, and ClientOptions uses the caller's
// default.
func TestNoAddress(t *testing.T) {
	cfg := resolve(t, map[string]string{"TEMPORAL_NAMESPACE": "ns"})
	require.Equal(t, connection.SourceNone, cfg.AddressFrom)
	opts, err := cfg.ClientOptions("127.0.0.1:7233")
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:7233", opts.HostPort)
	require.Equal(t, "ns", opts.Namespace)
}

// The resolved profile becomes client options: API key credentials with
// TLS, the server name and host verification, an explicit --tls=false.
func TestClientOptions(t *testing.T) {
	opts, err := resolve(t, nil, "--address", "h:1", "--api-key", "k", "--tls-server-name", "s.example", "--tls-disable-host-verification").ClientOptions("")
	require.NoError(t, err)
	require.Equal(t, "h:1", opts.HostPort)
	require.Equal(t, "default", opts.Namespace)
	require.NotNil(t, opts.Credentials)
	require.NotNil(t, opts.ConnectionOptions.TLS)
	require.Equal(t, "s.example", opts.ConnectionOptions.TLS.ServerName)
	require.True(t, opts.ConnectionOptions.TLS.InsecureSkipVerify)

	opts, err = resolve(t, map[string]string{"TEMPORAL_API_KEY": "k"}, "--tls=false").ClientOptions("h:1")
	require.NoError(t, err)
	require.True(t, opts.ConnectionOptions.TLSDisabled)

	_, err = resolve(t, nil, "--tls-cert-path", "/missing/cert.pem", "--tls-key-path", "/missing/key.pem").ClientOptions("h:1")
	require.ErrorContains(t, err, "/missing/cert.pem")

	_, err = tryResolve(t, nil, "--grpc-meta", "novalue")
	require.ErrorContains(t, err, "KEY=VALUE")
}
