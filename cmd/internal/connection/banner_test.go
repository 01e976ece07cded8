package connection_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once/cmd/internal/connection"
)

// envOf is an envconfig lookup of vars, with the config file missing.
func envOf(tb testing.TB, vars map[string]string) func(string) string {
	tb.Helper()
	all := map[string]string{connection.EnvConfigFile: filepath.Join(tb.TempDir(), "missing.toml")}
	for k, v := range vars {
		all[k] = v
	}
	return func(k string) string { return all[k] }
}

// Flags.ClientOptions resolves when there is no configuration yet, and
// writes the server line, with where the address came from, and the codec
// line, its password hidden.
func TestClientOptionsBanner(t *testing.T) {
	for name, tt := range map[string]struct {
		flags  connection.Flags
		vars   map[string]string
		banner string
	}{
		"default": {
			banner: "Temporal server  localhost:7233 (namespace default, the default wording)\n",
		},
		"--address": {
			flags:  connection.Flags{Address: "flag.example:7233", Namespace: "ns"},
			banner: "Temporal server  flag.example:7233 (namespace ns, from --address)\n",
		},
		"TEMPORAL_ADDRESS": {
			vars:   map[string]string{connection.EnvAddress: "env.example:7233"},
			banner: "Temporal server  env.example:7233 (namespace default, from TEMPORAL_ADDRESS)\n",
		},
		"codec": {
			flags: connection.Flags{Address: "flag.example:7233", Namespace: "ns",
				CodecEndpoint: "https://user:s3cret@codec.example/{namespace}"},
			banner: "Temporal server  flag.example:7233 (namespace ns, from --address)\n" +
				"Codec            https://user:xxxxx@codec.example/ns\n",
		},
		"codec from the environment": {
			vars: map[string]string{connection.EnvCodecEndpoint: "http://codec.example:8081"},
			banner: "Temporal server  localhost:7233 (namespace default, the default wording)\n" +
				"Codec            http://codec.example:8081\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			opts, cfg, err := tt.flags.ClientOptions(nil, connection.EnvLookup(envOf(t, tt.vars), nil),
				"localhost:7233", "the default wording", &out)
			require.NoError(t, err)
			require.NotNil(t, cfg)
			require.Equal(t, tt.banner, out.String())
			require.NotEmpty(t, opts.HostPort)
			require.Equal(t, tt.flags.CodecEndpoint != "" || tt.vars[connection.EnvCodecEndpoint] != "", opts.DataConverter != nil)
		})
	}
}

// Given a configuration, Flags.ClientOptions uses it: the flags and the
// environment are not read again.
func TestClientOptionsGivenConfig(t *testing.T) {
	cfg := resolve(t, nil, "--address", "given.example:7233")
	f := connection.Flags{Address: "ignored.example:7233"}
	var out bytes.Buffer
	opts, got, err := f.ClientOptions(cfg, nil, "localhost:7233", "the default wording", &out)
	require.NoError(t, err)
	require.Same(t, cfg, got)
	require.Equal(t, "given.example:7233", opts.HostPort)
	require.Equal(t, "Temporal server  given.example:7233 (namespace default, from --address)\n", out.String())
}

// Flags.ClientOptions writes nothing when the configuration cannot be
// resolved or made into client options.
func TestClientOptionsErrors(t *testing.T) {
	t.Run("resolve", func(t *testing.T) {
		f := connection.Flags{CodecEndpoint: "ftp://codec.example"}
		var out bytes.Buffer
		_, cfg, err := f.ClientOptions(nil, connection.EnvLookup(envOf(t, nil), nil), "localhost:7233", "x", &out)
		require.ErrorContains(t, err, "client configuration: --codec-endpoint")
		require.Nil(t, cfg)
		require.Empty(t, out.String())
	})
	t.Run("client options", func(t *testing.T) {
		f := connection.Flags{TLSCertPath: filepath.Join(t.TempDir(), "missing.pem"),
			TLSKeyPath: filepath.Join(t.TempDir(), "missing.key")}
		var out bytes.Buffer
		_, cfg, err := f.ClientOptions(nil, connection.EnvLookup(envOf(t, nil), nil), "localhost:7233", "x", &out)
		require.ErrorContains(t, err, "client configuration: ")
		require.NotNil(t, cfg, "the resolved configuration, which ClientOptions refused")
		require.Empty(t, out.String())
	})
}

// PrintCodec writes nothing without an endpoint, and keeps an endpoint that
// is not a URL as it is.
func TestPrintCodec(t *testing.T) {
	var out bytes.Buffer
	connection.PrintCodec(&out, "")
	require.Empty(t, out.String())
	connection.PrintCodec(&out, "http://codec.example/%zz")
	require.Equal(t, "Codec            http://codec.example/%zz\n", out.String())
}
