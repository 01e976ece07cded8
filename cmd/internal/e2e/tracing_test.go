package e2e

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/contrib/opentelemetry"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/workerapp"
	"github.com/once-run/once/examples"
	"github.com/once-run/once/starter"
)

// spanTree indexes exported spans by name and by span ID.
type spanTree struct {
	spans []tracetest.SpanStub
	byID  map[string]tracetest.SpanStub
}

func newSpanTree(spans tracetest.SpanStubs) spanTree {
	t := spanTree{spans: spans, byID: map[string]tracetest.SpanStub{}}
	for _, s := range spans {
		t.byID[s.SpanContext.SpanID().String()] = s
	}
	return t
}

// children are the spans named name whose parent is parent.
func (t spanTree) children(parent tracetest.SpanStub, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range t.spans {
		if s.Name == name && s.Parent.SpanID() == parent.SpanContext.SpanID() {
			out = append(out, s)
		}
	}
	return out
}

// child is the one span named name whose parent is parent, in parent's
// trace. A workflow replayed on another worker may report its RunWorkflow
// span again: any of them will do.
func (t spanTree) child(tb testing.TB, parent tracetest.SpanStub, name string) tracetest.SpanStub {
	tb.Helper()
	kids := t.children(parent, name)
	require.NotEmpty(tb, kids, "no span %q under %q; spans:\n%s", name, parent.Name, t)
	for _, k := range kids {
		require.Equal(tb, parent.SpanContext.TraceID(), k.SpanContext.TraceID(), "%s is in its parent's trace", name)
	}
	return kids[0]
}

func (t spanTree) String() string {
	var b strings.Builder
	for _, s := range t.spans {
		parent := t.byID[s.Parent.SpanID().String()].Name
		fmt.Fprintf(&b, "  %s (trace %s) ← %s\n", s.Name, s.SpanContext.TraceID(), parent)
	}
	return b.String()
}

func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestTracingLinksTriggerToTaskRuns runs the worker program with --otel
// (spans to an in-memory exporter) and a starter with the same tracer, and
// follows one trace from a service's request span through the trigger, the
// task's run, its activity, the trigger that activity makes and the child's
// run; another through a child triggered from workflow code. A second
// trigger of a key is a cached hit: its own span, with a child marked
// cached, and no run under it.
func TestTracingLinksTriggerToTaskRuns(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer func() { require.NoError(t, tp.Shutdown(context.Background())) }()

	t.Setenv("TEMPORAL_ADDRESS", srv.Address())
	env := unique("tracing")
	m := workerapp.NewMain()
	m.Stdout, m.Stderr = io.Discard, io.Discard
	m.TracerProvider = tp
	require.NoError(t, m.ParseFlags([]string{"--env", env, "--otel", "--examples", "--log-level", "error"}))
	require.True(t, m.OTel)
	ctx := testCtx(t, 2*time.Minute)
	require.NoError(t, m.Run(ctx))
	defer func() { require.NoError(t, m.Close()) }()

	tracer, err := opentelemetry.NewTracer(opentelemetry.TracerOptions{Tracer: tp.Tracer("service")})
	require.NoError(t, err)
	s := newStarter(t, starter.Options{Environment: env, Tracer: tracer})

	// request triggers task under k inside a service's request span.
	request := func(name, task string, payload any, k string) *starter.Run {
		t.Helper()
		rctx, span := tp.Tracer("service").Start(ctx, name)
		defer span.End()
		run, err := s.TriggerAndWait(rctx, task, payload, nil, starter.TriggerOptions{Key: key(k)})
		require.NoError(t, err)
		return run
	}
	first := request("request-1", examples.ActivityTriggerTask.ID(), examples.ActivityTriggerPayload{}, "activity")
	require.False(t, first.Cached)
	request("request-2", examples.MyTask.ID(), examples.MyTaskPayload{}, "workflow")
	again := request("request-3", examples.ActivityTriggerTask.ID(), examples.ActivityTriggerPayload{}, "activity")
	require.True(t, again.Cached)

	var tree spanTree
	root := func(name string) tracetest.SpanStub {
		for _, s := range tree.spans {
			if s.Name == name {
				return s
			}
		}
		return tracetest.SpanStub{}
	}
	// A run's spans end as its workflow and activities return; the
	// service's request spans end last.
	eventually(t, 10*time.Second, "the request spans are exported", func() (bool, error) {
		tree = newSpanTree(exporter.GetSpans())
		return root("request-3").Name != "", nil
	})

	// Trigger from a service → the task's run → its activity → the
	// activity's trigger → the child's run.
	req := root("request-1")
	trigger := tree.child(t, req, "Trigger:activity-trigger-task")
	require.Equal(t, "activity-trigger-task", attr(trigger, once.SpanAttrTask))
	require.Equal(t, env, attr(trigger, once.SpanAttrEnvironment))
	run := tree.child(t, trigger, "RunWorkflow:activity-trigger-task")
	require.Equal(t, first.WorkflowID, attr(run, once.SpanAttrWorkflowID))
	act := tree.child(t, tree.child(t, run, "StartActivity:TriggerChildTask"), "RunActivity:TriggerChildTask")
	childRun := tree.child(t, tree.child(t, act, "Trigger:child-task"), "RunWorkflow:child-task")
	require.Equal(t, req.SpanContext.TraceID(), childRun.SpanContext.TraceID())

	// Trigger → the task's run → the child it triggers from workflow code.
	// my-task has a retry policy, which the starter does not send: the run
	// it started is restarted once with it (continue-as-new), in the trace.
	req = root("request-2")
	run = tree.child(t, tree.child(t, req, "Trigger:my-task"), "RunWorkflow:my-task")
	require.Empty(t, tree.children(run, "StartChildWorkflow:child-task"), "the restart runs none of the task's code")
	run = tree.child(t, run, "RunWorkflow:my-task")
	tree.child(t, tree.child(t, run, "StartChildWorkflow:child-task"), "RunWorkflow:child-task")

	// The cached hit: its own trigger span, a child marked cached naming
	// the run that answered, no run under it.
	req = root("request-3")
	trigger = tree.child(t, req, "Trigger:activity-trigger-task")
	cached := tree.child(t, trigger, "Cached:activity-trigger-task")
	require.Equal(t, "true", attr(cached, once.SpanAttrCached))
	require.Equal(t, first.WorkflowID, attr(cached, once.SpanAttrWorkflowID))
	require.Equal(t, first.RunID, attr(cached, once.SpanAttrRunID))
	require.Empty(t, tree.children(trigger, "RunWorkflow:activity-trigger-task"), "a cached hit starts no run")
}
