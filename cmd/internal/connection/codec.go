package connection

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"go.temporal.io/sdk/converter"
)

// NamespacePlaceholder in a codec endpoint is replaced by the namespace, as
// the temporal CLI does.
const NamespacePlaceholder = "{namespace}"

// RemoteCodecOptions are the options of RemoteCodecDataConverter.
type RemoteCodecOptions struct {
	// Endpoint is the codec server's URL; the converter posts to
	// Endpoint+"/encode" and Endpoint+"/decode".
	Endpoint string
	// Namespace is sent in the X-Namespace header.
	Namespace string
	// Auth, when not empty, is sent in the Authorization header.
	Auth string
	// Headers are extra HTTP headers of every request. Auth wins over an
	// Authorization header among them.
	Headers map[string]string
}

// RemoteCodecDataConverter is the SDK's default data converter whose
// payloads are encoded and decoded by the remote codec server of opts, with
// the headers the temporal CLI sends: X-Namespace, the extra headers,
// Authorization.
//
// Every payload costs a request to the codec server; a worker makes them
// again when it replays a workflow's history.
func RemoteCodecDataConverter(opts RemoteCodecOptions) converter.DataConverter {
	headers := maps.Clone(opts.Headers)
	return converter.NewRemoteDataConverter(converter.GetDefaultDataConverter(), converter.RemoteDataConverterOptions{
		Endpoint: opts.Endpoint,
		ModifyRequest: func(r *http.Request) error {
			if opts.Namespace != "" {
				r.Header.Set("X-Namespace", opts.Namespace)
			}
			for k, v := range headers {
				r.Header.Set(k, v)
			}
			if opts.Auth != "" {
				r.Header.Set("Authorization", opts.Auth)
			}
			return nil
		},
	})
}

// CodecEndpoint is the resolved codec server URL, with the namespace in
// place of NamespacePlaceholder; "" when there is no remote codec.
func (c *Config) CodecEndpoint() string {
	if c.Profile.Codec == nil || c.Profile.Codec.Endpoint == "" {
		return ""
	}
	return strings.ReplaceAll(c.Profile.Codec.Endpoint, NamespacePlaceholder, c.Namespace())
}

// codecEndpoint is CodecEndpoint, checked: an absolute http or https URL
// without query or fragment, since "/encode" and "/decode" are appended to it.
func (c *Config) codecEndpoint() (string, error) {
	endpoint := c.CodecEndpoint()
	if endpoint == "" {
		return "", nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("%s %q: want an absolute http or https URL without query or fragment",
			c.codecOrigin(), c.Profile.Codec.Endpoint)
	}
	return endpoint, nil
}

// codecOrigin names the setting that named the codec endpoint.
func (c *Config) codecOrigin() string {
	switch c.CodecEndpointFrom {
	case SourceFlag:
		return "--codec-endpoint"
	case SourceEnv:
		return EnvCodecEndpoint
	case SourceProfile:
		return fmt.Sprintf("codec.endpoint of profile %q of %s", c.ProfileName, c.ConfigFile)
	}
	return "codec endpoint"
}
