//go:build nodev

package workerapp

import (
	"errors"

	"go.temporal.io/sdk/client"
)

// startDev fails: this binary was built with -tags nodev, without the
// embedded Temporal server (the production image).
func (m *Main) startDev() (client.Options, error) {
	return client.Options{}, errors.New("this worker is built without the embedded Temporal server (-tags nodev): set TEMPORAL_ADDRESS to your Temporal frontend")
}
