package bench

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/workflows"
)

// parentSide is one contender of the parent rotation.
type parentSide struct {
	label string // in progress lines and timelines
	// row is its line in the report, against the raw parent; "" for the
	// raw parent and for Once's, whose row is the pair.
	row string
	run func(context.Context) (string, error) // one parent, start to result: its workflow ID
}

// parents: a Once parent with Children TriggerAndWait children vs a raw
// parent with Children child workflows, time from start to result, in one
// rotation with a raw parent whose children carry Once's child options
// (carryOnce): what those options cost, and what is left to Once's workflow
// code and worker. With --diagnostics the rotation adds raw children with
// Once's workflow IDs alone, with a keyed child's memo, with the once-run
// header, and Once's parent task three more ways.
func (e *env) parents(ctx context.Context, rep *Report) error {
	if err := e.drain(ctx); err != nil {
		return err
	}
	n, k := e.cfg.Children, e.cfg.ParentsPerRound
	sides := e.parentSides()
	fns := make([]func(context.Context) (time.Duration, error), len(sides))
	for i, s := range sides {
		fns[i] = e.perParent(s)
	}
	times, err := e.rotate(ctx, "parent", e.cfg.ParentRounds, fns...)
	if err != nil {
		return err
	}
	against := func(base, other int) []pair {
		out := make([]pair, len(times))
		for r, t := range times {
			out[r] = pair{raw: t[base], once: t[other]}
		}
		return out
	}
	rep.add(sectionStarts, durations(fmt.Sprintf("parent with %d TriggerAndWait children vs %d ExecuteChildWorkflow (%d per side and round)", n, n, k), "s/parent", against(0, 1), AtMost(1.05)))
	rep.add(sectionStarts, durations("  diagnostic: Once vs raw children with Once's child options", "s/parent", against(2, 1), NoGoal))
	for i, s := range sides {
		if s.row != "" {
			rep.add(sectionStarts, durations("  diagnostic: "+s.row+" vs raw", "s/parent", against(0, i), NoGoal))
		}
	}
	return nil
}

// parentSides are the contenders of the parent rotation: the raw parent,
// Once's, and the raw parent whose children carry Once's child options;
// with --diagnostics more after them.
func (e *env) parentSides() []parentSide {
	n := e.cfg.Children
	sides := []parentSide{
		{label: "raw", run: e.executed("raw-parent", rawQueue, "bench-raw-parent", n)},
		{label: "once", run: e.triggered("parent", parentTask.ID())},
		{label: "raw, Once's child options", row: "raw children with Once's child options (workflow ID, REJECT_DUPLICATE, ABANDON)",
			run: e.executed("raw-carry", rawQueue, rawCarryingType, carryInput{Children: n, Carry: carryOnce})},
	}
	if !e.cfg.Diagnostics {
		return sides
	}
	carrying := func(label, row string, c carry) parentSide {
		return parentSide{label: label, row: row, run: e.executed("raw-carry", rawQueue, rawCarryingType, carryInput{Children: n, Carry: c})}
	}
	return append(sides,
		carrying("raw, Once's IDs", "raw children with Once's workflow IDs", carry{ID: true}),
		carrying("raw, Once's child options and a memo", "raw children with Once's child options and a keyed child's memo", carry{ID: true, Policies: true, Memo: true}),
		carrying("raw, Once's child options and header", "raw children with Once's child options and the once-run header", carry{ID: true, Policies: true, Header: true}),
		parentSide{label: "plain once", row: "Once's parent task on a plain SDK worker, started by ExecuteWorkflow,",
			run: e.executed("plain-once-parent", plainOnceQueue, parentTask.ID(), n)},
		parentSide{label: "raw-started once", row: "Once's parent task on Once's worker, started by ExecuteWorkflow,",
			run: e.executed("raw-start-parent", e.runner.TaskQueue(), parentTask.ID(), n)},
		parentSide{label: "once batch", row: fmt.Sprintf("parent with one BatchTriggerAndWait of %d", n),
			run: e.triggered("parent-batch", parentBatchTask.ID())},
	)
}

// triggered triggers task (a parent of Children children) under a fresh key
// with the worker's starter and waits for its result.
func (e *env) triggered(prefix, task string) func(context.Context) (string, error) {
	n := e.cfg.Children
	return func(ctx context.Context) (string, error) {
		var sum int
		run, err := e.runner.TriggerAndWait(ctx, task, n, &sum, starter.TriggerOptions{Key: idempotency.Parts{e.unique(prefix)}})
		if err != nil {
			return "", err
		}
		return run.WorkflowID, checkSum(nil, sum, n)
	}
}

// executed starts workflowType (a parent of Children children) with input
// on queue with ExecuteWorkflow and waits for its result.
func (e *env) executed(prefix, queue, workflowType string, input any) func(context.Context) (string, error) {
	n := e.cfg.Children
	return func(ctx context.Context) (string, error) {
		run, err := e.plain.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: e.unique(prefix), TaskQueue: queue}, workflowType, input)
		if err != nil {
			return "", err
		}
		var sum int
		err = run.Get(ctx, &sum)
		return run.GetID(), checkSum(err, sum, n)
	}
}

// perParent times ParentsPerRound parents of s one after the other; with
// --diagnostics it then prints their timelines, and once what the first
// child of s carries (not timed).
func (e *env) perParent(s parentSide) func(context.Context) (time.Duration, error) {
	k := e.cfg.ParentsPerRound
	described := false
	return func(ctx context.Context) (time.Duration, error) {
		ids := make([]string, k)
		start := time.Now()
		for i := range k {
			var err error
			if ids[i], err = s.run(ctx); err != nil {
				return 0, err
			}
		}
		d := time.Since(start) / time.Duration(k)
		if e.cfg.Diagnostics {
			for _, id := range ids {
				e.timeline(ctx, s.label, id)
			}
			if !described {
				described = true
				e.describeChild(ctx, s.label, ids[0])
			}
		}
		return d, nil
	}
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

// carry is what a raw parent (rawCarrying) gives its children of what Once
// gives a child of an unkeyed TriggerAndWait (workflows.Task.Trigger).
type carry struct {
	// ID: Once's workflow ID, "<env>/<task>/<ordinal key>" (81
	// characters), on the parent's task queue named explicitly.
	ID bool
	// Policies: REJECT_DUPLICATE and ABANDON.
	Policies bool
	// Memo: the key text and scope (idempotency.Memo), as a child of a key
	// the task gave carries them; an unkeyed child carries no memo.
	Memo bool
	// Header: the once-run header, as Once's context propagator
	// writes it where the worker's client has that propagator (markedPropagator).
	Header bool
}

// carryOnce is what Once's children carry in this benchmark: unkeyed, they
// carry no memo; its worker's client has no context propagator, so they
// carry no header; Once's search attributes are off
// (worker.SearchAttributesOff); noopTask has no retry policy or timeouts.
var carryOnce = carry{ID: true, Policies: true}

// carryInput is the input of rawCarrying.
type carryInput struct {
	Children int
	Carry    carry
}

// rawCarryingType is the workflow type of rawCarrying.
const rawCarryingType = "bench-raw-parent-carrying"

// rawCarrying is rawParent whose children carry in.Carry.
func rawCarrying(ctx workflow.Context, in carryInput) (int, error) {
	futures := make([]workflow.ChildWorkflowFuture, in.Children)
	for i := range futures {
		cctx, err := in.Carry.childContext(ctx, i+1)
		if err != nil {
			return 0, err
		}
		futures[i] = workflow.ExecuteChildWorkflow(cctx, "bench-raw-noop", i)
	}
	return sumResults(ctx, futures)
}

// childContext is ctx with the child options c carries of the unkeyed
// trigger with this ordinal (1-based), as workflows.Task.Trigger makes them.
func (c carry) childContext(ctx workflow.Context, ordinal int) (workflow.Context, error) {
	tk, err := idempotency.ResolveTrigger(nil, "", workflows.RunContext(ctx), func() ([]string, error) {
		return []string{"once-ordinal", noopTask.ID(), strconv.Itoa(ordinal)}, nil // workflows' ordinal key
	})
	if err != nil {
		return nil, err
	}
	var cwo workflow.ChildWorkflowOptions
	if c.ID {
		if cwo.WorkflowID, err = idempotency.WorkflowID(environment, noopTask.ID(), tk.Key); err != nil {
			return nil, err
		}
		cwo.TaskQueue = workflow.GetInfo(ctx).TaskQueueName
	}
	if c.Policies {
		cwo.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
		cwo.ParentClosePolicy = enumspb.PARENT_CLOSE_POLICY_ABANDON
	}
	if c.Memo {
		cwo.Memo = idempotency.Memo{KeyText: tk.Text, Scope: tk.Scope}.Fields()
	}
	ctx = workflow.WithChildOptions(ctx, cwo)
	if c.Header {
		ctx = workflow.WithValue(ctx, onceHeaderKey{}, true)
	}
	return ctx, nil
}

// onceHeaderKey marks a workflow context whose children get the once-run
// header.
type onceHeaderKey struct{}

// markedPropagator is Once's context propagator writing the once-run
// header into the children of a workflow context marked with onceHeaderKey,
// and nowhere else: the raw side's client has it, and only the parents that
// carry the header mark their children.
type markedPropagator struct{ workflow.ContextPropagator }

func (markedPropagator) Inject(context.Context, workflow.HeaderWriter) error { return nil }

func (p markedPropagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	if marked, _ := ctx.Value(onceHeaderKey{}).(bool); !marked {
		return nil
	}
	return p.ContextPropagator.InjectFromWorkflow(ctx, w)
}

// describeChild prints what the first child of a parent carries, from the
// parent's history: the start command's workflow ID, policies, memo,
// header, retry policy and timeouts.
func (e *env) describeChild(ctx context.Context, label, parentID string) {
	it := e.plain.c.GetWorkflowHistory(ctx, parentID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			fmt.Fprintf(e.cfg.Log, "child of %s: %v\n", label, err)
			return
		}
		if a := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes(); a != nil {
			fmt.Fprintf(e.cfg.Log, "child of %s: %s\n", label, childShape(a))
			return
		}
	}
}

// childShape describes a child's start command in one line.
func childShape(a *historypb.StartChildWorkflowExecutionInitiatedEventAttributes) string {
	keys := func(m map[string]int) string {
		var s []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			s = append(s, fmt.Sprintf("%s (%d B)", k, m[k]))
		}
		return "[" + strings.Join(s, ", ") + "]"
	}
	memo, header := map[string]int{}, map[string]int{}
	for k, p := range a.GetMemo().GetFields() {
		memo[k] = len(p.GetData())
	}
	for k, p := range a.GetHeader().GetFields() {
		header[k] = len(p.GetData())
	}
	return fmt.Sprintf("ID %d chars, reuse %s, parent close %s, memo %s, header %s, search attributes %d, retry policy %v, timeouts %v/%v/%v",
		len(a.GetWorkflowId()), a.GetWorkflowIdReusePolicy(), a.GetParentClosePolicy(), keys(memo), keys(header),
		len(a.GetSearchAttributes().GetIndexedFields()), a.GetRetryPolicy() != nil,
		a.GetWorkflowExecutionTimeout().AsDuration(), a.GetWorkflowRunTimeout().AsDuration(), a.GetWorkflowTaskTimeout().AsDuration())
}

// timeline prints where the time of one parent went, from its history: the
// workflow tasks (scheduled → started → completed) and the child events.
func (e *env) timeline(ctx context.Context, label, workflowID string) {
	it := e.plain.c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var first time.Time
	var wft, started, completed int
	var lastStarted, lastCompleted, sched time.Time
	var wftQueue, wftRun time.Duration
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			fmt.Fprintf(e.cfg.Log, "timeline %s: %v\n", label, err)
			return
		}
		t := ev.GetEventTime().AsTime()
		if first.IsZero() {
			first = t
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
			sched = t
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			wft++
			wftQueue += t.Sub(sched)
			sched = t
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			wftRun += t.Sub(sched)
		case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
			started++
			lastStarted = t
		case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
			completed++
			lastCompleted = t
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			fmt.Fprintf(e.cfg.Log, "timeline %s: %d WFTs (queued %s, running %s), %d children started by %s, %d completed by %s, closed at %s\n",
				label, wft, wftQueue.Round(time.Millisecond), wftRun.Round(time.Millisecond), started, lastStarted.Sub(first).Round(time.Millisecond),
				completed, lastCompleted.Sub(first).Round(time.Millisecond), t.Sub(first).Round(time.Millisecond))
		}
	}
}
