package connection

import (
	"fmt"
	"io"
	"net/url"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
)

// ClientOptions are the SDK client options of cfg, as Config.ClientOptions
// makes them with defaultAddress; cfg nil is f resolved from env alone (as
// Resolve with no flag set). It returns the configuration it used, and
// writes the banner lines to w: the server's address and namespace, where
// the address came from (Config.Origin, else defaultOrigin), and the codec
// endpoint, if any, a password in it hidden (see PrintCodec).
//
// Errors, prefixed "client configuration: ": Resolve's, with a nil
// configuration; Config.ClientOptions', with cfg. Nothing is written then.
func (f *Flags) ClientOptions(cfg *Config, env envconfig.EnvLookup, defaultAddress, defaultOrigin string, w io.Writer) (client.Options, *Config, error) {
	if cfg == nil {
		var err error
		if cfg, err = f.Resolve(nil, env); err != nil {
			return client.Options{}, nil, fmt.Errorf("client configuration: %w", err)
		}
	}
	opts, err := cfg.ClientOptions(defaultAddress)
	if err != nil {
		return client.Options{}, cfg, fmt.Errorf("client configuration: %w", err)
	}
	origin := defaultOrigin
	if o := cfg.Origin(); o != "" {
		origin = "from " + o
	}
	fmt.Fprintf(w, "Temporal server  %s (namespace %s, %s)\n", opts.HostPort, opts.Namespace, origin)
	PrintCodec(w, cfg.CodecEndpoint())
	return opts, cfg, nil
}

// PrintCodec writes the banner line of a codec endpoint to w, a password in
// it hidden; nothing when endpoint is "".
func PrintCodec(w io.Writer, endpoint string) {
	if endpoint != "" {
		fmt.Fprintf(w, "Codec            %s\n", redact(endpoint))
	}
}

// redact hides a password in a URL, for the banner.
func redact(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil {
		return u.Redacted()
	}
	return endpoint
}
