package starter

import (
	"context"
	"errors"
	"sync/atomic"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
)

// DefaultSeenKeys is how many keys a Client remembers having seen answered
// when Options.SeenKeys is zero.
const DefaultSeenKeys = 4096

// A repeat trigger — a key this client has already seen answered (started,
// cached or restarted) — is most likely a cached hit. A duplicate start
// costs the server a write: it builds the new run's first events and writes
// them before it finds the workflow ID taken. A read of the current run
// costs it far less (cmd/bench --diagnostics: DescribeWorkflowExecution
// makes about 1.5 times the calls per second of a duplicate start) and tells
// the same: the run, the request ID of its start, its memo. So such a
// trigger describes the workflow ID and judges that run as it would the
// answer of a duplicate start (converge); a workflow ID without a run, or a
// read that fails, sends the start as for any other key. The set of seen
// keys is a hint: whatever it says, the server decides.

// seenKeys is the set of workflow IDs of keys the client has seen answered.
type seenKeys struct {
	boundedMap[struct{}]
	size int         // from Options.SeenKeys; 0: remember none
	off  atomic.Bool // the caller may not describe runs
}

func (s *seenKeys) put(workflowID string) {
	if s.size > 0 && !s.off.Load() {
		s.boundedMap.put(workflowID, struct{}{}, s.size)
	}
}

func (s *seenKeys) has(workflowID string) bool {
	if s.size <= 0 || s.off.Load() {
		return false
	}
	_, ok := s.get(workflowID)
	return ok
}

// recheck reads the current run of a key this client has seen answered.
// It returns that run as a duplicate start would report it, with the
// description (already nil: start as usual). err is set only when the
// caller's context ended.
func (c *Client) recheck(ctx context.Context, p *prepared) (*serviceerror.WorkflowExecutionAlreadyStarted, *workflowservice.DescribeWorkflowExecutionResponse, error) {
	if p.key() == "" || !c.seen.has(p.workflowID()) {
		return nil, nil, nil
	}
	desc, err := c.describe(ctx, p.workflowID(), "")
	if err != nil {
		if contextErr(ctx) != nil {
			return nil, nil, err
		}
		var denied *serviceerror.PermissionDenied
		if errors.As(err, &denied) {
			c.seen.off.Store(true) // this caller may start runs but not read them
		}
		return nil, nil, nil // gone (retention, deleted) or unreadable: the start decides
	}
	info := desc.GetWorkflowExecutionInfo()
	return &serviceerror.WorkflowExecutionAlreadyStarted{
		StartRequestId:      startRequestID(desc),
		RunId:               info.GetExecution().GetRunId(),
		FirstExecutionRunId: info.GetFirstRunId(),
	}, desc, nil
}
