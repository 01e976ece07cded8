// Package worker wires Once's tasks into a Temporal worker for one
// environment, on the SDK client of a starter.Client (starter.Dial) whose
// environment, namespace and client settings it shares: it registers the
// tasks (workflows.Definition), the debouncer of debounced triggers
// (workflows.RegisterDebouncer), Once's runtime activities
// (workflows.RuntimeActivities), a starter for activities that trigger tasks
// (activities.Trigger), the propagation of the run context to activities,
// and tells the tasks whether to set Once's search attributes (off by
// default: see SearchAttributesMode).
//
// A worker of one environment never executes another environment's tasks:
// the environment is part of the task queue name (starter.Options.Environment).
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/workflows"
)

// SearchAttributesMode says whether runs that the worker's tasks start (and
// its Starter, for activities) get Once's custom search attributes
// (once.SearchAttributes()). They are not needed to find runs: task,
// environment and key are in the workflow ID and type, which every server
// lists (WorkflowType = 'T', WorkflowId STARTS_WITH 'prod/').
type SearchAttributesMode int

// Search attribute modes.
const (
	// SearchAttributesOff never sets them: runs carry the memo only (key
	// text and scope). The default.
	SearchAttributesOff SearchAttributesMode = iota
	// SearchAttributesAuto asks the server once, in New, whether the
	// namespace has them (starter.SearchAttributesRegistered) and sets them
	// when it does; an error counts as no.
	SearchAttributesAuto
	// SearchAttributesOn sets them without asking. Every child start fails
	// on a namespace that lacks them.
	SearchAttributesOn
)

// Options configures a Worker. Its environment, task queue, namespace and
// client settings are those of the starter.Client it is made with.
type Options struct {
	// Tasks to register. Optional: defaults to none.
	Tasks []workflows.Definition

	// Activities are more activities to register: structs (their exported
	// methods) or functions. Once's own (workflows.RuntimeActivities) is always
	// registered. Optional: defaults to none.
	Activities []any

	// Tracer traces the tasks this worker runs, with the SDK's tracing
	// interceptor (interceptor.NewTracingInterceptor, added to
	// Worker.Interceptors), and the triggers of Worker.Starter when the
	// starter.Client has no tracer of its own, so that one trace runs from a
	// service's trigger through the task's run, its activities and its
	// children. With OpenTelemetry:
	//
	//	tracer, _ := opentelemetry.NewTracer(opentelemetry.TracerOptions{}) // go.temporal.io/sdk/contrib/opentelemetry
	//	w, err := worker.New(s, worker.Options{Tracer: tracer, …})
	//
	// Leave it nil if the client already has the tracing interceptor
	// (client.Options.Interceptors applies it to workers too).
	// Optional: defaults to none.
	Tracer interceptor.Tracer

	// SearchAttributes says whether children (and the runs Worker.Starter
	// starts) get Once's search attributes. Optional: defaults to
	// SearchAttributesOff.
	SearchAttributes SearchAttributesMode

	// KeepUnknownTasks leaves a run of a task this worker does not know (a
	// workflow type on its task queue that no task of Tasks names) to another
	// worker, as a plain SDK worker does: the run stays open, holding its
	// key, until a worker that knows the task takes it. Set it during a
	// rolling deploy that adds tasks, when old and new workers share the
	// queue. Optional: defaults to false: such a run fails at once,
	// non-retryably (once.ErrTypeUnknownTask), with a message that names the
	// task and the tasks the worker runs, so that its key is released when
	// it expires.
	KeepUnknownTasks bool

	// AttachHeartbeatTimeout is the heartbeat timeout of the activity that
	// waits for a run a parent attached to. Optional: defaults to
	// workflows.DefaultAttachHeartbeatTimeout.
	AttachHeartbeatTimeout time.Duration

	// Logger for the worker's own messages. Optional: defaults to slog's
	// default logger.
	Logger sdklog.Logger

	// Worker is passed to the SDK worker; Once appends its interceptors to
	// Worker.Interceptors (the tracing one with Tracer, then its own).
	// Optional: defaults to the SDK's.
	Worker sdkworker.Options
}

// Worker is a Temporal worker for one environment's tasks.
type Worker struct {
	sdk       sdkworker.Worker
	env       string
	taskQueue string
	tasks     []string
	starter   *starter.Client
	hasSA     bool
}

// New creates a worker of s's environment, on s's SDK client
// (starter.Client.Temporal): the task queue, namespace and client settings
// (data converter and codec, propagators, interceptors) are s's, so that
// runs its tasks start, and triggers from their activities, carry them too.
// It does not poll until Start.
//
// Errors: a nil starter, a nil or duplicate task, a tracer without header or
// span context key.
func New(s *starter.Client, opts Options) (*Worker, error) {
	if s == nil {
		return nil, errors.New("worker: starter is nil: make one with starter.Dial")
	}
	if opts.Logger == nil {
		opts.Logger = sdklog.NewStructuredLogger(slog.Default())
	}
	w := &Worker{env: s.Environment(), taskQueue: s.TaskQueue()}
	c := s.Temporal()
	var err error
	if w.tasks, err = taskIDs(opts.Tasks); err != nil {
		return nil, err
	}
	if opts.Tracer != nil {
		if to := opts.Tracer.Options(); to.HeaderKey == "" || to.SpanContextKey == nil {
			return nil, errors.New("worker: the tracer names no header key or span context key")
		}
	}
	if w.starter, err = activityStarter(s, opts, w.tasks); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	switch opts.SearchAttributes {
	case SearchAttributesOn:
		w.hasSA = true
	case SearchAttributesAuto:
		w.hasSA = hasSearchAttributes(c, s.Namespace(), opts.Logger)
	}
	w.sdk = sdkworker.New(c, w.taskQueue, sdkOptions(opts))
	w.register(c, opts)
	return w, nil
}

// taskIDs lists the IDs of tasks in order.
//
// Errors: a nil task, a task listed twice.
func taskIDs(tasks []workflows.Definition) ([]string, error) {
	var ids []string
	for _, t := range tasks {
		if t == nil {
			return nil, errors.New("worker: nil task")
		}
		if slices.Contains(ids, t.ID()) {
			return nil, fmt.Errorf("worker: task %q registered twice", t.ID())
		}
		ids = append(ids, t.ID())
	}
	return ids, nil
}

// activityStarter is the starter of activities: s, with the worker's tasks
// added to the tasks s may trigger when it lists any (when it lists none,
// any task may be triggered: another worker of the queue may run it), the
// worker's tracer when s has none, and Once's search attributes when the
// worker sets them on children (the starter asks the server itself, once).
//
// Errors: those of starter.Client.With.
func activityStarter(s *starter.Client, opts Options, tasks []string) (*starter.Client, error) {
	so := s.Options()
	if len(so.Tasks) > 0 {
		for _, id := range tasks {
			if !slices.Contains(so.Tasks, id) {
				so.Tasks = append(so.Tasks, id)
			}
		}
	}
	if so.Tracer == nil {
		so.Tracer = opts.Tracer
	}
	so.SearchAttributes = so.SearchAttributes || opts.SearchAttributes != SearchAttributesOff
	return s.With(so)
}

// sdkOptions are opts.Worker with Once's interceptors appended to a copy of
// its Interceptors: the tracing one with opts.Tracer, then the one that
// carries the run context to activities.
func sdkOptions(opts Options) sdkworker.Options {
	wopts := opts.Worker
	wopts.Interceptors = append(wopts.Interceptors[:0:0], wopts.Interceptors...)
	if opts.Tracer != nil {
		wopts.Interceptors = append(wopts.Interceptors, interceptor.NewTracingInterceptor(opts.Tracer))
	}
	wopts.Interceptors = append(wopts.Interceptors, &runContextInterceptor{})
	return wopts
}

// register registers the tasks with the worker's runtime, the workflow
// that fails runs of unknown tasks (unless opts.KeepUnknownTasks), Once's
// runtime activity (on c) and opts.Activities.
func (w *Worker) register(c client.Client, opts Options) {
	rt := workflows.Runtime{
		Environment:            w.env,
		SearchAttributes:       w.hasSA,
		AttachHeartbeatTimeout: opts.AttachHeartbeatTimeout,
	}
	for _, t := range opts.Tasks {
		t.Register(w.sdk, rt)
	}
	// The debouncer of debounced triggers (once.Debounce), on the
	// environment's queue with its tasks.
	workflows.RegisterDebouncer(w.sdk, rt)
	if !opts.KeepUnknownTasks {
		w.sdk.RegisterDynamicWorkflow(workflows.UnknownTask(w.tasks), workflow.DynamicRegisterOptions{})
	}
	w.sdk.RegisterActivity(&workflows.RuntimeActivities{Client: c, Trigger: w.trigger})
	for _, a := range opts.Activities {
		w.sdk.RegisterActivity(a)
	}
}

// hasSearchAttributes asks the server whether namespace has all of Once's
// search attributes as Keyword.
func hasSearchAttributes(c client.Client, namespace string, logger sdklog.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := starter.SearchAttributesRegistered(ctx, c, namespace)
	if err != nil {
		logger.Warn("once: cannot list search attributes; children get the memo only", "namespace", namespace, "error", err)
	}
	return ok
}

// Environment is the environment this worker serves.
func (w *Worker) Environment() string { return w.env }

// TaskQueue is the task queue this worker polls.
func (w *Worker) TaskQueue() string { return w.taskQueue }

// Tasks lists the registered task IDs, in registration order.
func (w *Worker) Tasks() []string { return append([]string(nil), w.tasks...) }

// Starter is the starter activities trigger tasks with: the starter.Client
// the worker was made with, its Options.Tasks (when it lists any) extended
// with the worker's tasks.
func (w *Worker) Starter() *starter.Client { return w.starter }

// SearchAttributes reports whether children get Once's search attributes.
func (w *Worker) SearchAttributes() bool { return w.hasSA }

// RegisterActivity registers more activities (a struct's exported methods,
// or a function) before Start: for activities that need the worker's
// Starter, which exists only once New has returned.
func (w *Worker) RegisterActivity(a any) { w.sdk.RegisterActivity(a) }

// Start starts polling in the background; Stop stops it.
//
// Errors: the SDK's (e.g. the server is unreachable).
func (w *Worker) Start() error { return w.sdk.Start() }

// Stop stops polling and waits for running tasks' current work to finish
// (up to the SDK's WorkerStopTimeout).
func (w *Worker) Stop() { w.sdk.Stop() }

// EnsureSearchAttributes registers Once's custom search attributes
// (once.SearchAttributes(), all Keyword) in namespace when they are missing.
// It is idempotent: attributes that exist are left alone.
//
// Errors: the server's, e.g. PermissionDenied where the caller may not manage
// search attributes (Temporal Cloud: create them in the Cloud UI or tcld);
// a Worker works without them.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	if namespace == "" {
		namespace = client.DefaultNamespace
	}
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("worker: list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range once.SearchAttributes() {
		if _, ok := list.GetCustomAttributes()[name]; !ok {
			missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("worker: add search attributes: %w", err)
	}
	return nil
}

// trigger is the task runtime's trigger (workflows.RuntimeActivities.Trigger):
// the activities' starter's, with which a child whose failure policy
// releases a failed run's key replaces it.
func (w *Worker) trigger(ctx context.Context, task string, key idempotency.Key, payload converter.RawValue, onFailure once.FailurePolicy) (string, string, bool, error) {
	run, err := w.starter.Trigger(ctx, task, payload, starter.TriggerOptions{Key: key, OnFailure: onFailure})
	if err != nil {
		return "", "", false, err
	}
	return run.WorkflowID, run.RunID, run.Cached, nil
}
