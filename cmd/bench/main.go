// Command bench measures Once against the raw Temporal SDK on the same
// server, in one process — an embedded in-memory server, or the one at
// --address — and prints tables of ratios against the goals (see
// BENCHMARKS.md). It exits 1 on an error, 0 otherwise, whether or not every
// goal holds (--strict exits 3 when one does not).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/once-run/once/cmd/internal/bench"
)

func main() {
	cfg := bench.DefaultConfig()
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&cfg.Address, "address", "", "measure against the Temporal frontend at `host:port` (e.g. scripts/cluster's) instead of an embedded server")
	fs.StringVar(&cfg.Namespace, "namespace", cfg.Namespace, "namespace on --address")
	var dyn dynamicConfig
	fs.Var(&dyn, "dynamic-config", "embedded servers: override a dynamic config `key=value` (true/false, a number, or text); repeatable")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "concurrent callers of the start pairs, and parallelism of their batches")
	fs.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "A/B rounds of the new-key and cached-hit pairs")
	fs.IntVar(&cfg.NewKeyStarts, "new-keys", cfg.NewKeyStarts, "starts per side and round, new-key pair")
	fs.IntVar(&cfg.CachedHits, "cached-hits", cfg.CachedHits, "calls per side and round, cached-hit pair")
	fs.IntVar(&cfg.CachedKeys, "cached-keys", cfg.CachedKeys, "existing runs the cached hits cycle over")
	fs.IntVar(&cfg.BatchItems, "batch-items", cfg.BatchItems, "items per batch")
	fs.IntVar(&cfg.BatchRounds, "batch-rounds", cfg.BatchRounds, "A/B rounds of the batch pair")
	fs.IntVar(&cfg.Children, "children", cfg.Children, "children per parent")
	fs.IntVar(&cfg.ParentRounds, "parent-rounds", cfg.ParentRounds, "A/B rounds of the parent pair")
	fs.IntVar(&cfg.ParentsPerRound, "parents-per-round", cfg.ParentsPerRound, "parents timed together on each side of a round of the parent pair")
	fs.DurationVar(&cfg.RTT, "rtt", cfg.RTT, "round trip added to every RPC of both sides in the round-trip section (negative: skip it)")
	fs.IntVar(&cfg.RTTItems, "rtt-items", cfg.RTTItems, "items per batch at --rtt")
	fs.IntVar(&cfg.RTTRounds, "rtt-rounds", cfg.RTTRounds, "rounds at --rtt")
	fs.IntVar(&cfg.SequentialItems, "sequential-items", cfg.SequentialItems, "Trigger calls of the sequential loop at --rtt")
	parallelisms := fs.String("parallelisms", joinInts(cfg.Parallelisms), "BatchTrigger parallelisms of the curve at --rtt, comma-separated")
	fs.IntVar(&cfg.CurveItems, "curve-items", cfg.CurveItems, "items per batch of each curve point")
	fs.IntVar(&cfg.StorageStarts, "storage-starts", cfg.StorageStarts, "starts per side and round, file-backed vs in-memory (negative: skip)")
	fs.IntVar(&cfg.StorageRounds, "storage-rounds", cfg.StorageRounds, "rounds of file-backed vs in-memory")
	fs.BoolVar(&cfg.Scale, "scale", false, "scale mode instead of the default sections: new-key and cached-hit pairs with --scale-counts runs in the namespace (about 5 minutes on 2 cores)")
	scaleCounts := fs.String("scale-counts", joinInts(cfg.ScaleCounts), "existing runs of the scale mode, comma-separated")
	fs.IntVar(&cfg.ScaleRounds, "scale-rounds", cfg.ScaleRounds, "A/B rounds of each pair in the scale mode")
	only := fs.String("only", "", "run only these steps, comma-separated: new-key, cached-hit, http, batch, parent, rtt, storage, micro")
	fs.BoolVar(&cfg.Diagnostics, "diagnostics", false, "add pairs that explain the others (raw starts with Once's memo, a raw describe, raw children with parts of what Once's carry, Once's parent three more ways, what each parent's children carry, parent timelines)")
	fs.BoolVar(&cfg.NoMicro, "no-micro", false, "skip the in-process benchmarks")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "wait for started runs to finish before the parent pair")
	jsonOut := fs.Bool("json", false, "print the report as JSON")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measurements to `file`")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	strict := fs.Bool("strict", false, "exit 3 when a goal does not hold")
	_ = fs.Parse(os.Args[1:])

	var err error
	if cfg.Parallelisms, err = parseInts(*parallelisms); err != nil {
		fail(fmt.Errorf("--parallelisms: %w", err))
	}
	if cfg.ScaleCounts, err = parseInts(*scaleCounts); err != nil {
		fail(fmt.Errorf("--scale-counts: %w", err))
	}
	cfg.DynamicConfig = dyn
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	if !*quiet {
		cfg.Log = os.Stderr
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fail(err)
		}
		defer f.Close()
		cfg.CPUProfile = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		fail(err)
	}
	if *jsonOut {
		err = rep.WriteJSON(os.Stdout)
	} else {
		err = rep.WriteTable(os.Stdout)
	}
	if err != nil {
		fail(err)
	}
	if *strict && !rep.AllMet() {
		os.Exit(3)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want positive whole numbers", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// dynamicConfig is the repeatable --dynamic-config flag.
type dynamicConfig map[string]any

func (d *dynamicConfig) String() string { return fmt.Sprint(map[string]any(*d)) }

func (d *dynamicConfig) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want key=value", s)
	}
	if *d == nil {
		*d = dynamicConfig{}
	}
	if b, err := strconv.ParseBool(v); err == nil {
		(*d)[k] = b
	} else if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		(*d)[k] = int(n)
	} else if f, err := strconv.ParseFloat(v, 64); err == nil {
		(*d)[k] = f
	} else {
		(*d)[k] = v
	}
	return nil
}
