// Command temporal-once is the starter CLI as an extension of the temporal
// CLI: installed on the PATH, `temporal once trigger …` runs it (the temporal
// CLI runs any temporal-<name> executable for `temporal <name>`), with the
// same commands and flags as cmd/starter.
//
//	go install ./cmd/temporal-once     # from a checkout of this repository
//	temporal once trigger hello --key order-42 --wait
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/once-run/once/cmd/internal/starterapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := starterapp.NewMain()
	m.Name, m.DisplayName = "temporal-once", "temporal once"
	code := m.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
