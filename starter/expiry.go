package starter

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
)

// A key answers for its run until the first of two moments: its TTL has
// passed (counted from the run's start; Once's own rule, for a closed run),
// or the namespace's retention has passed since the run closed (the server
// then deletes the run's history, and forgets the workflow ID with it). Every
// expiry this package reports — Run.ExpiresAt, RunInfo.ExpiresAt,
// RunSummary.ExpiresAt — is that effective one, with the bound that sets it.

// ExpiryBound says which bound sets a key's effective expiry.
type ExpiryBound string

const (
	// ExpiryTTL: the key's TTL, counted from its run's start.
	ExpiryTTL ExpiryBound = "ttl"
	// ExpiryRetention: the namespace's retention, counted from the close of
	// the run, when that comes before the TTL: the server deletes the closed
	// run's history then, and the key is forgotten with it.
	ExpiryRetention ExpiryBound = "retention"
)

// effectiveExpiry is min(ttlExpiry, closeTime + retention) and the bound
// that sets it. ttlExpiry zero: the run has no TTL (a run Once did not
// start), only the retention bounds it. closeTime zero: the run is running,
// and the TTL's expiry is reported (the retention can only bound it once the
// run has closed). retention zero: not known (the namespace could not be
// read), the TTL's. Zero and "" when neither bound is known.
func effectiveExpiry(ttlExpiry, closeTime time.Time, retention time.Duration) (time.Time, ExpiryBound) {
	if !closeTime.IsZero() && retention > 0 {
		if byRetention := closeTime.Add(retention); ttlExpiry.IsZero() || byRetention.Before(ttlExpiry) {
			return byRetention, ExpiryRetention
		}
	}
	if ttlExpiry.IsZero() {
		return time.Time{}, ""
	}
	return ttlExpiry, ExpiryTTL
}

// expiry is the effective expiry of the run cur, as far as the trigger
// knows it without another read. A run it read (the recheck of a seen key,
// FailureRelease's status) has its status and close time: the effective
// expiry. A run of unknown status — a duplicate start's answer names the run
// and its start request, not its state — has the TTL's expiry when the
// retention cannot come first (the TTL ends no later than start +
// retention; a run closes after it starts), else none: Lookup tells.
func (cur current) expiry(retention time.Duration) (time.Time, ExpiryBound) {
	switch {
	case cur.marker:
		return time.Time{}, ""
	case cur.status == enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED:
		if cur.ttlExpiry.IsZero() {
			return time.Time{}, ""
		}
		if retention > 0 && (cur.started.IsZero() || cur.ttlExpiry.After(cur.started.Add(retention))) {
			return time.Time{}, ""
		}
		return cur.ttlExpiry, ExpiryTTL
	}
	return effectiveExpiry(cur.ttlExpiry, cur.closeTime, retention)
}

// read takes the status and close time of cur's run from desc, when desc
// describes that run.
func (cur *current) read(desc *workflowservice.DescribeWorkflowExecutionResponse) {
	info := desc.GetWorkflowExecutionInfo()
	if info == nil || info.GetExecution().GetRunId() != cur.runID {
		return
	}
	cur.status = info.GetStatus()
	if info.GetCloseTime() != nil && cur.status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		cur.closeTime = info.GetCloseTime().AsTime()
	}
	if cur.started.IsZero() && info.GetStartTime() != nil {
		cur.started = info.GetStartTime().AsTime()
	}
}

// Retention is the namespace's workflow execution retention: how long the
// server keeps a closed run's history, and so the longest a key outlives
// its closed run whatever its TTL. It is read once per Client (with the
// first trigger, lookup or call of it: one DescribeNamespace).
//
// Errors: ErrServerUnreachable; ctx's error; an error when the namespace
// could not be read otherwise (a later call asks again, after a minute).
func (c *Client) Retention(ctx context.Context) (time.Duration, error) {
	ctx, cancel := c.rpcContext(ctx)
	defer cancel()
	retention, _, err := c.namespaceInfo(ctx)
	if err != nil {
		return 0, err
	}
	if retention <= 0 {
		return 0, fmt.Errorf("namespace %s: its retention could not be read", c.settings.namespace)
	}
	return retention, nil
}

// checkTTL refuses, with Options.RefuseTTLBeyondRetention, the TTL of a
// keyed trigger that is longer than the namespace's retention (nothing is
// started); else it warns, once per TTL.
func (c *Client) checkTTL(ttl, retention time.Duration) error {
	if retention <= 0 || ttl <= retention {
		return nil
	}
	if c.opts.RefuseTTLBeyondRetention {
		return fmt.Errorf("TTL %v, retention %v of namespace %s: %w", ttl, retention, c.settings.namespace, ErrTTLBeyondRetention)
	}
	c.warnTTL(ttl, retention)
	return nil
}
