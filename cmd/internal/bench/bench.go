// Package bench measures Once against the raw Temporal SDK doing the same
// work on the same server, in one process: the benchmark behind cmd/bench
// and BENCHMARKS.md.
//
// Run starts an embedded server (in-memory SQLite) or connects to the one at
// Config.Address, starts a Once worker and a plain SDK worker, then measures
// each pair of contenders in alternating rounds (raw, Once, Once, raw, raw,
// Once, …) so that machine noise and the server's growing state hit both
// sides alike, and reports for each pair the ratio of every round — median,
// minimum and maximum — against the goals of issue 14. Sections:
//
//   - starts: new key, cached hit, BatchTrigger vs raw parallel starts, a
//     parent with 50 children (beside a raw parent whose children carry
//     Once's child options);
//   - round-trip time (Config.RTT, 20 ms): a client-side delay on every RPC
//     of both sides; BatchTrigger vs raw parallel starts and vs a sequential
//     Trigger loop, and BatchTrigger's rate by parallelism (the curve that
//     chose starter.DefaultBatchParallelism);
//   - HTTP API: a trigger (new key, cached hit) through Once's HTTP API
//     (starter/httpapi with cmd/api's http.Server, on loopback) against the
//     Go starter it serves, with the median latency HTTP adds;
//   - storage: the file-backed embedded server (SQLite WAL,
//     synchronous=normal) against the in-memory one, both fresh;
//   - in-process: idempotency.Derive and KeyFromPayload;
//   - scale (Config.Scale, a mode of its own): new-key and cached-hit ratios
//     with 1,000, 10,000 and 50,000 runs in the namespace.
//
// The figures describe this machine and this server; compare ratios, not
// absolute rates, across machines and servers.
//
// Do not run it against a shared server: it starts tens of thousands of
// workflows and leaves most of them open (no worker polls their queue).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"

	"github.com/once-run/once/cmd/internal/devserver"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// Config sizes the benchmark. The zero value of a field means its default
// (see DefaultConfig).
type Config struct {
	// Address of a Temporal frontend to measure against instead of the
	// embedded server, e.g. a cluster's. Optional: defaults to "", an
	// embedded in-memory server.
	Address string
	// Namespace on Address. Optional: defaults to "default".
	Namespace string
	// DynamicConfig overrides dynamic config keys of the embedded servers,
	// e.g. "history.externalPayloadsEnabled": false. Optional: defaults to
	// none (the server's defaults).
	DynamicConfig map[string]any

	// Concurrency is the number of concurrent callers of the start
	// benchmarks and the parallelism of the batches. Default 16.
	Concurrency int
	// Rounds of the new-key and cached-hit pairs (each round measures both
	// sides). Default 8.
	Rounds int
	// NewKeyStarts per side and round of the new-key pair. Default 300.
	NewKeyStarts int
	// CachedHits per side and round of the cached-hit pair. Default 1000.
	CachedHits int
	// CachedKeys is how many existing runs the cached hits cycle over.
	// Default 256.
	CachedKeys int
	// BatchItems per batch. Default 400.
	BatchItems int
	// BatchRounds of the batch pair. Default 6.
	BatchRounds int
	// Children of each parent in the parent pair. Default 50.
	Children int
	// ParentRounds of the parent pair. Default 12.
	ParentRounds int
	// ParentsPerRound run one after the other on each side of a round of
	// the parent pair, timed together (a parent takes under a second, and
	// one alone is at the mercy of the machine). Default 2.
	ParentsPerRound int

	// RTT is the delay added to every RPC of both sides in the round-trip
	// section. Default 20ms; negative skips the section.
	RTT time.Duration
	// RTTItems per batch (and per raw side) at RTT. Default 300.
	RTTItems int
	// RTTRounds of the pairs at RTT. Default 4.
	RTTRounds int
	// SequentialItems triggered one after the other at RTT for the loop
	// baseline. Default 40.
	SequentialItems int
	// Parallelisms of the curve at RTT. Default 4, 8, 16, 32, 64.
	Parallelisms []int
	// CurveItems per batch (and per raw side) of each curve point.
	// Default 250.
	CurveItems int

	// StorageStarts per side and round of the file-backed vs in-memory pair.
	// Default 150; negative skips the section (it is skipped with Address).
	StorageStarts int
	// StorageRounds of that pair. Default 4.
	StorageRounds int

	// Scale runs the scale mode instead of the sections above: new-key and
	// cached-hit pairs with ScaleCounts runs in the namespace.
	Scale bool
	// ScaleCounts are the numbers of existing runs. Default 1,000, 10,000,
	// 50,000.
	ScaleCounts []int
	// ScaleRounds of each pair at each count. Default 6.
	ScaleRounds int

	// Only lists the steps to run (new-key, cached-hit, http, batch, parent,
	// rtt, storage, micro). Optional: defaults to all of them.
	Only []string
	// Diagnostics adds pairs that explain the others (a raw start carrying
	// Once's memo, raw children carrying parts of what Once's carry).
	// Optional: defaults to off.
	Diagnostics bool
	// NoMicro skips the in-process benchmarks.
	NoMicro bool
	// DrainTimeout bounds the wait for started runs to finish before the
	// parent pair. Default 2m.
	DrainTimeout time.Duration
	// CPUProfile, when set, receives a CPU profile of the measurements
	// (server, workers and clients when they share the process).
	CPUProfile io.Writer
	// Log receives progress lines. Optional: defaults to io.Discard.
	Log io.Writer
}

// DefaultConfig is the configuration that measures in about two and a half
// minutes on two quiet cores: rounds long enough (half a second to two
// seconds a side) that a round's ratio is not mostly scheduling noise.
func DefaultConfig() Config {
	return Config{
		Namespace:       "default",
		Concurrency:     16,
		Rounds:          8,
		NewKeyStarts:    300,
		CachedHits:      1000,
		CachedKeys:      256,
		BatchItems:      400,
		BatchRounds:     6,
		Children:        50,
		ParentRounds:    12,
		ParentsPerRound: 2,
		RTT:             20 * time.Millisecond,
		RTTItems:        300,
		RTTRounds:       4,
		SequentialItems: 40,
		Parallelisms:    []int{4, 8, 16, 32, 64},
		CurveItems:      250,
		StorageStarts:   150,
		StorageRounds:   4,
		ScaleCounts:     []int{1000, 10000, 50000},
		ScaleRounds:     6,
		DrainTimeout:    2 * time.Minute,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Namespace == "" {
		c.Namespace = d.Namespace
	}
	set(&c.Concurrency, d.Concurrency)
	set(&c.Rounds, d.Rounds)
	set(&c.NewKeyStarts, d.NewKeyStarts)
	set(&c.CachedHits, d.CachedHits)
	set(&c.CachedKeys, d.CachedKeys)
	set(&c.BatchItems, d.BatchItems)
	set(&c.BatchRounds, d.BatchRounds)
	set(&c.Children, d.Children)
	set(&c.ParentRounds, d.ParentRounds)
	set(&c.ParentsPerRound, d.ParentsPerRound)
	set(&c.RTTItems, d.RTTItems)
	set(&c.RTTRounds, d.RTTRounds)
	set(&c.SequentialItems, d.SequentialItems)
	set(&c.CurveItems, d.CurveItems)
	set(&c.StorageStarts, d.StorageStarts)
	set(&c.StorageRounds, d.StorageRounds)
	set(&c.ScaleRounds, d.ScaleRounds)
	if c.RTT == 0 {
		c.RTT = d.RTT
	}
	if len(c.Parallelisms) == 0 {
		c.Parallelisms = d.Parallelisms
	}
	if len(c.ScaleCounts) == 0 {
		c.ScaleCounts = d.ScaleCounts
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = d.DrainTimeout
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

// environment is the Once environment whose worker runs the parents;
// startsEnvironment the one of the start benchmarks, which no worker serves;
// rawQueue the task queue of the plain SDK worker.
const (
	environment       = "bench"
	startsEnvironment = "bench-starts"
	rawQueue          = "bench-raw"
	// plainOnceQueue: Once's parent and noop tasks on a plain SDK worker
	// (--diagnostics), to tell Once's worker from Once's workflow code.
	plainOnceQueue = "bench-plain-once"
)

// noopTask is the trivial workflow both sides start: it returns its input.
var noopTask = workflows.NewTask("bench-noop", func(_ workflow.Context, n int) (int, error) {
	return n, nil
}, workflows.TaskOptions{})

// parentTask triggers n children of noopTask with TriggerAndWait, all at
// once (one coroutine each), and waits for all of them.
var parentTask = workflows.NewTask("bench-parent", func(ctx workflow.Context, n int) (int, error) {
	results := make([]int, n)
	errs := make([]error, n)
	wg := workflow.NewWaitGroup(ctx)
	for i := range n {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			results[i], errs[i] = noopTask.TriggerAndWait(ctx, i, workflows.ChildOptions{})
		})
	}
	wg.Wait(ctx)
	sum := 0
	for i := range n {
		if errs[i] != nil {
			return 0, errs[i]
		}
		sum += results[i]
	}
	return sum, nil
}, workflows.TaskOptions{})

// parentBatchTask triggers n children of noopTask with one
// BatchTriggerAndWait and waits for all of them (--diagnostics).
var parentBatchTask = workflows.NewTask("bench-parent-batch", func(ctx workflow.Context, n int) (int, error) {
	items := make([]workflows.ChildItem[int], n)
	for i := range items {
		items[i].Payload = i
	}
	results, err := noopTask.BatchTriggerAndWait(ctx, items, workflows.ChildBatchOptions{})
	if err != nil {
		return 0, err
	}
	sum := 0
	for _, r := range results {
		if r.Err != nil {
			return 0, r.Err
		}
		sum += r.Value
	}
	return sum, nil
}, workflows.TaskOptions{})

// rawNoop is noopTask's function as a plain SDK workflow.
func rawNoop(_ workflow.Context, n int) (int, error) { return n, nil }

// rawParent starts n rawNoop children with workflow.ExecuteChildWorkflow
// and waits for all of them.
func rawParent(ctx workflow.Context, n int) (int, error) {
	futures := make([]workflow.ChildWorkflowFuture, n)
	for i := range n {
		futures[i] = workflow.ExecuteChildWorkflow(ctx, "bench-raw-noop", i)
	}
	return sumResults(ctx, futures)
}

// sumResults waits for every child in futures and returns the sum of their results.
func sumResults(ctx workflow.Context, futures []workflow.ChildWorkflowFuture) (int, error) {
	total := 0
	for _, f := range futures {
		var r int
		if err := f.Get(ctx, &r); err != nil {
			return 0, err
		}
		total += r
	}
	return total, nil
}

// side is one client process of a server: a plain SDK client (the raw
// side) and a Once starter on a connection of its own, which starter.Dial
// made from the same client options, both starting runs in
// startsEnvironment (no worker: they stay open).
type side struct {
	c       client.Client
	starter *starter.Client
	unseen  *starter.Client // remembers no key: every trigger starts (SeenKeys < 0); starter's connection
}

// close closes both connections.
func (s side) close() {
	if s.c != nil {
		s.c.Close()
	}
	if s.starter != nil {
		s.starter.Close()
	}
}

// env is a running benchmark environment.
type env struct {
	cfg       Config
	namespace string
	server    string // "embedded, in-memory SQLite" or the address
	plain     side   // no added delay
	rtt       side   // Config.RTT on every RPC (zero when the section is skipped)
	queue     string // startsEnvironment's task queue
	runner    *starter.Client
	prefix    string // of unique names: this process's
	seq       atomic.Int64
}

// Run starts the environment, measures, and returns the report.
//
// Errors: the server or a worker fails to start, or a start or run fails
// during a measurement (the benchmark does not count failures as work).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	rep := newReport(cfg)
	setupStart := time.Now()
	e := &env{cfg: cfg, prefix: strconv.FormatInt(time.Now().UnixNano(), 36)}
	address, stopServer, err := e.startServer()
	if err != nil {
		return nil, err
	}
	defer stopServer()
	rep.Server = e.server
	closeSides, err := e.dialSides(ctx, address)
	if err != nil {
		return nil, err
	}
	defer closeSides()
	stopWorkers, err := e.startWorkers()
	if err != nil {
		return nil, err
	}
	defer stopWorkers()
	if err := e.warmUp(ctx); err != nil {
		return nil, err
	}
	rep.SetupSeconds = time.Since(setupStart).Seconds()
	fmt.Fprintf(cfg.Log, "setup: %s (%s)\n", time.Since(setupStart).Round(time.Millisecond), rep.Server)

	if !cfg.NoMicro && !cfg.Scale && cfg.runs("micro") {
		rep.Micro = micro()
	}
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return nil, fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	if err := e.runSteps(ctx, rep); err != nil {
		return nil, err
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// startServer starts the embedded server, unless Config.Address names one,
// sets e.namespace and e.server, and returns the address to dial and what
// stops the server it started.
func (e *env) startServer() (address string, stop func(), err error) {
	if e.cfg.Address != "" {
		e.namespace, e.server = e.cfg.Namespace, "external server "+e.cfg.Address
		return e.cfg.Address, func() {}, nil
	}
	srv, err := devserver.Start(devserver.Options{Retention: 24 * time.Hour, DynamicConfig: e.cfg.DynamicConfig})
	if err != nil {
		return "", nil, err
	}
	e.namespace, e.server = srv.Namespace(), "embedded server, in-memory SQLite"
	return srv.Address(), func() { _ = srv.Stop() }, nil
}

// dialSides dials the plain side and, unless the round-trip section is
// skipped, the side with Config.RTT on every RPC; closeSides closes both.
func (e *env) dialSides(ctx context.Context, address string) (closeSides func(), err error) {
	if e.plain, err = e.dial(ctx, address, e.namespace, 0); err != nil {
		return nil, err
	}
	if e.cfg.RTT > 0 && !e.cfg.Scale {
		if e.rtt, err = e.dial(ctx, address, e.namespace, e.cfg.RTT); err != nil {
			e.plain.close()
			return nil, err
		}
	}
	e.queue = e.plain.starter.TaskQueue()
	return func() { e.rtt.close(); e.plain.close() }, nil
}

// startWorkers starts Once's worker, on Once's side's connection (that its
// parents are triggered on), the raw worker on the plain SDK client and,
// with --diagnostics, a plain SDK worker of Once's tasks; stop stops them,
// the last started first.
func (e *env) startWorkers() (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range slices.Backward(stops) {
			s()
		}
	}
	ws, err := e.plain.starter.With(starter.Options{Environment: environment, Logger: shared.DiscardLogger()})
	if err != nil {
		return nil, err
	}
	w, err := worker.New(ws, worker.Options{
		Logger: shared.DiscardLogger(),
		Tasks:  []workflows.Definition{noopTask, parentTask, parentBatchTask},
	})
	if err != nil {
		return nil, err
	}
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("bench: start worker: %w", err)
	}
	stops = append(stops, w.Stop)
	e.runner = w.Starter()
	raw := sdkworker.New(e.plain.c, rawQueue, sdkworker.Options{})
	raw.RegisterWorkflowWithOptions(rawNoop, workflow.RegisterOptions{Name: "bench-raw-noop"})
	raw.RegisterWorkflowWithOptions(rawParent, workflow.RegisterOptions{Name: "bench-raw-parent"})
	raw.RegisterWorkflowWithOptions(rawCarrying, workflow.RegisterOptions{Name: rawCarryingType})
	if err := raw.Start(); err != nil {
		stop()
		return nil, fmt.Errorf("bench: start raw worker: %w", err)
	}
	stops = append(stops, raw.Stop)
	if e.cfg.Diagnostics {
		po := sdkworker.New(e.plain.c, plainOnceQueue, sdkworker.Options{})
		for _, t := range []workflows.Definition{noopTask, parentTask} {
			t.Register(po, workflows.Runtime{Environment: environment})
		}
		if err := po.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("bench: start plain worker of Once's tasks: %w", err)
		}
		stops = append(stops, po.Stop)
	}
	return stop, nil
}

// warmUp starts runs both ways on each side (connections, caches, the
// starter's namespace info).
func (e *env) warmUp(ctx context.Context) error {
	n, p := e.cfg.Concurrency*4, e.cfg.Concurrency
	for _, s := range []side{e.plain, e.rtt} {
		if s.c == nil {
			continue
		}
		if _, err := e.measure(ctx, n, p, e.rawNew(s)); err != nil {
			return err
		}
		if _, err := e.measure(ctx, n, p, e.onceNew(s)); err != nil {
			return err
		}
	}
	return nil
}

// runSteps runs the steps that Config.Only names (all by default), or the
// scale mode.
func (e *env) runSteps(ctx context.Context, rep *Report) error {
	type step struct {
		name string
		run  func(context.Context, *Report) error
	}
	// The round-trip section goes first: its batches are bound by the
	// server's rate, which the runs that the other sections leave behind
	// lower on the in-memory server (SQLite's page cache grows with them).
	steps := []step{
		{"rtt", e.roundTrips}, {"new-key", e.newKeys}, {"cached-hit", e.cachedHits}, {"http", e.httpAPI}, {"batch", e.batches},
		{"parent", e.parents}, {"storage", e.storage},
	}
	if e.cfg.Scale {
		steps = []step{{"scale", e.scale}}
	}
	for _, s := range steps {
		if !e.cfg.Scale && !e.cfg.runs(s.name) {
			continue
		}
		if err := s.run(ctx, rep); err != nil {
			return err
		}
	}
	return nil
}

// runs reports whether step is to run (Config.Only).
func (c Config) runs(step string) bool {
	return len(c.Only) == 0 || slices.Contains(c.Only, step)
}

// dial connects a plain SDK client and a starter for startsEnvironment
// (starter.Dial), each on its own connection made from the same options,
// with rtt added to every RPC of both when positive.
func (e *env) dial(ctx context.Context, address, namespace string, rtt time.Duration) (side, error) {
	opts := client.Options{HostPort: address, Namespace: namespace, Logger: shared.DiscardLogger()}
	if rtt > 0 {
		opts.ConnectionOptions.DialOptions = []grpc.DialOption{grpc.WithChainUnaryInterceptor(delay(rtt))}
	}
	// The raw side's client writes the once-run header into the children
	// of the parents that ask for it (markedPropagator), no other.
	ropts := opts
	ropts.ContextPropagators = []workflow.ContextPropagator{markedPropagator{worker.ContextPropagator()}}
	c, err := client.DialContext(ctx, ropts)
	if err != nil {
		return side{}, fmt.Errorf("bench: dial %s: %w", address, err)
	}
	so := starter.Options{Environment: startsEnvironment, Logger: shared.DiscardLogger()}
	s, err := starter.Dial(ctx, opts, so)
	if err != nil {
		c.Close()
		return side{}, fmt.Errorf("bench: dial %s: %w", address, err)
	}
	so.SeenKeys = -1
	unseen, err := s.With(so)
	if err != nil {
		c.Close()
		s.Close()
		return side{}, err
	}
	return side{c: c, starter: s, unseen: unseen}, nil
}

// delay is a gRPC client interceptor that waits rtt before every unary
// call: a server that far away, for both sides alike.
func delay(rtt time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		t := time.NewTimer(rtt)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// rawNew starts a fresh workflow ID with client.ExecuteWorkflow. The ID
// has the shape of Once's ("<env>/<task>/<64 hex>"), so both sides store as
// much.
func (e *env) rawNew(s side) func(context.Context, int) error {
	return e.rawNewWithMemo(s, nil)
}

// rawNewWithMemo is rawNew whose starts carry the memo that memo makes for
// each (none when memo is nil).
func (e *env) rawNewWithMemo(s side, memo func() map[string]any) func(context.Context, int) error {
	return func(ctx context.Context, _ int) error {
		opts := client.StartWorkflowOptions{
			ID:                    e.rawID(),
			TaskQueue:             e.queue,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		}
		if memo != nil {
			opts.Memo = memo()
		}
		_, err := s.c.ExecuteWorkflow(ctx, opts, noopTask.ID(), 1)
		return err
	}
}

// onceNew triggers with a fresh key.
func (e *env) onceNew(s side) func(context.Context, int) error {
	return func(ctx context.Context, _ int) error {
		run, err := s.starter.Trigger(ctx, noopTask.ID(), 1, starter.TriggerOptions{Key: idempotency.Parts{e.unique("once")}})
		if err == nil && run.Cached {
			err = errors.New("bench: a new key came back cached")
		}
		return err
	}
}

// pair is one round of an A/B pair: the time of each side.
type pair struct{ raw, once time.Duration }

// alternate runs raw and once rounds times each, in the order raw, once,
// once, raw, raw, once, … so that neither side always goes first.
func (e *env) alternate(ctx context.Context, name string, rounds int, raw, once func(context.Context) (time.Duration, error)) ([]pair, error) {
	out := make([]pair, rounds)
	for r := range rounds {
		order := []bool{false, true} // false: raw
		if r%2 == 1 {
			order = []bool{true, false}
		}
		for _, isOnce := range order {
			f, name2 := raw, "raw"
			if isOnce {
				f, name2 = once, "once"
			}
			e.settle(ctx)
			d, err := f(ctx)
			if err != nil {
				return nil, fmt.Errorf("bench: %s round %d (%s): %w", name, r, name2, err)
			}
			if isOnce {
				out[r].once = d
			} else {
				out[r].raw = d
			}
		}
		fmt.Fprintf(e.cfg.Log, "%s round %d: raw %s, once %s\n", name, r, out[r].raw.Round(time.Millisecond), out[r].once.Round(time.Millisecond))
	}
	return out, nil
}

// settle waits, before each measured side, until the server has done the
// work that the previous side left behind (visibility records, task queue
// writes run asynchronously after a start returns), so that no side pays for
// the other's. The embedded server shares this process: it waits until the
// process uses less than a fifth of a core for 50 ms (at most 3 s). An
// external server cannot be watched from here: it waits 300 ms.
func (e *env) settle(ctx context.Context) {
	if e.cfg.Address != "" {
		sleep(ctx, 300*time.Millisecond)
		return
	}
	const window, idle = 50 * time.Millisecond, 10 * time.Millisecond
	deadline := time.Now().Add(3 * time.Second)
	for prev := processCPU(); time.Now().Before(deadline) && ctx.Err() == nil; {
		sleep(ctx, window)
		now := processCPU()
		if now-prev < idle {
			return
		}
		prev = now
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure calls fn n times from parallel goroutines and returns the
// elapsed time; the first error stops it.
func (e *env) measure(ctx context.Context, n, parallel int, fn func(context.Context, int) error) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range min(parallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// timed runs n calls of fn from parallel goroutines as one side of a pair.
func (e *env) timed(n, parallel int, fn func(context.Context, int) error) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) { return e.measure(ctx, n, parallel, fn) }
}

// drain waits until no run that a worker executes is open, so that the
// parent benchmark starts on an idle worker.
func (e *env) drain(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.DrainTimeout)
	defer cancel()
	start := time.Now()
	query := fmt.Sprintf("ExecutionStatus = 'Running' AND TaskQueue IN ('%s', '%s')", e.runner.TaskQueue(), rawQueue)
	for {
		resp, err := e.plain.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: e.namespace, Query: query})
		if err == nil && resp.GetCount() == 0 {
			if d := time.Since(start); d > time.Second {
				fmt.Fprintf(e.cfg.Log, "drained in %s\n", d.Round(time.Millisecond))
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bench: runs still open after %s (last error: %v)", e.cfg.DrainTimeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// unique is a workflow ID or key part that no other call uses, in this
// process or another (an external server keeps earlier runs' IDs).
func (e *env) unique(prefix string) string {
	return prefix + "-" + e.prefix + "-" + strconv.FormatInt(e.seq.Add(1), 10)
}

// rawID is a fresh workflow ID of the shape of Once's.
func (e *env) rawID() string {
	k, _ := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, e.unique("raw"))
	return startsEnvironment + "/" + noopTask.ID() + "/" + string(k)
}
