// Command bench measures Once against the raw Temporal SDK on an embedded,
// in-memory Temporal server and prints a table of ratios against the goals
// (see BENCHMARKS.md). It exits 1 on an error, 0 otherwise, whether or not
// every goal holds (use --strict to exit 3 when one does not).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/once-run/once/cmd/internal/bench"
)

func main() {
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "concurrent callers, and parallelism of batches")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "A/B rounds of the new-key and cached-hit benchmarks")
	fs.IntVar(&cfg.NewKeyStarts, "new-keys", cfg.NewKeyStarts, "starts per side and round, new-key benchmark")
	fs.IntVar(&cfg.CachedHits, "cached-hits", cfg.CachedHits, "calls per side and round, cached-hit benchmark")
	fs.IntVar(&cfg.CachedKeys, "cached-keys", cfg.CachedKeys, "existing runs the cached hits cycle over")
	fs.IntVar(&cfg.BatchItems, "batch-items", cfg.BatchItems, "items per batch")
	fs.IntVar(&cfg.BatchRounds, "batch-rounds", cfg.BatchRounds, "A/B rounds of the batch benchmark")
	fs.IntVar(&cfg.SequentialItems, "sequential-items", cfg.SequentialItems, "Trigger calls of the sequential baseline")
	fs.IntVar(&cfg.Children, "children", cfg.Children, "children per parent")
	fs.IntVar(&cfg.ParentRounds, "parent-rounds", cfg.ParentRounds, "A/B rounds of the parent benchmark")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "wait for started runs to finish between benchmarks")
	fs.BoolVar(&cfg.NoSearchAttributes, "no-search-attributes", false, "server without Once's search attributes (Once's runs get the memo only)")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measurements to `file`")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	strict := fs.Bool("strict", false, "exit 3 when a goal does not hold")
	_ = fs.Parse(os.Args[1:])

	if !*quiet {
		cfg.Log = os.Stderr
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		cfg.CPUProfile = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if *jsonOut {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteTable(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if *strict && !rep.AllMet() {
		os.Exit(3)
	}
}
