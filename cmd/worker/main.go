// Command worker runs Once's worker, with an embedded Temporal server when
// neither a flag, the environment nor a Temporal profile names an address.
// See internal/workerapp for the flags.
package main

import (
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/cmd/internal/workerapp"
)

func main() {
	shared.Main("worker", "Stopping: draining the worker, then the server…", workerapp.NewMain())
}
