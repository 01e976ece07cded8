package connection_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

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
[profile.default.codec]
endpoint = "http://profile.example/codec"
auth = "profile-auth"
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
		{"codec endpoint", "TEMPORAL_CODEC_ENDPOINT", "http://env.example/codec", []string{"--codec-endpoint", "http://flag.example/codec"},
			func(p envconfig.ClientConfigProfile) any { return p.Codec.Endpoint }, "http://profile.example/codec", "http://env.example/codec", "http://flag.example/codec"},
		{"codec auth", "TEMPORAL_CODEC_AUTH", "env-auth", []string{"--codec-auth", "flag-auth"},
			func(p envconfig.ClientConfigProfile) any { return p.Codec.Auth }, "profile-auth", "env-auth", "flag-auth"},
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

// xorCodec is a test payload codec: it XORs the whole serialized payload and
// marks the result with the encoding "binary/test".
type xorCodec struct{}

const xorEncoding = "binary/test"

func xor(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = c ^ 0x5a
	}
	return out
}

func (xorCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		b, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{converter.MetadataEncoding: []byte(xorEncoding)},
			Data:     xor(b),
		}
	}
	return out, nil
}

func (xorCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != xorEncoding {
			out[i] = p
			continue
		}
		out[i] = &commonpb.Payload{}
		if err := proto.Unmarshal(xor(p.GetData()), out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// codecRequest is what the test codec server saw of one request.
type codecRequest struct {
	Path   string
	Header http.Header
}

// codecServer starts a remote codec server that runs xorCodec and records
// the requests.
func codecServer(tb testing.TB) (*httptest.Server, func() []codecRequest) {
	tb.Helper()
	var (
		mu   sync.Mutex
		seen []codecRequest
	)
	codec := converter.NewPayloadCodecHTTPHandler(xorCodec{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, codecRequest{r.URL.Path, r.Header.Clone()})
		mu.Unlock()
		codec.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	return srv, func() []codecRequest {
		mu.Lock()
		defer mu.Unlock()
		return append([]codecRequest(nil), seen...)
	}
}

// A codec endpoint from any layer makes the data converter go through the
// remote codec server, with the authorization of the strongest layer, the
// namespace and the extra headers; {namespace} in the endpoint is replaced.
func TestRemoteCodecRoundTrip(t *testing.T) {
	srv, requests := codecServer(t)
	profile := writeConfig(t, `
[profile.default]
namespace = "profile-ns"
[profile.default.codec]
endpoint = "`+srv.URL+`/profile/{namespace}"
auth = "profile-auth"
`)
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantFrom connection.Source
		wantPath string // of the /encode request
		wantAuth string
		wantHdr  map[string]string
	}{
		{
			name:     "profile",
			env:      map[string]string{"TEMPORAL_CONFIG_FILE": profile},
			wantFrom: connection.SourceProfile,
			wantPath: "/profile/profile-ns/encode",
			wantAuth: "profile-auth",
			wantHdr:  map[string]string{"X-Namespace": "profile-ns"},
		},
		{
			name: "env over profile",
			env: map[string]string{"TEMPORAL_CONFIG_FILE": profile,
				"TEMPORAL_CODEC_ENDPOINT": srv.URL + "/env/", "TEMPORAL_CODEC_AUTH": "env-auth"},
			wantFrom: connection.SourceEnv,
			wantPath: "/env/encode",
			wantAuth: "env-auth",
		},
		{
			name: "flag over env",
			env: map[string]string{"TEMPORAL_CONFIG_FILE": profile,
				"TEMPORAL_CODEC_ENDPOINT": srv.URL + "/env", "TEMPORAL_CODEC_AUTH": "env-auth"},
			args: []string{"--codec-endpoint", srv.URL + "/flag/{namespace}", "--codec-auth", "Bearer flag",
				"-n", "flag-ns", "--codec-header", "X-Tenant=blue", "--codec-header", "authorization=lost"},
			wantFrom: connection.SourceFlag,
			wantPath: "/flag/flag-ns/encode",
			wantAuth: "Bearer flag",
			wantHdr:  map[string]string{"X-Namespace": "flag-ns", "X-Tenant": "blue"},
		},
		{
			name:     "flag only, profile auth kept",
			env:      map[string]string{"TEMPORAL_CONFIG_FILE": profile},
			args:     []string{"--codec-endpoint", srv.URL + "/flag"},
			wantFrom: connection.SourceFlag,
			wantPath: "/flag/encode",
			wantAuth: "profile-auth",
		},
		{
			name:     "flag without profile",
			args:     []string{"--codec-endpoint", srv.URL, "--codec-header", "Authorization=Basic header"},
			wantFrom: connection.SourceFlag,
			wantPath: "/encode",
			wantAuth: "Basic header",
			wantHdr:  map[string]string{"X-Namespace": "default"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := resolve(t, tt.env, tt.args...)
			require.Equal(t, tt.wantFrom, cfg.CodecEndpointFrom)
			require.Equal(t, srv.URL+strings.TrimSuffix(tt.wantPath, "/encode"), strings.TrimSuffix(cfg.CodecEndpoint(), "/"))
			opts, err := cfg.ClientOptions("h:1")
			require.NoError(t, err)
			require.NotNil(t, opts.DataConverter)

			before := len(requests())
			payload, err := opts.DataConverter.ToPayload("secret value")
			require.NoError(t, err)
			require.Equal(t, xorEncoding, string(payload.GetMetadata()[converter.MetadataEncoding]), "the codec ran")
			require.NotContains(t, string(payload.GetData()), "secret value")

			var got string
			require.NoError(t, opts.DataConverter.FromPayload(payload, &got))
			require.Equal(t, "secret value", got)

			seen := requests()[before:]
			require.Len(t, seen, 2, "one /encode, one /decode")
			require.Equal(t, tt.wantPath, seen[0].Path)
			require.Equal(t, strings.TrimSuffix(tt.wantPath, "encode")+"decode", seen[1].Path)
			for _, r := range seen {
				require.Equal(t, tt.wantAuth, r.Header.Get("Authorization"))
				for k, v := range tt.wantHdr {
					require.Equal(t, v, r.Header.Get(k), k)
				}
			}
		})
	}
}

// No codec endpoint: the SDK's default data converter; a --codec-auth alone
// makes no codec, as in the temporal CLI.
func TestNoCodec(t *testing.T) {
	for _, args := range [][]string{nil, {"--codec-auth", "a", "--codec-header", "K=V"}} {
		cfg := resolve(t, nil, args...)
		require.Empty(t, cfg.CodecEndpoint())
		require.Equal(t, connection.SourceNone, cfg.CodecEndpointFrom)
		opts, err := cfg.ClientOptions("h:1")
		require.NoError(t, err)
		require.Nil(t, opts.DataConverter)
	}
}

// A codec endpoint that is not an absolute http(s) URL is refused, naming
// the setting it came from; so is a --codec-header without "=".
func TestInvalidCodec(t *testing.T) {
	profile := writeConfig(t, "[profile.default.codec]\nendpoint = \"codec.example:8080\"\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"flag no scheme", nil, []string{"--codec-endpoint", "codec.example:8080"}, `--codec-endpoint "codec.example:8080"`},
		{"flag relative", nil, []string{"--codec-endpoint", "/codec"}, "--codec-endpoint"},
		{"flag other scheme", nil, []string{"--codec-endpoint", "grpc://codec.example"}, "--codec-endpoint"},
		{"flag no host", nil, []string{"--codec-endpoint", "http:///codec"}, "--codec-endpoint"},
		{"flag query", nil, []string{"--codec-endpoint", "http://codec.example/?k=v"}, "--codec-endpoint"},
		{"env", map[string]string{"TEMPORAL_CODEC_ENDPOINT": "codec.example"}, nil, `TEMPORAL_CODEC_ENDPOINT "codec.example"`},
		{"profile", map[string]string{"TEMPORAL_CONFIG_FILE": profile}, nil, `codec.endpoint of profile "default" of ` + profile},
		{"header", nil, []string{"--codec-endpoint", "http://codec.example", "--codec-header", "novalue"}, `--codec-header "novalue": want KEY=VALUE`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tryResolve(t, tt.env, tt.args...)
			require.ErrorContains(t, err, tt.want)
		})
	}

	// ClientOptions checks too: the profile of a Config is the caller's to change.
	cfg := resolve(t, nil, "--codec-endpoint", "http://codec.example")
	cfg.Profile.Codec.Endpoint = "codec.example"
	_, err := cfg.ClientOptions("h:1")
	require.ErrorContains(t, err, `--codec-endpoint "codec.example"`)
}

// CodecDataConverter gives the codec of the configuration to a client of
// another namespace (the worker's embedded server): the endpoint has that
// namespace, and the requests carry it with the authorization and headers.
func TestCodecDataConverterForNamespace(t *testing.T) {
	srv, requests := codecServer(t)
	cfg := resolve(t, nil, "--codec-endpoint", srv.URL+"/{namespace}", "--codec-auth", "Bearer a",
		"--codec-header", "X-Tenant=blue", "-n", "configured")
	dc, endpoint, err := cfg.CodecDataConverter("dev-ns")
	require.NoError(t, err)
	require.Equal(t, srv.URL+"/dev-ns", endpoint)
	payload, err := dc.ToPayload("secret value")
	require.NoError(t, err)
	require.Equal(t, xorEncoding, string(payload.GetMetadata()[converter.MetadataEncoding]))
	var got string
	require.NoError(t, dc.FromPayload(payload, &got))
	require.Equal(t, "secret value", got)
	seen := requests()
	require.Len(t, seen, 2)
	require.Equal(t, "/dev-ns/encode", seen[0].Path)
	for _, r := range seen {
		require.Equal(t, "dev-ns", r.Header.Get("X-Namespace"))
		require.Equal(t, "Bearer a", r.Header.Get("Authorization"))
		require.Equal(t, "blue", r.Header.Get("X-Tenant"))
	}

	// The namespace defaults as the client's does.
	_, endpoint, err = cfg.CodecDataConverter("")
	require.NoError(t, err)
	require.Equal(t, srv.URL+"/default", endpoint)

	// No codec: nothing.
	dc, endpoint, err = resolve(t, nil, "--codec-auth", "a").CodecDataConverter("dev-ns")
	require.NoError(t, err)
	require.Nil(t, dc)
	require.Empty(t, endpoint)

	// An endpoint made invalid after Resolve is refused, as by ClientOptions.
	cfg.Profile.Codec.Endpoint = "codec.example"
	_, _, err = cfg.CodecDataConverter("dev-ns")
	require.ErrorContains(t, err, `--codec-endpoint "codec.example"`)
}
