package worker

import (
	"context"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/internal/runctx"
)

// ContextPropagator returns Once's context propagator: it carries the run
// context (idempotency.RunContext) of workflow code, in a Temporal header, to
// the activities the workflow schedules, so that keys made there with
// activities.CreateKey are scoped to the run that scheduled them, and it
// starts the count of each activity attempt's unkeyed triggers.
//
// A worker made by this package applies it to every workflow and activity
// without being told, and package oncetest registers it on its test
// environment. Register it yourself only where tasks run without either: on
// the client of a worker of your own (client.Options.ContextPropagators), or
// on a raw test environment
// (testsuite.TestWorkflowEnvironment.SetContextPropagators).
func ContextPropagator() workflow.ContextPropagator { return propagator }

// runContextInterceptor carries the run context from workflow code to the
// activities it schedules, with Once's context propagator, whether or not
// the client was dialed with that propagator: the worker cannot add
// propagators to a client it is given, but it can intercept.
type runContextInterceptor struct {
	interceptor.WorkerInterceptorBase
}

var propagator = runctx.NewContextPropagator()

func (*runContextInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &activityInbound{}
	i.Next = next
	return i
}

func (*runContextInterceptor) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	i := &workflowInbound{}
	i.Next = next
	return i
}

type activityInbound struct {
	interceptor.ActivityInboundInterceptorBase
}

// ExecuteActivity puts the run context of the header into ctx, with a fresh
// count of the attempt's calls (the ordinals of its unkeyed triggers).
func (i *activityInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	h := interceptor.Header(ctx)
	if h == nil {
		h = map[string]*commonpb.Payload{}
	}
	if pctx, err := propagator.Extract(ctx, header(h)); err == nil {
		ctx = pctx
	}
	return i.Next.ExecuteActivity(ctx, in)
}

type workflowInbound struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (i *workflowInbound) Init(outbound interceptor.WorkflowOutboundInterceptor) error {
	o := &workflowOutbound{}
	o.Next = outbound
	return i.Next.Init(o)
}

type workflowOutbound struct {
	interceptor.WorkflowOutboundInterceptorBase
}

// ExecuteActivity writes the workflow's run context into the header.
func (o *workflowOutbound) ExecuteActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	inject(ctx)
	return o.Next.ExecuteActivity(ctx, activityType, args...)
}

// ExecuteLocalActivity writes the workflow's run context into the header.
func (o *workflowOutbound) ExecuteLocalActivity(ctx workflow.Context, activityType string, args ...any) workflow.Future {
	inject(ctx)
	return o.Next.ExecuteLocalActivity(ctx, activityType, args...)
}

func inject(ctx workflow.Context) {
	if h := interceptor.WorkflowHeader(ctx); h != nil {
		// Encoding a RunContext with the default converter cannot fail.
		_ = propagator.InjectFromWorkflow(ctx, header(h))
	}
}

// header adapts a Temporal header map to workflow.HeaderReader/Writer.
type header map[string]*commonpb.Payload

func (h header) Set(key string, value *commonpb.Payload) { h[key] = value }

func (h header) Get(key string) (*commonpb.Payload, bool) {
	v, ok := h[key]
	return v, ok
}

func (h header) ForEachKey(handler func(string, *commonpb.Payload) error) error {
	for k, v := range h {
		if err := handler(k, v); err != nil {
			return err
		}
	}
	return nil
}
