// Package workflows is Once's task runtime (the example tasks are in package
// examples).
//
// A task is a typed Temporal workflow made with NewTask: a task ID, a
// function of a payload P to a result R, and options (retry policy and
// timeouts). Register tasks with the worker package (worker.Options.Tasks);
// trigger them from outside with the starter package (give it Config so the
// same retry policy and timeouts apply) and from inside other tasks with the
// methods of Task:
//
//	var Child = workflows.NewTask("child", child, workflows.TaskOptions{})
//
//	func parent(ctx workflow.Context, p Payload) (string, error) {
//		key, err := idempotency.CreateInWorkflow(ctx, "send", p.OrderID)
//		if err != nil {
//			return "", err
//		}
//		return Child.TriggerAndWait(ctx, ChildPayload{...}, workflows.ChildOptions{Key: key})
//	}
//
// # Triggering from inside a task
//
// Trigger starts a child workflow and returns once it has started;
// TriggerAndWait also waits for its result. The child's workflow ID is always
// deterministic, "<env>/<child task>/<key>", with the key
//
//   - from ChildOptions.Key, resolved with ChildOptions.Scope (default
//     run: the same in every attempt of the parent's run; attempt: one child
//     per parent attempt; global: shared with any caller), or
//   - without a key, derived from the parent's run ID, the child task and the
//     ordinal of this unkeyed trigger of that child task in the parent's code
//     (1, 2, …, counted per workflow execution), with the same scopes.
//
// So a retried parent attempt never starts a second child. When the child's
// workflow ID is already taken — an earlier attempt started it, or another
// caller with the same global key — the server refuses the start
// (START_CHILD_WORKFLOW_EXECUTION_FAILED_CAUSE_WORKFLOW_ALREADY_EXISTS) and
// the parent attaches to that run instead: an activity
// (RuntimeActivities.AttachRun) waits for the run's result. The handle is
// then Cached. Nothing fails, nothing is duplicated.
//
// Children use the reuse policy REJECT_DUPLICATE and the parent close policy
// ABANDON, for Trigger and TriggerAndWait alike: a failed parent attempt
// closes its workflow run, and with any other policy the server would
// terminate or cancel the very child the next attempt must attach to.
// Consequently, canceling or terminating a parent leaves its children
// running; cancel them by their workflow IDs, "<env>/<task>/<key>" (list
// them with WorkflowId STARTS_WITH '<env>/<task>/').
//
// The child runs in the parent's environment (from the parent's workflow ID,
// else Runtime.Environment) and on the parent's task queue, with the child
// task's retry policy and timeouts. Its memo holds the key text and scope
// (idempotency.Memo) — the task, environment and key are in its workflow ID
// and type — and only with Runtime.SearchAttributes does it get Once's
// search attributes.
//
// # Testing
//
// Package oncetest runs tasks in Temporal's test environment as a worker of
// an environment runs them (oncetest.NewEnv: tasks registered with a
// Runtime, AttachRun answered from the test's child runs), retries a task
// with its retry policy (Env.ExecuteTask), counts child starts, and
// replays recorded histories (oncetest.ReplayDir). The test environment has
// no FirstRunID: there a run's stable ID is its workflow ID (see
// idempotency.RunContextFromWorkflow), so a retried attempt re-finds its
// children as on a server. To use testsuite.TestWorkflowEnvironment or
// worker.WorkflowReplayer directly, register tasks with
// Register(env, Runtime{Environment: "dev"}) and, in the test environment,
// mock AttachRun (it returns the child's result as a converter.RawValue).
//
// # What not to do
//
//   - Do not start children of Once tasks with workflow.ExecuteChildWorkflow:
//     their IDs would not be deterministic and a retried attempt would start
//     them again.
//   - Do not use the ordinal key in a task that continues as new: the ordinal
//     restarts with each run of the chain while the run ID stays, so the new
//     run would attach to the children of the first. Pass explicit keys there.
//   - Do not use the starter package from workflow code: it does I/O. Call it
//     from an activity (see the activities package).
package workflows
