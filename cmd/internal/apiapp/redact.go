package apiapp

import "net/url"

// redact hides a password in a URL, for the banner.
func redact(endpoint string) string {
	if u, err := url.Parse(endpoint); err == nil {
		return u.Redacted()
	}
	return endpoint
}
