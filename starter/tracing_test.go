package starter

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"

	"github.com/once-run/once"
)

// fakeTracer records the spans it starts; a span marshals to its name.
type fakeTracer struct {
	interceptor.BaseTracer
	spans []*fakeSpan
}

type fakeSpan struct {
	opts     interceptor.TracerStartSpanOptions
	finished bool
	err      error
}

func (s *fakeSpan) Finish(o *interceptor.TracerFinishSpanOptions) { s.finished, s.err = true, o.Error }

type fakeSpanKey struct{}

func (t *fakeTracer) Options() interceptor.TracerOptions {
	return interceptor.TracerOptions{SpanContextKey: fakeSpanKey{}, HeaderKey: "_fake-tracer"}
}

func (t *fakeTracer) UnmarshalSpan(map[string]string) (interceptor.TracerSpanRef, error) {
	return nil, nil
}

func (t *fakeTracer) MarshalSpan(s interceptor.TracerSpan) (map[string]string, error) {
	return map[string]string{"span": s.(*fakeSpan).opts.Operation + ":" + s.(*fakeSpan).opts.Name}, nil
}

func (t *fakeTracer) SpanFromContext(ctx context.Context) interceptor.TracerSpan {
	s, _ := ctx.Value(fakeSpanKey{}).(*fakeSpan)
	if s == nil {
		return nil
	}
	return s
}

func (t *fakeTracer) ContextWithSpan(ctx context.Context, s interceptor.TracerSpan) context.Context {
	return context.WithValue(ctx, fakeSpanKey{}, s)
}

func (t *fakeTracer) StartSpan(o *interceptor.TracerStartSpanOptions) (interceptor.TracerSpan, error) {
	s := &fakeSpan{opts: *o}
	t.spans = append(t.spans, s)
	return s, nil
}

func TestTriggerSpanGoesIntoTheStartHeader(t *testing.T) {
	tracer := &fakeTracer{}
	c := &Client{opts: Options{Environment: "prod", Tracer: tracer}, traceKey: tracer.Options().HeaderKey}
	service := &fakeSpan{opts: interceptor.TracerStartSpanOptions{Operation: "Service"}}
	ctx := tracer.ContextWithSpan(context.Background(), service)

	ctx, span := c.startTriggerSpan(ctx, "hello", time.Now())
	require.NotNil(t, span)
	require.Len(t, tracer.spans, 1)
	opts := tracer.spans[0].opts
	require.Equal(t, once.SpanTrigger, opts.Operation)
	require.Equal(t, "hello", opts.Name)
	require.Same(t, service, opts.Parent, "child of the caller's span")
	require.True(t, opts.ToHeader)
	require.Equal(t, map[string]string{once.SpanAttrTask: "hello", once.SpanAttrEnvironment: "prod"}, opts.Tags)

	h, err := c.traceHeader(ctx)
	require.NoError(t, err)
	var data map[string]string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(h["_fake-tracer"], &data),
		"the header the SDK's tracing interceptor reads")
	require.Equal(t, map[string]string{"span": "Trigger:hello"}, data)

	c.finishTriggerSpan(span, &Run{Task: "hello", WorkflowID: "prod/hello/k", RunID: "r1", Cached: true}, nil)
	require.True(t, tracer.spans[0].finished)
	require.Len(t, tracer.spans, 2)
	cached := tracer.spans[1]
	require.Equal(t, once.SpanCached, cached.opts.Operation)
	require.Same(t, span, cached.opts.Parent)
	require.Equal(t, "true", cached.opts.Tags[once.SpanAttrCached])
	require.Equal(t, "prod/hello/k", cached.opts.Tags[once.SpanAttrWorkflowID])
	require.True(t, cached.finished)
}

func TestTriggerSpanEndsWithTheError(t *testing.T) {
	tracer := &fakeTracer{}
	c := &Client{opts: Options{Tracer: tracer}, traceKey: tracer.Options().HeaderKey}
	_, span := c.startTriggerSpan(context.Background(), "hello", time.Now())
	require.Nil(t, tracer.spans[0].opts.Parent, "no caller's span: a root")
	boom := errors.New("boom")
	c.finishTriggerSpan(span, nil, boom)
	require.Len(t, tracer.spans, 1, "no cached span")
	require.Equal(t, boom, tracer.spans[0].err)
}

func TestNoTracerNoHeader(t *testing.T) {
	c := &Client{}
	ctx, span := c.startTriggerSpan(context.Background(), "hello", time.Now())
	require.Nil(t, span)
	h, err := c.traceHeader(ctx)
	require.NoError(t, err)
	require.Nil(t, h)
	c.finishTriggerSpan(nil, nil, nil)
}
