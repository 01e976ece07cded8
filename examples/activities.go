package examples

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/once-run/once/activities"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/workflows"
)

// Activities holds the dependencies of the example activities. Register a
// non-nil *Activities on the worker once it exists, with its starter:
//
//	w.RegisterActivity(&examples.Activities{Starter: w.Starter()})
//
// Workflow code calls its methods through a nil *Activities.
type Activities struct {
	// Starter triggers tasks from the activities. Required: the worker's
	// (worker.Worker.Starter) or one of the same environment.
	Starter *starter.Client
}

// TriggerChildInput is the input of TriggerChildTask.
type TriggerChildInput struct {
	// Task to trigger, e.g. "child-task".
	Task string `json:"task"`
	// Payload of the triggered run.
	Payload map[string]any `json:"payload"`
	// FailAttempts makes attempts 1…FailAttempts of the activity fail after
	// triggering, to show that retries do not trigger again.
	FailAttempts int32 `json:"failAttempts"`
}

// TriggerChildOutput is the result of TriggerChildTask.
type TriggerChildOutput struct {
	// WorkflowID and RunID of the triggered run.
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	// Cached is true when the trigger found the run an earlier activity
	// attempt had started.
	Cached bool `json:"cached"`
	// Attempt is the activity attempt that succeeded.
	Attempt int32 `json:"attempt"`
	// Result is the triggered run's result.
	Result map[string]any `json:"result"`
}

// TriggerChildTask is the example activity of the activity-trigger-task
// task: it makes the run-scoped key "activity-child" (activities.CreateKey),
// triggers in.Task with it through the starter and waits for the result,
// then fails while its attempt is at most in.FailAttempts. Every retry
// finds the same run (Cached), so exactly one run is started.
//
// Errors: those of TriggerAndWait; ErrTypeExampleFailure on purpose;
// workflows.ErrTypeMisconfigured without Activities.Starter.
func (a *Activities) TriggerChildTask(ctx context.Context, in TriggerChildInput) (TriggerChildOutput, error) {
	if a == nil || a.Starter == nil {
		return TriggerChildOutput{}, temporal.NewNonRetryableApplicationError("examples: TriggerChildTask needs Activities.Starter", workflows.ErrTypeMisconfigured, nil)
	}
	key, err := activities.CreateKey(ctx, "activity-child")
	if err != nil {
		return TriggerChildOutput{}, err
	}
	var out TriggerChildOutput
	run, err := activities.TriggerAndWait(ctx, a.Starter, in.Task, in.Payload, &out.Result, starter.TriggerOptions{Key: key})
	if err != nil {
		return TriggerChildOutput{}, err
	}
	out.WorkflowID, out.RunID, out.Cached = run.WorkflowID, run.RunID, run.Cached
	out.Attempt = activity.GetInfo(ctx).Attempt
	if out.Attempt <= in.FailAttempts {
		return TriggerChildOutput{}, temporal.NewApplicationError(
			fmt.Sprintf("attempt %d fails on purpose (failAttempts %d)", out.Attempt, in.FailAttempts), ErrTypeExampleFailure)
	}
	return out, nil
}
