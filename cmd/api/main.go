// Command api serves Once's HTTP API (package starter/httpapi) for one
// Temporal namespace. See internal/apiapp for the flags.
package main

import (
	"github.com/once-run/once/cmd/internal/apiapp"
	"github.com/once-run/once/cmd/internal/shared"
)

func main() {
	shared.Main("api", "Stopping: finishing the requests in flight…", apiapp.NewMain())
}
