package starter

import (
	"context"
	"errors"
	"fmt"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/runctx"
)

// markerTaskQueue is polled by no worker: a reset marker is never executed.
const markerTaskQueue = "once-reset-marker"

// ResetOptions configures ResetKey.
type ResetOptions struct {
	// Scope of a Parts key, as in TriggerOptions. Optional: defaults as there.
	Scope idempotency.Scope
	// Terminate allows resetting a key whose run is still running: that run
	// is terminated first. Optional: defaults to false (ErrResetRunning).
	Terminate bool
	// Reason recorded on the termination. Optional: defaults to
	// "once: key reset".
	Reason string
}

// ResetKey makes the next trigger of task with key start a new run. The old
// run's history stays readable (by its run ID).
//
// Errors: ErrNoKey; invalid input; ErrNotFound when no run holds the key;
// ErrResetRunning when the run is running and Terminate is false;
// ErrServerUnreachable; ctx's error (errors.Is(err, context.DeadlineExceeded)
// or context.Canceled).
func (c *Client) ResetKey(ctx context.Context, task string, key idempotency.Input, opts ResetOptions) error {
	ctx, cancel := c.rpcContext(ctx)
	defer cancel()
	if err := c.resetKey(ctx, task, key, opts); err != nil {
		return fmt.Errorf("reset key of %s: %w", task, err)
	}
	return nil
}

func (c *Client) resetKey(ctx context.Context, task string, key idempotency.Input, opts ResetOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	workflowID, _, err := c.workflowIDFor(ctx, task, key, opts.Scope)
	if err != nil {
		return err
	}
	reason := opts.Reason
	if reason == "" {
		reason = "once: key reset"
	}
	desc, err := c.describe(ctx, workflowID, "")
	if err != nil {
		return err
	}
	info := desc.GetWorkflowExecutionInfo()
	runID := info.GetExecution().GetRunId()
	m := c.decodeMemo(ctx, workflowID, info.GetMemo())
	if m.Reset {
		return nil // already reset; the next trigger replaces the marker
	}
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		if !opts.Terminate {
			return fmt.Errorf("workflow %s run %s: %w", workflowID, runID, ErrResetRunning)
		}
		if err := c.terminate(ctx, workflowID, runID, reason); err != nil {
			return err
		}
	}
	markerRunID, err := c.start(ctx, startSpec{
		workflowID: workflowID,
		task:       task,
		taskQueue:  markerTaskQueue,
		// Never executed: a bound in case its termination never comes.
		executionTimeout: time.Minute,
		memo:             idempotency.Memo{Reset: true}.Fields(),
		requestID:        requestID{kind: kindMarker, suffix: runID}.String(),
		policy:           enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	})
	if err != nil {
		var already *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &already) {
			// Someone triggered or reset in between: the key already moved on.
			return nil
		}
		return rpcError(ctx, err)
	}
	return c.terminate(ctx, workflowID, markerRunID, "once: reset marker")
}

// RunInfo describes the run that holds a key.
type RunInfo struct {
	Task       string
	WorkflowID string
	// RunID is the run's stable ID: the first run ID of its chain, as in
	// Run (a trigger of the key returns it).
	RunID string
	// CurrentRunID is the run that holds the workflow ID now: RunID, or
	// the latest retry or continuation of its chain.
	CurrentRunID string
	Key          idempotency.Key
	// Status is the status of CurrentRunID. A reset key reports Reset and
	// the status of the marker (terminated).
	Status  enumspb.WorkflowExecutionStatus
	KeyText string
	Scope   string
	// ExpiresAt is the key's effective expiry: min(its TTL, CloseTime + the
	// namespace's retention), the bound that sets it in ExpiryBound. While
	// the run is running it is the TTL's (the retention can only bring it
	// forward once the run has closed). A run Once did not start has no TTL:
	// once closed, the retention's. Zero when unknown (such a run still
	// running, a reset key).
	ExpiresAt   time.Time
	ExpiryBound ExpiryBound // ExpiryTTL or ExpiryRetention; "" when ExpiresAt is zero
	Expired     bool        // closed and past ExpiresAt: the next trigger starts a new run
	Reset       bool        // reset: the next trigger starts a new run
	StartTime   time.Time   // of CurrentRunID
	CloseTime   time.Time   // of CurrentRunID; zero while running
	// OnFailure is the run's failure policy as the run records it
	// (once.MemoOnFailure): FailureRelease when it says so, else FailureKeep.
	// A run that closed before its first workflow task, or of a task without
	// the release policy, records none, which reads as keep; a trigger's
	// override (TriggerOptions.OnFailure) is not recorded.
	OnFailure FailurePolicy

	c *Client
}

// Run returns a handle to get the run's result.
func (i *RunInfo) Run() *Run {
	return &Run{Task: i.Task, WorkflowID: i.WorkflowID, RunID: i.RunID, Key: i.Key, Cached: true, c: i.c}
}

// LookupOptions configures Lookup.
type LookupOptions struct {
	// Scope of a Parts key, as in TriggerOptions. Optional.
	Scope idempotency.Scope
}

// Lookup finds the run for task and key: status, key text, scope, and the
// key's effective expiry (RunInfo.ExpiresAt). The namespace's retention is
// read once per Client.
//
// Errors: ErrNoKey; invalid input; ErrNotFound; ErrServerUnreachable; ctx's
// error (errors.Is(err, context.DeadlineExceeded) or context.Canceled).
func (c *Client) Lookup(ctx context.Context, task string, key idempotency.Input, opts LookupOptions) (*RunInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lookup %s: %w", task, err)
	}
	ctx, cancel := c.rpcContext(ctx)
	defer cancel()
	workflowID, k, err := c.workflowIDFor(ctx, task, key, opts.Scope)
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", task, err)
	}
	desc, err := c.describe(ctx, workflowID, "")
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", task, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	m := c.decodeMemo(ctx, workflowID, info.GetMemo())
	ri := &RunInfo{
		Task: task, WorkflowID: workflowID, Key: k,
		RunID:        info.GetFirstRunId(),
		CurrentRunID: info.GetExecution().GetRunId(),
		Status:       info.GetStatus(),
		KeyText:      m.KeyText,
		Scope:        string(m.Scope),
		ExpiresAt:    m.ExpiresAt,
		Reset:        m.Reset,
		StartTime:    info.GetStartTime().AsTime(),
		OnFailure:    FailureKeep,
		c:            c,
	}
	if m.OnFailure == FailureRelease {
		ri.OnFailure = FailureRelease
	}
	if ri.RunID == "" {
		ri.RunID = ri.CurrentRunID
	}
	if ri.ExpiresAt.IsZero() && !ri.Reset {
		// A new key's run: the expiry follows from its chain's first start.
		if exp, _, ok, err := c.newKeyFacts(ctx, workflowID, desc); err != nil {
			return nil, fmt.Errorf("lookup %s: %w", task, err)
		} else if ok {
			ri.ExpiresAt = exp
		}
	}
	if info.GetCloseTime() != nil && ri.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		ri.CloseTime = info.GetCloseTime().AsTime()
	}
	if !ri.Reset {
		retention, _, err := c.namespaceInfo(ctx)
		if err != nil {
			return nil, fmt.Errorf("lookup %s: %w", task, err)
		}
		ri.ExpiresAt, ri.ExpiryBound = effectiveExpiry(ri.ExpiresAt, ri.CloseTime, retention)
	}
	if !ri.CloseTime.IsZero() {
		ri.Expired = !ri.ExpiresAt.IsZero() && !c.opts.Now().Before(ri.ExpiresAt)
	}
	return ri, nil
}

// workflowIDFor resolves a key for ResetKey and Lookup.
func (c *Client) workflowIDFor(ctx context.Context, task string, key idempotency.Input, scope idempotency.Scope) (string, idempotency.Key, error) {
	t, err := c.task(task)
	if err != nil {
		return "", "", err
	}
	if key == nil {
		return "", "", ErrNoKey
	}
	rc, _ := runctx.From(ctx)
	tr, err := t.Key(key, scope, rc)
	if err != nil {
		return "", "", err
	}
	return tr.WorkflowID, tr.Key.Key, nil
}

func (c *Client) describe(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	rctx, cancel := c.rpcContext(ctx)
	defer cancel()
	resp, err := c.svc.DescribeWorkflowExecution(rctx, &workflowservice.DescribeWorkflowExecutionRequest{
		Namespace: c.settings.namespace,
		Execution: &commonpb.WorkflowExecution{WorkflowId: workflowID, RunId: runID},
	})
	if err != nil {
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			return nil, fmt.Errorf("workflow %s: %w", workflowID, ErrNotFound)
		}
		return nil, rpcError(ctx, err)
	}
	return resp, nil
}

// terminate terminates one run; a run that already closed is fine.
func (c *Client) terminate(ctx context.Context, workflowID, runID, reason string) error {
	rctx, cancel := c.rpcContext(ctx)
	defer cancel()
	_, err := c.svc.TerminateWorkflowExecution(rctx, &workflowservice.TerminateWorkflowExecutionRequest{
		Namespace:         c.settings.namespace,
		WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: workflowID, RunId: runID},
		Reason:            reason,
		Identity:          c.settings.identity,
	})
	var notFound *serviceerror.NotFound
	if err != nil && !errors.As(err, &notFound) {
		return rpcError(ctx, err)
	}
	return nil
}

// originalPayloadHash hashes the input of a run's first event.
func (c *Client) originalPayloadHash(ctx context.Context, workflowID, runID string) (string, error) {
	rctx, cancel := c.rpcContext(ctx)
	defer cancel()
	resp, err := c.svc.GetWorkflowExecutionHistory(rctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace:       c.settings.namespace,
		Execution:       &commonpb.WorkflowExecution{WorkflowId: workflowID, RunId: runID},
		MaximumPageSize: 1,
	})
	if err != nil {
		return "", rpcError(ctx, err)
	}
	events := resp.GetHistory().GetEvents()
	if len(events) == 0 || events[0].GetWorkflowExecutionStartedEventAttributes() == nil {
		return "", fmt.Errorf("workflow %s run %s: no start event to compare payloads", workflowID, runID)
	}
	input := events[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	var v any
	if len(input) > 0 {
		if err := c.decoder(ctx, workflowID).FromPayload(input[0], &v); err != nil {
			return "", fmt.Errorf("workflow %s: decode original payload: %w", workflowID, err)
		}
	}
	h, err := idempotency.PayloadHash(v)
	return string(h), err
}
