//go:build !nodev

package starterapp

import "github.com/once-run/once/examples"

// exampleTaskIDs are the tasks this repository registers (package
// examples), which the completion of a task argument offers when --tasks
// names none. Built with -tags nodev (the production image), the CLI has
// none: see noexamples.go.
func exampleTaskIDs() []string {
	var ids []string
	for _, d := range examples.Tasks() {
		ids = append(ids, d.ID())
	}
	return ids
}
