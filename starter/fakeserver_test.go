package starter

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/internal/runctx"
)

// fakeRun is one run of the scripted server's single workflow ID.
type fakeRun struct {
	runID, firstRunID string
	requestID         string // of the start that created it
	status            enumspb.WorkflowExecutionStatus
	started           time.Time
	closed            time.Time // zero while running
	memo              *commonpb.Memo
}

// fakeReq is one request the scripted server received.
type fakeReq struct {
	method     string // Start, Describe, Terminate, History
	workflowID string
	runID      string // Describe, Terminate: the run asked for ("" current)
	requestID  string // Start
	policy     enumspb.WorkflowIdReusePolicy
	memo       idempotency.Memo // Start: Once's memo entries
}

// fakeServer is a WorkflowService that models the starts of one workflow ID
// as the server decides them — request-ID dedupe onto the current run, then
// the reuse policy (conflict policy FAIL) — and records every request.
// beforeStart, when set, runs first and may change the state or answer.
type fakeServer struct {
	workflowservice.UnimplementedWorkflowServiceServer

	mu          sync.Mutex
	runs        map[string]*fakeRun
	current     string // run ID; "" no run
	reqs        []fakeReq
	beforeStart func(f *fakeServer, req *workflowservice.StartWorkflowExecutionRequest) (*workflowservice.StartWorkflowExecutionResponse, error)

	// hold, when set, runs before a start takes the server's lock: it may
	// block to line starts up.
	hold func(req *workflowservice.StartWorkflowExecutionRequest)

	lis *bufconn.Listener // set by the first newFakeClient

	retention time.Duration // the namespace's
}

func newFakeServer() *fakeServer {
	return &fakeServer{runs: map[string]*fakeRun{}, retention: 365 * 24 * time.Hour}
}

// put installs r as the current run (locked by the caller or before use).
func (f *fakeServer) put(r *fakeRun) {
	if r.firstRunID == "" {
		r.firstRunID = r.runID
	}
	if r.started.IsZero() {
		if t, ok := runIDTime(r.runID); ok {
			r.started = t
		} else {
			r.started = time.Now()
		}
	}
	f.runs[r.runID] = r
	f.current = r.runID
}

func (f *fakeServer) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeReq(nil), f.reqs...)
}

func (f *fakeServer) starts() []fakeReq {
	var out []fakeReq
	for _, r := range f.requests() {
		if r.method == "Start" {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeServer) methods() []string {
	var out []string
	for _, r := range f.requests() {
		out = append(out, r.method)
	}
	return out
}

func (f *fakeServer) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{Capabilities: &workflowservice.GetSystemInfoResponse_Capabilities{}}, nil
}

func (f *fakeServer) DescribeNamespace(_ context.Context, req *workflowservice.DescribeNamespaceRequest) (*workflowservice.DescribeNamespaceResponse, error) {
	return &workflowservice.DescribeNamespaceResponse{
		NamespaceInfo: &namespacepb.NamespaceInfo{Name: req.GetNamespace()},
		Config:        &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(f.retention)},
	}, nil
}

func (f *fakeServer) alreadyStarted(cur *fakeRun) error {
	return serviceerror.ToStatus(serviceerror.NewWorkflowExecutionAlreadyStartedWithFirstExecutionRunId(
		"workflow execution already started", cur.requestID, cur.runID, cur.firstRunID)).Err()
}

func (f *fakeServer) StartWorkflowExecution(_ context.Context, req *workflowservice.StartWorkflowExecutionRequest) (*workflowservice.StartWorkflowExecutionResponse, error) {
	if f.hold != nil {
		f.hold(req)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, fakeReq{
		method: "Start", workflowID: req.GetWorkflowId(), requestID: req.GetRequestId(),
		policy: req.GetWorkflowIdReusePolicy(), memo: runctx.DecodeMemo(req.GetMemo(), nil),
	})
	if f.beforeStart != nil {
		if resp, err := f.beforeStart(f, req); resp != nil || err != nil {
			return resp, err
		}
	}
	if cur := f.runs[f.current]; cur != nil {
		if cur.requestID == req.GetRequestId() {
			return &workflowservice.StartWorkflowExecutionResponse{RunId: cur.runID}, nil
		}
		refuse := true
		switch req.GetWorkflowIdReusePolicy() {
		case enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE:
			refuse = cur.status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
		case enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY:
			refuse = cur.status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || cur.status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
		}
		if refuse {
			return nil, f.alreadyStarted(cur)
		}
	}
	r := &fakeRun{runID: uuid.Must(uuid.NewV7()).String(), requestID: req.GetRequestId(), status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, memo: req.GetMemo()}
	f.put(r)
	return &workflowservice.StartWorkflowExecutionResponse{RunId: r.runID, Started: true}, nil
}

func (f *fakeServer) DescribeWorkflowExecution(_ context.Context, req *workflowservice.DescribeWorkflowExecutionRequest) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, fakeReq{method: "Describe", workflowID: req.GetExecution().GetWorkflowId(), runID: req.GetExecution().GetRunId()})
	id := req.GetExecution().GetRunId()
	if id == "" {
		id = f.current
	}
	r := f.runs[id]
	if r == nil {
		return nil, serviceerror.ToStatus(serviceerror.NewNotFound("workflow not found")).Err()
	}
	var closed *timestamppb.Timestamp
	if !r.closed.IsZero() {
		closed = timestamppb.New(r.closed)
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
			Execution:  &commonpb.WorkflowExecution{WorkflowId: req.GetExecution().GetWorkflowId(), RunId: r.runID},
			Status:     r.status,
			StartTime:  timestamppb.New(r.started),
			CloseTime:  closed,
			Memo:       r.memo,
			FirstRunId: r.firstRunID,
		},
		WorkflowExtendedInfo: &workflowpb.WorkflowExecutionExtendedInfo{
			RequestIdInfos: map[string]*workflowpb.RequestIdInfo{
				r.requestID: {EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED},
			},
		},
	}, nil
}

func (f *fakeServer) TerminateWorkflowExecution(_ context.Context, req *workflowservice.TerminateWorkflowExecutionRequest) (*workflowservice.TerminateWorkflowExecutionResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, fakeReq{method: "Terminate", workflowID: req.GetWorkflowExecution().GetWorkflowId(), runID: req.GetWorkflowExecution().GetRunId()})
	if r := f.runs[req.GetWorkflowExecution().GetRunId()]; r != nil {
		r.status = enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED
	}
	return &workflowservice.TerminateWorkflowExecutionResponse{}, nil
}

func (f *fakeServer) GetWorkflowExecutionHistory(_ context.Context, req *workflowservice.GetWorkflowExecutionHistoryRequest) (*workflowservice.GetWorkflowExecutionHistoryResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, fakeReq{method: "History", workflowID: req.GetExecution().GetWorkflowId(), runID: req.GetExecution().GetRunId()})
	return nil, serviceerror.ToStatus(serviceerror.NewUnimplemented("history not scripted")).Err()
}

// memoProto encodes Once's memo entries as the SDK client would.
func memoProto(tb testing.TB, m idempotency.Memo) *commonpb.Memo {
	tb.Helper()
	fields := map[string]*commonpb.Payload{}
	for k, v := range m.Fields() {
		p, err := converter.GetDefaultDataConverter().ToPayload(v)
		require.NoError(tb, err)
		fields[k] = p
	}
	return &commonpb.Memo{Fields: fields}
}

// newFakeClient serves f on an in-memory listener (once per f) and returns
// a Client on it.
func newFakeClient(tb testing.TB, f *fakeServer, opts Options) *Client {
	tb.Helper()
	if f.lis == nil { // first client: serve f
		f.lis = bufconn.Listen(1 << 20)
		srv := grpc.NewServer()
		workflowservice.RegisterWorkflowServiceServer(srv, f)
		go func() { _ = srv.Serve(f.lis) }()
		tb.Cleanup(srv.Stop)
	}
	lis := f.lis
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 5 * time.Second
	}
	c, err := NewLazy(client.Options{
		HostPort: "passthrough:///fake",
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(insecure.NewCredentials()),
		}},
	}, opts)
	require.NoError(tb, err)
	tb.Cleanup(c.Close)
	// fakeTask keeps its keys, as a Client learns from its first read of a
	// closed run of it (failure.go): a cached hit is not read for the
	// task's failure policy. Tests of that read clear the hint.
	c.policies.put(fakeTask, c.opts.Now(), factsCacheSize)
	return c
}

// holdReplacements holds every start that is not a new key's (a
// replacement) until n starts of a new key have come (at most 10 s): n
// callers all judge the run that holds the key before any replacement is
// taken.
func (f *fakeServer) holdReplacements(n int32) {
	var seenNew atomic.Int32
	allJudged := make(chan struct{})
	f.hold = func(req *workflowservice.StartWorkflowExecutionRequest) {
		if rid, _ := parseRequestID(req.GetRequestId()); rid.kind == kindNew {
			if seenNew.Add(1) == n {
				close(allJudged)
			}
			return
		}
		select {
		case <-allJudged:
		case <-time.After(10 * time.Second):
		}
	}
}
