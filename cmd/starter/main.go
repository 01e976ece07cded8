// Command starter triggers Once tasks from the command line: trigger, batch,
// reset, describe and key, with the temporal CLI's connection flags. See
// internal/starterapp for the commands; cmd/temporal-once is the same program
// as an extension of the temporal CLI.
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
	code := starterapp.NewMain().Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
