package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/once-run/once"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// faultTask is triggered by the fault tests; no worker runs it, so its
// runs stay open, which is all these tests need.
const faultTask = "fault-noop"

// startServerChild runs the embedded server in a child process on the
// SQLite file db at addr ("127.0.0.1:0" for a free port).
func startServerChild(tb testing.TB, db, addr string) *child {
	tb.Helper()
	return startChild(tb, 90*time.Second, childModeEnv+"=server", childDBEnv+"="+db, childAddrEnv+"="+addr)
}

// lazyStarter is a starter of so (starter.NewLazy) whose client, of
// address and namespace ("" for the default) with the extra gRPC dial
// options, connects on first use, so that it can be made while the server
// is down and survives the server's restarts.
func lazyStarter(tb testing.TB, address, namespace string, so starter.Options, opts ...grpc.DialOption) *starter.Client {
	tb.Helper()
	s, err := starter.NewLazy(client.Options{
		HostPort: address, Namespace: namespace, Logger: shared.DiscardLogger(),
		ConnectionOptions: client.ConnectionOptions{DialOptions: opts},
	}, so)
	require.NoError(tb, err)
	tb.Cleanup(s.Close)
	return s
}

// runsByWorkflowID lists the runs of the environment's task queue by
// visibility: workflow ID → run IDs.
func runsByWorkflowID(tb testing.TB, ctx context.Context, c client.Client, env string) (map[string][]string, error) {
	tb.Helper()
	out := map[string][]string{}
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("TaskQueue = '%s'", once.TaskQueue("", env)), PageSize: 1000, NextPageToken: token,
		})
		if err != nil {
			return nil, err
		}
		for _, ex := range resp.GetExecutions() {
			id := ex.GetExecution().GetWorkflowId()
			out[id] = append(out[id], ex.GetExecution().GetRunId())
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return out, nil
		}
	}
}

// TestFaultServerSIGKILL keeps triggering keys k0, k1, … from four
// goroutines against a server in a child process and kills that server with
// SIGKILL five times — three times while triggers are in flight, twice
// between triggers — restarting it each time on the same SQLite file and
// address. The triggers meet the server down (the SDK retries a start
// within the request timeout); a trigger that fails (ErrServerUnreachable
// while the server is down) is retried with the same key until it succeeds.
// Afterwards every key maps to the run its first successful trigger
// returned (re-triggering returns it Cached), and visibility holds exactly
// one run per workflow ID: no key forgotten, no run lost, no duplicate.
func TestFaultServerSIGKILL(t *testing.T) {
	needsEmbedded(t)
	start := time.Now()
	db := filepath.Join(t.TempDir(), "once.db")
	srvChild := startServerChild(t, db, "127.0.0.1:0")
	addr := srvChild.addr
	t.Logf("server child up on %s in %s", addr, time.Since(start).Round(time.Millisecond))
	env := unique("f")
	// metDead counts the RPC attempts of the triggers that met the server
	// down: a start goes through the SDK's ExecuteWorkflow, which retries an
	// unavailable server within the request timeout, so a trigger in flight
	// during a short outage may succeed without ever failing. The
	// interceptor sits below the SDK's retries and sees every attempt.
	var metDead atomic.Int64
	countDead := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if status.Code(err) == codes.Unavailable {
			metDead.Add(1)
		}
		return err
	}
	st := lazyStarter(t, addr, "", starter.Options{Environment: env, RequestTimeout: 3 * time.Second, Logger: shared.DiscardLogger()},
		grpc.WithChainUnaryInterceptor(countDead))
	c := st.Temporal()
	ctx := testCtx(t, 4*time.Minute)

	var (
		gate     sync.RWMutex // held for writing while the server is killed between triggers
		mu       sync.Mutex
		runs     = map[string][]string{} // key → run IDs of its successful triggers
		ids      = map[string]string{}   // key → workflow ID
		failures = map[string]int{}      // error kind → count
		next     atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	triggerUntilDone := func(key string) {
		for ctx.Err() == nil {
			gate.RLock()
			run, err := st.Trigger(ctx, faultTask, map[string]string{"key": key}, starter.TriggerOptions{Key: idempotency.Parts{key}})
			gate.RUnlock()
			mu.Lock()
			if err == nil {
				runs[key] = append(runs[key], run.RunID)
				ids[key] = run.WorkflowID
				mu.Unlock()
				return
			}
			kind := "other: " + err.Error()
			if errors.Is(err, starter.ErrServerUnreachable) {
				kind = "ErrServerUnreachable"
			}
			failures[kind]++
			mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && ctx.Err() == nil {
				triggerUntilDone(fmt.Sprintf("k%d", next.Add(1)-1))
			}
		}()
	}
	// waitProgress waits until n more keys have been started.
	waitProgress := func(n int64) {
		from := next.Load()
		eventually(t, 90*time.Second, "triggers make progress", func() (bool, error) { return next.Load() >= from+n, nil })
	}

	const kills = 5
	waitProgress(40)
	for k := range kills {
		if k%2 == 0 { // during triggers: four are in flight
			srvChild.kill(t)
			time.Sleep(time.Duration(k) * 250 * time.Millisecond) // down for 0, 0.5, 1s
		} else { // between triggers: none in flight
			gate.Lock()
			srvChild.kill(t)
		}
		srvChild = startServerChild(t, db, addr)
		if k%2 == 1 {
			gate.Unlock()
		}
		waitProgress(40)
	}
	stop.Store(true)
	wg.Wait()
	require.NoError(t, ctx.Err())
	t.Logf("%d keys triggered through %d SIGKILLs; failed attempts (retried): %v; RPC attempts that met the server down: %d",
		len(runs), kills, failures, metDead.Load())
	require.NotZero(t, int64(failures["ErrServerUnreachable"])+metDead.Load(), "no trigger met a dead server")

	// Every successful trigger of a key returned the same run, and a new
	// trigger returns it too, Cached.
	for key, got := range runs {
		for _, r := range got[1:] {
			require.Equal(t, got[0], r, "key %s: two triggers returned different runs", key)
		}
		run, err := st.Trigger(ctx, faultTask, map[string]string{"key": key}, starter.TriggerOptions{Key: idempotency.Parts{key}})
		require.NoError(t, err, "key %s after the restarts", key)
		require.True(t, run.Cached, "key %s forgotten: a new run was started", key)
		require.Equal(t, got[0], run.RunID, "key %s maps to another run after the restarts", key)
	}

	// Exactly one run per workflow ID, and no run the triggers did not
	// return (visibility catches up asynchronously after a restart).
	eventually(t, 60*time.Second, "visibility lists one run per key", func() (bool, error) {
		byID, err := runsByWorkflowID(t, ctx, c, env)
		if err != nil {
			return false, err
		}
		if len(byID) != len(ids) {
			return false, fmt.Errorf("%d workflow IDs listed, %d keys triggered", len(byID), len(ids))
		}
		for key, id := range ids {
			if got := byID[id]; len(got) != 1 || got[0] != runs[key][0] {
				return false, fmt.Errorf("key %s: runs %v, want [%s]", key, got, runs[key][0])
			}
		}
		return true, nil
	})
	t.Logf("no key forgotten, no run lost, no duplicate: %s", time.Since(start).Round(time.Millisecond))
}

// TestFaultServerUnreachable triggers against an address where no server
// listens (connection refused) and against one that accepts connections but
// never answers (a hung server or a black hole): Trigger returns
// ErrServerUnreachable within its time bound, whether that is the client's
// RequestTimeout or the caller's deadline.
func TestFaultServerUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	refused := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = silent.Close() })
	go func() {
		var conns []net.Conn // held open, never answered
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()

	const timeout = 2 * time.Second
	background := func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }
	deadline := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), time.Second)
	}
	tests := []struct {
		name  string
		addr  string
		ctx   func() (context.Context, context.CancelFunc)
		bound time.Duration
	}{
		{"refused, request timeout", refused, background, timeout},
		{"refused, caller deadline", refused, deadline, time.Second},
		{"silent, request timeout", silent.Addr().String(), background, timeout},
		{"silent, caller deadline", silent.Addr().String(), deadline, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := lazyStarter(t, tt.addr, "", starter.Options{Environment: unique("f"), RequestTimeout: timeout, Logger: shared.DiscardLogger()})
			ctx, cancel := tt.ctx()
			defer cancel()
			start := time.Now()
			_, err := st.Trigger(ctx, faultTask, nil, starter.TriggerOptions{Key: idempotency.Parts{unique("k")}})
			elapsed := time.Since(start)
			t.Logf("after %s: %v", elapsed.Round(time.Millisecond), err)
			require.ErrorIs(t, err, starter.ErrServerUnreachable)
			require.Less(t, elapsed, tt.bound+500*time.Millisecond, "took longer than its bound (RequestTimeout %s)", timeout)
		})
	}
}

// dropResponses is a gRPC client interceptor that lets a
// StartWorkflowExecution of an armed workflow ID reach the server, then
// loses the server's answer: the caller gets DeadlineExceeded, as when a
// response is lost on the way back.
type dropResponses struct {
	armed   sync.Map // workflow ID → struct{}
	dropped sync.Map // workflow ID → run ID the server returned
}

func (d *dropResponses) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	start, ok := req.(*workflowservice.StartWorkflowExecutionRequest)
	if !ok || err != nil {
		return err
	}
	if _, armed := d.armed.LoadAndDelete(start.GetWorkflowId()); armed {
		d.dropped.Store(start.GetWorkflowId(), reply.(*workflowservice.StartWorkflowExecutionResponse).GetRunId())
		return status.Error(codes.DeadlineExceeded, "test: response lost after the server accepted the start")
	}
	return nil
}

// TestFaultLostResponse: a trigger whose response is lost after the server
// started the run fails (ErrServerUnreachable); the caller's retry with the
// same key returns that very run, Cached, and there is one run. Then 20
// keys are triggered with per-call deadlines from 1ms upwards (doubling on
// each failure), so that deadlines race the server: each key still ends
// with exactly one run, the one its successful trigger returned.
func TestFaultLostResponse(t *testing.T) {
	drop := &dropResponses{}
	env := unique("f")
	st := lazyStarter(t, srv.Address(), srv.Namespace(), starter.Options{Environment: env, Logger: shared.DiscardLogger()},
		grpc.WithChainUnaryInterceptor(drop.intercept))
	c := st.Temporal()
	ctx := testCtx(t, 2*time.Minute)

	t.Run("dropped response", func(t *testing.T) {
		key := idempotency.Parts{unique("lost")}
		k, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, key...)
		require.NoError(t, err)
		id, err := idempotency.WorkflowID(env, faultTask, k)
		require.NoError(t, err)
		drop.armed.Store(id, struct{}{})

		_, err = st.Trigger(ctx, faultTask, "payload", starter.TriggerOptions{Key: key})
		require.ErrorIs(t, err, starter.ErrServerUnreachable)
		accepted, ok := drop.dropped.Load(id)
		require.True(t, ok, "the server never saw the start")

		run, err := st.Trigger(ctx, faultTask, "payload", starter.TriggerOptions{Key: key})
		require.NoError(t, err)
		require.True(t, run.Cached, "the retry started a second run")
		require.Equal(t, accepted, run.RunID)
		eventually(t, 30*time.Second, "one run for the workflow ID", func() (bool, error) {
			byID, err := runsByWorkflowID(t, ctx, c, env)
			if err != nil {
				return false, err
			}
			if got := byID[id]; len(got) != 1 || got[0] != accepted {
				return false, fmt.Errorf("runs %v, want [%s]", got, accepted)
			}
			return true, nil
		})
	})

	t.Run("racing deadlines", func(t *testing.T) {
		env := unique("f")
		st, err := st.With(starter.Options{Environment: env, Logger: shared.DiscardLogger()})
		require.NoError(t, err)
		want := map[string]string{} // workflow ID → run ID
		timedOut := 0
		for i := range 20 {
			key := idempotency.Parts{fmt.Sprintf("race-%d", i)}
			for d := time.Millisecond; ; d *= 2 {
				rctx, cancel := context.WithTimeout(ctx, d)
				run, err := st.Trigger(rctx, faultTask, i, starter.TriggerOptions{Key: key})
				cancel()
				if err == nil {
					want[run.WorkflowID] = run.RunID
					break
				}
				require.NoError(t, ctx.Err())
				require.Less(t, d, 30*time.Second, "key %v: %v", key, err)
				timedOut++
			}
		}
		t.Logf("20 keys, %d triggers lost to their deadline and retried", timedOut)
		eventually(t, 30*time.Second, "one run per key", func() (bool, error) {
			byID, err := runsByWorkflowID(t, ctx, c, env)
			if err != nil {
				return false, err
			}
			if len(byID) != len(want) {
				return false, fmt.Errorf("%d workflow IDs, want %d", len(byID), len(want))
			}
			for id, runID := range want {
				if got := byID[id]; len(got) != 1 || got[0] != runID {
					return false, fmt.Errorf("%s: runs %v, want [%s]", id, got, runID)
				}
			}
			return true, nil
		})
	})
}
