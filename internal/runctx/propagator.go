package runctx

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/idempotency"
)

// HeaderName is the Temporal header that carries an idempotency.RunContext
// from workflow code to the activities it schedules.
const HeaderName = "once-run"

// NewContextPropagator returns the context propagator that carries the run
// context (idempotency.RunContext) in the Temporal header HeaderName. Once's
// worker applies it to every workflow and activity it runs, package oncetest
// registers it on its test environment, and worker.ContextPropagator hands
// it to users who run tasks without either, so that keys made in an
// activity (activities.CreateKey) are scoped to the run that scheduled it.
//
//   - InjectFromWorkflow writes FromWorkflow of the workflow.
//   - Extract (activity side) reads it into the context.Context with
//     idempotency.WithRunContext, and starts the count of the attempt's calls
//     (NextCallOrdinal), header or not.
//   - Inject writes From(ctx), when there is one, so a run context travels on
//     from an activity to what it calls.
//   - ExtractToWorkflow does nothing: a workflow, child or not, is a run of
//     its own and takes its run context from its own workflow info.
func NewContextPropagator() workflow.ContextPropagator { return propagator{} }

type propagator struct{}

func (propagator) Inject(ctx context.Context, w workflow.HeaderWriter) error {
	rc, ok := From(ctx)
	if !ok {
		return nil
	}
	return writeRunContext(w, rc)
}

func (propagator) Extract(ctx context.Context, r workflow.HeaderReader) (context.Context, error) {
	ctx = withCallCounter(ctx)
	p, ok := r.Get(HeaderName)
	if !ok {
		return ctx, nil
	}
	var rc idempotency.RunContext
	if err := converter.GetDefaultDataConverter().FromPayload(p, &rc); err != nil {
		return ctx, fmt.Errorf("idempotency: decode header %q: %w", HeaderName, err)
	}
	return idempotency.WithRunContext(ctx, rc), nil
}

func (propagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	return writeRunContext(w, FromWorkflow(ctx))
}

func (propagator) ExtractToWorkflow(ctx workflow.Context, _ workflow.HeaderReader) (workflow.Context, error) {
	return ctx, nil
}

func writeRunContext(w workflow.HeaderWriter, rc idempotency.RunContext) error {
	p, err := converter.GetDefaultDataConverter().ToPayload(rc)
	if err != nil {
		return fmt.Errorf("idempotency: encode header %q: %w", HeaderName, err)
	}
	w.Set(HeaderName, p)
	return nil
}
