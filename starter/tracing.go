package starter

import (
	"context"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"

	"github.com/once-run/once"
)

// A trigger is more than a start (a duplicate start, reads, a replacement),
// so the starter traces it with a span of its own, "Trigger:<task>", a
// child of the caller's, and writes it into the header of the start under
// the tracer's header key, encoded as the SDK's tracing interceptor
// (interceptor.NewTracingInterceptor) reads it. The worker's tracing
// interceptor then starts the run's RunWorkflow span as its child.

// triggerSpanKey is the context key of a trigger's span.
type triggerSpanKey struct{}

// startTriggerSpan starts the span of a trigger of task, a child of the
// span in ctx, and returns ctx carrying it. Without Options.Tracer it does
// nothing.
func (c *Client) startTriggerSpan(ctx context.Context, task string, start time.Time) (context.Context, interceptor.TracerSpan) {
	t := c.opts.Tracer
	if t == nil {
		return ctx, nil
	}
	var parent interceptor.TracerSpanRef
	if p := t.SpanFromContext(ctx); p != nil {
		parent = p
	}
	span, err := t.StartSpan(&interceptor.TracerStartSpanOptions{
		Parent:     parent,
		Operation:  once.SpanTrigger,
		Name:       task,
		Time:       start,
		DependedOn: true,
		Tags:       map[string]string{once.SpanAttrTask: task, once.SpanAttrEnvironment: c.opts.Environment},
		ToHeader:   true,
	})
	if err != nil {
		// A tracer that cannot start a span must not fail the trigger.
		c.opts.Logger.Warn("once: cannot start the trigger's span; the trigger is not traced", "task", task, "error", err)
		return ctx, nil
	}
	return context.WithValue(t.ContextWithSpan(ctx, span), triggerSpanKey{}, span), span
}

// finishTriggerSpan ends a trigger's span, with err if the trigger failed.
// A cached hit starts no run, so nothing else would show in the trace what
// the trigger found: its span gets a child "Cached:<task>" tagged
// once.cached=true with the run it answered with.
func (c *Client) finishTriggerSpan(span interceptor.TracerSpan, run *Run, err error) {
	if span == nil {
		return
	}
	if err == nil && run != nil && run.Cached {
		cached, cerr := c.opts.Tracer.StartSpan(&interceptor.TracerStartSpanOptions{
			Parent:    span,
			Operation: once.SpanCached,
			Name:      run.Task,
			Time:      time.Now(),
			Tags: map[string]string{
				once.SpanAttrTask:        run.Task,
				once.SpanAttrEnvironment: c.opts.Environment,
				once.SpanAttrCached:      "true",
				once.SpanAttrWorkflowID:  run.WorkflowID,
				once.SpanAttrRunID:       run.RunID,
			},
		})
		if cerr == nil {
			cached.Finish(&interceptor.TracerFinishSpanOptions{})
		}
	}
	span.Finish(&interceptor.TracerFinishSpanOptions{Error: err})
}

// traceHeader is the header field of a start request that carries the
// trigger's span in ctx; nil without one. startInterceptor adds it to the
// start unless a client interceptor (the SDK's tracing one, when the client
// has it) wrote that field already, from a span that is a child of this one.
//
// Errors: the tracer's, marshaling the span.
func (c *Client) traceHeader(ctx context.Context) (map[string]*commonpb.Payload, error) {
	span, _ := ctx.Value(triggerSpanKey{}).(interceptor.TracerSpan)
	if span == nil {
		return nil, nil
	}
	data, err := c.opts.Tracer.MarshalSpan(span)
	if err != nil {
		return nil, fmt.Errorf("tracing header: %w", err)
	}
	if len(data) == 0 {
		return nil, nil
	}
	// The interceptor decodes the header with the default data converter,
	// whatever the client's.
	payload, err := converter.GetDefaultDataConverter().ToPayload(data)
	if err != nil {
		return nil, fmt.Errorf("tracing header: %w", err)
	}
	return map[string]*commonpb.Payload{c.traceKey: payload}, nil
}
