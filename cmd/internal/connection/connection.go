// Package connection binds the temporal CLI's connection flags (--address,
// -n/--namespace, --api-key, --tls…, --codec-endpoint, --codec-auth,
// --codec-header, --profile, --config-file, …) to a pflag set and resolves
// them into a Temporal client configuration with the temporal CLI's
// precedence: a flag over its environment variable over the profile of the
// config file, as go.temporal.io/sdk/contrib/envconfig loads them. The
// starter CLI and the worker bind the same flags through it.
//
// A remote codec server (--codec-endpoint) becomes the client's data
// converter: payloads are encoded and decoded by the codec server over HTTP.
//
// It only builds client options, and the banner lines that show them; it
// never dials.
package connection

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"go.temporal.io/sdk/converter"
)

// The environment variables of the temporal CLI and the SDK's envconfig that
// this package names in messages and reads itself; envconfig reads the rest.
const (
	EnvAddress    = "TEMPORAL_ADDRESS"
	EnvNamespace  = "TEMPORAL_NAMESPACE"
	EnvConfigFile = "TEMPORAL_CONFIG_FILE"
	EnvProfile    = "TEMPORAL_PROFILE"

	EnvCodecEndpoint = "TEMPORAL_CODEC_ENDPOINT"
	EnvCodecAuth     = "TEMPORAL_CODEC_AUTH"
)

// Flags are the connection flags' values. Bind them with AddClientFlags and
// AddConfigFlags, parse, then Resolve.
type Flags struct {
	Address                    string
	Namespace                  string
	APIKey                     string
	ClientAuthority            string
	GRPCMeta                   []string
	TLS                        bool
	TLSCertPath                string
	TLSCertData                string
	TLSKeyPath                 string
	TLSKeyData                 string
	TLSCAPath                  string
	TLSCAData                  string
	TLSServerName              string
	TLSDisableHostVerification bool
	CodecEndpoint              string
	CodecAuth                  string
	CodecHeader                []string

	Profile           string
	ConfigFile        string
	DisableConfigFile bool
	DisableConfigEnv  bool
}

// AddClientFlags binds the flags that say where and how to connect, with the
// temporal CLI's names: --address, -n/--namespace, --api-key, --grpc-meta,
// --client-authority, --tls, --tls-cert-path, --tls-cert-data,
// --tls-key-path, --tls-key-data, --tls-ca-path, --tls-ca-data,
// --tls-server-name, --tls-disable-host-verification, --codec-endpoint,
// --codec-auth, --codec-header.
func (f *Flags) AddClientFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Address, "address", "", "Temporal Service gRPC endpoint `HOST:PORT` (env TEMPORAL_ADDRESS, else the profile's address)")
	fs.StringVarP(&f.Namespace, "namespace", "n", "", "Temporal Service `NAMESPACE` (env TEMPORAL_NAMESPACE, else the profile's, else \"default\")")
	fs.StringVar(&f.APIKey, "api-key", "", "API `KEY` for requests; turns TLS on (env TEMPORAL_API_KEY)")
	fs.StringArrayVar(&f.GRPCMeta, "grpc-meta", nil, "gRPC metadata header `KEY=VALUE` sent with every request; can be passed multiple times (env TEMPORAL_GRPC_META_<KEY>)")
	fs.StringVar(&f.ClientAuthority, "client-authority", "", "gRPC :authority pseudo-header (env TEMPORAL_CLIENT_AUTHORITY)")
	fs.BoolVar(&f.TLS, "tls", false, "enable TLS; on by itself with an API key or any TLS option; --tls=false turns it off (env TEMPORAL_TLS)")
	fs.StringVar(&f.TLSCertPath, "tls-cert-path", "", "`PATH` to the x509 client certificate (env TEMPORAL_TLS_CLIENT_CERT_PATH)")
	fs.StringVar(&f.TLSCertData, "tls-cert-data", "", "x509 client certificate, PEM (env TEMPORAL_TLS_CLIENT_CERT_DATA)")
	fs.StringVar(&f.TLSKeyPath, "tls-key-path", "", "`PATH` to the x509 client private key (env TEMPORAL_TLS_CLIENT_KEY_PATH)")
	fs.StringVar(&f.TLSKeyData, "tls-key-data", "", "x509 client private key, PEM (env TEMPORAL_TLS_CLIENT_KEY_DATA)")
	fs.StringVar(&f.TLSCAPath, "tls-ca-path", "", "`PATH` to the server CA certificate (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
	fs.StringVar(&f.TLSCAData, "tls-ca-data", "", "server CA certificate, PEM (env TEMPORAL_TLS_SERVER_CA_CERT_DATA)")
	fs.StringVar(&f.TLSServerName, "tls-server-name", "", "server name to verify the server's certificate against (env TEMPORAL_TLS_SERVER_NAME)")
	fs.BoolVar(&f.TLSDisableHostVerification, "tls-disable-host-verification", false, "do not verify the server's host name (env TEMPORAL_TLS_DISABLE_HOST_VERIFICATION)")
	fs.StringVar(&f.CodecEndpoint, "codec-endpoint", "", "remote codec server `URL` that encodes and decodes payloads; {namespace} in it is replaced by the namespace (env TEMPORAL_CODEC_ENDPOINT, else the profile's codec.endpoint)")
	fs.StringVar(&f.CodecAuth, "codec-auth", "", "Authorization header `VALUE` for the codec server's requests (env TEMPORAL_CODEC_AUTH, else the profile's codec.auth)")
	fs.StringArrayVar(&f.CodecHeader, "codec-header", nil, "HTTP header `KEY=VALUE` for the codec server's requests; can be passed multiple times")
}

// AddConfigFlags binds the flags that choose the profile: --profile,
// --config-file, --disable-config-file, --disable-config-env.
func (f *Flags) AddConfigFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.Profile, "profile", "", "`PROFILE` of the config file (env TEMPORAL_PROFILE, default \"default\")")
	fs.StringVar(&f.ConfigFile, "config-file", "", "TOML config file `PATH` (env TEMPORAL_CONFIG_FILE, default temporalio/temporal.toml in the user's config folder)")
	fs.BoolVar(&f.DisableConfigFile, "disable-config-file", false, "do not read the config file")
	fs.BoolVar(&f.DisableConfigEnv, "disable-config-env", false, "do not read the TEMPORAL_* connection variables")
}

// Source is the layer that named the address.
type Source string

// The layers, from the strongest.
const (
	SourceFlag    Source = "flag"
	SourceEnv     Source = "env"
	SourceProfile Source = "profile"
	SourceNone    Source = "" // nothing named an address
)

// Config is a resolved connection.
type Config struct {
	// Profile is the merged configuration: the config file's profile, the
	// environment over it, the flags over both.
	Profile envconfig.ClientConfigProfile
	// AddressFrom is the layer that named Profile.Address; SourceNone when
	// none did (the caller picks: a default address, or the worker's dev mode).
	AddressFrom Source
	// CodecEndpointFrom is the layer that named Profile.Codec.Endpoint;
	// SourceNone when none did (no remote codec).
	CodecEndpointFrom Source
	// CodecHeaders are the extra HTTP headers of the codec server's requests
	// (--codec-header), by canonical header name.
	CodecHeaders map[string]string
	// ProfileName is the profile that was looked up in ConfigFile.
	ProfileName string
	// ConfigFile is the config file that was read; "" when none was.
	ConfigFile string
}

// EnvLookup adapts a getenv function (nil: os.Getenv) and an environ one
// (for the TEMPORAL_GRPC_META_* variables; nil for none) to envconfig. An
// empty value counts as unset.
func EnvLookup(getenv func(string) string, environ func() []string) envconfig.EnvLookup {
	if getenv == nil {
		getenv = os.Getenv
	}
	return envLookup{getenv, environ}
}

type envLookup struct {
	getenv  func(string) string
	environ func() []string
}

func (e envLookup) Environ() []string {
	if e.environ == nil {
		return nil
	}
	return e.environ()
}

func (e envLookup) LookupEnv(name string) (string, bool) {
	v := e.getenv(name)
	return v, v != ""
}

// Resolve merges, from the weakest: the profile of the config file, the
// TEMPORAL_* environment variables, the flags. fs is the parsed flag set that
// holds f's flags: it tells an explicit --tls=false from an absent --tls; nil
// when there are none (then only the file and the environment count).
//
// Errors: a config file that cannot be read or parsed, a profile that was
// asked for and is not in the file, a --grpc-meta or --codec-header without
// "=", a codec endpoint that is not an absolute http or https URL.
func (f *Flags) Resolve(fs *pflag.FlagSet, env envconfig.EnvLookup) (*Config, error) {
	changed := func(name string) bool { return fs != nil && fs.Changed(name) }
	getenv := func(name string) string { v, _ := env.LookupEnv(name); return v }
	cfg := &Config{ProfileName: firstOf(f.Profile, getenv(EnvProfile), envconfig.DefaultConfigFileProfile)}
	prof := &cfg.Profile
	if !f.DisableConfigFile {
		path := firstOf(f.ConfigFile, getenv(EnvConfigFile), envconfig.DefaultConfigFilePath())
		var err error
		*prof, err = envconfig.LoadClientConfigProfile(envconfig.LoadClientConfigProfileOptions{
			ConfigFilePath:    path,
			ConfigFileProfile: f.Profile,
			DisableEnv:        true, // applied below, to know which layer named the address
			EnvLookup:         env,
		})
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		if _, err := os.Stat(path); err == nil {
			cfg.ConfigFile = path
		}
		if prof.Address != "" {
			cfg.AddressFrom = SourceProfile
		}
		if prof.Codec != nil && prof.Codec.Endpoint != "" {
			cfg.CodecEndpointFrom = SourceProfile
		}
	}
	if !f.DisableConfigEnv {
		if err := prof.ApplyEnvVars(env); err != nil {
			return nil, fmt.Errorf("environment: %w", err)
		}
		if getenv(EnvAddress) != "" {
			cfg.AddressFrom = SourceEnv
		}
		if getenv(EnvCodecEndpoint) != "" {
			cfg.CodecEndpointFrom = SourceEnv
		}
	}
	if err := f.applyTo(cfg, changed); err != nil {
		return nil, err
	}
	if f.Address != "" {
		cfg.AddressFrom = SourceFlag
	}
	if prof.Address == "" {
		cfg.AddressFrom = SourceNone
	}
	if f.CodecEndpoint != "" {
		cfg.CodecEndpointFrom = SourceFlag
	}
	if cfg.CodecEndpoint() == "" {
		cfg.CodecEndpointFrom = SourceNone
	}
	if _, err := cfg.codecEndpoint(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// applyTo overrides cfg's profile with the flags that were given, as the
// temporal CLI does (cliext.ClientOptionsBuilder), and sets cfg's codec
// headers.
func (f *Flags) applyTo(cfg *Config, changed func(string) bool) error {
	prof := &cfg.Profile
	if f.Address != "" {
		prof.Address = f.Address
	}
	if f.Namespace != "" {
		prof.Namespace = f.Namespace
	}
	if f.APIKey != "" {
		prof.APIKey = f.APIKey
	}
	if f.ClientAuthority != "" {
		prof.Authority = f.ClientAuthority
	}
	for _, kv := range f.GRPCMeta {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--grpc-meta %q: want KEY=VALUE", kv)
		}
		if prof.GRPCMeta == nil {
			prof.GRPCMeta = map[string]string{}
		}
		prof.GRPCMeta[envconfig.NormalizeGRPCMetaKey(k)] = v
	}
	f.applyTLS(prof, changed)
	return f.applyCodec(cfg)
}

// applyTLS overrides prof's TLS settings with the TLS flags that were
// given: any of them turns TLS on, --tls=false turns it off.
func (f *Flags) applyTLS(prof *envconfig.ClientConfigProfile, changed func(string) bool) {
	tlsOption := f.TLSCertPath != "" || f.TLSCertData != "" || f.TLSKeyPath != "" || f.TLSKeyData != "" ||
		f.TLSCAPath != "" || f.TLSCAData != "" || f.TLSServerName != "" || changed("tls-disable-host-verification")
	if f.TLS || tlsOption {
		if prof.TLS == nil {
			prof.TLS = &envconfig.ClientConfigTLS{}
		}
		t := prof.TLS
		t.Disabled = false
		// A path replaces the data from a weaker layer and the other way
		// round: envconfig refuses both at once.
		if f.TLSCertPath != "" {
			t.ClientCertPath, t.ClientCertData = f.TLSCertPath, nil
		}
		if f.TLSCertData != "" {
			t.ClientCertData, t.ClientCertPath = []byte(f.TLSCertData), ""
		}
		if f.TLSKeyPath != "" {
			t.ClientKeyPath, t.ClientKeyData = f.TLSKeyPath, nil
		}
		if f.TLSKeyData != "" {
			t.ClientKeyData, t.ClientKeyPath = []byte(f.TLSKeyData), ""
		}
		if f.TLSCAPath != "" {
			t.ServerCACertPath, t.ServerCACertData = f.TLSCAPath, nil
		}
		if f.TLSCAData != "" {
			t.ServerCACertData, t.ServerCACertPath = []byte(f.TLSCAData), ""
		}
		if f.TLSServerName != "" {
			t.ServerName = f.TLSServerName
		}
		if changed("tls-disable-host-verification") {
			t.DisableHostVerification = f.TLSDisableHostVerification
		}
	}
	if changed("tls") && !f.TLS {
		prof.TLS = &envconfig.ClientConfigTLS{Disabled: true}
	}
}

// applyCodec overrides cfg's codec with the codec flags that were given,
// and sets cfg's codec headers.
//
// Errors: a --codec-header without "=".
func (f *Flags) applyCodec(cfg *Config) error {
	prof := &cfg.Profile
	// As in the temporal CLI, --codec-endpoint makes a codec, --codec-auth
	// only sets the authorization of one that a layer named.
	if f.CodecEndpoint != "" {
		if prof.Codec == nil {
			prof.Codec = &envconfig.ClientConfigCodec{}
		}
		prof.Codec.Endpoint = f.CodecEndpoint
	}
	if f.CodecAuth != "" && prof.Codec != nil {
		prof.Codec.Auth = f.CodecAuth
	}
	for _, kv := range f.CodecHeader {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("--codec-header %q: want KEY=VALUE", kv)
		}
		if cfg.CodecHeaders == nil {
			cfg.CodecHeaders = map[string]string{}
		}
		cfg.CodecHeaders[http.CanonicalHeaderKey(k)] = v
	}
	return nil
}

// ClientOptions are the SDK client options of c; defaultAddress is used when
// nothing named an address, the namespace defaults to "default". With a
// codec endpoint, the data converter is the SDK's default one wrapped by the
// remote codec (see RemoteCodecDataConverter).
//
// Errors: TLS settings that cannot be loaded (a missing certificate file, a
// certificate without its key, …), a codec endpoint that is not an absolute
// http or https URL.
func (c *Config) ClientOptions(defaultAddress string) (client.Options, error) {
	endpoint, err := c.codecEndpoint()
	if err != nil {
		return client.Options{}, err
	}
	prof := c.Profile
	if prof.Address == "" {
		prof.Address = defaultAddress
	}
	if prof.Namespace == "" {
		prof.Namespace = client.DefaultNamespace
	}
	// envconfig ignores the codec unless asked to include it, and then sends
	// no extra headers: the data converter is built below instead.
	prof.Codec = nil
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, err
	}
	if endpoint != "" {
		opts.DataConverter = c.remoteCodec(endpoint, prof.Namespace)
	}
	return opts, nil
}

// CodecDataConverter is the data converter of c's remote codec for a client
// of namespace, as ClientOptions makes it for the namespace c names: for a
// client whose other options do not come from c (the worker's embedded dev
// server). It returns nil when c names no codec endpoint, and the endpoint,
// with namespace in place of NamespacePlaceholder.
//
// Errors: a codec endpoint that is not an absolute http or https URL.
func (c *Config) CodecDataConverter(namespace string) (converter.DataConverter, string, error) {
	if _, err := c.codecEndpoint(); err != nil || c.CodecEndpoint() == "" {
		return nil, "", err
	}
	namespace = firstOf(namespace, client.DefaultNamespace)
	endpoint := strings.ReplaceAll(c.Profile.Codec.Endpoint, NamespacePlaceholder, namespace)
	return c.remoteCodec(endpoint, namespace), endpoint, nil
}

// remoteCodec is the remote codec data converter of endpoint for a client
// of namespace, with c's authorization and headers.
func (c *Config) remoteCodec(endpoint, namespace string) converter.DataConverter {
	return RemoteCodecDataConverter(RemoteCodecOptions{
		Endpoint:  endpoint,
		Namespace: namespace,
		Auth:      c.Profile.Codec.Auth,
		Headers:   c.CodecHeaders,
	})
}

// Namespace is the namespace to use: the resolved one, else "default".
func (c *Config) Namespace() string { return firstOf(c.Profile.Namespace, client.DefaultNamespace) }

// Origin says in words where the address came from: "--address",
// "TEMPORAL_ADDRESS", `profile "default" of <file>`, or "" when nothing named one.
func (c *Config) Origin() string {
	switch c.AddressFrom {
	case SourceFlag:
		return "--address"
	case SourceEnv:
		return EnvAddress
	case SourceProfile:
		return fmt.Sprintf("profile %q of %s", c.ProfileName, c.ConfigFile)
	}
	return ""
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
