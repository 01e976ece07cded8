//go:build !nodev

package workerapp

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/once-run/once/cmd/internal/devserver"
)

// startDev starts the embedded Temporal server and returns the client
// options to reach it. Built with -tags nodev (the production image), the
// worker has no embedded server: see nodev.go.
func (m *Main) startDev() (client.Options, error) {
	if dir := filepath.Dir(m.DBFile); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return client.Options{}, fmt.Errorf("data folder: %w", err)
		}
	}
	start := time.Now()
	srv, err := devserver.Start(devserver.Options{
		Address:   m.GRPCAddress,
		UIAddress: m.UIAddress,
		DBFile:    m.DBFile,
	})
	if err != nil {
		return client.Options{}, err
	}
	m.server = srv
	fmt.Fprintf(m.Stdout, "Temporal server  %s (namespace %s, dev mode: embedded server ready in %s)\n", srv.Address(), srv.Namespace(), time.Since(start).Round(time.Millisecond))
	if srv.UIAddress() != "" {
		fmt.Fprintf(m.Stdout, "Web UI           http://%s\n", srv.UIAddress())
	}
	fmt.Fprintf(m.Stdout, "Data             %s\n", srv.DBFile())
	return client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()}, nil
}
