// Package bench measures Once against the raw Temporal SDK doing the same
// work on the same server, in one process: the benchmark behind cmd/bench
// and BENCHMARKS.md.
//
// Run starts an embedded server (in-memory SQLite), a Once worker and a
// plain SDK worker, then measures each pair of contenders in alternating
// rounds (raw, Once, Once, raw, raw, Once, …) so that machine noise and the
// server's growing state hit both sides alike, and reports ratios against
// the goals of issue 7. The figures describe this machine and the embedded
// single-shard SQLite server; compare ratios, not absolute rates, with a
// production cluster.
//
// Do not run it against a shared server: it starts thousands of workflows.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/once-run/once"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

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
	// Concurrency is the number of concurrent callers of the start
	// benchmarks and the parallelism of the batches. Default 16.
	Concurrency int
	// Rounds of each A/B pair (each round measures both sides). Default 4.
	Rounds int
	// NewKeyStarts per side and round of the new-key benchmark. Default 300.
	NewKeyStarts int
	// CachedHits per side and round of the cached-hit benchmark. Default 800.
	CachedHits int
	// CachedKeys is how many existing runs the cached hits cycle over.
	// Default 256.
	CachedKeys int
	// BatchItems per batch. Default 5000.
	BatchItems int
	// BatchRounds of the batch pair (a 5,000-item batch is long). Default 1.
	BatchRounds int
	// SequentialItems triggered one after the other for the sequential
	// baseline of the batch. Default 300.
	SequentialItems int
	// Children of each parent in the parent benchmark. Default 50.
	Children int
	// ParentRounds of the parent pair. Default 4.
	ParentRounds int
	// DrainTimeout bounds the wait for started runs to finish between
	// benchmarks. Default 2m.
	DrainTimeout time.Duration
	// NoSearchAttributes starts the server without Once's custom search
	// attributes, so that Once's runs carry the memo only (what Once costs
	// without searchable keys).
	NoSearchAttributes bool
	// CPUProfile, when set, receives a CPU profile of the measurements
	// (server, workers and clients: they share the process).
	CPUProfile io.Writer
	// Log receives progress lines. Optional: defaults to io.Discard.
	Log io.Writer
}

// DefaultConfig is the configuration that measures in under two minutes on
// two cores; the 5,000-item batch pair takes about half of it.
func DefaultConfig() Config {
	return Config{
		Concurrency:     16,
		Rounds:          4,
		NewKeyStarts:    300,
		CachedHits:      800,
		CachedKeys:      256,
		BatchItems:      5000,
		BatchRounds:     1,
		SequentialItems: 300,
		Children:        50,
		ParentRounds:    4,
		DrainTimeout:    2 * time.Minute,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&c.Concurrency, d.Concurrency)
	set(&c.Rounds, d.Rounds)
	set(&c.NewKeyStarts, d.NewKeyStarts)
	set(&c.CachedHits, d.CachedHits)
	set(&c.CachedKeys, d.CachedKeys)
	set(&c.BatchItems, d.BatchItems)
	set(&c.BatchRounds, d.BatchRounds)
	set(&c.SequentialItems, d.SequentialItems)
	set(&c.Children, d.Children)
	set(&c.ParentRounds, d.ParentRounds)
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
			results[i], errs[i] = noopTask.TriggerAndWait(ctx, i, workflows.TriggerOptions{})
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

// rawNoop is noopTask's function as a plain SDK workflow.
func rawNoop(_ workflow.Context, n int) (int, error) { return n, nil }

// rawParent starts n rawNoop children with workflow.ExecuteChildWorkflow
// and waits for all of them.
func rawParent(ctx workflow.Context, n int) (int, error) {
	futures := make([]workflow.ChildWorkflowFuture, n)
	for i := range n {
		futures[i] = workflow.ExecuteChildWorkflow(ctx, "bench-raw-noop", i)
	}
	sum := 0
	for _, f := range futures {
		var r int
		if err := f.Get(ctx, &r); err != nil {
			return 0, err
		}
		sum += r
	}
	return sum, nil
}

// env is a running benchmark environment.
type env struct {
	cfg     Config
	srv     *devserver.Server
	c       client.Client
	starter *starter.Client // for startsEnvironment
	queue   string          // its task queue
	runner  *starter.Client // for environment, whose runs a worker executes
	hasSA   bool            // the namespace has Once's search attributes
	seq     atomic.Int64
}

// Run starts the environment, measures, and returns the report.
//
// Errors: the server or a worker fails to start, or a start or run fails
// during a measurement (the benchmark does not count failures as work).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	rep := newReport(cfg)
	rep.Micro = micro()

	setupStart := time.Now()
	sopts := devserver.Options{Retention: 24 * time.Hour}
	if cfg.NoSearchAttributes {
		sopts.SearchAttributes = map[string]enumspb.IndexedValueType{}
	}
	srv, err := devserver.Start(sopts)
	if err != nil {
		return nil, err
	}
	defer func() { _ = srv.Stop() }()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(), Logger: shared.DiscardLogger()})
	if err != nil {
		return nil, fmt.Errorf("bench: dial: %w", err)
	}
	defer c.Close()
	w, err := worker.New(c, worker.Options{
		Environment: environment, Namespace: srv.Namespace(), Logger: shared.DiscardLogger(),
		Tasks: []workflows.Definition{noopTask, parentTask},
	})
	if err != nil {
		return nil, err
	}
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("bench: start worker: %w", err)
	}
	defer w.Stop()
	raw := sdkworker.New(c, rawQueue, sdkworker.Options{})
	raw.RegisterWorkflowWithOptions(rawNoop, workflow.RegisterOptions{Name: "bench-raw-noop"})
	raw.RegisterWorkflowWithOptions(rawParent, workflow.RegisterOptions{Name: "bench-raw-parent"})
	if err := raw.Start(); err != nil {
		return nil, fmt.Errorf("bench: start raw worker: %w", err)
	}
	defer raw.Stop()
	// The start benchmarks start runs in an environment no worker serves:
	// they measure the cost of triggering, not of running, and the runs
	// they leave open do not compete with the measurements that follow.
	st, err := starter.New(c, starter.Options{
		Environment: startsEnvironment, Namespace: srv.Namespace(), Logger: shared.DiscardLogger(),
		Tasks: map[string]once.TaskConfig{noopTask.ID(): noopTask.Config()},
	})
	if err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, srv: srv, c: c, starter: st, queue: st.TaskQueue(), runner: w.Starter(), hasSA: w.SearchAttributes()}
	// Warm up both paths (connections, caches, the starter's namespace info).
	if _, err := e.measure(ctx, cfg.Concurrency*4, e.rawNew); err != nil {
		return nil, err
	}
	if _, err := e.measure(ctx, cfg.Concurrency*4, e.onceNew); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Log, "setup: %s\n", time.Since(setupStart).Round(time.Millisecond))

	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return nil, fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	for _, step := range []func(context.Context, *Report) error{e.newKeys, e.cachedHits, e.batches, e.parents} {
		if err := step(ctx, rep); err != nil {
			return nil, err
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// newKeys: Trigger with a new key vs ExecuteWorkflow of a new ID.
func (e *env) newKeys(ctx context.Context, rep *Report) error {
	n := e.cfg.NewKeyStarts
	ab, err := e.alternate(ctx, "new-key", e.cfg.Rounds,
		func(ctx context.Context) (time.Duration, error) { return e.measure(ctx, n, e.rawNew) },
		func(ctx context.Context) (time.Duration, error) { return e.measure(ctx, n, e.onceNew) })
	if err != nil {
		return err
	}
	total := float64(n * e.cfg.Rounds)
	rep.add(Comparison{
		Name:     fmt.Sprintf("new-key Trigger vs ExecuteWorkflow (%d callers)", e.cfg.Concurrency),
		Unit:     "starts/s",
		Once:     total / ab.once.Seconds(),
		Baseline: total / ab.raw.Seconds(),
		Goal:     AtLeast(0.95),
	})
	return nil
}

func (e *env) rawNew(ctx context.Context, _ int) error {
	_, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                    e.unique("raw"),
		TaskQueue:             e.queue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
	}, noopTask.ID(), 1)
	return err
}

func (e *env) onceNew(ctx context.Context, _ int) error {
	run, err := e.starter.Trigger(ctx, noopTask.ID(), 1, starter.TriggerOptions{Key: idempotency.Parts{e.unique("once")}})
	if err == nil && run.Cached {
		err = errors.New("bench: a new key came back cached")
	}
	return err
}

// cachedHits: Trigger of an existing key vs the cheapest raw duplicate start
// (REJECT_DUPLICATE, error when already started).
func (e *env) cachedHits(ctx context.Context, rep *Report) error {
	keys := make([]idempotency.Parts, e.cfg.CachedKeys)
	ids := make([]string, e.cfg.CachedKeys)
	for i := range keys {
		keys[i] = idempotency.Parts{e.unique("hit")}
		run, err := e.starter.Trigger(ctx, noopTask.ID(), 1, starter.TriggerOptions{Key: keys[i]})
		if err != nil {
			return err
		}
		ids[i] = run.WorkflowID
	}
	rawHit := func(ctx context.Context, i int) error {
		_, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID:                                       ids[i%len(ids)],
			TaskQueue:                                e.queue,
			WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
		}, noopTask.ID(), 1)
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) {
			return nil
		}
		if err == nil {
			return errors.New("bench: a raw duplicate start started a run")
		}
		return err
	}
	onceHit := func(ctx context.Context, i int) error {
		run, err := e.starter.Trigger(ctx, noopTask.ID(), 1, starter.TriggerOptions{Key: keys[i%len(keys)]})
		if err == nil && !run.Cached {
			err = errors.New("bench: an existing key was not cached")
		}
		return err
	}
	// The same raw duplicate start carrying what Once's start carries (its
	// memo and search attributes): the difference to Once is then the cost
	// of the starter's code, the rest is the server's work on a bigger
	// request.
	rawHitSameRequest := func(ctx context.Context, i int) error {
		k := i % len(ids)
		opts := client.StartWorkflowOptions{
			ID:                                       ids[k],
			TaskQueue:                                e.queue,
			WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowExecutionErrorWhenAlreadyStarted: true,
			Memo: map[string]any{
				once.MemoTask: noopTask.ID(), once.MemoEnvironment: startsEnvironment, once.MemoKeyText: keys[k][0],
				once.MemoKeyScope: string(idempotency.ScopeGlobal), once.MemoExpiresAt: time.Now().Add(idempotency.DefaultTTL).UTC().Format(time.RFC3339),
			},
		}
		if e.hasSA {
			opts.TypedSearchAttributes = temporal.NewSearchAttributes(
				temporal.NewSearchAttributeKeyKeyword(once.SearchAttrTask).ValueSet(noopTask.ID()),
				temporal.NewSearchAttributeKeyKeyword(once.SearchAttrEnvironment).ValueSet(startsEnvironment),
				temporal.NewSearchAttributeKeyKeyword(once.SearchAttrKey).ValueSet(ids[k][len(ids[k])-64:]),
			)
		}
		_, err := e.c.ExecuteWorkflow(ctx, opts, noopTask.ID(), 1)
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) {
			return nil
		}
		if err == nil {
			return errors.New("bench: a raw duplicate start started a run")
		}
		return err
	}
	n := e.cfg.CachedHits
	ab, err := e.alternate(ctx, "cached-hit", e.cfg.Rounds,
		func(ctx context.Context) (time.Duration, error) { return e.measure(ctx, n, rawHit) },
		func(ctx context.Context) (time.Duration, error) { return e.measure(ctx, n, onceHit) })
	if err != nil {
		return err
	}
	total := float64(n * e.cfg.Rounds)
	rep.add(Comparison{
		Name:     fmt.Sprintf("cached-hit Trigger vs raw duplicate start (%d callers)", e.cfg.Concurrency),
		Unit:     "calls/s",
		Once:     total / ab.once.Seconds(),
		Baseline: total / ab.raw.Seconds(),
		Goal:     AtLeast(1.0),
	})
	ab, err = e.alternate(ctx, "cached-hit (same request)", e.cfg.Rounds,
		func(ctx context.Context) (time.Duration, error) { return e.measure(ctx, n, rawHitSameRequest) },
		func(ctx context.Context) (time.Duration, error) { return e.measure(ctx, n, onceHit) })
	if err != nil {
		return err
	}
	rep.add(Comparison{
		Name:     "  diagnostic: vs raw duplicate start with Once's memo and search attributes",
		Unit:     "calls/s",
		Once:     total / ab.once.Seconds(),
		Baseline: total / ab.raw.Seconds(),
		Goal:     AtLeast(0.95),
	})
	return nil
}

// batches: BatchTrigger of BatchItems vs raw parallel starts at the same
// parallelism, and vs a sequential loop of Trigger.
func (e *env) batches(ctx context.Context, rep *Report) error {
	n := e.cfg.BatchItems
	onceBatch := func(ctx context.Context) (time.Duration, error) {
		items := make([]starter.BatchItem, n)
		for i := range items {
			items[i].Payload = i
		}
		batchKey := idempotency.Parts{e.unique("batch")}
		start := time.Now()
		res, err := e.starter.BatchTrigger(ctx, noopTask.ID(), items, starter.BatchOptions{BatchKey: batchKey, Parallelism: e.cfg.Concurrency})
		d := time.Since(start)
		if err != nil {
			return 0, err
		}
		for _, r := range res {
			if r.Err != nil {
				return 0, r.Err
			}
		}
		return d, nil
	}
	// Each round is raw (first half), Once, raw (second half): the raw side
	// is measured before and after Once, so neither goes first.
	var ab abTimes
	for r := range e.cfg.BatchRounds {
		d1, err := e.measure(ctx, n/2, e.rawNew)
		if err != nil {
			return fmt.Errorf("bench: batch round %d (raw): %w", r, err)
		}
		d, err := onceBatch(ctx)
		if err != nil {
			return fmt.Errorf("bench: batch round %d (once): %w", r, err)
		}
		d2, err := e.measure(ctx, n-n/2, e.rawNew)
		if err != nil {
			return fmt.Errorf("bench: batch round %d (raw): %w", r, err)
		}
		ab.raw += d1 + d2
		ab.once += d
		fmt.Fprintf(e.cfg.Log, "batch round %d: raw %s, once %s\n", r, (d1 + d2).Round(time.Millisecond), d.Round(time.Millisecond))
	}
	total := float64(n * e.cfg.BatchRounds)
	batchRate := total / ab.once.Seconds()
	rep.add(Comparison{
		Name:     fmt.Sprintf("BatchTrigger %d items vs raw parallel starts (parallelism %d)", n, e.cfg.Concurrency),
		Unit:     "items/s",
		Once:     batchRate,
		Baseline: total / ab.raw.Seconds(),
		Goal:     AtLeast(0.95),
	})

	m := e.cfg.SequentialItems
	start := time.Now()
	for range m {
		if err := e.onceNew(ctx, 0); err != nil {
			return err
		}
	}
	seq := time.Since(start)
	fmt.Fprintf(e.cfg.Log, "sequential: %d Trigger calls in %s\n", m, seq.Round(time.Millisecond))
	rep.add(Comparison{
		Name:     fmt.Sprintf("BatchTrigger vs sequential Trigger loop (%d items)", m),
		Unit:     "items/s",
		Once:     batchRate,
		Baseline: float64(m) / seq.Seconds(),
		Goal:     AtLeast(5),
	})
	return nil
}

// parents: a Once parent with Children TriggerAndWait children vs a raw
// parent with Children child workflows; time from start to result.
func (e *env) parents(ctx context.Context, rep *Report) error {
	if err := e.drain(ctx); err != nil {
		return err
	}
	n := e.cfg.Children
	onceParent := func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		var sum int
		_, err := e.runner.TriggerAndWait(ctx, parentTask.ID(), n, &sum, starter.TriggerOptions{Key: idempotency.Parts{e.unique("parent")}})
		return time.Since(start), checkSum(err, sum, n)
	}
	rawParentRun := func(ctx context.Context) (time.Duration, error) {
		start := time.Now()
		run, err := e.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: e.unique("raw-parent"), TaskQueue: rawQueue}, "bench-raw-parent", n)
		var sum int
		if err == nil {
			err = run.Get(ctx, &sum)
		}
		return time.Since(start), checkSum(err, sum, n)
	}
	ab, err := e.alternate(ctx, "parent", e.cfg.ParentRounds, rawParentRun, onceParent)
	if err != nil {
		return err
	}
	rounds := float64(e.cfg.ParentRounds)
	rep.add(Comparison{
		Name:     fmt.Sprintf("parent with %d TriggerAndWait children vs %d ExecuteChildWorkflow", n, n),
		Unit:     "s/parent",
		Once:     ab.once.Seconds() / rounds,
		Baseline: ab.raw.Seconds() / rounds,
		Goal:     AtMost(1.10),
	})
	return nil
}

func checkSum(err error, sum, n int) error {
	if err != nil {
		return err
	}
	if want := n * (n - 1) / 2; sum != want {
		return fmt.Errorf("bench: parent returned %d, want %d", sum, want)
	}
	return nil
}

// abTimes are the summed times of both sides of a pair.
type abTimes struct{ raw, once time.Duration }

// alternate runs raw and once rounds times each, in the order raw, once,
// once, raw, raw, once, … so that neither side always goes first.
func (e *env) alternate(ctx context.Context, name string, rounds int, raw, once func(context.Context) (time.Duration, error)) (abTimes, error) {
	var t abTimes
	for r := range rounds {
		order := []bool{false, true} // false: raw
		if r%2 == 1 {
			order = []bool{true, false}
		}
		for _, isOnce := range order {
			f, side := raw, "raw"
			if isOnce {
				f, side = once, "once"
			}
			d, err := f(ctx)
			if err != nil {
				return t, fmt.Errorf("bench: %s round %d (%s): %w", name, r, side, err)
			}
			if isOnce {
				t.once += d
			} else {
				t.raw += d
			}
			fmt.Fprintf(e.cfg.Log, "%s round %d %s: %s\n", name, r, side, d.Round(time.Millisecond))
		}
	}
	return t, nil
}

// measure calls fn n times from Concurrency goroutines and returns the
// elapsed time; the first error stops it.
func (e *env) measure(ctx context.Context, n int, fn func(context.Context, int) error) (time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range min(e.cfg.Concurrency, n) {
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

// drain waits until no run that a worker executes is open, so that the
// parent benchmark starts on an idle worker.
func (e *env) drain(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.DrainTimeout)
	defer cancel()
	start := time.Now()
	query := fmt.Sprintf("ExecutionStatus = 'Running' AND TaskQueue IN ('%s', '%s')", e.runner.TaskQueue(), rawQueue)
	for {
		resp, err := e.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: e.srv.Namespace(), Query: query})
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

// unique is a workflow ID or key part no other call of this run uses.
func (e *env) unique(prefix string) string {
	return prefix + "-" + strconv.FormatInt(e.seq.Add(1), 10)
}
