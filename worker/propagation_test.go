package worker_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"

	"github.com/once-run/once/activities"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/worker"
)

// TestContextPropagatorRoundTrip: what ContextPropagator writes from a
// context that carries a run, it reads back into an activity's context.
func TestContextPropagatorRoundTrip(t *testing.T) {
	rc := idempotency.RunContext{Environment: "dev", TaskID: "t", RunID: "r", Attempt: 2}
	p := worker.ContextPropagator()
	h := header{}
	require.NoError(t, p.Inject(idempotency.WithRunContext(context.Background(), rc), h))
	require.Len(t, h, 1)

	ctx, err := p.Extract(context.Background(), h)
	require.NoError(t, err)
	got, ok := activities.RunContext(ctx)
	require.True(t, ok)
	require.Equal(t, rc, got)
}

type header map[string]*commonpb.Payload

func (h header) Set(k string, v *commonpb.Payload) { h[k] = v }

func (h header) Get(k string) (*commonpb.Payload, bool) {
	v, ok := h[k]
	return v, ok
}

func (h header) ForEachKey(fn func(string, *commonpb.Payload) error) error {
	for k, v := range h {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}
