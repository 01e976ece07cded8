// Package workflows is Once's task runtime (the example tasks are in package
// examples).
//
// A task is a typed Temporal workflow made with NewTask: a task ID, a
// function of a payload P to a result R, and options (TaskOptions: the SDK's
// retry policy and the timeouts). Register tasks with the worker package
// (worker.Options.Tasks); trigger them from outside with the starter package
// (by ID, or typed with Task.Ref) and from inside other tasks with the
// methods of Task:
//
//	var Child = workflows.NewTask("child", child, workflows.TaskOptions{})
//
//	func parent(ctx workflow.Context, p Payload) (string, error) {
//		key, err := workflows.CreateKey(ctx, "send", p.OrderID)
//		if err != nil {
//			return "", err
//		}
//		return Child.TriggerAndWait(ctx, ChildPayload{...}, workflows.ChildOptions{Key: key})
//	}
//
// # Keys in workflow code
//
// CreateKey and CreateKeyWithScope make idempotency keys from the run
// context of workflow code (RunContext, read from workflow.GetInfo): they are
// deterministic, the same in a replay and in every attempt of the run (the
// default scope, run), and equal to the keys an activity of the same run
// makes with activities.CreateKey. The key logic itself is package
// idempotency's (idempotency.Derive).
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
// Unless that run failed, timed out or was terminated and the child's
// failure policy releases its key (the child task's TaskOptions.OnFailure,
// or the trigger's ChildOptions.OnFailure): then the trigger asks for the
// run that answers for the key through an activity
// (RuntimeActivities.ReleaseRun), which triggers the task with the child's
// key and payload by the starter's path — the one new run that replaces the
// failed one, whoever else finds it at once: services, the CLI, other
// parents — and the parent waits for that run (AttachRun). The handle is
// not Cached when this trigger's start made the run. The new run is an
// ordinary run of the task, not a child of the parent. Under FailureKeep
// (the default) the parent attaches to the failed run and gets its failure.
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
// # A task's retry policy, timeouts and failure policy
//
// TaskOptions.OnFailure says whether the key of a run of the task that
// failed, timed out or was terminated is kept (the default) or released
// (once.FailurePolicy). Triggers outside the worker do not know task
// definitions, so the task's runtime records a release policy in the memo
// of each run (once.MemoOnFailure), in its first workflow task, behind
// workflow.GetVersion so that histories recorded before replay as they ran.
//
// The retry policy and timeouts are the task's, applied to every run of it
// whoever starts it: a parent's trigger starts the child with them; a run
// started without them — by the starter, which sends none, the CLI or a
// plain SDK client — is restarted by the worker once, with them, before the
// task's function runs: a continue-as-new that keeps the workflow ID, the
// first run ID (so every run-scoped key), the memo and the propagated
// headers, for the price of one more workflow task (recorded with
// workflow.GetVersion, so histories of earlier runs replay). A run of a
// workflow type that no task of the worker names fails at once
// (UnknownTask; worker.Options.KeepUnknownTasks keeps the SDK's wait, for
// rolling deploys), and so does a run whose payload does not decode into
// the task's payload type (once.ErrTypeBadPayload).
//
// # Debounce
//
// ChildOptions.Debounce makes a child trigger one of a burst
// (once.Debounce): the triggers of the task with one debounce key — from
// tasks, services and the CLI alike — make one run per burst, started by the
// burst's debouncer (RegisterDebouncer; worker.New registers it). Workflow
// code cannot signal-with-start, so the trigger is an activity
// (RuntimeActivities.SignalDebouncer); the Handle names the burst's run, and
// Get waits for the debouncer's run, then for the burst's run (AttachRun).
//
// # Testing
//
// Package oncetest runs tasks in Temporal's test environment as a worker of
// an environment runs them (oncetest.NewEnv: tasks registered with a
// Runtime, AttachRun answered from the test's child runs), retries a task
// with its retry policy (Env.ExecuteTask), counts child starts, and
// replays recorded histories (oncetest.ReplayDir). The test environment has
// no FirstRunID: there a run's stable ID is its workflow ID (see
// RunContext), so a retried attempt re-finds its children as on a server.
// To use testsuite.TestWorkflowEnvironment or worker.WorkflowReplayer
// directly, register tasks with Register(env, Runtime{Environment: "dev"})
// and, in the test environment, mock AttachRun (it returns the child's
// result as a converter.RawValue) and, for children whose failure policy
// releases a failed run, ReleaseRun (a ReleaseResult: the test environment
// has no starter), and register worker.ContextPropagator,
// so that activities see the run context.
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
