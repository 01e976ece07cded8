package workflows_test

import (
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"log/slog"

	"github.com/once-run/once/examples"
	"github.com/once-run/once/workflows"
	sdklog "go.temporal.io/sdk/log"
)

// greet is a task that triggers the hello task and waits for it, with a key
// of its run: a retried attempt of greet gets the same hello run.
var greet = workflows.NewTask("greet", func(ctx workflow.Context, name string) (string, error) {
	key, err := workflows.CreateKey(ctx, "greet", name)
	if err != nil {
		return "", err
	}
	return examples.Hello.TriggerAndWait(ctx, examples.HelloPayload{Name: name}, workflows.ChildOptions{Key: key})
}, workflows.TaskOptions{RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})

func ExampleNewTask() {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := s.NewTestWorkflowEnvironment()
	for _, t := range []workflows.Definition{greet, examples.Hello} {
		t.Register(env, workflows.Runtime{Environment: "dev"})
	}
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "dev/greet/example"})
	env.ExecuteWorkflow(greet.ID(), "Ada")
	var got string
	if err := env.GetWorkflowResult(&got); err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(got)
	fmt.Println(greet.Options().RetryPolicy.MaximumAttempts, "attempts")
	// Output:
	// Hello, Ada
	// 3 attempts
}
