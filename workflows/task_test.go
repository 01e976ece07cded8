package workflows_test

import (
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/examples"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/workflows"
)

// parentID is the workflow ID the tests give top-level workflows: Once's
// shape, so the environment is "dev".
const parentID = "dev/parent/1111111111111111111111111111111111111111111111111111111111111111"

var childIDPattern = regexp.MustCompile(`^dev/child-task/[0-9a-f]{64}$`)

// Test-only tasks that exercise the runtime.
var (
	// ordinals triggers child-task three times without a key, and once
	// more with the key "same" twice.
	ordinals = workflows.NewTask("ordinals", func(ctx workflow.Context, _ struct{}) ([]string, error) {
		var ids []string
		for i := 0; i < 3; i++ {
			h, err := examples.ChildTask.Trigger(ctx, map[string]any{"i": i}, workflows.ChildOptions{})
			if err != nil {
				return nil, err
			}
			ids = append(ids, h.WorkflowID)
		}
		h1, err := examples.ChildTask.Trigger(ctx, map[string]any{"k": 1}, workflows.ChildOptions{Key: idempotency.Parts{"same"}})
		if err != nil {
			return nil, err
		}
		h2, err := examples.ChildTask.Trigger(ctx, map[string]any{"k": 2}, workflows.ChildOptions{Key: idempotency.Parts{"same"}})
		if err != nil {
			return nil, err
		}
		if h1.WorkflowID != h2.WorkflowID || h1.Cached || !h2.Cached {
			return nil, errors.New("same key: want one run, the second Cached")
		}
		r, err := h2.Get(ctx)
		if err != nil {
			return nil, err
		}
		if r["k"] != float64(1) {
			return nil, errors.New("same key: want the first trigger's result")
		}
		return append(ids, h1.WorkflowID), nil
	}, workflows.TaskOptions{})

	// globalParent triggers child-task with the global key "shared", then
	// runs globalAttacher, which triggers it with the same key from another
	// execution.
	globalParent = workflows.NewTask("global-parent", func(ctx workflow.Context, _ struct{}) ([]map[string]any, error) {
		first, err := examples.ChildTask.TriggerAndWait(ctx, map[string]any{"from": "parent"}, workflows.ChildOptions{Key: idempotency.Parts{"shared"}, Scope: idempotency.ScopeGlobal})
		if err != nil {
			return nil, err
		}
		second, err := globalAttacher.TriggerAndWait(ctx, struct{}{}, workflows.ChildOptions{})
		if err != nil {
			return nil, err
		}
		return []map[string]any{first, second}, nil
	}, workflows.TaskOptions{})

	globalAttacher = workflows.NewTask("global-attacher", func(ctx workflow.Context, _ struct{}) (map[string]any, error) {
		h, err := examples.ChildTask.Trigger(ctx, map[string]any{"from": "attacher"}, workflows.ChildOptions{Key: idempotency.Parts{"shared"}, Scope: idempotency.ScopeGlobal})
		if err != nil {
			return nil, err
		}
		if !h.Cached || h.RunID != "" {
			return nil, errors.New("want an attached handle")
		}
		return h.Get(ctx)
	}, workflows.TaskOptions{})

	// batch triggers child-task for four items: two share a key, one has a
	// key of its own, two inherit the batch key.
	batch = workflows.NewTask("batch", func(ctx workflow.Context, _ struct{}) ([]map[string]any, error) {
		items := []workflows.ChildItem[map[string]any]{
			{Payload: map[string]any{"i": 0}},
			{Payload: map[string]any{"i": 1}, Options: workflows.ChildOptions{Key: idempotency.Parts{"own"}}},
			{Payload: map[string]any{"i": 2}, Options: workflows.ChildOptions{Key: idempotency.Parts{"own"}}},
			{Payload: map[string]any{"i": 3}},
		}
		res, err := examples.ChildTask.BatchTriggerAndWait(ctx, items, workflows.ChildBatchOptions{BatchKey: idempotency.Parts{"batch"}})
		if err != nil {
			return nil, err
		}
		var out []map[string]any
		for _, r := range res {
			if r.Err != nil {
				return nil, r.Err
			}
			out = append(out, r.Value)
		}
		return out, nil
	}, workflows.TaskOptions{})

	// retriedParent triggers child-task with a key and once without one,
	// waits for both, and fails its first attempt.
	retriedParent = workflows.NewTask("retried-parent", func(ctx workflow.Context, _ struct{}) (int32, error) {
		if _, err := examples.ChildTask.TriggerAndWait(ctx, map[string]any{"keyed": true}, workflows.ChildOptions{Key: idempotency.Parts{"keyed"}}); err != nil {
			return 0, err
		}
		if _, err := examples.ChildTask.TriggerAndWait(ctx, map[string]any{"keyed": false}, workflows.ChildOptions{}); err != nil {
			return 0, err
		}
		attempt := workflow.GetInfo(ctx).Attempt
		if attempt == 1 {
			return 0, errors.New("attempt 1 fails")
		}
		return attempt, nil
	}, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 2}})

	globalNoKey = workflows.NewTask("global-no-key", func(ctx workflow.Context, _ struct{}) (string, error) {
		_, err := examples.ChildTask.Trigger(ctx, nil, workflows.ChildOptions{Scope: idempotency.ScopeGlobal})
		return "", err
	}, workflows.TaskOptions{})
)

// retriedParentID is the workflow ID retryWrapper gives retried-parent.
const retriedParentID = "dev/retried-parent/2222222222222222222222222222222222222222222222222222222222222222"

// retryWrapper runs retried-parent as a child with its retry policy: the
// test suite retries child workflows, never a top-level one.
func retryWrapper(ctx workflow.Context) (int32, error) {
	ctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:  retriedParentID,
		RetryPolicy: retriedParent.Options().RetryPolicy,
	})
	var attempt int32
	err := workflow.ExecuteChildWorkflow(ctx, retriedParent.ID(), struct{}{}).Get(ctx, &attempt)
	return attempt, err
}

// plainParent is a workflow registered without the task runtime.
func plainParent(ctx workflow.Context) error {
	_, err := examples.ChildTask.Trigger(ctx, nil, workflows.ChildOptions{})
	return err
}

type tasksSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu       sync.Mutex
	children []*workflow.Info
}

func TestTasks(t *testing.T) { suite.Run(t, new(tasksSuite)) }

func (s *tasksSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.children = nil
	rt := workflows.Runtime{Environment: "dev"}
	for _, d := range append(examples.Tasks(), ordinals, globalParent, globalAttacher, batch, globalNoKey, retriedParent) {
		d.Register(s.env, rt)
	}
	s.env.RegisterWorkflowWithOptions(plainParent, workflow.RegisterOptions{Name: "plain-parent"})
	s.env.RegisterWorkflowWithOptions(retryWrapper, workflow.RegisterOptions{Name: "retry-wrapper"})
	s.env.RegisterActivity(&workflows.RuntimeActivities{})
	s.env.RegisterActivity(&examples.Activities{})
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: parentID})
	s.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, _ converter.EncodedValues) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.children = append(s.children, info)
	})
}

func (s *tasksSuite) childIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, c := range s.children {
		ids = append(ids, c.WorkflowExecution.ID)
	}
	return ids
}

func (s *tasksSuite) TestHello() {
	s.env.ExecuteWorkflow(examples.Hello.ID(), examples.HelloPayload{Name: "Ada"})
	s.Require().NoError(s.env.GetWorkflowError())
	var got string
	s.Require().NoError(s.env.GetWorkflowResult(&got))
	s.Equal("Hello, Ada", got)
}

func (s *tasksSuite) TestChildTaskReturnsPayload() {
	s.env.ExecuteWorkflow(examples.ChildTask.ID(), map[string]any{"a": "b", "n": 1})
	var got map[string]any
	s.Require().NoError(s.env.GetWorkflowResult(&got))
	s.Equal(map[string]any{"a": "b", "n": float64(1)}, got)
}

// TestMyTaskTriggersChildWithRunScopedKey: my-task starts child-task (mocked)
// with the key "my-task-key" of its run, REJECT_DUPLICATE, ABANDON, memo.
func (s *tasksSuite) TestMyTaskTriggersChildWithRunScopedKey() {
	s.env.OnWorkflow(examples.ChildTask.ID(), mock.Anything, mock.Anything).Return(map[string]any{"mocked": true}, nil).Once()
	s.env.ExecuteWorkflow(examples.MyTask.ID(), examples.MyTaskPayload{})
	s.Require().NoError(s.env.GetWorkflowError())
	var got examples.MyTaskResult
	s.Require().NoError(s.env.GetWorkflowResult(&got))
	s.Equal(examples.MyTaskResult{Attempt: 1, Child: map[string]any{"mocked": true}}, got)

	// The test suite has no FirstRunID: the run ID falls back to the
	// workflow ID (see RunContext).
	rc := idempotency.RunContext{RunID: parentID, Attempt: 1}
	key, err := idempotency.Derive(rc, idempotency.ScopeRun, examples.MyTaskKeyText)
	s.Require().NoError(err)
	s.Equal([]string{"dev/child-task/" + string(key)}, s.childIDs())

	s.Equal(examples.ChildTask.ID(), s.children[0].WorkflowType.Name)
	// The memo is checked on the real server (cmd/internal/e2e): the test suite
	// does not pass it to the child's info.
	s.env.AssertExpectations(s.T())
}

// TestMyTaskFailsOnPurpose: attempts up to failAttempts fail, retryably,
// after the child returned.
func (s *tasksSuite) TestMyTaskFailsOnPurpose() {
	s.env.OnWorkflow(examples.ChildTask.ID(), mock.Anything, mock.Anything).Return(map[string]any{}, nil).Once()
	s.env.ExecuteWorkflow(examples.MyTask.ID(), examples.MyTaskPayload{FailAttempts: 1})
	err := s.env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "got %v", err)
	s.Equal(examples.ErrTypeExampleFailure, appErr.Type())
	s.False(appErr.NonRetryable())
	s.Len(s.childIDs(), 1)
}

// TestMyTaskOrdinalAndAttemptKeys: without a key the child ID is the
// ordinal key; scope attempt changes it.
func (s *tasksSuite) TestMyTaskOrdinalAndAttemptKeys() {
	rc := idempotency.RunContext{RunID: parentID, Attempt: 1}
	for _, tt := range []struct {
		name    string
		payload examples.MyTaskPayload
		parts   []string
		scope   idempotency.Scope
	}{
		{"ordinal", examples.MyTaskPayload{NoKey: true}, []string{"once-ordinal", "child-task", "1"}, idempotency.ScopeRun},
		{"ordinal attempt", examples.MyTaskPayload{NoKey: true, Scope: idempotency.ScopeAttempt}, []string{"once-ordinal", "child-task", "1"}, idempotency.ScopeAttempt},
		{"attempt", examples.MyTaskPayload{Scope: idempotency.ScopeAttempt}, []string{examples.MyTaskKeyText}, idempotency.ScopeAttempt},
		{"global", examples.MyTaskPayload{Scope: idempotency.ScopeGlobal}, []string{examples.MyTaskKeyText}, idempotency.ScopeGlobal},
	} {
		s.Run(tt.name, func() {
			s.SetupTest()
			s.env.ExecuteWorkflow(examples.MyTask.ID(), tt.payload)
			s.Require().NoError(s.env.GetWorkflowError())
			key, err := idempotency.Derive(rc, tt.scope, tt.parts...)
			s.Require().NoError(err)
			s.Equal([]string{"dev/child-task/" + string(key)}, s.childIDs())
		})
	}
}

// TestOrdinalKeysAreDistinctAndDeterministic: three unkeyed triggers get
// three IDs, the same in another execution of the same run; two triggers
// with one key get one run.
func (s *tasksSuite) TestOrdinalKeysAreDistinctAndDeterministic() {
	run := func() []string {
		s.SetupTest()
		s.env.ExecuteWorkflow(ordinals.ID(), struct{}{})
		s.Require().NoError(s.env.GetWorkflowError())
		var ids []string
		s.Require().NoError(s.env.GetWorkflowResult(&ids))
		s.Equal(ids, s.childIDs(), "one child per distinct key")
		return ids
	}
	first := run()
	s.Len(first, 4)
	for _, id := range first {
		s.Regexp(childIDPattern, id)
	}
	s.Len(map[string]bool{first[0]: true, first[1]: true, first[2]: true, first[3]: true}, 4)
	s.Equal(first, run())
}

// TestTriggerAttachesWhenIDTaken: a second execution that triggers the same
// global key does not fail: it attaches (AttachRun, mocked) and gets the
// first run's result.
func (s *tasksSuite) TestTriggerAttachesWhenIDTaken() {
	key, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "shared")
	s.Require().NoError(err)
	id := "dev/child-task/" + string(key)
	payload, err := converter.GetDefaultDataConverter().ToPayload(map[string]any{"from": "parent"})
	s.Require().NoError(err)
	var a *workflows.RuntimeActivities
	s.env.OnActivity(a.AttachRun, mock.Anything, workflows.AttachInput{WorkflowID: id}).Return(converter.NewRawValue(payload), nil).Once()

	s.env.ExecuteWorkflow(globalParent.ID(), struct{}{})
	s.Require().NoError(s.env.GetWorkflowError())
	var got []map[string]any
	s.Require().NoError(s.env.GetWorkflowResult(&got))
	s.Equal([]map[string]any{{"from": "parent"}, {"from": "parent"}}, got)
	s.env.AssertExpectations(s.T())
}

// TestAttachedRunFailureIsRunError: an attached run that failed surfaces as
// RunError (here converted to an ApplicationError of that type, since it
// crossed the attacher's workflow boundary) whose cause is the run's own
// failure, not the attach activity's error.
func (s *tasksSuite) TestAttachedRunFailureIsRunError() {
	var a *workflows.RuntimeActivities
	cause := temporal.NewApplicationError("boom", "ChildBoom")
	s.env.OnActivity(a.AttachRun, mock.Anything, mock.Anything).Return(converter.RawValue{},
		temporal.NewNonRetryableApplicationError("run closed without a result", workflows.ErrTypeRunFailed, cause))
	s.env.ExecuteWorkflow(globalParent.ID(), struct{}{})
	err := s.env.GetWorkflowError()
	var types []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		var appErr *temporal.ApplicationError
		if errors.As(e, &appErr) && appErr == e {
			types = append(types, appErr.Type())
		}
	}
	// global-parent's RunError (its child global-attacher failed), then
	// global-attacher's (the attached child-task failed), then the cause.
	s.Equal([]string{"RunError", "RunError", "ChildBoom"}, types)
}

// TestBatchTriggerAndWait: results in input order; items sharing a key share
// a run; items without a key inherit hash(batch key, index).
func (s *tasksSuite) TestBatchTriggerAndWait() {
	s.env.ExecuteWorkflow(batch.ID(), struct{}{})
	s.Require().NoError(s.env.GetWorkflowError())
	var got []map[string]any
	s.Require().NoError(s.env.GetWorkflowResult(&got))
	s.Equal([]map[string]any{{"i": float64(0)}, {"i": float64(1)}, {"i": float64(1)}, {"i": float64(3)}}, got)
	s.Len(s.childIDs(), 3)
}

// TestParentRetriedAsChild: the second attempt of a parent (retried by the
// test suite as a child, with a new run ID and no FirstRunID) re-finds both
// its children, the keyed and the unkeyed one: 2 child starts, as on the
// server (cmd/internal/e2e TestTestkitRetriedParentCountsAsServer), not 4.
// The retry's starts were refused (the IDs exist) and it attached through
// AttachRun (mocked here; package oncetest answers it without a mock).
func (s *tasksSuite) TestParentRetriedAsChild() {
	var a *workflows.RuntimeActivities
	for _, keyed := range []bool{true, false} {
		payload, err := converter.GetDefaultDataConverter().ToPayload(map[string]any{"keyed": keyed})
		s.Require().NoError(err)
		s.env.OnActivity(a.AttachRun, mock.Anything, mock.Anything).Return(converter.NewRawValue(payload), nil).Once()
	}
	s.env.ExecuteWorkflow("retry-wrapper")
	s.Require().NoError(s.env.GetWorkflowError())
	var attempt int32
	s.Require().NoError(s.env.GetWorkflowResult(&attempt))
	s.Equal(int32(2), attempt)

	var childTasks []string
	for _, c := range s.children {
		if c.WorkflowType.Name == examples.ChildTask.ID() {
			childTasks = append(childTasks, c.WorkflowExecution.ID)
		}
	}
	s.Len(childTasks, 2, "one keyed and one unkeyed child for both attempts")
	rc := idempotency.RunContext{RunID: retriedParentID, Attempt: 1}
	keyed, err := idempotency.Derive(rc, idempotency.ScopeRun, "keyed")
	s.Require().NoError(err)
	ordinal, err := idempotency.Derive(rc, idempotency.ScopeRun, "once-ordinal", "child-task", "1")
	s.Require().NoError(err)
	s.Equal([]string{"dev/child-task/" + string(keyed), "dev/child-task/" + string(ordinal)}, childTasks)
	s.env.AssertExpectations(s.T())
}

func (s *tasksSuite) TestGlobalScopeNeedsKey() {
	s.env.ExecuteWorkflow(globalNoKey.ID(), struct{}{})
	s.Require().ErrorContains(s.env.GetWorkflowError(), "scope global needs a key")
	s.Empty(s.childIDs())
}

func (s *tasksSuite) TestUnkeyedTriggerNeedsRuntime() {
	s.env.ExecuteWorkflow("plain-parent")
	s.Require().ErrorContains(s.env.GetWorkflowError(), "no task runtime")
	s.Empty(s.childIDs())
}

// TestActivityTriggerTask: the workflow hands the activity (mocked) its
// input and returns its output.
func (s *tasksSuite) TestActivityTriggerTask() {
	var a *examples.Activities
	want := examples.TriggerChildOutput{WorkflowID: "dev/child-task/x", Cached: true, Attempt: 4, Result: map[string]any{"parent": parentID}}
	s.env.OnActivity(a.TriggerChildTask, mock.Anything, examples.TriggerChildInput{
		Task: "child-task", Payload: map[string]any{"parent": parentID}, FailAttempts: 3,
	}).Return(want, nil).Once()
	s.env.ExecuteWorkflow(examples.ActivityTriggerTask.ID(), examples.ActivityTriggerPayload{FailAttempts: 3})
	s.Require().NoError(s.env.GetWorkflowError())
	var got examples.TriggerChildOutput
	s.Require().NoError(s.env.GetWorkflowResult(&got))
	s.Equal(want, got)
	s.env.AssertExpectations(s.T())
}

func TestOptions(t *testing.T) {
	opts := examples.MyTask.Options()
	require.NotNil(t, opts.RetryPolicy)
	require.Equal(t, int32(4), opts.RetryPolicy.MaximumAttempts)
	require.Equal(t, 500*time.Millisecond, opts.RetryPolicy.InitialInterval)
	require.Nil(t, examples.Hello.Options().RetryPolicy, "no RetryPolicy: one attempt")

	opts.RetryPolicy.MaximumAttempts = 99
	require.Equal(t, int32(4), examples.MyTask.Options().RetryPolicy.MaximumAttempts, "Options returns a copy")

	defined := &temporal.RetryPolicy{MaximumAttempts: 2, NonRetryableErrorTypes: []string{"Bad"}}
	d := workflows.NewTask("defaults", func(workflow.Context, int) (int, error) { return 0, nil },
		workflows.TaskOptions{RetryPolicy: defined, TaskTimeout: 2 * time.Second})
	want := &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 100 * time.Second, MaximumAttempts: 2, NonRetryableErrorTypes: []string{"Bad"}}
	require.Equal(t, want, d.Options().RetryPolicy, "the server's defaults filled in")
	require.Equal(t, 2*time.Second, d.Options().TaskTimeout)
	defined.MaximumAttempts, defined.NonRetryableErrorTypes[0] = 7, "Other"
	require.Equal(t, want, d.Options().RetryPolicy, "NewTask keeps a copy")

	unlimited := workflows.NewTask("unlimited", func(workflow.Context, int) (int, error) { return 0, nil },
		workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{}, ExecutionTimeout: time.Hour})
	require.Equal(t, int32(0), unlimited.Options().RetryPolicy.MaximumAttempts, "0: unlimited attempts, as in Temporal")
}

func TestNewTaskPanicsOnBadDefinition(t *testing.T) {
	fn := func(workflow.Context, int) (int, error) { return 0, nil }
	for _, tt := range []struct {
		name string
		make func()
	}{
		{"invalid ID", func() { workflows.NewTask("-bad", fn, workflows.TaskOptions{}) }},
		{"nil fn", func() { workflows.NewTask[int, int]("ok", nil, workflows.TaskOptions{}) }},
		{"negative attempts", func() {
			workflows.NewTask("ok", fn, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: -1}})
		}},
		{"negative interval", func() {
			workflows.NewTask("ok", fn, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{InitialInterval: -time.Second}})
		}},
		{"coefficient below 1", func() {
			workflows.NewTask("ok", fn, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{BackoffCoefficient: 0.5}})
		}},
		{"maximum interval below the initial one", func() {
			workflows.NewTask("ok", fn, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Minute, MaximumInterval: time.Second}})
		}},
		{"negative timeout", func() { workflows.NewTask("ok", fn, workflows.TaskOptions{RunTimeout: -1}) }},
	} {
		t.Run(tt.name, func(t *testing.T) { require.Panics(t, tt.make) })
	}
}
