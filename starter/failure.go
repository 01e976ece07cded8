package starter

import (
	"context"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
)

// A trigger without a failure policy of its own (FailureDefault) applies the
// task's, which the task's runtime records on each run of a task that
// releases its key (once.MemoOnFailure): judging a cached hit then needs the
// run's status and memo, one DescribeWorkflowExecution when the trigger has
// not read the run already. Most tasks keep their keys: a Client that has
// read a closed run of a task without the entry within policyHintLife takes
// the task to keep and skips the read. The hint is only a saving: a run of a
// task that releases is always read, and the server decides the replacement
// (converge). A task redefined from keep to release is read again at the
// latest policyHintLife after the change reached its worker.

// policyHintLife is how long a Client takes a task to keep its keys after
// it read a closed run of the task that says so.
const policyHintLife = time.Minute

// policyHints maps task IDs to when a closed run of theirs was last read
// without the release entry.
type policyHints struct{ boundedMap[time.Time] }

// keeps reports whether task is known to keep its keys.
func (c *Client) keeps(task string) bool {
	at, ok := c.policies.get(task)
	return ok && c.opts.Now().Sub(at) < policyHintLife
}

// learnPolicy notes what desc, a read run of task, says of the task's
// policy: a run that records release (it may be running: the entry is
// written in its first workflow task) forgets the hint; a closed run that
// records none renews it. A running run without the entry tells nothing
// (its first workflow task may not have run).
func (c *Client) learnPolicy(ctx context.Context, task, workflowID string, desc *workflowservice.DescribeWorkflowExecutionResponse) {
	info := desc.GetWorkflowExecutionInfo()
	if info == nil {
		return
	}
	switch {
	case c.decodeMemo(ctx, workflowID, info.GetMemo()).OnFailure == FailureRelease:
		c.policies.put(task, time.Time{}, factsCacheSize)
	case info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		c.policies.put(task, c.opts.Now(), factsCacheSize)
	}
}
