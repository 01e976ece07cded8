package starter

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// scriptedService answers DescribeWorkflowExecution with its errors in
// turn, then with a run; it records every request.
type scriptedService struct {
	workflowservice.WorkflowServiceClient
	errs  []error
	calls atomic.Int32
	reqs  []*workflowservice.DescribeWorkflowExecutionRequest
}

func (s *scriptedService) DescribeWorkflowExecution(_ context.Context, req *workflowservice.DescribeWorkflowExecutionRequest, _ ...grpc.CallOption) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	n := int(s.calls.Add(1))
	s.reqs = append(s.reqs, req)
	if n <= len(s.errs) {
		return nil, s.errs[n-1]
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
		Execution: &commonpb.WorkflowExecution{WorkflowId: req.GetExecution().GetWorkflowId(), RunId: "run-1"},
	}}, nil
}

func rateLimited() error {
	return serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, "namespace rate limit exceeded")
}

func TestBusyServiceAsksAgainWithTheSameRequest(t *testing.T) {
	inner := &scriptedService{errs: []error{rateLimited(), rateLimited()}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := &workflowservice.DescribeWorkflowExecutionRequest{Execution: &commonpb.WorkflowExecution{WorkflowId: "env/task/k"}}
	start := time.Now()
	resp, err := busyService{inner}.DescribeWorkflowExecution(ctx, req)
	require.NoError(t, err)
	require.Equal(t, "run-1", resp.GetWorkflowExecutionInfo().GetExecution().GetRunId())
	require.EqualValues(t, 3, inner.calls.Load())
	for _, r := range inner.reqs {
		require.Same(t, req, r, "the same request")
	}
	// Two waits: about 100 ms and 200 ms, ±20 %.
	require.GreaterOrEqual(t, time.Since(start), 240*time.Millisecond)
}

func TestBusyServiceAnswersOtherErrorsAtOnce(t *testing.T) {
	for name, err := range map[string]error{
		"no cause (gRPC message too large)": serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_UNSPECIFIED, "grpc: trying to send message larger than max"),
		"not found":                         serviceerror.NewNotFound("gone"),
		"already started":                   serviceerror.NewWorkflowExecutionAlreadyStarted("taken", "r-0", "run-0"),
	} {
		t.Run(name, func(t *testing.T) {
			inner := &scriptedService{errs: []error{err}}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, got := busyService{inner}.DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{})
			require.ErrorIs(t, got, err)
			require.EqualValues(t, 1, inner.calls.Load())
		})
	}
}

func TestBusyServiceStopsBeforeTheDeadline(t *testing.T) {
	errs := make([]error, 100)
	for i := range errs {
		errs[i] = rateLimited()
	}
	inner := &scriptedService{errs: errs}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := busyService{inner}.DescribeWorkflowExecution(ctx, &workflowservice.DescribeWorkflowExecutionRequest{})
	var re *serviceerror.ResourceExhausted
	require.ErrorAs(t, err, &re, "the server's answer, not a deadline error")
	require.Less(t, time.Since(start), 500*time.Millisecond, "no wait that passes the deadline")
	require.GreaterOrEqual(t, inner.calls.Load(), int32(2))
	require.Less(t, inner.calls.Load(), int32(6), "backoff, not a busy loop")
}
