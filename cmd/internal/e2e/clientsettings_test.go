package e2e

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/once-run/once/activities"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// A production service's client: its own namespace, an encrypting payload
// codec, a context propagator (a tenant) and a client interceptor that adds
// a header. Once must honour all of them on every path that starts, reads or
// waits: nothing in plaintext, nothing in another namespace.

// secureNamespace is the namespace of these tests (registered when missing).
const secureNamespace = "once-e2e-secure"

// The secrets that must never be in a history in plaintext.
const (
	secretCustomer = "Secret Customer Ltd"
	secretKeyText  = "secret-order-key"
	secretBatch    = "Secret Batch Item"
)

// Header fields these tests look for in the runs' start events.
const (
	tenantHeader      = "once-test-tenant"
	interceptorHeader = "once-test-interceptor"
)

// secureInput and secureOutput are the payload and result of secureEcho.
type secureInput struct {
	Customer string `json:"customer"`
}

type secureOutput struct {
	Customer string `json:"customer"`
	Tenant   string `json:"tenant"` // as the propagator put it in the task's context
}

var (
	// secureEcho returns its payload and the tenant its context carries.
	secureEcho = workflows.NewTask("secure-echo", func(ctx workflow.Context, in secureInput) (secureOutput, error) {
		tenant, _ := ctx.Value(tenantKey{}).(string)
		return secureOutput{Customer: in.Customer, Tenant: tenant}, nil
	}, workflows.TaskOptions{})

	// secureParent triggers secureEcho as a child, keyed and unkeyed.
	secureParent = workflows.NewTask("secure-parent", func(ctx workflow.Context, in secureInput) ([]secureOutput, error) {
		keyed, err := secureEcho.TriggerAndWait(ctx, in, workflows.ChildOptions{Key: idempotency.Parts{secretKeyText}})
		if err != nil {
			return nil, err
		}
		unkeyed, err := secureEcho.TriggerAndWait(ctx, in, workflows.ChildOptions{})
		return []secureOutput{keyed, unkeyed}, err
	}, workflows.TaskOptions{})

	// secureActivityParent triggers secureEcho from an activity, through the
	// worker's starter.
	secureActivityParent = workflows.NewTask("secure-activity-parent", func(ctx workflow.Context, in secureInput) (secureOutput, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
		})
		var a *secureActivities
		var out secureOutput
		err := workflow.ExecuteActivity(ctx, a.TriggerSecureEcho, in).Get(ctx, &out)
		return out, err
	}, workflows.TaskOptions{})
)

// secureActivities trigger from an activity with the worker's starter.
type secureActivities struct{ starter *starter.Client }

func (a *secureActivities) TriggerSecureEcho(ctx context.Context, in secureInput) (secureOutput, error) {
	var out secureOutput
	_, err := activities.TriggerAndWait(ctx, a.starter, secureEcho.ID(), in, &out, starter.TriggerOptions{})
	return out, err
}

// TestProductionClientSettings: every run lands in the client's namespace;
// no input, memo value, child input or result is in a raw history in
// plaintext; the propagator's tenant and the interceptor's header reach the
// task — for a trigger, a batch, a child trigger, a trigger from an activity;
// strict mode, payload keys, cached hits, Lookup and ResetKey behave as
// without a codec.
func TestProductionClientSettings(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	registerNamespace(t, ctx, secureNamespace)
	env := unique("sec")
	s := dialSecure(t, secureNamespace, starter.Options{Environment: env, Logger: shared.DiscardLogger()})
	require.Equal(t, secureNamespace, s.Namespace())

	startSecureWorker(t, s)

	raw := dial(t, srv.Address(), secureNamespace) // no codec: what is stored
	tenantCtx := context.WithValue(ctx, tenantKey{}, "acme")
	in := secureInput{Customer: secretCustomer}

	t.Run("trigger", func(t *testing.T) {
		run, err := s.Trigger(tenantCtx, secureEcho.ID(), in, starter.TriggerOptions{Key: idempotency.Parts{secretKeyText}, Strict: true})
		require.NoError(t, err)
		require.False(t, run.Cached)
		var out secureOutput
		require.NoError(t, run.Get(ctx, &out))
		require.Equal(t, secureOutput{Customer: secretCustomer, Tenant: "acme"}, out, "the task decoded its input and saw the tenant")
		requireInNamespaceOnly(t, ctx, raw, run.WorkflowID)
		started := requireNoPlaintext(t, ctx, raw, run.WorkflowID, run.RunID)
		requireHeader(t, started, tenantHeader, "acme")
		requireHeader(t, started, interceptorHeader, "via-interceptor")

		// Cached hits, strict mode and payload keys compare canonical
		// values, never ciphertext (the codec encrypts with a fresh nonce).
		again, err := s.Trigger(tenantCtx, secureEcho.ID(), secureInput{Customer: secretCustomer}, starter.TriggerOptions{Key: idempotency.Parts{secretKeyText}, Strict: true})
		require.NoError(t, err)
		require.True(t, again.Cached)
		require.Equal(t, run.RunID, again.RunID)
		_, err = s.Trigger(tenantCtx, secureEcho.ID(), secureInput{Customer: "someone else"}, starter.TriggerOptions{Key: idempotency.Parts{secretKeyText}, Strict: true})
		require.ErrorIs(t, err, starter.ErrKeyReusedWithDifferentPayload)

		pk, err := idempotency.KeyFromPayload(in)
		require.NoError(t, err)
		first, err := s.Trigger(tenantCtx, secureEcho.ID(), in, starter.TriggerOptions{Key: pk})
		require.NoError(t, err)
		second, err := s.Trigger(tenantCtx, secureEcho.ID(), secureInput{Customer: secretCustomer}, starter.TriggerOptions{Key: pk})
		require.NoError(t, err)
		require.False(t, first.Cached)
		require.True(t, second.Cached)
		require.Equal(t, first.RunID, second.RunID)

		// Reads decode the memo through the codec.
		info, err := s.Lookup(ctx, secureEcho.ID(), idempotency.Parts{secretKeyText}, starter.LookupOptions{})
		require.NoError(t, err)
		require.Equal(t, secretKeyText, info.KeyText)
		require.False(t, info.ExpiresAt.IsZero(), "the expiry is read")
		require.NoError(t, s.ResetKey(ctx, secureEcho.ID(), idempotency.Parts{secretKeyText}, starter.ResetOptions{}))
		fresh, err := s.Trigger(tenantCtx, secureEcho.ID(), in, starter.TriggerOptions{Key: idempotency.Parts{secretKeyText}, Strict: true})
		require.NoError(t, err)
		require.False(t, fresh.Cached, "a reset key starts a new run")
		require.NotEqual(t, run.RunID, fresh.RunID)
		require.NoError(t, fresh.Get(ctx, nil))
		requireNoPlaintext(t, ctx, raw, fresh.WorkflowID, fresh.RunID)
	})

	t.Run("batch", func(t *testing.T) {
		items := []starter.BatchItem{
			{Payload: secureInput{Customer: secretBatch + " 1"}},
			{Payload: secureInput{Customer: secretBatch + " 2"}},
		}
		results, err := s.BatchTriggerAndWait(tenantCtx, secureEcho.ID(), items, starter.BatchOptions{BatchKey: idempotency.Parts{unique("b")}})
		require.NoError(t, err)
		require.Len(t, results, 2)
		for i, r := range results {
			require.NoError(t, r.Err)
			requireInNamespaceOnly(t, ctx, raw, r.Run.WorkflowID)
			started := requireNoPlaintext(t, ctx, raw, r.Run.WorkflowID, r.Run.RunID)
			requireHeader(t, started, tenantHeader, "acme")
			requireHeader(t, started, interceptorHeader, "via-interceptor")
			var out secureOutput
			require.NoError(t, r.Run.Get(ctx, &out))
			require.Equal(t, fmt.Sprintf("%s %d", secretBatch, i+1), out.Customer)
		}
	})

	t.Run("child trigger", func(t *testing.T) {
		run, err := s.Trigger(tenantCtx, secureParent.ID(), in, starter.TriggerOptions{Key: idempotency.Parts{unique("p")}})
		require.NoError(t, err)
		var out []secureOutput
		require.NoError(t, run.Get(ctx, &out))
		require.Equal(t, []secureOutput{{secretCustomer, "acme"}, {secretCustomer, "acme"}}, out, "the children saw the input and the tenant")
		requireNoPlaintext(t, ctx, raw, run.WorkflowID, run.RunID)
		children := childExecutions(t, ctx, raw, run.WorkflowID, run.RunID)
		require.Len(t, children, 2)
		for _, ch := range children {
			requireInNamespaceOnly(t, ctx, raw, ch.GetWorkflowId())
			started := requireNoPlaintext(t, ctx, raw, ch.GetWorkflowId(), ch.GetRunId())
			requireHeader(t, started, tenantHeader, "acme")
		}
	})

	t.Run("trigger from an activity", func(t *testing.T) {
		parentKey := idempotency.Parts{unique("a")}
		run, err := s.Trigger(tenantCtx, secureActivityParent.ID(), in, starter.TriggerOptions{Key: parentKey})
		require.NoError(t, err)
		var out secureOutput
		require.NoError(t, run.Get(ctx, &out))
		require.Equal(t, secureOutput{Customer: secretCustomer, Tenant: "acme"}, out)
		requireNoPlaintext(t, ctx, raw, run.WorkflowID, run.RunID)
		parent, err := s.Lookup(ctx, secureActivityParent.ID(), parentKey, starter.LookupOptions{})
		require.NoError(t, err)
		// The activity's run is the one run of secureEcho started while the
		// parent ran (the subtests run one after the other); its key Once
		// derived from the call, so its memo holds no key text.
		var child *starter.RunSummary
		eventually(t, 10*time.Second, "the activity's run is listed", func() (bool, error) {
			runs, err := s.ListRuns(ctx, secureEcho.ID(), starter.ListOptions{})
			for i, r := range runs {
				if !r.StartTime.Before(parent.StartTime) && r.Key != "" {
					child = &runs[i]
				}
			}
			return child != nil, err
		})
		require.Empty(t, child.KeyText, "a key Once derived is no text a user gave")
		requireInNamespaceOnly(t, ctx, raw, child.WorkflowID)
		started := requireNoPlaintext(t, ctx, raw, child.WorkflowID, child.RunID)
		requireHeader(t, started, tenantHeader, "acme")
		requireHeader(t, started, interceptorHeader, "via-interceptor")
	})
}

// TestProductionClientCLI: the starter CLI with a codec server (the temporal
// CLI's --codec-endpoint and --codec-auth) triggers a task whose payload is
// stored encrypted, and reads its result and its key.
func TestProductionClientCLI(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	registerNamespace(t, ctx, secureNamespace)
	env := unique("seccli")
	s := dialSecure(t, secureNamespace, starter.Options{Environment: env, Logger: shared.DiscardLogger()})
	w, err := worker.New(s, worker.Options{Tasks: []workflows.Definition{secureEcho}, Logger: shared.DiscardLogger()})
	require.NoError(t, err)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)

	var authorized, refused atomic.Int64
	codecHandler := converter.NewPayloadCodecHTTPHandler(testCodec{})
	codecServer := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer codec-token" {
			refused.Add(1)
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		authorized.Add(1)
		codecHandler.ServeHTTP(rw, r)
	}))
	t.Cleanup(codecServer.Close)

	vars := map[string]string{
		"TEMPORAL_ADDRESS":   srv.Address(),
		"TEMPORAL_NAMESPACE": secureNamespace,
		"ONCE_ENV":           env,
	}
	payload := `{"customer":"` + secretCustomer + `"}`
	r := cliWith(t, vars, "", "trigger", secureEcho.ID(), "--key", secretKeyText, "--payload", payload,
		"--codec-endpoint", codecServer.URL, "--codec-auth", "Bearer codec-token", "--wait", "--json")
	requireOK(t, r)
	got := decodeJSON[cliTrigger](t, r.stdout)
	var out secureOutput
	require.NoError(t, json.Unmarshal(got.Result, &out), r.stdout)
	require.Equal(t, secretCustomer, out.Customer, "the CLI decoded the result through the codec server")
	require.Positive(t, authorized.Load())
	require.Zero(t, refused.Load())

	raw := dial(t, srv.Address(), secureNamespace)
	requireInNamespaceOnly(t, ctx, raw, got.WorkflowID)
	requireNoPlaintext(t, ctx, raw, got.WorkflowID, got.RunID)

	r = cliWith(t, vars, "", "describe", secureEcho.ID(), "--key", secretKeyText,
		"--codec-endpoint", codecServer.URL, "--codec-auth", "Bearer codec-token", "--json")
	requireOK(t, r)
	require.Contains(t, r.stdout, secretKeyText, "describe decoded the memo's key text")

	// Without the codec the CLI cannot encode the payload as the task needs;
	// with a wrong token the codec server refuses and nothing is started.
	before := refused.Load()
	r = cliWith(t, vars, "", "trigger", secureEcho.ID(), "--key", unique("k"), "--payload", payload,
		"--codec-endpoint", codecServer.URL, "--codec-auth", "Bearer wrong")
	require.NotEqual(t, 0, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	require.Greater(t, refused.Load(), before)
}

// dialSecure dials the production-like client: namespace, encrypting codec,
// tenant propagator, header-adding interceptor.
func dialSecure(tb testing.TB, namespace string, opts starter.Options) *starter.Client {
	tb.Helper()
	return mustDialStarter(tb, client.Options{
		HostPort:           srv.Address(),
		Namespace:          namespace,
		DataConverter:      converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), testCodec{}),
		ContextPropagators: []workflow.ContextPropagator{tenantPropagator{}},
		Interceptors:       []interceptor.ClientInterceptor{&headerInterceptor{}},
	}, opts)
}

// registerNamespace registers namespace when it is missing and waits until
// the server accepts calls in it.
func registerNamespace(tb testing.TB, ctx context.Context, namespace string) {
	tb.Helper()
	svc := newClient(tb).WorkflowService()
	_, err := svc.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        namespace,
		WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if err != nil && !errors.As(err, &exists) {
		require.NoError(tb, err)
	}
	c := dial(tb, srv.Address(), namespace)
	eventually(tb, time.Minute, "namespace "+namespace+" serves calls", func() (bool, error) {
		_, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, PageSize: 1})
		return err == nil, err
	})
}

// requireInNamespaceOnly: the workflow is in the secure namespace and not in
// the shared server's default one.
func requireInNamespaceOnly(tb testing.TB, ctx context.Context, raw client.Client, workflowID string) {
	tb.Helper()
	_, err := raw.DescribeWorkflowExecution(ctx, workflowID, "")
	require.NoError(tb, err, "workflow %s in namespace %s", workflowID, secureNamespace)
	_, err = newClient(tb).DescribeWorkflowExecution(ctx, workflowID, "")
	var notFound *serviceerror.NotFound
	require.ErrorAs(tb, err, &notFound, "workflow %s must not be in namespace %s", workflowID, srv.Namespace())
}

// storedRun is a completed run's history as the server stores it.
type storedRun struct {
	events    []byte // every event, marshalled
	started   *historypb.WorkflowExecutionStartedEventAttributes
	completed *historypb.WorkflowExecutionCompletedEventAttributes
}

// readStoredRun waits until the run has completed and reads its history
// with raw, a client without the codec.
func readStoredRun(tb testing.TB, ctx context.Context, raw client.Client, workflowID, runID string) storedRun {
	tb.Helper()
	var r storedRun
	eventually(tb, time.Minute, "run "+workflowID+" completed", func() (bool, error) {
		r = storedRun{}
		it := raw.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				return false, err
			}
			b, err := proto.Marshal(ev)
			if err != nil {
				return false, err
			}
			r.events = append(r.events, b...)
			if a := ev.GetWorkflowExecutionStartedEventAttributes(); a != nil {
				r.started = a
			}
			if a := ev.GetWorkflowExecutionCompletedEventAttributes(); a != nil {
				r.completed = a
			}
		}
		return r.completed != nil, nil
	})
	require.NotNil(tb, r.started)
	return r
}

// requireNoPlaintext reads the raw history of a completed run and checks
// that no secret is in it as it is stored, and that its input and memo went
// through the codec; it returns the start event's attributes.
func requireNoPlaintext(tb testing.TB, ctx context.Context, raw client.Client, workflowID, runID string) *startedAttrs {
	tb.Helper()
	r := readStoredRun(tb, ctx, raw, workflowID, runID)
	for _, secret := range []string{secretCustomer, secretKeyText, secretBatch} {
		require.False(tb, bytes.Contains(r.events, []byte(secret)), "the history of %s holds %q in plaintext", workflowID, secret)
	}
	for name, p := range r.started.GetMemo().GetFields() {
		require.Equal(tb, testCodecEncoding, string(p.GetMetadata()["encoding"]), "memo %q of %s went through the codec", name, workflowID)
	}
	for _, p := range r.started.GetInput().GetPayloads() {
		require.Equal(tb, testCodecEncoding, string(p.GetMetadata()["encoding"]), "the input of %s went through the codec", workflowID)
	}
	return r.started
}

type startedAttrs = historypb.WorkflowExecutionStartedEventAttributes

// requireHeader checks a header field of a start event.
func requireHeader(tb testing.TB, started *startedAttrs, field, want string) {
	tb.Helper()
	p, ok := started.GetHeader().GetFields()[field]
	require.True(tb, ok, "header %q in %v", field, started.GetHeader().GetFields())
	var got string
	require.NoError(tb, converter.GetDefaultDataConverter().FromPayload(p, &got))
	require.Equal(tb, want, got)
}

// childExecutions lists the children a run started, from its history.
func childExecutions(tb testing.TB, ctx context.Context, raw client.Client, workflowID, runID string) []*commonpb.WorkflowExecution {
	tb.Helper()
	var out []*commonpb.WorkflowExecution
	it := raw.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(tb, err)
		if a := ev.GetChildWorkflowExecutionStartedEventAttributes(); a != nil {
			out = append(out, a.GetWorkflowExecution())
		}
	}
	return out
}

// testCodec encrypts payloads with AES-GCM and a fresh nonce, as a
// production codec does: the same value never encodes to the same bytes.
type testCodec struct{}

const testCodecEncoding = "binary/once-test-encrypted"

var testCodecKey = []byte("0123456789abcdef0123456789abcdef")

func (testCodec) aead() cipher.AEAD {
	block, err := aes.NewCipher(testCodecKey)
	if err != nil {
		panic(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return gcm
}

func (c testCodec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, err
		}
		gcm := c.aead()
		nonce := make([]byte, gcm.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, err
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{"encoding": []byte(testCodecEncoding)},
			Data:     gcm.Seal(nonce, nonce, plain, nil),
		}
	}
	return out, nil
}

func (c testCodec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()["encoding"]) != testCodecEncoding {
			out[i] = p
			continue
		}
		gcm := c.aead()
		n := gcm.NonceSize()
		if len(p.GetData()) < n {
			return nil, errors.New("test codec: short payload")
		}
		plain, err := gcm.Open(nil, p.GetData()[:n], p.GetData()[n:], nil)
		if err != nil {
			return nil, err
		}
		var dec commonpb.Payload
		if err := proto.Unmarshal(plain, &dec); err != nil {
			return nil, err
		}
		out[i] = &dec
	}
	return out, nil
}

// tenantKey is the context key of the tenant the propagator carries.
type tenantKey struct{}

// tenantPropagator carries the tenant from a caller's context to the task's
// workflow context, its activities and its children.
type tenantPropagator struct{}

func (tenantPropagator) Inject(ctx context.Context, w workflow.HeaderWriter) error {
	return injectTenant(ctx.Value(tenantKey{}), w)
}

func (tenantPropagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	return injectTenant(ctx.Value(tenantKey{}), w)
}

func injectTenant(v any, w workflow.HeaderWriter) error {
	tenant, _ := v.(string)
	if tenant == "" {
		return nil
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(tenant)
	if err != nil {
		return err
	}
	w.Set(tenantHeader, p)
	return nil
}

func (tenantPropagator) Extract(ctx context.Context, r workflow.HeaderReader) (context.Context, error) {
	if tenant := extractTenant(r); tenant != "" {
		ctx = context.WithValue(ctx, tenantKey{}, tenant)
	}
	return ctx, nil
}

func (tenantPropagator) ExtractToWorkflow(ctx workflow.Context, r workflow.HeaderReader) (workflow.Context, error) {
	if tenant := extractTenant(r); tenant != "" {
		ctx = workflow.WithValue(ctx, tenantKey{}, tenant)
	}
	return ctx, nil
}

func extractTenant(r workflow.HeaderReader) string {
	p, ok := r.Get(tenantHeader)
	if !ok {
		return ""
	}
	var tenant string
	_ = converter.GetDefaultDataConverter().FromPayload(p, &tenant)
	return tenant
}

// headerInterceptor is a client interceptor that adds a header to every
// start, as an auth or audit interceptor does.
type headerInterceptor struct {
	interceptor.ClientInterceptorBase
}

func (h *headerInterceptor) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &headerOutbound{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}}
}

type headerOutbound struct {
	interceptor.ClientOutboundInterceptorBase
}

func (h *headerOutbound) ExecuteWorkflow(ctx context.Context, in *interceptor.ClientExecuteWorkflowInput) (client.WorkflowRun, error) {
	p, err := converter.GetDefaultDataConverter().ToPayload("via-interceptor")
	if err != nil {
		return nil, err
	}
	interceptor.Header(ctx)[interceptorHeader] = p
	return h.Next.ExecuteWorkflow(ctx, in)
}
