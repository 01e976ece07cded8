// Package starter triggers Once tasks from outside a workflow: from services,
// CLIs and activities. Triggering a task with an idempotency key never creates
// a second run.
//
// A keyed trigger starts the workflow "<env>/<task>/<key>" with the reuse
// policy REJECT_DUPLICATE on the task queue of the environment. When a run
// already holds that ID the trigger returns it with Cached set: running,
// completed, failed, timed out, canceled or terminated alike — unless the key
// has expired (TTL), has been reset (ResetKey), the run failed, timed out or
// was terminated and the failure policy releases its key (see below), or the
// caller asked to retry failed runs (TriggerOptions.RetryFailed).
//
// # Failure policy: keep or release a failed run's key
//
// Whether the key of a run that failed, timed out or was terminated still
// answers for the key is a property of the task (workflows.TaskOptions
// .OnFailure, once.FailurePolicy), which a trigger may override
// (TriggerOptions.OnFailure): FailureKeep returns the failed run, Cached,
// as trigger.dev's documentation has it ("the second request will not
// create a new task run"); FailureRelease starts one new run, as trigger.dev
// v4 does for its FAILED, CRASHED, SYSTEM_FAILURE, TIMED_OUT and EXPIRED
// runs. A completed or canceled run keeps its key under either. The starter
// knows task IDs, not their definitions: the task's runtime writes
// FailureRelease in the memo of each run of a task that releases
// (once.MemoOnFailure), and a trigger with FailureDefault (the zero value)
// applies what the run says, else keep. The default is keep: the rule of
// trigger.dev's documentation, of Temporal's REJECT_DUPLICATE and of Once
// before the policy, and a failed run may have done part of its work (a
// charge, an e-mail) that only the task's author may decide to do again.
// The same policy applies to every item of BatchTrigger, to child triggers
// (workflows.ChildOptions.OnFailure), the CLI (--on-failure) and the HTTP
// API; releasing replaces the run as below, so N callers that find the
// failed run start one new run.
//
// # The client: one place for its settings
//
// A Client is made from the client.Options the service already has, with
// Dial (or NewLazy), never from a client.Client made elsewhere: Once starts
// runs with that SDK client's own ExecuteWorkflow, so a start honours
// everything the client was configured with — its namespace, its data
// converter and payload codec (input and memo are encoded as the SDK
// encodes them: nothing in plaintext that the SDK would encrypt), its
// context propagators and client interceptors (their headers reach the
// task), its plugins — and results (Run.Get) decode through the same client
// and failure converter. Once's own reads (a run's memo, a strict caller's
// original payload) decode with the data converter the client was built
// with. A setting Once cannot honour is an error from Dial that names it
// (ErrUnsupportedClientOption: client.Options.ExternalStorage).
//
//	s, err := starter.Dial(ctx, client.Options{
//		HostPort:           "temporal.internal:7233",
//		Namespace:          "payments",
//		DataConverter:      converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), encryptionCodec),
//		ContextPropagators: []workflow.ContextPropagator{tenantPropagator},
//	}, starter.Options{Environment: "prod"})
//	defer s.Close()
//	w, err := worker.New(s, worker.Options{Tasks: tasks}) // the same client
//
// Client.Temporal is that SDK client, for SDK workers and anything else the
// service does with Temporal; Client.With makes a Client of another
// environment (or other Options) on the same connection.
//
// # A task's retry policy and timeouts: the worker's
//
// A task's retry policy and timeouts are part of its definition
// (workflows.TaskOptions), on the worker, and apply to every run of it,
// whoever starts it: this package, the CLI, another task, a plain SDK
// client. The starter sends none and needs none: the worker restarts a run
// started without them once, with them (a continue-as-new before the task's
// code runs: one more workflow task, and one more run in the key's
// history), so the run keeps its workflow ID, stable run ID, key and memo.
// A run of a task that no worker of the environment knows, or whose payload
// does not decode into the task's payload type, fails at once,
// non-retryably, instead of holding its key (see worker.Options
// KeepUnknownTasks for rolling deploys).
//
// Options.Tasks names the tasks a Client may trigger. When it names any, a
// trigger, batch, reset, lookup or list of another task is ErrUnknownTask,
// an input error, with nothing started: a misspelt task fails in the
// caller, not on a worker. A worker's starter (worker.Worker.Starter) knows
// the worker's tasks.
//
// # Triggering from an activity
//
// In an activity of a task the context carries the task's run (see package
// activities), so keys default to scope run. An unkeyed trigger there is
// keyed by its call: the run, the activity ID, the task, and the ordinal of
// this unkeyed trigger of that task in the activity attempt (1, 2, …;
// counted per task, as workflow code counts its children). Each call is its
// own run — N calls start N runs, each with its own payload — and a retried
// attempt that makes the same calls in the same order finds the same N runs
// (Cached) instead of starting N more. BatchTrigger numbers its unkeyed items
// in item order. Scope global without a key is refused
// (idempotency.ErrGlobalScopeNeedsKey): it would let unrelated runs share one
// run.
//
// Calls made from several goroutines of one attempt each still get their own
// run, but which call gets which ordinal depends on scheduling, so a retry
// may pair a payload with the run another payload started. Pass a key to
// calls made concurrently (activities.CreateKey(ctx, item.ID), or
// idempotency.KeyFromPayload), or use BatchTrigger.
//
// # Replacing a run: exactly one new run
//
// A run is replaced when its key has expired (and the run has closed), when
// its key has been reset, or, with RetryFailed, when it failed, timed out, was
// canceled or terminated (under the failure policy FailureRelease,
// trigger.dev v4's lifecycle: when it failed, timed out or was terminated,
// not canceled). Whatever TTL, payload or strictness each caller
// passes, all callers that replace the same run at the same moment get one new
// run: the replacement is a start whose request ID is derived from the
// replaced run alone ("once1.r.-.-.<replaced run ID>"), and the server answers
// every start that carries the request ID of its current run with that run,
// before it applies any reuse policy, even once that run has closed. (A
// workflow retry or continue-as-new makes a run with a request ID of its own:
// a caller so slow that the new run's whole chain closed before its
// replacement arrived would replace that chain in turn.) The
// reuse policy makes the server refuse atomically what a caller could not
// check without a race: ALLOW_DUPLICATE (with conflict policy FAIL) keeps a
// run that is still running, ALLOW_DUPLICATE_FAILED_ONLY (RetryFailed) also
// keeps one that completed. A caller that arrives after the new run has
// failed too finds that run and, with RetryFailed, replaces it in turn: one
// new run per failed run replaced.
//
// The new run has the payload, TTL and memo of the caller whose start the
// server took first; the request ID cannot carry them, so they are in the
// run's memo (its expiry, and its payload hash, written whether the caller is
// strict or not). Exactly one caller is told it started the run
// (Cached=false, and the trigger is counted with outcome restarted): the
// server answers the first start and the deduplicated ones alike, so each
// caller sends a random start nonce of its own in the memo, the server keeps
// the memo of the start it took, and a caller whose start was answered with
// the run reads the run's memo — the caller that finds its own nonce there
// made the run; every other caller gets it Cached=true (outcome cached), as
// a cached hit, whatever TTL or payload it passed. In strict mode a caller
// whose payload differs from the new run's gets the run and
// ErrKeyReusedWithDifferentPayload, as for any cached hit.
//
// ResetKey does not delete anything: it starts a short-lived marker run
// (immediately terminated, never executed by a worker) as the current run of
// the workflow ID, so the old run's history stays readable and the next
// trigger replaces the marker. Concurrent resets of one run make one marker.
//
// # Debounce
//
// TriggerOptions.Debounce makes a trigger one of a burst (once.Debounce):
// the triggers of a task with one debounce key make one run, started at
// once with the first payload (leading) or after the quiet period with the
// last (trailing, by MaxDelay at the latest). A debounced trigger is one
// SignalWithStartWorkflowExecution (through the SDK client, with its
// settings) of the burst's debouncer, the workflow "<env>/<task>/debounce-<key>"
// of type once.DebounceWorkflow that the worker registers: it holds the
// payload and a timer, and starts the run (see workflows.RegisterDebouncer).
// The Run it returns names the burst's run before it starts — its workflow
// ID is derived from the debouncer's key and the debouncer's run ID that
// took the signal —, with RunID "" and Cached false; Run.Get waits for the
// debouncer's run to close, then for the burst's run. A debounced trigger
// takes no other option (once.ErrInvalidDebounce).
//
// # Cost
//
// The hot path is one RPC. A key the Client has not seen answered costs one
// StartWorkflowExecution, whether the key is new or cached: the reply to a
// duplicate start names the existing run and the request ID that created
// it, and a run started for a new key carries in its request ID what Once
// needs to decide (the TTL, and the payload hash in strict mode); the run's
// creation time comes from its run ID (UUIDv7 on current servers). A key the
// Client has seen answered before (the last Options.SeenKeys of them) costs
// one DescribeWorkflowExecution of its workflow ID instead, which tells the
// same: a duplicate start costs the server a write (it writes the new run's
// first events before it finds the workflow ID taken), a read far less. What
// the read finds is judged as a duplicate start's reply would be; when it
// finds no run or fails, the start is sent. Extra calls happen only on these
// paths:
//   - replacing a run (expired, reset, RetryFailed on a failed run): one more
//     start, and one DescribeWorkflowExecution of the new run for its memo
//     (whose start made it, and in strict mode its payload hash; the Client
//     keeps what it read, so its next trigger that meets the run reads
//     nothing more); one TerminateWorkflowExecution for a reset marker left
//     open;
//   - RetryFailed on a key whose run did not fail: one more start (the server
//     refuses it and names the run);
//   - a cached hit under FailureRelease, or under the task's policy
//     (FailureDefault): one DescribeWorkflowExecution for the run's status
//     and memo (none when the trigger read the run already). Under the
//     task's policy a Client that read a closed run of the task without the
//     release entry within the last minute takes the task to keep its keys
//     and reads nothing: a task that keeps stays at one RPC, and one
//     redefined to release is read again within a minute. FailureKeep
//     never reads;
//   - a run that replaced another, a run Once did not start, or a server
//     whose run IDs carry no time: one DescribeWorkflowExecution to read the
//     memo (or the run's request ID), the first time a Client meets that run
//     (neither changes, so the Client keeps what it read for the next
//     triggers); a retried, continued-as-new or reset run of a new key: two,
//     the second for the request ID of its chain's first run, where its TTL
//     is — which includes every run of a task with a retry policy or
//     timeouts, that the worker restarts with them (see above);
//   - strict mode against a run started without strict mode: one
//     GetWorkflowExecutionHistory to hash the original payload;
//   - once per Client: DescribeNamespace (the retention: its warning or
//     refusal, and the effective expiries reported), and with
//     Options.SearchAttributes ListSearchAttributes (whether Once's search
//     attributes exist).
//
// # What a run carries, and finding runs
//
// A start carries nothing that its workflow ID, type and request ID already
// say: the memo of a new key's run holds the key text and scope
// (idempotency.Memo; a run that replaced another adds its expiry and payload
// hash, which its request ID cannot carry), and no custom search attribute
// unless Options.SearchAttributes asks for them. Lookup reports the expiry
// either way. Every Temporal server lists runs by the built-in attributes,
// without set-up:
//
//	WorkflowType = 'send-email'                      a task's runs
//	WorkflowId STARTS_WITH 'prod/'                   an environment's runs
//	WorkflowId STARTS_WITH 'prod/send-email/'        a task's runs in prod
//	WorkflowId = 'prod/send-email/<key>'             the runs of one key
//
// (Lookup finds the run of a key without visibility: by its workflow ID.)
//
// # Replay files
//
// RecordRun writes every execution of a run's chain from the server into a
// folder, one history file each, with the workflow ID, attempt and
// environment a replay needs stored beside the history (HistoryMetadata);
// ReadHistoryFile and WriteHistoryFile read and write that format. The CLI's
// "starter history" records the same way, and oncetest.ReplayDir replays the
// files against the current code of the tasks.
//
// # Errors
//
// Every input error matches once.ErrInvalidInput and is returned before any
// RPC, with nothing started: invalid task ID, key, scope or TTL, a task not
// in Options.Tasks (ErrUnknownTask), a payload that cannot be encoded or is
// larger than Options.MaxPayloadBytes (ErrPayloadTooLarge, default the
// server's default blob size limit), a negative TriggerOptions.StartDelay
// (ErrNegativeDuration). One input error needs the namespace's retention,
// read once per Client: with Options.RefuseTTLBeyondRetention, a keyed
// trigger whose TTL is longer than it (ErrTTLBeyondRetention), refused with
// nothing started. When the
// caller's context is done — its deadline passed or it canceled — every call
// (Trigger, TriggerAndWait, Run.Get, BatchTrigger's items, ResetKey, Lookup)
// returns an error that matches context.DeadlineExceeded or
// context.Canceled; a deadline that passed while the server did not answer
// also matches ErrServerUnreachable. A server that sheds load
// (ResourceExhausted with a cause: "namespace rate limit exceeded", an
// overloaded or busy server) is asked again with the same request after a
// backoff (100 ms, doubling up to 5 s), as the SDK's own client calls are,
// while the call's deadline allows; when it does not, its last answer
// (a *serviceerror.ResourceExhausted) is the error.
//
// # Semantics worth knowing
//
//   - TTL applies to closed runs: a run still running when its key expires is
//     returned as a cached hit; a trigger after it closed starts a new run.
//   - A key also lives no longer than the namespace's retention: a closed
//     workflow ID is forgotten when its history is deleted. A Client warns
//     through the logger when the TTL asked for is longer, or refuses it
//     with Options.RefuseTTLBeyondRetention. Every expiry this package
//     reports (Run, RunInfo and RunSummary's ExpiresAt) is the effective
//     one, min(TTL, close time + retention), with the bound that sets it
//     (ExpiryBound: ExpiryTTL or ExpiryRetention); while a run is running,
//     the TTL's (its close time is not known yet). Client.Retention is the
//     namespace's retention.
//
// Do not use this package inside workflow code: use the workflows package,
// which starts child workflows deterministically.
package starter
