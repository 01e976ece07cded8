// Command api serves Once's HTTP API (package starter/httpapi) for one
// Temporal namespace. See internal/apiapp for the flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/once-run/once/cmd/internal/apiapp"
)

func main() {
	m := apiapp.NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, apiapp.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		_ = m.Close()
		os.Exit(1)
	}
	fmt.Println("Press Ctrl+C to stop.")
	<-ctx.Done()
	fmt.Println("Stopping: finishing the requests in flight…")
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "api: stop:", err)
		os.Exit(1)
	}
	fmt.Println("Stopped.")
}
