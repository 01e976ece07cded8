package workflows

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/plan"
)

// ErrTypeDebouncer: a debouncer workflow (once.DebounceWorkflow) started
// with a workflow ID or input that no Once trigger makes. Non-retryable.
const ErrTypeDebouncer = "OnceDebouncerInvalid"

// DebounceResult is the result of a debouncer's run: the run it started for
// its burst, and how many triggers the burst had.
type DebounceResult struct {
	// WorkflowID of the burst's run, "<env>/<task>/<key>"; "" when the
	// debouncer received no trigger (it was not started by Once).
	WorkflowID string `json:"workflowId,omitempty"`
	// RunID of the burst's run.
	RunID string `json:"runId,omitempty"`
	// Triggers is the number of triggers of the burst.
	Triggers int `json:"triggers"`
}

// RegisterDebouncer registers the debouncer, the workflow of type
// once.DebounceWorkflow that makes a burst of debounced triggers one run
// (once.Debounce), on r with the task runtime rt. worker.New registers it on
// the environment's task queue; a test environment whose tasks debounce
// must register it too.
//
// A debouncer holds one burst. Its workflow ID is derived from the
// environment, the task and the debounce key ("<env>/<task>/debounce-<key>",
// a shape no run of a task has); each trigger of the burst signals it
// (signal-with-start: the first one starts it), with its payload. It keeps
// the payload of the first trigger (leading) or of the last (trailing),
// waits with a timer for the burst's quiet period (Delay since the last
// trigger, at most MaxDelay since the first), and starts the run: at once
// when leading, when the timer fires when trailing. The run is an ordinary
// run of the task with its own workflow ID, "<env>/<task>/<key>", its key
// derived from the debouncer's key and run ID (plan.Task.DebouncedRun), so
// that a trigger knows it as soon as its signal is taken. It is started as
// a child with the parent close policy ABANDON, from the debouncer's
// history: a worker that dies inside the window, or a replay, never starts
// a second one. The run gets the task's retry policy and timeouts from the
// worker, as a run the starter starts does. Once the run has started and
// the burst has ended, the debouncer completes, and the next trigger of the
// key starts a new debouncer: a new burst.
//
// A trigger whose signal the debouncer takes after it has started a
// trailing run — within the time the start takes, as the quiet period ends
// — joins that run, without its payload: every trigger is answered by the
// run its debouncer run starts.
func RegisterDebouncer(r Registry, rt Runtime) {
	r.RegisterWorkflowWithOptions(func(ctx workflow.Context, in plan.DebounceInput) (DebounceResult, error) {
		return debounce(ctx, rt, in)
	}, workflow.RegisterOptions{Name: once.DebounceWorkflow})
}

// debounce is the debouncer's workflow function (see RegisterDebouncer).
func debounce(ctx workflow.Context, rt Runtime, in plan.DebounceInput) (DebounceResult, error) {
	d, err := newDebouncer(ctx, rt, in)
	if err != nil {
		return DebounceResult{}, err
	}
	d.waitForQuiet(ctx)
	// Triggers taken with the timer's firing arrived as the burst ended:
	// they are part of it.
	d.take()
	if d.res.Triggers == 0 {
		return DebounceResult{}, nil // not started by a trigger: nothing to run
	}
	if d.run == nil {
		d.startRun()
	}
	var exec workflow.Execution
	if err := d.run.GetChildWorkflowExecution().Get(ctx, &exec); err != nil && !isAlreadyStarted(err) {
		return d.res, fmt.Errorf("debouncer %s: start %s: %w", d.id, d.res.WorkflowID, err)
	}
	d.res.RunID = exec.RunID
	// Triggers signalled while the run started join it (see
	// RegisterDebouncer); a signal that arrives after this is taken before
	// the debouncer closes, as the server refuses to close a workflow with
	// a signal it has not seen.
	d.take()
	return d.res, nil
}

// debouncer is one run of the debouncer: one burst of triggers.
type debouncer struct {
	ctx      workflow.Context
	id       string // the debouncer's workflow ID
	in       plan.DebounceInput
	task     string
	cwo      workflow.ChildWorkflowOptions // the burst's run's
	ch       workflow.ReceiveChannel       // the triggers
	deadline time.Time                     // of the burst: MaxDelay after its first trigger; zero without
	res      DebounceResult

	payload converter.RawValue           // the run's, as the mode says
	run     workflow.ChildWorkflowFuture // the run's start, once issued
	last    time.Time                    // of the last trigger taken
}

// newDebouncer checks the debouncer's workflow ID and input and plans the
// burst's run.
//
// Errors: a non-retryable ErrTypeDebouncer for a workflow ID that is no
// debouncer's or an invalid input.
func newDebouncer(ctx workflow.Context, rt Runtime, in plan.DebounceInput) (*debouncer, error) {
	info := workflow.GetInfo(ctx)
	t, key, ok := plan.ParseDebouncer(info.WorkflowExecution.ID)
	if !ok || in.Delay <= 0 || in.MaxDelay < 0 || (in.Mode != once.DebounceLeading && in.Mode != once.DebounceTrailing) {
		return nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("debouncer %s: not a debouncer's workflow ID or input (mode %q, delay %v, maxDelay %v): trigger with a debounce option instead",
				info.WorkflowExecution.ID, in.Mode, in.Delay, in.MaxDelay), ErrTypeDebouncer, nil)
	}
	tr, err := t.DebouncedRun(key, debouncerRunID(info))
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeDebouncer, err)
	}
	d := &debouncer{
		ctx:  ctx,
		id:   info.WorkflowExecution.ID,
		in:   in,
		task: t.ID(),
		cwo: workflow.ChildWorkflowOptions{
			WorkflowID:            tr.WorkflowID,
			TaskQueue:             info.TaskQueueName,
			WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			// The run outlives the debouncer, which closes once it has started.
			ParentClosePolicy: enums.PARENT_CLOSE_POLICY_ABANDON,
		},
		ch:   workflow.GetSignalChannel(ctx, once.DebounceSignal),
		res:  DebounceResult{WorkflowID: tr.WorkflowID},
		last: workflow.Now(ctx),
	}
	if rt.SearchAttributes {
		d.cwo.TypedSearchAttributes = tr.SearchAttributes()
	}
	if in.MaxDelay > 0 {
		d.deadline = info.WorkflowStartTime.Add(in.MaxDelay)
	}
	return d, nil
}

// waitForQuiet takes triggers until Delay has passed since the last one, or
// the burst's deadline has come; in leading mode it starts the run with the
// first.
func (d *debouncer) waitForQuiet(ctx workflow.Context) {
	for {
		if d.take() {
			d.last = workflow.Now(ctx)
			if d.in.Mode == once.DebounceLeading && d.run == nil {
				d.startRun()
			}
		}
		until := d.last.Add(d.in.Delay)
		if !d.deadline.IsZero() && d.deadline.Before(until) {
			until = d.deadline
		}
		wait := until.Sub(workflow.Now(ctx))
		if wait <= 0 {
			return
		}
		if d.sleep(ctx, wait) {
			return
		}
	}
}

// sleep waits for wait or the next trigger, whichever comes first; it
// reports whether the time ran out.
func (d *debouncer) sleep(ctx workflow.Context, wait time.Duration) (fired bool) {
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	timer := workflow.NewTimer(tctx, wait)
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(d.ch, func(workflow.ReceiveChannel, bool) {}) // taken by take
	sel.AddFuture(timer, func(workflow.Future) { fired = true })
	sel.Select(ctx)
	return fired
}

// take takes the triggers signalled so far, keeping the payload the mode
// says; it reports whether there was any.
func (d *debouncer) take() bool {
	took := false
	for {
		var v converter.RawValue
		if !d.ch.ReceiveAsync(&v) {
			return took
		}
		took = true
		d.res.Triggers++
		if d.run == nil && (d.in.Mode == once.DebounceTrailing || d.res.Triggers == 1) {
			d.payload = v
		}
	}
}

// startRun issues the start of the burst's run with the payload kept.
func (d *debouncer) startRun() {
	d.run = workflow.ExecuteChildWorkflow(workflow.WithChildOptions(d.ctx, d.cwo), d.task, d.payload)
}

// debouncerRunID is the run ID from which a debouncer's run derives the
// key of the run it starts: its first run ID, the run ID a signal-with-start
// returns; in the test environment, which sets none, its run ID.
func debouncerRunID(info *workflow.Info) string {
	if info.FirstRunID != "" {
		return info.FirstRunID
	}
	return info.WorkflowExecution.RunID
}

// SignalDebouncerActivity is the activity type name of
// RuntimeActivities.SignalDebouncer.
const SignalDebouncerActivity = "SignalDebouncer"

// SignalDebouncerInput is the input of SignalDebouncer: the debouncer and
// the settings of the trigger, which start it when no burst is open.
type SignalDebouncerInput struct {
	// WorkflowID of the debouncer, "<env>/<task>/debounce-<key>".
	WorkflowID string `json:"workflowId"`
	// TaskQueue of the environment, where the debouncer runs.
	TaskQueue string `json:"taskQueue"`
	// Mode, Delay and MaxDelay of the trigger (once.Debounce), checked.
	Mode     once.DebounceMode `json:"mode"`
	Delay    time.Duration     `json:"delay"`
	MaxDelay time.Duration     `json:"maxDelay,omitempty"`
	// KeyText is the debounce key, for the debouncer's memo.
	KeyText string `json:"keyText,omitempty"`
}

// SignalDebouncer signals a trigger with payload to the debouncer of
// in.WorkflowID, starting it when no burst is open (signal-with-start: one
// atomic call), and returns the run ID of the debouncer that took it. The
// workflows package schedules it for a child trigger with
// ChildOptions.Debounce, as workflow code cannot signal-with-start. A
// retried attempt signals again: the burst counts one more trigger, with
// the same payload.
//
// Errors: ErrTypeMisconfigured; the client's.
func (a *RuntimeActivities) SignalDebouncer(ctx context.Context, in SignalDebouncerInput, payload converter.RawValue) (string, error) {
	if a == nil || a.Client == nil {
		return "", temporal.NewNonRetryableApplicationError("workflows: SignalDebouncer needs RuntimeActivities.Client", ErrTypeMisconfigured, nil)
	}
	memo := idempotency.Memo{KeyText: in.KeyText, Scope: idempotency.ScopeGlobal}
	run, err := a.Client.SignalWithStartWorkflow(ctx, in.WorkflowID, once.DebounceSignal, payload, client.StartWorkflowOptions{
		ID:                    in.WorkflowID,
		TaskQueue:             in.TaskQueue,
		WorkflowIDReusePolicy: enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		Memo:                  memo.Fields(),
	}, once.DebounceWorkflow, plan.DebounceInput{Mode: in.Mode, Delay: in.Delay, MaxDelay: in.MaxDelay})
	if err != nil {
		return "", fmt.Errorf("signal debouncer %s: %w", in.WorkflowID, err)
	}
	return run.GetRunID(), nil
}

// debounceCall is a debounced child trigger: the activity that signals the
// debouncer, and what its answer makes known.
type debounceCall struct {
	debouncer  plan.Debouncer
	signal     workflow.Future // SignalDebouncer: the debouncer's run ID
	debRunID   string
	runTrigger plan.Trigger
}

// startDebounced schedules the signal of a debounced trigger of t (see
// ChildOptions.Debounce). It does not block.
func (t *Task[P, R]) startDebounced(ctx workflow.Context, payload P, opts ChildOptions) (*Handle[R], error) {
	if opts.Key != nil || opts.Scope != "" {
		return nil, fmt.Errorf("debounce: a debounced trigger takes no Key or Scope (its run's key comes from the debounce key): %w", once.ErrInvalidDebounce)
	}
	pt, _, err := t.planned(ctx)
	if err != nil {
		return nil, err
	}
	d, err := pt.Debouncer(*opts.Debounce)
	if err != nil {
		return nil, err
	}
	var acts *RuntimeActivities
	actx := withStarterActivity(ctx)
	in := SignalDebouncerInput{
		WorkflowID: d.WorkflowID,
		TaskQueue:  workflow.GetInfo(ctx).TaskQueueName,
		Mode:       d.Settings.Mode,
		Delay:      d.Settings.Delay,
		MaxDelay:   d.Settings.MaxDelay,
		KeyText:    d.Settings.Key,
	}
	c := &child{
		task:      t.id,
		env:       pt.Env(),
		issued:    workflow.Now(ctx),
		heartbeat: DefaultAttachHeartbeatTimeout,
		debounce: &debounceCall{
			debouncer: d,
			signal:    workflow.ExecuteActivity(actx, acts.SignalDebouncer, in, payload),
		},
	}
	if st := runtimeFrom(ctx); st != nil && st.rt.AttachHeartbeatTimeout > 0 {
		c.heartbeat = st.rt.AttachHeartbeatTimeout
	}
	return &Handle[R]{TaskID: t.id, c: c}, nil
}

// waitSignalled waits for the debouncer to take the trigger and plans the
// run it answers with.
func (c *child) waitSignalled(ctx workflow.Context) error {
	dc := c.debounce
	var runID string
	if err := dc.signal.Get(ctx, &runID); err != nil {
		if ctx.Err() == nil {
			c.startErr = err
			c.count(ctx, once.OutcomeFailed)
		}
		return err
	}
	tr, err := dc.debouncer.Run(runID)
	if err != nil {
		c.startErr = err
		return err
	}
	dc.debRunID, dc.runTrigger = runID, tr
	c.workflowID = tr.WorkflowID
	c.started, c.attached = true, true
	c.count(ctx, once.OutcomeDebounced)
	return nil
}

// debouncedResult waits for the debouncer's run to close (the burst's run
// has started then), then for the burst's run, and returns its result.
func (c *child) debouncedResult(ctx workflow.Context, actx workflow.Context) workflow.Future {
	f, set := workflow.NewFuture(ctx)
	var acts *RuntimeActivities
	dc := c.debounce
	workflow.Go(ctx, func(gctx workflow.Context) {
		var res DebounceResult
		err := workflow.ExecuteActivity(actx, acts.AttachRun, AttachInput{WorkflowID: dc.debouncer.WorkflowID, RunID: dc.debRunID}).Get(gctx, &res)
		if err != nil {
			set.Set(nil, err)
			return
		}
		set.Chain(workflow.ExecuteActivity(actx, acts.AttachRun, AttachInput{WorkflowID: c.workflowID}))
	})
	return f
}
