// Command worker runs Once's worker, with an embedded Temporal server when
// neither a flag, the environment nor a Temporal profile names an address.
// See internal/workerapp for the flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/once-run/once/cmd/internal/workerapp"
)

func main() {
	m := workerapp.NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, workerapp.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		_ = m.Close()
		os.Exit(1)
	}
	fmt.Println("Press Ctrl+C to stop.")
	<-ctx.Done()
	fmt.Println("Stopping: draining the worker, then the server…")
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "worker: stop:", err)
		os.Exit(1)
	}
	fmt.Println("Stopped.")
}
