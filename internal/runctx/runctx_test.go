package runctx

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/idempotency"
)

// create makes a key in an activity as activities.CreateKeyWithScope does.
func create(ctx context.Context, scope idempotency.Scope, parts ...string) (idempotency.Key, error) {
	rc, _ := From(ctx)
	return idempotency.Derive(rc, scope, parts...)
}

// createInWorkflow makes a key in workflow code as
// workflows.CreateKeyWithScope does.
func createInWorkflow(ctx workflow.Context, scope idempotency.Scope, parts ...string) (idempotency.Key, error) {
	return idempotency.Derive(FromWorkflow(ctx), scope, parts...)
}

// keysResult is what keyWorkflow returns: the keys it made in workflow code
// and the ones its activity made for the same parts.
type keysResult struct {
	RunContext      idempotency.RunContext
	WorkflowKey     idempotency.Key // workflow code, default scope
	ActivityKey     idempotency.Key // an activity, default scope
	WorkflowAttempt idempotency.Key
	ActivityAttempt idempotency.Key
	WorkflowGlobal  idempotency.Key
	ActivityGlobal  idempotency.Key
	ActivityRC      idempotency.RunContext
	Child           *keysResult `json:",omitempty"`
}

type activityKeys struct {
	Run, Attempt, Global idempotency.Key
	RC                   idempotency.RunContext
}

func keyActivity(ctx context.Context, part string) (activityKeys, error) {
	var out activityKeys
	var err error
	if out.Run, err = create(ctx, "", part); err != nil {
		return out, err
	}
	if out.Attempt, err = create(ctx, idempotency.ScopeAttempt, part); err != nil {
		return out, err
	}
	if out.Global, err = create(ctx, idempotency.ScopeGlobal, part); err != nil {
		return out, err
	}
	out.RC, _ = From(ctx)
	return out, nil
}

func keyWorkflow(ctx workflow.Context, part string, withChild bool) (keysResult, error) {
	var r keysResult
	var err error
	r.RunContext = FromWorkflow(ctx)
	if r.WorkflowKey, err = createInWorkflow(ctx, "", part); err != nil {
		return r, err
	}
	if r.WorkflowAttempt, err = createInWorkflow(ctx, idempotency.ScopeAttempt, part); err != nil {
		return r, err
	}
	if r.WorkflowGlobal, err = createInWorkflow(ctx, idempotency.ScopeGlobal, part); err != nil {
		return r, err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var ak activityKeys
	if err := workflow.ExecuteActivity(ctx, keyActivity, part).Get(ctx, &ak); err != nil {
		return r, err
	}
	r.ActivityKey, r.ActivityAttempt, r.ActivityGlobal, r.ActivityRC = ak.Run, ak.Attempt, ak.Global, ak.RC
	if withChild {
		var child keysResult
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: "dev/child-task/c1"})
		if err := workflow.ExecuteChildWorkflow(cctx, keyWorkflow, part, false).Get(ctx, &child); err != nil {
			return r, err
		}
		r.Child = &child
	}
	return r, nil
}

// newSuite returns a test suite that keeps the SDK's debug logs quiet.
func newSuite() *testsuite.WorkflowTestSuite {
	s := &testsuite.WorkflowTestSuite{}
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	return s
}

func runKeyWorkflow(t *testing.T, workflowID string, propagate, withChild bool) keysResult {
	t.Helper()
	s := newSuite()
	env := s.NewTestWorkflowEnvironment()
	if propagate {
		env.SetContextPropagators([]workflow.ContextPropagator{NewContextPropagator()})
	}
	env.RegisterWorkflow(keyWorkflow)
	env.RegisterActivity(keyActivity)
	if workflowID != "" {
		env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflowID})
	}
	env.ExecuteWorkflow(keyWorkflow, "order-42", withChild)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var r keysResult
	require.NoError(t, env.GetWorkflowResult(&r))
	return r
}

func TestWorkflowAndActivityShareRunKey(t *testing.T) {
	r := runKeyWorkflow(t, "dev/my-task/run-a", true, true)

	// Run context from workflow info; the test suite has no FirstRunID.
	require.Equal(t, idempotency.RunContext{Environment: "dev", TaskID: "my-task", RunID: "dev/my-task/run-a", Attempt: 1}, r.RunContext)
	require.Equal(t, r.RunContext, r.ActivityRC, "the activity got the workflow's run context through the header")

	want, err := idempotency.Derive(r.RunContext, idempotency.ScopeRun, "order-42")
	require.NoError(t, err)
	require.Equal(t, want, r.WorkflowKey)
	require.Equal(t, r.WorkflowKey, r.ActivityKey, "same run-scoped key in workflow and activity")
	require.Equal(t, r.WorkflowAttempt, r.ActivityAttempt)
	require.NotEqual(t, r.WorkflowKey, r.WorkflowAttempt)

	global, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeRun, "order-42")
	require.NoError(t, err)
	require.Equal(t, global, r.WorkflowGlobal)
	require.Equal(t, global, r.ActivityGlobal)

	// A child workflow is another run: its own identity, its own keys, and
	// its activity shares the child's key, not the parent's.
	c := r.Child
	require.NotNil(t, c)
	require.Equal(t, "dev", c.RunContext.Environment)
	require.Equal(t, "child-task", c.RunContext.TaskID)
	require.NotEqual(t, r.RunContext.RunID, c.RunContext.RunID)
	require.NotEqual(t, r.WorkflowKey, c.WorkflowKey)
	require.Equal(t, c.WorkflowKey, c.ActivityKey)
	require.Equal(t, c.RunContext, c.ActivityRC)
	require.Equal(t, global, c.WorkflowGlobal)
}

func TestAnotherRunGetsAnotherKey(t *testing.T) {
	a := runKeyWorkflow(t, "dev/my-task/run-a", true, false)
	a2 := runKeyWorkflow(t, "dev/my-task/run-a", true, false)
	b := runKeyWorkflow(t, "dev/my-task/run-b", true, false)

	require.Equal(t, a.WorkflowKey, a2.WorkflowKey, "deterministic: the same run gives the same key")
	require.NotEqual(t, a.WorkflowKey, b.WorkflowKey)
	require.NotEqual(t, a.ActivityKey, b.ActivityKey)
	require.Equal(t, b.WorkflowKey, b.ActivityKey)
	require.Equal(t, a.WorkflowGlobal, b.WorkflowGlobal, "global keys are shared across runs")
}

func TestRunContextWithoutTaskShapedWorkflowID(t *testing.T) {
	r := runKeyWorkflow(t, "", true, false)
	require.Equal(t, idempotency.RunContext{TaskID: "keyWorkflow", RunID: "default-test-workflow-id", Attempt: 1}, r.RunContext)
	require.Equal(t, r.WorkflowKey, r.ActivityKey)
}

// TestRunIDStableAcrossChildRetries: the test suite retries a child
// workflow with a new run ID and no FirstRunID; the run context (and so
// every run-scoped key) stays the same in every attempt, as FirstRunID keeps
// it on a server.
func TestRunIDStableAcrossChildRetries(t *testing.T) {
	s := newSuite()
	env := s.NewTestWorkflowEnvironment()
	flaky := func(ctx workflow.Context) error {
		if workflow.GetInfo(ctx).Attempt == 1 {
			return errors.New("attempt 1 fails")
		}
		return nil
	}
	parent := func(ctx workflow.Context) error {
		ctx = workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:  "dev/flaky/k",
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 2},
		})
		return workflow.ExecuteChildWorkflow(ctx, "flaky").Get(ctx, nil)
	}
	env.RegisterWorkflowWithOptions(flaky, workflow.RegisterOptions{Name: "flaky"})
	env.RegisterWorkflowWithOptions(parent, workflow.RegisterOptions{Name: "parent"})
	var rcs []idempotency.RunContext
	var runIDs []string
	env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, ctx workflow.Context, _ converter.EncodedValues) {
		rcs = append(rcs, FromWorkflow(ctx))
		runIDs = append(runIDs, info.WorkflowExecution.RunID)
	})
	env.ExecuteWorkflow("parent")
	require.NoError(t, env.GetWorkflowError())
	require.Len(t, rcs, 2)
	require.NotEqual(t, runIDs[0], runIDs[1], "the test suite gives the retry a new run ID")
	want := idempotency.RunContext{Environment: "dev", TaskID: "flaky", RunID: "dev/flaky/k"}
	want.Attempt = 1
	require.Equal(t, want, rcs[0])
	want.Attempt = 2
	require.Equal(t, want, rcs[1])
}

func TestActivityFallbackWithoutPropagator(t *testing.T) {
	// Without the header the activity builds its run context from its own
	// info: the run is the same, the attempt is unknown (1).
	r := runKeyWorkflow(t, "dev/my-task/run-a", false, false)
	require.Equal(t, idempotency.RunContext{Environment: "dev", TaskID: "my-task", RunID: "dev/my-task/run-a", Attempt: 1}, r.ActivityRC)
	require.Equal(t, r.WorkflowKey, r.ActivityKey)
}

func TestActivityReadsHeader(t *testing.T) {
	rc := idempotency.RunContext{Environment: "prod", TaskID: "send-email", RunID: "0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10", Attempt: 3}
	p, err := converter.GetDefaultDataConverter().ToPayload(rc)
	require.NoError(t, err)

	s := newSuite()
	s.SetContextPropagators([]workflow.ContextPropagator{NewContextPropagator()})
	env := s.NewTestActivityEnvironment()
	env.SetHeader(&commonpb.Header{Fields: map[string]*commonpb.Payload{HeaderName: p}})
	env.RegisterActivity(keyActivity)
	val, err := env.ExecuteActivity(keyActivity, "welcome")
	require.NoError(t, err)
	var got activityKeys
	require.NoError(t, val.Get(&got))

	require.Equal(t, rc, got.RC)
	want, err := idempotency.Derive(rc, idempotency.ScopeRun, "welcome")
	require.NoError(t, err)
	require.Equal(t, want, got.Run)
	wantAttempt, err := idempotency.Derive(rc, idempotency.ScopeAttempt, "welcome")
	require.NoError(t, err)
	require.Equal(t, wantAttempt, got.Attempt)
}

func TestActivityRejectsMalformedHeader(t *testing.T) {
	s := newSuite()
	s.SetContextPropagators([]workflow.ContextPropagator{NewContextPropagator()})
	env := s.NewTestActivityEnvironment()
	p, err := converter.GetDefaultDataConverter().ToPayload("not a run context")
	require.NoError(t, err)
	env.SetHeader(&commonpb.Header{Fields: map[string]*commonpb.Payload{HeaderName: p}})
	env.RegisterActivity(keyActivity)
	_, err = env.ExecuteActivity(keyActivity, "welcome")
	require.Error(t, err)
}

func TestFromContext(t *testing.T) {
	rc := idempotency.RunContext{Environment: "dev", TaskID: "t", RunID: "r", Attempt: 2}
	tests := []struct {
		name   string
		ctx    context.Context
		want   idempotency.RunContext
		wantOK bool
	}{
		{"background", context.Background(), idempotency.RunContext{}, false},
		{"nil", nil, idempotency.RunContext{}, false},
		{"stored", idempotency.WithRunContext(context.Background(), rc), rc, true},
		{"stored zero means no run", idempotency.WithRunContext(context.Background(), idempotency.RunContext{TaskID: "t"}), idempotency.RunContext{TaskID: "t"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := From(tt.ctx)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestPropagatorInjectFromContext(t *testing.T) {
	rc := idempotency.RunContext{Environment: "dev", TaskID: "t", RunID: "r", Attempt: 2}
	h := headerMap{}
	p := NewContextPropagator()
	require.NoError(t, p.Inject(context.Background(), h))
	require.Empty(t, h, "no run context, no header")

	require.NoError(t, p.Inject(idempotency.WithRunContext(context.Background(), rc), h))
	require.Contains(t, h, HeaderName)

	ctx, err := p.Extract(context.Background(), h)
	require.NoError(t, err)
	got, ok := From(ctx)
	require.True(t, ok)
	require.Equal(t, rc, got)
}

type headerMap map[string]*commonpb.Payload

func (h headerMap) Set(k string, v *commonpb.Payload) { h[k] = v }
func (h headerMap) Get(k string) (*commonpb.Payload, bool) {
	v, ok := h[k]
	return v, ok
}
func (h headerMap) ForEachKey(fn func(string, *commonpb.Payload) error) error {
	for k, v := range h {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}
