package workflows_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/workflows"
)

// Test-only tasks of the failure policy.
var (
	// releasing fails, and its definition releases the key of a failed run.
	releasing = workflows.NewTask("releasing", func(ctx workflow.Context, in map[string]any) (map[string]any, error) {
		if in["fail"] == true {
			return nil, errors.New("fails on purpose")
		}
		return in, nil
	}, workflows.TaskOptions{OnFailure: once.FailureRelease})

	// keeping is releasing's twin that keeps its keys (the default).
	keeping = workflows.NewTask("keeping", func(ctx workflow.Context, in map[string]any) (map[string]any, error) {
		return in, nil
	}, workflows.TaskOptions{})

	// releaseParent triggers releasing with the global key "shared" and a
	// payload that fails it, then runs releaseAttacher with the override
	// given as its payload: the same key from another execution.
	releaseParent = workflows.NewTask("release-parent", func(ctx workflow.Context, onFailure once.FailurePolicy) (attached, error) {
		_, err := releasing.TriggerAndWait(ctx, map[string]any{"fail": true}, workflows.ChildOptions{Key: idempotency.Parts{"shared"}, Scope: idempotency.ScopeGlobal})
		var runErr *workflows.RunError
		if !errors.As(err, &runErr) {
			return attached{}, errors.New("want the first run to fail")
		}
		return releaseAttacher.TriggerAndWait(ctx, onFailure, workflows.ChildOptions{})
	}, workflows.TaskOptions{})

	releaseAttacher = workflows.NewTask("release-attacher", func(ctx workflow.Context, onFailure once.FailurePolicy) (attached, error) {
		h, err := releasing.Trigger(ctx, map[string]any{"fail": false}, workflows.ChildOptions{Key: idempotency.Parts{"shared"}, Scope: idempotency.ScopeGlobal, OnFailure: onFailure})
		if err != nil {
			return attached{}, err
		}
		v, err := h.Get(ctx)
		return attached{Cached: h.Cached, RunID: h.RunID, Value: v}, err
	}, workflows.TaskOptions{})
)

// attached is what releaseAttacher saw of its trigger.
type attached struct {
	Cached bool
	RunID  string
	Value  map[string]any
}

func newFailureEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	rt := workflows.Runtime{Environment: "dev"}
	for _, d := range []workflows.Definition{releasing, keeping, releaseParent, releaseAttacher} {
		d.Register(env, rt)
	}
	env.RegisterActivity(&workflows.RuntimeActivities{})
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: parentID})
	return env
}

func sharedID(t *testing.T) string {
	t.Helper()
	key, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "shared")
	require.NoError(t, err)
	return "dev/releasing/" + string(key)
}

// A child of a task that releases, whose workflow ID is held by a failed
// run, is triggered again through ReleaseRun — under the task's own policy
// (no override) or a FailureRelease override — and waits for the run it
// answers with: started by this trigger (not Cached, its run ID), or found.
// A FailureKeep override attaches to the failed run, without ReleaseRun.
func TestChildFailurePolicy(t *testing.T) {
	id := sharedID(t)
	result, err := converter.GetDefaultDataConverter().ToPayload(map[string]any{"fail": false})
	require.NoError(t, err)
	for _, tc := range []struct {
		name      string
		onFailure once.FailurePolicy
		started   bool // ReleaseRun's answer
		release   bool
	}{
		{"task releases, this trigger starts the new run", once.FailureDefault, true, true},
		{"task releases, another caller started it", once.FailureDefault, false, true},
		{"override release", once.FailureRelease, true, true},
		{"override keep", once.FailureKeep, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newFailureEnv(t)
			var a *workflows.RuntimeActivities
			if tc.release {
				env.OnActivity(a.ReleaseRun, mock.Anything, workflows.ReleaseInput{Task: "releasing", WorkflowID: id, Key: idempotency.Key(id[len("dev/releasing/"):])}, mock.Anything).
					Return(workflows.ReleaseResult{RunID: "new-run", Started: tc.started}, nil).Once()
				env.OnActivity(a.AttachRun, mock.Anything, workflows.AttachInput{WorkflowID: id, RunID: "new-run"}).Return(converter.NewRawValue(result), nil).Once()
			} else {
				env.OnActivity(a.AttachRun, mock.Anything, workflows.AttachInput{WorkflowID: id}).Return(converter.NewRawValue(result), nil).Once()
			}
			env.ExecuteWorkflow(releaseParent.ID(), tc.onFailure)
			require.NoError(t, env.GetWorkflowError())
			var got attached
			require.NoError(t, env.GetWorkflowResult(&got))
			require.Equal(t, map[string]any{"fail": false}, got.Value)
			if tc.release && tc.started {
				require.False(t, got.Cached)
				require.Equal(t, "new-run", got.RunID)
			} else {
				require.True(t, got.Cached)
				require.Empty(t, got.RunID)
			}
			env.AssertExpectations(t)
		})
	}
}

// A runtime without RuntimeActivities.Trigger fails the child trigger that
// finds a failed run to release, for good (ErrTypeMisconfigured).
func TestChildFailurePolicyReleaseFails(t *testing.T) {
	env := newFailureEnv(t) // its RuntimeActivities has no Trigger
	env.ExecuteWorkflow(releaseParent.ID(), once.FailureDefault)
	require.ErrorContains(t, env.GetWorkflowError(), "ReleaseRun needs RuntimeActivities.Trigger")
}

// A run of a task that releases records the policy in its memo, in its
// first workflow task; a run of a task that keeps records nothing.
func TestTaskRecordsFailurePolicy(t *testing.T) {
	env := newFailureEnv(t)
	env.OnUpsertMemo(map[string]any{once.MemoOnFailure: "release"}).Return(nil).Once()
	env.ExecuteWorkflow(releasing.ID(), map[string]any{"fail": false})
	require.NoError(t, env.GetWorkflowError())
	env.AssertExpectations(t)

	env = newFailureEnv(t)
	env.OnUpsertMemo(mock.Anything).Return(nil).Maybe()
	env.ExecuteWorkflow(keeping.ID(), map[string]any{})
	require.NoError(t, env.GetWorkflowError())
	env.AssertNotCalled(t, "UpsertMemo", mock.Anything)
}

func TestNewTaskPanicsOnBadFailurePolicy(t *testing.T) {
	require.Panics(t, func() {
		workflows.NewTask("bad-policy", func(workflow.Context, struct{}) (struct{}, error) { return struct{}{}, nil },
			workflows.TaskOptions{OnFailure: once.FailurePolicy(9)})
	})
}
