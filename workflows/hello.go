// Package workflows holds Once's task runtime and the example tasks.
package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// HelloPayload is the payload of the hello task.
type HelloPayload struct {
	Name string `json:"name"`
}

// Hello is the hello task: {"name": "Ada"} → "Hello, Ada".
func Hello(_ workflow.Context, p HelloPayload) (string, error) {
	return "Hello, " + p.Name, nil
}

// Examples returns the example tasks by task ID, for registration.
func Examples() map[string]any {
	return map[string]any{"hello": Hello}
}
