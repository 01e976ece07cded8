package starter

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// The server sheds load with ResourceExhausted: a namespace's rate limit
// ("namespace rate limit exceeded"), a concurrency limit, an overloaded
// persistence, a busy workflow. The SDK's own client calls ask again after
// a backoff — the starter's starts are the SDK client's ExecuteWorkflow, so
// they do; the starter makes its reads and terminations on the raw service,
// which does not, so busyService does the same for those: the same request
// again, after 100 ms, doubling up to 5 s, with
// jitter, for as long as the call's context allows (RequestTimeout when the
// caller gave no deadline) and at most busyMaxElapsed. Errors that the
// server did not give a cause for (a message too large for gRPC) are not
// asked again.
const (
	busyInitialInterval = 100 * time.Millisecond
	busyMaxInterval     = 5 * time.Second
	busyMaxElapsed      = time.Minute
)

// busyService is the workflow service with the starter's calls asked again
// while the server answers ResourceExhausted.
type busyService struct {
	workflowservice.WorkflowServiceClient
}

func (s busyService) DescribeWorkflowExecution(ctx context.Context, req *workflowservice.DescribeWorkflowExecutionRequest, opts ...grpc.CallOption) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return whileBusy(ctx, req, opts, s.WorkflowServiceClient.DescribeWorkflowExecution)
}

func (s busyService) TerminateWorkflowExecution(ctx context.Context, req *workflowservice.TerminateWorkflowExecutionRequest, opts ...grpc.CallOption) (*workflowservice.TerminateWorkflowExecutionResponse, error) {
	return whileBusy(ctx, req, opts, s.WorkflowServiceClient.TerminateWorkflowExecution)
}

func (s busyService) GetWorkflowExecutionHistory(ctx context.Context, req *workflowservice.GetWorkflowExecutionHistoryRequest, opts ...grpc.CallOption) (*workflowservice.GetWorkflowExecutionHistoryResponse, error) {
	return whileBusy(ctx, req, opts, s.WorkflowServiceClient.GetWorkflowExecutionHistory)
}

func (s busyService) ListWorkflowExecutions(ctx context.Context, req *workflowservice.ListWorkflowExecutionsRequest, opts ...grpc.CallOption) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	return whileBusy(ctx, req, opts, s.WorkflowServiceClient.ListWorkflowExecutions)
}

func (s busyService) DescribeNamespace(ctx context.Context, req *workflowservice.DescribeNamespaceRequest, opts ...grpc.CallOption) (*workflowservice.DescribeNamespaceResponse, error) {
	return whileBusy(ctx, req, opts, s.WorkflowServiceClient.DescribeNamespace)
}

// whileBusy makes call, and makes it again after a backoff while the server
// answers ResourceExhausted with a cause. It returns the last answer when
// the next wait would pass ctx's deadline or busyMaxElapsed, or ctx ends.
func whileBusy[Req, Resp any](ctx context.Context, req Req, opts []grpc.CallOption, call func(context.Context, Req, ...grpc.CallOption) (Resp, error)) (Resp, error) {
	giveUp := time.Now().Add(busyMaxElapsed)
	if d, ok := ctx.Deadline(); ok && d.Before(giveUp) {
		giveUp = d
	}
	wait := busyInitialInterval
	for {
		resp, err := call(ctx, req, opts...)
		if err == nil || !isBusy(err) {
			return resp, err
		}
		// ±20 %, so that callers turned away together do not return together.
		d := time.Duration(float64(wait) * (0.8 + 0.4*rand.Float64()))
		if time.Now().Add(d).After(giveUp) {
			return resp, err
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return resp, err
		case <-t.C:
		}
		wait = min(2*wait, busyMaxInterval)
	}
}

// isBusy reports a ResourceExhausted answer that the server gave a cause
// for: a limit or overload that passes.
func isBusy(err error) bool {
	var re *serviceerror.ResourceExhausted
	return errors.As(err, &re) && re.Cause != enumspb.RESOURCE_EXHAUSTED_CAUSE_UNSPECIFIED
}
