// Package examples holds Once's example tasks, modelled on trigger.dev's seed
// project, each with the activities beside it: hello, child-task, my-task
// (retries re-find their child) and activity-trigger-task (an activity that
// triggers a task through the starter). The worker binary registers them in
// dev mode; a production worker registers only its own tasks.
package examples

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/workflows"
)

// The example tasks. cmd/worker registers them (Tasks) with Activities.
var (
	// Hello is the task "hello": {"name": "Ada"} → "Hello, Ada".
	Hello = workflows.NewTask("hello", hello, workflows.TaskOptions{})

	// ChildTask is the task "child-task": it returns its payload.
	ChildTask = workflows.NewTask("child-task", childTask, workflows.TaskOptions{})

	// MyTask is the task "my-task" (up to 4 attempts): it triggers
	// child-task with the run-scoped key "my-task-key" and waits for it,
	// then fails while its attempt is at most MyTaskPayload.FailAttempts.
	// Every attempt gets the same child.
	MyTask = workflows.NewTask("my-task", myTask, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{
		MaximumAttempts:    4,
		InitialInterval:    500 * time.Millisecond,
		BackoffCoefficient: 2,
		MaximumInterval:    5 * time.Second,
	}})

	// ActivityTriggerTask is the task "activity-trigger-task": its activity
	// (Activities.TriggerChildTask) triggers child-task through
	// the starter, then fails its first ActivityTriggerPayload.FailAttempts
	// attempts. Every activity retry finds the same child.
	ActivityTriggerTask = workflows.NewTask("activity-trigger-task", activityTriggerTask, workflows.TaskOptions{})
)

// ErrTypeExampleFailure is the temporal.ApplicationError type of the example
// tasks' and activities' failures on purpose. Retryable.
const ErrTypeExampleFailure = "OnceExampleFailure"

// Tasks returns the example tasks, for registration (worker.Options.Tasks).
func Tasks() []workflows.Definition {
	return []workflows.Definition{Hello, ChildTask, MyTask, ActivityTriggerTask}
}

// HelloPayload is the payload of the hello task.
type HelloPayload struct {
	// Name to greet.
	Name string `json:"name"`
}

func hello(_ workflow.Context, p HelloPayload) (string, error) {
	return "Hello, " + p.Name, nil
}

func childTask(_ workflow.Context, p map[string]any) (map[string]any, error) {
	return p, nil
}

// MyTaskKeyText is the text of the key with which my-task triggers
// child-task.
const MyTaskKeyText = "my-task-key"

// MyTaskPayload is the payload of my-task.
type MyTaskPayload struct {
	// FailAttempts makes attempts 1…FailAttempts fail after the child
	// returned. Optional: defaults to 0, no failure.
	FailAttempts int32 `json:"failAttempts"`
	// Scope of the key MyTaskKeyText (or of the ordinal key with NoKey):
	// run, attempt or global. Optional: defaults to run.
	Scope idempotency.Scope `json:"scope,omitempty"`
	// NoKey triggers child-task without a key: the ordinal key.
	// Optional: defaults to false.
	NoKey bool `json:"noKey,omitempty"`
}

// MyTaskResult is the result of my-task.
type MyTaskResult struct {
	// Attempt is the attempt that completed.
	Attempt int32 `json:"attempt"`
	// Child is the child-task's result: {"parent": <workflow ID of the
	// parent that started it>}.
	Child map[string]any `json:"child"`
}

func myTask(ctx workflow.Context, p MyTaskPayload) (MyTaskResult, error) {
	opts := workflows.ChildOptions{Scope: p.Scope}
	if !p.NoKey {
		key, err := workflows.CreateKeyWithScope(ctx, p.Scope, MyTaskKeyText)
		if err != nil {
			return MyTaskResult{}, err
		}
		opts.Key = key
	}
	info := workflow.GetInfo(ctx)
	child, err := ChildTask.TriggerAndWait(ctx, map[string]any{"parent": info.WorkflowExecution.ID}, opts)
	if err != nil {
		return MyTaskResult{}, err
	}
	if info.Attempt <= p.FailAttempts {
		return MyTaskResult{}, temporal.NewApplicationError(
			fmt.Sprintf("my-task: attempt %d fails on purpose (failAttempts %d)", info.Attempt, p.FailAttempts), ErrTypeExampleFailure)
	}
	return MyTaskResult{Attempt: info.Attempt, Child: child}, nil
}

// ActivityTriggerPayload is the payload of activity-trigger-task.
type ActivityTriggerPayload struct {
	// FailAttempts makes the activity's attempts 1…FailAttempts fail after
	// triggering child-task. Optional: defaults to 0.
	FailAttempts int32 `json:"failAttempts"`
}

func activityTriggerTask(ctx workflow.Context, p ActivityTriggerPayload) (TriggerChildOutput, error) {
	var a *Activities
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    200 * time.Millisecond,
			BackoffCoefficient: 2,
			MaximumInterval:    2 * time.Second,
			MaximumAttempts:    10,
		},
	})
	in := TriggerChildInput{
		Task:         ChildTask.ID(),
		Payload:      map[string]any{"parent": workflow.GetInfo(ctx).WorkflowExecution.ID},
		FailAttempts: p.FailAttempts,
	}
	var out TriggerChildOutput
	err := workflow.ExecuteActivity(ctx, a.TriggerChildTask, in).Get(ctx, &out)
	return out, err
}
