package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// runBody is a run as the API answers it.
type runBody struct {
	ID         string `json:"id,omitempty"`
	Task       string `json:"task"`
	WorkflowID string `json:"workflowId"`
	// RunID is the run's stable ID, the first run ID of its chain.
	RunID string `json:"runId,omitempty"`
	// CurrentRunID is the execution that holds the workflow ID now.
	CurrentRunID string `json:"currentRunId,omitempty"`
	Cached       *bool  `json:"cached,omitempty"`
	Key          string `json:"key,omitempty"`
	KeyText      string `json:"keyText,omitempty"`
	Scope        string `json:"scope,omitempty"`
	Status       string `json:"status,omitempty"`
	Attempts     int32  `json:"attempts,omitempty"`
	// ExpiresAt is the key's effective expiry: its TTL, or the namespace's
	// retention after the run closed when that comes first (ExpiryBound
	// says which).
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	ExpiryBound string     `json:"expiryBound,omitempty"`
	Expired     bool       `json:"expired,omitempty"`
	Reset       bool       `json:"reset,omitempty"`
	// OnFailure is the failure policy the run records (RunInfo.OnFailure):
	// "release" or "keep". Only where the key's lookup describes the run (a
	// key's description, a run that holds its key).
	OnFailure string          `json:"onFailure,omitempty"`
	StartedAt *time.Time      `json:"startedAt,omitempty"`
	ClosedAt  *time.Time      `json:"closedAt,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Failure   *failureBody    `json:"failure,omitempty"`
	// Debounced marks a debounced trigger's run: its id names the burst,
	// and its status is statusPending until the debouncer starts it.
	Debounced bool `json:"debounced,omitempty"`
}

// statusPending is the status of a debounced trigger's run that its
// debouncer has not started yet (the burst is under way).
const statusPending = "pending"

// failureBody is why a run did not complete.
type failureBody struct {
	Message      string `json:"message"`
	Type         string `json:"type,omitempty"`
	NonRetryable bool   `json:"nonRetryable,omitempty"`
}

// The statuses of a run.
var statusNames = map[enumspb.WorkflowExecutionStatus]string{
	enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:          "running",
	enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:        "completed",
	enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:           "failed",
	enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:         "canceled",
	enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:       "terminated",
	enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: "continued_as_new",
	enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:        "timed_out",
}

func statusName(s enumspb.WorkflowExecutionStatus) string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "unknown"
}

// newRunBody is the body of a run, with its id when the workflow ID has
// Once's shape.
func newRunBody(task, workflowID, firstRunID string) *runBody {
	b := &runBody{Task: task, WorkflowID: workflowID, RunID: firstRunID}
	if ref, ok := runRefOf(workflowID, firstRunID); ok {
		b.ID = EncodeRunID(ref)
	}
	return b
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// describeInfo fills b from a Lookup.
func describeInfo(b *runBody, info *starter.RunInfo) {
	b.CurrentRunID = info.CurrentRunID
	b.Key = string(info.Key)
	b.KeyText = info.KeyText
	b.Scope = info.Scope
	b.Status = statusName(info.Status)
	b.Reset = info.Reset
	b.Expired = info.Expired
	b.OnFailure = info.OnFailure.String()
	b.StartedAt = timePtr(info.StartTime)
	b.ClosedAt = timePtr(info.CloseTime)
	b.expiry(info.ExpiresAt, info.ExpiryBound)
}

// expiry sets the key's effective expiry, as the starter reports it
// (min(TTL, close time + the namespace's retention)); none when unknown.
func (b *runBody) expiry(at time.Time, bound starter.ExpiryBound) {
	if at.IsZero() {
		return
	}
	b.ExpiresAt, b.ExpiryBound = timePtr(at), string(bound)
}

// wait waits up to d for the run to close, and fills in its status and
// result or failure; a run still running after d stays "running".
//
// Errors: the server's, when the wait ended for another reason than its
// deadline.
func (h *handler) wait(ctx context.Context, s *starter.Client, b *runBody, workflowID, firstRunID string, d time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var result json.RawMessage
	err := s.Temporal().GetWorkflow(wctx, workflowID, firstRunID).Get(wctx, &result)
	var closed *temporal.WorkflowExecutionError
	var deadline *serviceerror.DeadlineExceeded
	switch {
	case err == nil, errors.As(err, &closed):
		fillOutcome(b, result, err)
	case ctx.Err() != nil:
		return ctx.Err()
	case wctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.As(err, &deadline):
		// The wait's deadline (or the server's long poll, which ends a
		// moment before it): not closed yet.
		b.Status = "running"
	default:
		return err
	}
	return nil
}

// fillOutcome sets b's status and result or failure from the outcome of
// waiting for the run.
func fillOutcome(b *runBody, result json.RawMessage, err error) {
	if err == nil {
		b.Status = "completed"
		if result == nil {
			result = json.RawMessage("null")
		}
		b.Result = result
		return
	}
	var timeout *temporal.TimeoutError
	var canceled *temporal.CanceledError
	var terminated *temporal.TerminatedError
	switch {
	case errors.As(err, &timeout):
		b.Status = "timed_out"
	case errors.As(err, &canceled):
		b.Status = "canceled"
	case errors.As(err, &terminated):
		b.Status = "terminated"
	default:
		b.Status = "failed"
	}
	b.Failure = failureOf(err)
}

// failureOf describes a run's failure by its innermost cause.
func failureOf(err error) *failureBody {
	f := &failureBody{Message: err.Error()}
	cause := err
	for {
		next := errors.Unwrap(cause)
		if next == nil {
			break
		}
		cause = next
	}
	f.Message = cause.Error()
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		f.Type, f.NonRetryable = app.Type(), app.NonRetryable()
		f.Message = app.Message()
	}
	return f
}

// getRun answers GET /v1/runs/{id}[?wait=30s].
func (h *handler) getRun(w http.ResponseWriter, r *http.Request, c *caller) {
	notFound := newProblem(ProblemRunNotFound, "no such run in this environment")
	ref, err := DecodeRunID(r.PathValue("id"))
	if err != nil || (c.token != nil && !c.token.allows(ref.Task)) {
		writeProblem(w, notFound)
		return
	}
	wait, p := parseWait(r.URL.Query().Get("wait"), h.opts.MaxWait)
	if p != nil {
		writeProblem(w, p)
		return
	}
	b, err := h.readRun(r.Context(), c.s, ref, wait)
	if err != nil {
		if isNotFound(err) {
			writeProblem(w, notFound)
			return
		}
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// readRun describes the run of ref, after waiting up to wait for it to
// close: a debounced trigger's run that has not started within wait is
// pending.
//
// Errors: isNotFound for no such run; the server's.
func (h *handler) readRun(ctx context.Context, s *starter.Client, ref RunRef, wait time.Duration) (*runBody, error) {
	id := EncodeRunID(ref)
	if ref.Debounced() {
		deadline := time.Now().Add(wait)
		first, err := h.burstRun(ctx, s, ref, deadline)
		if errors.Is(err, errPending) {
			return pendingRun(s.Environment(), ref), nil
		}
		if err != nil {
			return nil, err
		}
		ref.FirstRunID, wait = first, max(time.Until(deadline), 0)
	}
	workflowID := ref.WorkflowID(s.Environment())
	b := newRunBody(ref.Task, workflowID, ref.FirstRunID)
	b.ID, b.Debounced = id, ref.Debounced()
	if wait > 0 {
		if err := h.wait(ctx, s, b, workflowID, ref.FirstRunID, wait); err != nil && !isNotFound(err) {
			return nil, err
		}
	}
	if err := h.describeRun(ctx, s, b, ref); err != nil {
		return nil, err
	}
	if b.Status != "running" && b.Result == nil && b.Failure == nil {
		// Closed: its result or failure, at once.
		if err := h.wait(ctx, s, b, workflowID, ref.FirstRunID, resultWait); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// pendingRun is the body of a debounced trigger's run before it starts.
func pendingRun(env string, ref RunRef) *runBody {
	b := &runBody{ID: EncodeRunID(ref), Task: ref.Task, WorkflowID: ref.WorkflowID(env), Status: statusPending, Debounced: true}
	if k, err := idempotency.ParseKey(ref.Suffix); err == nil {
		b.Key = string(k)
	}
	return b
}

// errPending: a debounced trigger's run that its debouncer has not started.
var errPending = errors.New("httpapi: the debounced run has not started")

// burstPoll is how often burstRun looks for a debounced run that has not
// started.
const burstPoll = 200 * time.Millisecond

// burstRun is the first run ID of the debounced trigger's run of ref,
// looked for until deadline (polling: a leading burst starts its run long
// before its debouncer closes).
//
// Errors: errPending while the debouncer runs and the run does not exist;
// errNoSuchRun when the debouncer is gone, or closed without starting it;
// the server's.
func (h *handler) burstRun(ctx context.Context, s *starter.Client, ref RunRef, deadline time.Time) (string, error) {
	env := s.Environment()
	for {
		first, err := firstRunID(ctx, s, ref.WorkflowID(env))
		if err == nil || !isNotFound(err) {
			return first, err
		}
		d, err := s.Temporal().DescribeWorkflowExecution(ctx, ref.debouncerWorkflowID(env), ref.DebouncerRunID)
		if err != nil {
			return "", err
		}
		if d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			// Closed: it started the run before, unless it failed.
			if first, err := firstRunID(ctx, s, ref.WorkflowID(env)); err == nil || !isNotFound(err) {
				return first, err
			}
			return "", errNoSuchRun
		}
		left := time.Until(deadline)
		if left <= 0 {
			return "", errPending
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(min(left, burstPoll)):
		}
	}
}

// firstRunID is the first run ID of the chain that holds workflowID now.
func firstRunID(ctx context.Context, s *starter.Client, workflowID string) (string, error) {
	d, err := s.Temporal().DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return "", err
	}
	info := d.GetWorkflowExecutionInfo()
	if first := info.GetFirstRunId(); first != "" {
		return first, nil
	}
	return info.GetExecution().GetRunId(), nil
}

// errNoSuchRun: the run id names a workflow ID whose chains do not include
// the first run ID.
var errNoSuchRun = errors.New("httpapi: no such run")

// maxChain bounds how many executions of a chain describeRun follows.
const maxChain = 1000

// describeRun fills b with the run's status, attempts, key and expiry: the
// latest execution of the chain that ref's first run ID starts.
func (h *handler) describeRun(ctx context.Context, s *starter.Client, b *runBody, ref RunRef) error {
	workflowID := ref.WorkflowID(s.Environment())
	tc := s.Temporal()
	var info *workflowpb.WorkflowExecutionInfo
	if k, err := idempotency.ParseKey(ref.Suffix); err == nil {
		// A keyed run: the key's lookup describes it while it holds the key.
		if ki, err := s.Lookup(ctx, ref.Task, k, starter.LookupOptions{}); err == nil && ki.RunID == ref.FirstRunID {
			describeInfo(b, ki)
			if b.Attempts, err = h.attempt(ctx, s, workflowID, ki.CurrentRunID); err != nil {
				return err
			}
			return nil
		}
	}
	desc, err := tc.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return err
	}
	info = desc.GetWorkflowExecutionInfo()
	if first := info.GetFirstRunId(); first != ref.FirstRunID && !(first == "" && info.GetExecution().GetRunId() == ref.FirstRunID) {
		// A chain that another replaced: from its first execution on.
		d, err := tc.DescribeWorkflowExecution(ctx, workflowID, ref.FirstRunID)
		if err != nil {
			return err
		}
		info = d.GetWorkflowExecutionInfo()
		if f := info.GetFirstRunId(); f != "" && f != ref.FirstRunID {
			return errNoSuchRun
		}
		for range maxChain {
			next, err := h.nextExecution(ctx, s, workflowID, info.GetExecution().GetRunId())
			if err != nil {
				return err
			}
			if next == "" {
				break
			}
			d, err := tc.DescribeWorkflowExecution(ctx, workflowID, next)
			if err != nil {
				return err
			}
			info = d.GetWorkflowExecutionInfo()
		}
	}
	b.CurrentRunID = info.GetExecution().GetRunId()
	if b.Status == "" || info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		b.Status = statusName(info.GetStatus())
	}
	b.StartedAt = timePtr(info.GetStartTime().AsTime())
	if info.GetCloseTime() != nil {
		b.ClosedAt = timePtr(info.GetCloseTime().AsTime())
	}
	b.Attempts, err = h.attempt(ctx, s, workflowID, b.CurrentRunID)
	return err
}

// isNotFound: no such run (in this environment).
func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf) || errors.Is(err, errNoSuchRun)
}

// resultWait bounds reading a closed run's result.
const resultWait = 10 * time.Second

// nextExecution is the execution that continued runID's (retry or
// continue-as-new); "" when runID is the last of its chain.
func (h *handler) nextExecution(ctx context.Context, s *starter.Client, workflowID, runID string) (string, error) {
	it := s.Temporal().GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return "", err
		}
		if a := ev.GetWorkflowExecutionContinuedAsNewEventAttributes(); a != nil {
			return a.GetNewExecutionRunId(), nil
		}
		if a := ev.GetWorkflowExecutionFailedEventAttributes(); a != nil {
			return a.GetNewExecutionRunId(), nil
		}
		if a := ev.GetWorkflowExecutionTimedOutEventAttributes(); a != nil {
			return a.GetNewExecutionRunId(), nil
		}
		if a := ev.GetWorkflowExecutionCompletedEventAttributes(); a != nil {
			return a.GetNewExecutionRunId(), nil
		}
	}
	return "", nil
}

// attempt is the workflow attempt of an execution, from its start event.
func (h *handler) attempt(ctx context.Context, s *starter.Client, workflowID, runID string) (int32, error) {
	it := s.Temporal().GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return 0, nil
	}
	ev, err := it.Next()
	if err != nil {
		return 0, err
	}
	return max(ev.GetWorkflowExecutionStartedEventAttributes().GetAttempt(), 1), nil
}

// describeKey answers GET /v1/tasks/{task}/keys/{key}.
func (h *handler) describeKey(w http.ResponseWriter, r *http.Request, c *caller) {
	task, p := c.task(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	ctx := r.Context()
	info, err := c.s.Lookup(ctx, task, keyInput(r.PathValue("key")), starter.LookupOptions{})
	if err != nil {
		h.fail(w, err)
		return
	}
	b := newRunBody(task, info.WorkflowID, info.RunID)
	describeInfo(b, info)
	if b.Attempts, err = h.attempt(ctx, c.s, info.WorkflowID, info.CurrentRunID); err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

// resetRequest is the optional body of a key's reset.
type resetRequest struct {
	Terminate bool `json:"terminate"`
}

// resetKey answers POST /v1/tasks/{task}/keys/{key}/reset.
func (h *handler) resetKey(w http.ResponseWriter, r *http.Request, c *caller) {
	task, p := c.task(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var req resetRequest
	if p := readJSON(w, r, Envelope, &req, true); p != nil {
		writeProblem(w, p)
		return
	}
	key := keyInput(r.PathValue("key"))
	if err := c.s.ResetKey(r.Context(), task, key, starter.ResetOptions{Terminate: req.Terminate}); err != nil {
		h.fail(w, err)
		return
	}
	k, _ := idempotency.Resolve(key, "", idempotency.RunContext{})
	workflowID, _ := idempotency.WorkflowID(c.s.Environment(), task, k)
	writeJSON(w, http.StatusOK, map[string]any{"task": task, "key": string(k), "workflowId": workflowID, "reset": true})
}

// maxListLimit is the most runs a list returns.
const maxListLimit = 1000

// listRuns answers GET /v1/tasks/{task}/runs?limit=.
func (h *handler) listRuns(w http.ResponseWriter, r *http.Request, c *caller) {
	task, p := c.task(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			writeProblem(w, newProblem(ProblemInvalidInput, "limit "+strconv.Quote(v)+": want 1 to "+itoa(maxListLimit)))
			return
		}
		limit = n
	}
	ctx := r.Context()
	runs, err := c.s.ListRuns(ctx, task, starter.ListOptions{Limit: limit})
	if err != nil {
		h.fail(w, err)
		return
	}
	out := make([]*runBody, 0, len(runs))
	for _, rs := range runs {
		b := newRunBody(task, rs.WorkflowID, rs.RunID)
		b.CurrentRunID = rs.CurrentRunID
		b.Key = string(rs.Key)
		b.KeyText = rs.KeyText
		b.Scope = rs.Scope
		b.Status = statusName(rs.Status)
		b.Reset = rs.Reset
		b.StartedAt = timePtr(rs.StartTime)
		b.ClosedAt = timePtr(rs.CloseTime)
		b.expiry(rs.ExpiresAt, rs.ExpiryBound)
		out = append(out, b)
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out})
}

func itoa(n int) string { return strconv.Itoa(n) }
