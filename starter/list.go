package starter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/plan"
)

// DefaultListLimit is how many runs ListRuns returns when
// ListOptions.Limit is zero.
const DefaultListLimit = 20

// RunsQuery is the visibility query that lists the runs of task in this
// client's environment:
//
//	WorkflowType = '<task>' AND WorkflowId STARTS_WITH '<env>/'
//
// It uses only built-in search attributes, so it works on every Temporal
// server without set-up. Reset markers (see ResetKey) match too.
//
// Errors: idempotency.ErrInvalidTaskID.
func (c *Client) RunsQuery(task string) (string, error) {
	t, err := c.env.Task(task)
	if err != nil {
		return "", err
	}
	return runsQuery(t), nil
}

// runsQuery is RunsQuery of a checked task. Task IDs and environments have
// no quotes (idempotency.ValidateTaskID, ValidateEnvironment): nothing to
// escape.
func runsQuery(t plan.Task) string {
	return fmt.Sprintf("WorkflowType = '%s' AND WorkflowId STARTS_WITH '%s/'", t.ID(), t.Env())
}

// KeyQuery is the visibility query that lists every run of a workflow ID,
// the current one and those it replaced: WorkflowId = '<id>'.
func KeyQuery(workflowID string) string {
	return fmt.Sprintf("WorkflowId = '%s'", workflowID)
}

// ListOptions configures ListRuns.
type ListOptions struct {
	// Limit is the most runs returned. Optional: defaults to
	// DefaultListLimit.
	Limit int
}

// RunSummary is one run in a list, from visibility (which may lag a start
// or a close by a moment). Each execution is listed: the attempts of a
// retried run (and the runs of a continue-as-new chain) are rows of their
// own, with the same RunID.
type RunSummary struct {
	WorkflowID string
	// RunID is the run's stable ID: the first run ID of its chain, as in
	// Run and RunInfo. "" when the server no longer has the execution.
	RunID string
	// CurrentRunID is the execution this row lists: RunID, or a retry or
	// continuation of its chain.
	CurrentRunID string
	// Key is the key in the workflow ID; "" when the ID holds a random
	// UUID (an unkeyed trigger).
	Key     idempotency.Key
	Status  enumspb.WorkflowExecutionStatus
	KeyText string
	Scope   string
	// ExpiresAt is the key's effective expiry as visibility tells it:
	// min(the TTL recorded in the memo, CloseTime + the namespace's
	// retention), the bound that sets it in ExpiryBound. Zero when unknown:
	// a new key's run records its TTL in its start request, which
	// visibility does not list (Client.Lookup reads it).
	ExpiresAt   time.Time
	ExpiryBound ExpiryBound // ExpiryTTL or ExpiryRetention; "" when ExpiresAt is zero
	Reset       bool        // a reset marker
	StartTime   time.Time
	CloseTime   time.Time // zero while running
}

// ListRuns lists the runs of task in this client's environment, newest
// first, with RunsQuery: one ListWorkflowExecutions per page, and one
// DescribeWorkflowExecution per run listed, for its chain's first run ID
// (RunSummary.RunID), which visibility does not report.
//
// Errors: invalid input; ErrServerUnreachable; the server's.
func (c *Client) ListRuns(ctx context.Context, task string, opts ListOptions) ([]RunSummary, error) {
	t, err := c.task(task)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", task, err)
	}
	query := runsQuery(t)
	limit := opts.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	ctx, cancel := c.rpcContext(ctx)
	defer cancel()
	var out []RunSummary
	var token []byte
	for len(out) < limit {
		resp, err := c.svc.ListWorkflowExecutions(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: c.settings.namespace, Query: query, PageSize: int32(limit - len(out)), NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", task, rpcError(ctx, err))
		}
		for _, info := range resp.GetExecutions() {
			m := c.decodeMemo(ctx, info.GetExecution().GetWorkflowId(), info.GetMemo())
			s := RunSummary{
				WorkflowID:   info.GetExecution().GetWorkflowId(),
				RunID:        info.GetFirstRunId(),
				CurrentRunID: info.GetExecution().GetRunId(),
				Status:       info.GetStatus(),
				KeyText:      m.KeyText,
				Scope:        string(m.Scope),
				ExpiresAt:    m.ExpiresAt,
				Reset:        m.Reset,
				StartTime:    info.GetStartTime().AsTime(),
			}
			if _, _, rest, ok := idempotency.ParseWorkflowID(s.WorkflowID); ok {
				if k, err := idempotency.ParseKey(rest); err == nil {
					s.Key = k
				}
			}
			if info.GetCloseTime() != nil {
				s.CloseTime = info.GetCloseTime().AsTime()
			}
			out = append(out, s)
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	if err := c.firstRunIDs(ctx, out); err != nil {
		return nil, fmt.Errorf("list %s: %w", task, err)
	}
	retention, _, err := c.namespaceInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", task, err)
	}
	for i := range out {
		if s := &out[i]; !s.ExpiresAt.IsZero() && !s.Reset {
			s.ExpiresAt, s.ExpiryBound = effectiveExpiry(s.ExpiresAt, s.CloseTime, retention)
		}
	}
	return out, nil
}

// firstRunIDs fills in the RunID of the runs whose chain's first run
// visibility did not report (Temporal 1.32 leaves it empty): one
// DescribeWorkflowExecution per such run, Options.BatchParallelism at a
// time. A run the server no longer has keeps RunID "".
func (c *Client) firstRunIDs(ctx context.Context, runs []RunSummary) error {
	sem := make(chan struct{}, c.opts.BatchParallelism)
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i := range runs {
		if runs[i].RunID != "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			desc, err := c.describe(ctx, runs[i].WorkflowID, runs[i].CurrentRunID)
			switch {
			case errors.Is(err, ErrNotFound):
			case err != nil:
				errs[i] = err
			default:
				runs[i].RunID = desc.GetWorkflowExecutionInfo().GetFirstRunId()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
