package apiapp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server limits: every connection is bounded, so that slow clients
// (slowloris) cannot hold the server.
const (
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout = 10 * time.Second
	// ReadTimeout bounds reading a whole request (a streamed NDJSON batch
	// extends it line by line).
	ReadTimeout = time.Minute
	// WriteMargin is added to the handler's longest wait for WriteTimeout.
	WriteMargin = 30 * time.Second
	// IdleTimeout bounds a keep-alive connection between requests.
	IdleTimeout = 2 * time.Minute
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
)

// NewServer is the http.Server of the API: h with the limits above, and a
// WriteTimeout longer than the longest wait a request may ask (maxWait).
func NewServer(h http.Handler, maxWait time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      maxWait + WriteMargin,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// Listen listens on addr, with TLS when certFile and keyFile are set (both
// or neither), and returns the listener and the URL it serves.
//
// Errors: one of certFile and keyFile without the other; a key pair that
// cannot be loaded; the address's.
func Listen(addr, certFile, keyFile string) (net.Listener, string, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, "", errors.New("--tls-cert and --tls-key go together: give both for HTTPS, or neither")
	}
	var cfg *tls.Config
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, "", fmt.Errorf("TLS key pair: %w", err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("HTTP API address: %w", err)
	}
	scheme := "http"
	if cfg != nil {
		l, scheme = tls.NewListener(l, cfg), "https"
	}
	return l, scheme + "://" + l.Addr().String(), nil
}
