package starter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/plan"
)

// DefaultBatchParallelism bounds the starts a batch has in flight when
// Options.BatchParallelism is zero.
//
// A batch is worth its parallelism where the server is far: with a 20 ms
// round trip (cmd/bench --rtt 20ms, BENCHMARKS.md) a sequential Trigger loop
// makes about 40 starts/s; 4 in flight make about 3.5x that, 8 about 5.5x,
// and 16 reach what the server absorbs (about 6.5x on two cores); 32 and 64
// add nothing but load. 16 in flight keep a server of that rate busy up to
// a round trip of about 60 ms (in flight = rate x round trip). Raise it
// (Options.BatchParallelism, BatchOptions.Parallelism) for a larger cluster
// further away; lower it to spare a small server.
const DefaultBatchParallelism = 16

// DefaultRequestTimeout bounds each call (Trigger, ResetKey, Lookup; all
// their RPCs together) when the caller's context has no deadline and
// Options.RequestTimeout is zero.
const DefaultRequestTimeout = 30 * time.Second

// DefaultMaxPayloadBytes is the largest encoded payload a trigger sends when
// Options.MaxPayloadBytes is zero: 2 MiB, the Temporal server's default
// limit for a workflow's input (dynamic config limit.blobSize.error).
const DefaultMaxPayloadBytes = 2 * 1024 * 1024

// Errors returned by this package, tested with errors.Is. Errors of invalid
// input from the idempotency package (idempotency.ErrEmptyKey,
// ErrKeyTooLong, ErrInvalidTaskID, ErrInvalidEnvironment, ErrInvalidTTL,
// ErrPayloadNotSerializable, ErrInvalidScope, ErrInvalidKey,
// ErrGlobalScopeNeedsKey) pass through wrapped. Every input error, this
// package's included, matches once.ErrInvalidInput.
var (
	// ErrKeyReusedWithDifferentPayload: strict mode found a run for the key
	// whose payload differs from this trigger's. Use another key, or drop
	// Strict to get the existing run.
	ErrKeyReusedWithDifferentPayload = errors.New("starter: idempotency key reused with a different payload (strict mode): use a new key for new input")

	// ErrResetRunning: ResetKey found the key's run still running. Wait for
	// it, or set ResetOptions.Terminate.
	ErrResetRunning = errors.New("starter: the key's run is still running: wait for it to close or reset with Terminate")

	// ErrNotFound: no run holds the workflow ID of that task and key.
	ErrNotFound = errors.New("starter: no run for that task and key")

	// ErrServerUnreachable: the Temporal frontend did not answer within the
	// request timeout. Check TEMPORAL_ADDRESS and that the server is up.
	ErrServerUnreachable = errors.New("starter: Temporal server unreachable: check TEMPORAL_ADDRESS and that the server is up")

	// ErrNoKey: ResetKey or Lookup was called without a key.
	ErrNoKey = once.InputError("starter: a key is required")

	// ErrPayloadTooLarge: the encoded payload is larger than
	// Options.MaxPayloadBytes (the error is a *PayloadTooLargeError with
	// both sizes). Pass a reference to the data (a URL, an object key)
	// instead of the data.
	ErrPayloadTooLarge = once.InputError("starter: payload too large")

	// ErrNegativeDuration: TriggerOptions.StartDelay is negative. Use 0 for
	// none.
	ErrNegativeDuration = once.InputError("starter: negative duration in TriggerOptions: use 0 for the default or a positive duration")

	// ErrInvalidFailurePolicy: TriggerOptions.OnFailure is not
	// FailureDefault, FailureKeep or FailureRelease
	// (once.ErrInvalidFailurePolicy).
	ErrInvalidFailurePolicy = once.ErrInvalidFailurePolicy

	// ErrTTLBeyondRetention: with Options.RefuseTTLBeyondRetention, a keyed
	// trigger's TTL is longer than the namespace's retention, so the key
	// would be forgotten before it expires (when the server deletes the
	// closed run's history). Nothing was started. Ask for a TTL within the
	// retention, or raise the namespace's retention.
	ErrTTLBeyondRetention = once.InputError("starter: TTL longer than the namespace's retention: a closed run's key is forgotten when its history is deleted; ask for a TTL within the retention or raise the retention")

	// ErrUnknownTask: the task is not one of Options.Tasks, the tasks this
	// client may trigger (when it names any). Nothing was started. The
	// error's message names the task and the tasks the client knows.
	ErrUnknownTask = once.InputError("starter: unknown task: this client knows only the tasks of Options.Tasks")
)

// unknownTaskError is ErrUnknownTask for one task.
type unknownTaskError struct {
	task  string
	known []string
}

func (e *unknownTaskError) Error() string {
	return fmt.Sprintf("starter: unknown task %q: this client knows only the tasks of Options.Tasks (%s)", e.task, strings.Join(e.known, ", "))
}

func (e *unknownTaskError) Unwrap() error { return ErrUnknownTask }

// PayloadTooLargeError is the error of a trigger whose encoded payload is
// larger than the limit; nothing was sent. It matches ErrPayloadTooLarge and
// once.ErrInvalidInput.
type PayloadTooLargeError struct {
	// Size of the encoded payload and Limit (Options.MaxPayloadBytes), in
	// bytes.
	Size, Limit int
}

// Error says both sizes and what to do.
func (e *PayloadTooLargeError) Error() string {
	return fmt.Sprintf("starter: payload too large: %d bytes encoded, the limit is %d (Options.MaxPayloadBytes; the server's limit.blobSize.error): pass a reference to the data instead", e.Size, e.Limit)
}

// Unwrap returns ErrPayloadTooLarge.
func (e *PayloadTooLargeError) Unwrap() error { return ErrPayloadTooLarge }

// Options configures a Client.
type Options struct {
	// Environment the client triggers tasks in ("dev", "prod", …).
	// Optional: defaults to once.DefaultEnvironment.
	Environment string

	// TaskQueueBase is the task-queue prefix; the queue is
	// "<base>-<environment>". Optional: defaults to "once".
	TaskQueueBase string

	// DefaultTTL of keys when TriggerOptions.TTL is zero.
	// Optional: defaults to idempotency.DefaultTTL (30 days).
	DefaultTTL time.Duration

	// Logger for warnings (TTL longer than retention). Optional: defaults
	// to slog's default logger.
	Logger sdklog.Logger

	// RefuseTTLBeyondRetention makes a keyed trigger whose TTL is longer than
	// the namespace's retention an input error (ErrTTLBeyondRetention),
	// with nothing started, instead of a warning: such a key would be
	// forgotten when the server deletes its closed run's history, before
	// its TTL. The retention is read once per Client (DescribeNamespace);
	// when it cannot be read, triggers go ahead. Optional: defaults to false
	// (a warning through Logger, once per TTL).
	RefuseTTLBeyondRetention bool

	// MetricsHandler counts and times triggers (once.MetricTriggers and
	// once.MetricTriggerLatency, tags task, environment, outcome = started |
	// cached | restarted | failed). A trigger from inside an activity is
	// counted through the activity's handler instead
	// (activity.GetMetricsHandler, the worker client's), as the SDK counts
	// the activity's own metrics and as workflow code counts its triggers:
	// so the series carry the same labels (namespace, task_queue,
	// workflow_type, …) wherever a task triggers. Optional: defaults to none.
	MetricsHandler client.MetricsHandler

	// Tracer traces triggers: each gets a span "Trigger:<task>" (child of
	// the span in the caller's context, if any) that the Temporal header of
	// the start carries to the task's run, so that the SDK's tracing
	// interceptor on the worker makes the run's spans its children. A
	// cached hit's span gets a child marked cached (see once.SpanCached).
	// Use the tracer of the SDK's interceptor, e.g.
	// go.temporal.io/sdk/contrib/opentelemetry's NewTracer, and the same on
	// the worker (worker.Options.Tracer). Optional: defaults to none.
	Tracer interceptor.Tracer

	// BatchParallelism bounds the starts a batch has in flight.
	// Optional: defaults to DefaultBatchParallelism.
	BatchParallelism int

	// Tasks lists the IDs of the tasks this client may trigger: a trigger,
	// batch, reset, lookup or list of another task is an error
	// (ErrUnknownTask), with nothing started — so that a misspelt task
	// fails at once instead of starting a run no worker runs. A task's
	// retry policy and timeouts are not set here: they are the task's
	// (workflows.TaskOptions), and the worker applies them to every run.
	// Optional: defaults to none, any valid task ID.
	Tasks []string

	// RequestTimeout bounds each call whose context has no deadline: a
	// trigger (not the wait for its result), a reset, a lookup, with all
	// their RPCs. Optional: defaults to DefaultRequestTimeout.
	RequestTimeout time.Duration

	// MaxPayloadBytes bounds the encoded payload of a trigger, checked
	// before any RPC (ErrPayloadTooLarge). Set it to the server's
	// limit.blobSize.error when that differs. Optional: defaults to
	// DefaultMaxPayloadBytes.
	MaxPayloadBytes int

	// Now is the clock for expiry decisions. Optional: defaults to time.Now.
	Now func() time.Time

	// SeenKeys is how many keys the client remembers having seen answered
	// (started, cached or restarted), so that a repeat trigger of one reads
	// the key's run (DescribeWorkflowExecution) instead of sending a
	// duplicate start, which costs the server a write; the server's answer
	// decides either way. Optional: defaults to DefaultSeenKeys; negative:
	// none (every trigger starts).
	SeenKeys int

	// SearchAttributes sets Once's custom search attributes (OnceTask,
	// OnceEnvironment, OnceKey; see once.SearchAttributes) on the runs this
	// client starts, when the namespace has them (asked once, with
	// SearchAttributesRegistered). They are not needed to find runs: every
	// server lists them by WorkflowType and WorkflowId (see the package doc),
	// and each indexed attribute costs the server work on every start.
	// Optional: defaults to false.
	SearchAttributes bool
}

// Client triggers tasks idempotently. It is safe for concurrent use.
type Client struct {
	client    client.Client
	settings  settings
	owned     bool // Close closes client
	svc       workflowservice.WorkflowServiceClient
	opts      Options
	env       plan.Env // Options.Environment, checked
	taskQueue string
	traceKey  string // the tracer's header key; "" without Options.Tracer

	nsMu      sync.Mutex
	nsLoaded  atomic.Bool // set once retention and hasSA are read; then no lock
	nsRetry   time.Time   // after a failed read: when to try again
	retention time.Duration
	hasSA     bool
	warned    sync.Map // ttl → struct{}: warn once per TTL
	metrics   sync.Map // task + "\x00" + outcome → triggerMetrics

	factsCache factsCache  // facts of runs judged from their memo
	seen       seenKeys    // workflow IDs of keys seen answered (recheck.go)
	policies   policyHints // tasks known to keep their keys (failure.go)
}

// triggerMetrics are the counter and timer of one task and outcome.
type triggerMetrics struct {
	count   client.MetricsCounter
	latency client.MetricsTimer
}

// withDefaults validates opts and fills in their defaults.
//
// Errors: an invalid environment (idempotency.ErrInvalidEnvironment), a
// negative DefaultTTL (idempotency.ErrInvalidTTL), a tracer without a header
// key.
func withDefaults(opts Options) (Options, plan.Env, error) {
	if opts.Environment == "" {
		opts.Environment = once.DefaultEnvironment
	}
	env, err := plan.NewEnv(opts.Environment)
	if err != nil {
		return opts, env, fmt.Errorf("starter: %w", err)
	}
	if opts.DefaultTTL == 0 {
		opts.DefaultTTL = idempotency.DefaultTTL
	}
	if opts.DefaultTTL < 0 {
		return opts, env, fmt.Errorf("starter: default TTL %v: %w", opts.DefaultTTL, idempotency.ErrInvalidTTL)
	}
	if opts.Logger == nil {
		opts.Logger = sdklog.NewStructuredLogger(slog.Default())
	}
	if opts.MetricsHandler == nil {
		opts.MetricsHandler = client.MetricsNopHandler
	}
	if opts.BatchParallelism <= 0 {
		opts.BatchParallelism = DefaultBatchParallelism
	}
	if opts.MaxPayloadBytes <= 0 {
		opts.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SeenKeys == 0 {
		opts.SeenKeys = DefaultSeenKeys
	}
	if opts.Tracer != nil && opts.Tracer.Options().HeaderKey == "" {
		return opts, env, errors.New("starter: the tracer names no header key")
	}
	for _, task := range opts.Tasks {
		if err := idempotency.ValidateTaskID(task); err != nil {
			return opts, env, fmt.Errorf("starter: Options.Tasks: %w", err)
		}
	}
	opts.Tasks = slices.Clone(opts.Tasks)
	return opts, env, nil
}

// task checks task (plan.Env.Task) and refuses one that is not one of
// Options.Tasks, when it names any: the check of every call on a task.
func (c *Client) task(task string) (plan.Task, error) {
	t, err := c.env.Task(task)
	if err != nil {
		return t, err
	}
	if len(c.opts.Tasks) > 0 && !slices.Contains(c.opts.Tasks, task) {
		return t, &unknownTaskError{task: task, known: c.opts.Tasks}
	}
	return t, nil
}

// newClient is a Client on sdk, whose settings are s, with opts (defaults
// filled in).
func newClient(sdk client.Client, s settings, opts Options, env plan.Env) *Client {
	var traceKey string
	if opts.Tracer != nil {
		// Read once, as the SDK's tracing interceptor does.
		traceKey = opts.Tracer.Options().HeaderKey
	}
	return &Client{
		client:    sdk,
		settings:  s,
		svc:       busyService{sdk.WorkflowService()},
		opts:      opts,
		env:       env,
		taskQueue: once.TaskQueue(opts.TaskQueueBase, opts.Environment),
		traceKey:  traceKey,
		seen:      seenKeys{size: max(opts.SeenKeys, 0)},
	}
}

// With returns a Client on the same connection and client settings with
// other Options: another environment, tasks, metrics handler, ….
// Closing it does nothing; close the Client that Dial returned.
//
// Errors: invalid opts, as Dial.
func (c *Client) With(opts Options) (*Client, error) {
	opts, env, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	return newClient(c.client, c.settings, opts, env), nil
}

// Options are the client's options, with their defaults filled in.
func (c *Client) Options() Options {
	opts := c.opts
	opts.Tasks = slices.Clone(opts.Tasks)
	return opts
}

// Namespace is the namespace of the SDK client: where runs start and are
// read.
func (c *Client) Namespace() string { return c.settings.namespace }

// Close closes the SDK client that Dial made; on a Client made by With it
// does nothing.
func (c *Client) Close() {
	if c.owned {
		c.client.Close()
	}
}

// Environment is the environment this client triggers tasks in.
func (c *Client) Environment() string { return c.opts.Environment }

// TaskQueue is the task queue this client starts tasks on.
func (c *Client) TaskQueue() string { return c.taskQueue }

// Temporal is the SDK client that Dial made: give it to SDK workers, or use
// it for what Once does not do. Do not close it; close the Client.
func (c *Client) Temporal() client.Client { return c.client }

// namespaceInfo reads the namespace's retention and, with
// Options.SearchAttributes, whether Once's search attributes exist, once per
// Client. An unreachable server is an error (the start would fail too);
// after another failure, triggers go ahead without search attributes and the
// read is tried again a minute later.
func (c *Client) namespaceInfo(ctx context.Context) (retention time.Duration, hasSA bool, err error) {
	if c.nsLoaded.Load() {
		return c.retention, c.hasSA, nil
	}
	c.nsMu.Lock()
	defer c.nsMu.Unlock()
	if c.nsLoaded.Load() || c.opts.Now().Before(c.nsRetry) {
		return c.retention, c.hasSA, nil
	}
	ns, err := c.svc.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: c.settings.namespace})
	if err != nil {
		if err = rpcError(ctx, err); errors.Is(err, ErrServerUnreachable) || ctx.Err() != nil {
			return 0, false, err
		}
		c.nsRetry = c.opts.Now().Add(time.Minute)
		return 0, false, nil
	}
	c.retention = ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()
	if c.opts.SearchAttributes {
		ok, err := SearchAttributesRegistered(ctx, c.client, c.settings.namespace)
		c.hasSA = err == nil && ok
		if !c.hasSA {
			c.opts.Logger.Warn("once: search attributes asked for but not registered in the namespace; runs are started without them",
				"namespace", c.settings.namespace, "attributes", once.SearchAttributes(), "error", err)
		}
	}
	c.nsLoaded.Store(true)
	return c.retention, c.hasSA, nil
}

// warnTTL warns once per TTL value that a key will be forgotten before it
// expires because the namespace retention is shorter.
func (c *Client) warnTTL(ttl, retention time.Duration) {
	if retention <= 0 || ttl <= retention {
		return
	}
	if _, seen := c.warned.LoadOrStore(ttl, struct{}{}); seen {
		return
	}
	c.opts.Logger.Warn("once: key TTL is longer than the namespace retention; a closed run's key is forgotten when its history is deleted",
		"ttl", ttl.String(), "retention", retention.String(), "namespace", c.settings.namespace)
}

// rpcContext bounds ctx by RequestTimeout when it has no deadline.
func (c *Client) rpcContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.opts.RequestTimeout)
}

// rpcError maps the error of an RPC made with ctx: when ctx is done, the
// error matches ctx.Err() (context.DeadlineExceeded or context.Canceled),
// whatever the transport made of it ("RST_STREAM … CANCEL", a gRPC status);
// a server that did not answer (Unavailable, or the deadline passed while
// waiting for it) also matches ErrServerUnreachable.
func rpcError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	unreachable := isUnreachable(err)
	cerr := contextErr(ctx)
	switch {
	case cerr != nil && unreachable && errors.Is(cerr, context.DeadlineExceeded):
		return fmt.Errorf("%w: %w", ErrServerUnreachable, ctxError(ctx, err))
	case cerr != nil:
		return ctxError(ctx, err)
	case unreachable:
		return fmt.Errorf("%w: %w", ErrServerUnreachable, err)
	}
	return err
}

// ctxError makes err match ctx's error when ctx is done.
func ctxError(ctx context.Context, err error) error {
	cerr := contextErr(ctx)
	if err == nil || cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return &contextError{ctx: cerr, err: err}
}

// contextErr is ctx.Err(), or context.DeadlineExceeded once ctx's deadline
// has passed: the SDK's RPCs may fail on the deadline an instant before ctx
// itself reports it.
func contextErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// contextError is an error that the caller's giving up caused: it matches
// both the context's error and the error the SDK or server made of it.
type contextError struct{ ctx, err error }

func (e *contextError) Error() string {
	if msg := e.err.Error(); msg != e.ctx.Error() {
		return e.ctx.Error() + ": " + msg
	}
	return e.ctx.Error()
}

func (e *contextError) Unwrap() []error { return []error{e.ctx, e.err} }

// isUnreachable reports a server that did not answer.
func isUnreachable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	return errors.As(err, &unavailable) || errors.As(err, &deadline)
}

// observe starts the clock and the span of a trigger of task; done ends the
// span and counts and times the trigger by outcome.
func (c *Client) observe(ctx context.Context, task string) (_ context.Context, done func(*Run, string, error)) {
	start := time.Now()
	ctx, span := c.startTriggerSpan(ctx, task, start)
	return ctx, func(run *Run, outcome string, err error) {
		c.finishTriggerSpan(span, run, err)
		c.record(ctx, task, outcome, time.Since(start))
	}
}

// record counts a trigger of task by outcome and records its latency: in an
// activity through the activity's metrics handler, else through
// Options.MetricsHandler.
func (c *Client) record(ctx context.Context, task, outcome string, latency time.Duration) {
	tags := map[string]string{once.TagTask: task, once.TagEnvironment: c.opts.Environment, once.TagOutcome: outcome}
	if activity.IsActivity(ctx) {
		h := activity.GetMetricsHandler(ctx).WithTags(tags)
		h.Counter(once.MetricTriggers).Inc(1)
		h.Timer(once.MetricTriggerLatency).Record(latency)
		return
	}
	k := task + "\x00" + outcome
	m, ok := c.metrics.Load(k)
	if !ok {
		h := c.opts.MetricsHandler.WithTags(tags)
		m, _ = c.metrics.LoadOrStore(k, triggerMetrics{count: h.Counter(once.MetricTriggers), latency: h.Timer(once.MetricTriggerLatency)})
	}
	m.(triggerMetrics).count.Inc(1)
	m.(triggerMetrics).latency.Record(latency)
}
