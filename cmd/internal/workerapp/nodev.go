//go:build nodev

package workerapp

import (
	"errors"

	"go.temporal.io/sdk/client"
)

// startDev fails: this binary was built with -tags nodev, without the
// embedded Temporal server (the production image).
func (m *Main) startDev() (client.Options, error) {
	return client.Options{}, errors.New("this worker is built without the embedded Temporal server (-tags nodev): name your Temporal frontend with --address, TEMPORAL_ADDRESS or a profile of the config file")
}
