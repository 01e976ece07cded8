package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once"
	"github.com/once-run/once/cmd/internal/devserver"
	"github.com/once-run/once/cmd/internal/shared"
)

// echoWorkflow is a plain SDK workflow for tests of raw server semantics.
func echoWorkflow(_ workflow.Context, s string) (string, error) { return "echo " + s, nil }

// startEchoWorker runs echoWorkflow on a fresh task queue of c's server.
func startEchoWorker(tb testing.TB, c client.Client) string {
	tb.Helper()
	tq := unique("tq")
	w := sdkworker.New(c, tq, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(echoWorkflow, workflow.RegisterOptions{Name: "echo"})
	require.NoError(tb, w.Start())
	tb.Cleanup(w.Stop)
	return tq
}

func TestDevServerRejectsDuplicateOfClosedWorkflow(t *testing.T) {
	c := newClient(t)
	tq := startEchoWorker(t, c)
	ctx := testCtx(t, time.Minute)
	opts := client.StartWorkflowOptions{
		ID:                                       unique("wf"),
		TaskQueue:                                tq,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}
	run, err := c.ExecuteWorkflow(ctx, opts, "echo", "a")
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, "echo a", got)

	_, err = c.ExecuteWorkflow(ctx, opts, "echo", "b")
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	require.True(t, errors.As(err, &already), "second start of a closed ID: got %v", err)
	require.Equal(t, run.GetRunID(), already.RunId)
}

func TestDevServerNamespaceRetention(t *testing.T) {
	needsEmbedded(t)
	c := newClient(t)
	resp, err := c.WorkflowService().DescribeNamespace(testCtx(t, 30*time.Second),
		&workflowservice.DescribeNamespaceRequest{Namespace: srv.Namespace()})
	require.NoError(t, err)
	require.Equal(t, devserver.DefaultRetention, resp.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration())
}

func TestDevServerSearchAttributesRegistered(t *testing.T) {
	needsEmbedded(t)
	c := newClient(t)
	resp, err := c.OperatorService().ListSearchAttributes(testCtx(t, 30*time.Second), &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace()})
	require.NoError(t, err)
	for _, name := range once.SearchAttributes() {
		require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, resp.GetCustomAttributes()[name], name)
	}
}

func TestDevServerSurvivesRestartOnSameFile(t *testing.T) {
	needsEmbedded(t)
	db := filepath.Join(t.TempDir(), "once.db")
	s1, err := devserver.Start(devserver.Options{DBFile: db, Retention: 72 * time.Hour})
	require.NoError(t, err)
	c1 := dial(t, s1.Address(), s1.Namespace())
	tq := startEchoWorker(t, c1)
	ctx := testCtx(t, 2*time.Minute)
	id := unique("wf")
	run, err := c1.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: tq}, "echo", "persisted")
	require.NoError(t, err)
	require.NoError(t, run.Get(ctx, nil))
	c1.Close()
	require.NoError(t, s1.Stop())

	// Same file, another retention: the data is there and the retention is updated.
	s2, err := devserver.Start(devserver.Options{DBFile: db, Retention: 96 * time.Hour})
	require.NoError(t, err)
	defer func() { require.NoError(t, s2.Stop()) }()
	c2 := dial(t, s2.Address(), s2.Namespace())
	desc, err := c2.DescribeWorkflowExecution(ctx, id, "")
	require.NoError(t, err)
	require.Equal(t, run.GetRunID(), desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())
	var got string
	require.NoError(t, c2.GetWorkflow(ctx, id, "").Get(ctx, &got))
	require.Equal(t, "echo persisted", got)
	ns, err := c2.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: s2.Namespace()})
	require.NoError(t, err)
	require.Equal(t, 96*time.Hour, ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration())
}

// TestWorkerAppDevMode runs the worker binary's code in-process as
// `go run ./cmd/worker` does: embedded server with UI, then the worker; a
// plain SDK client starts the hello task.
func TestWorkerAppDevMode(t *testing.T) {
	needsEmbedded(t)
	m := workerMain(t, nil)
	require.NoError(t, m.ParseFlags([]string{
		"--dev-grpc-addr", "127.0.0.1:0", "--dev-ui-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--dev-db", filepath.Join(t.TempDir(), "dev.db"), "--log-level", "error",
	}))
	require.True(t, m.Dev, "no address in flags, environment or profile means dev mode")
	ctx := testCtx(t, 2*time.Minute)
	require.NoError(t, m.Run(ctx))
	defer func() { require.NoError(t, m.Close()) }()

	c := dial(t, m.Server().Address(), m.Server().Namespace())
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: unique("hello"), TaskQueue: once.TaskQueue("", "dev"),
	}, "hello", map[string]string{"name": "Ada"})
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, "Hello, Ada", got)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.Server().UIAddress()+"/", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestWorkerAppDevModeCodec: the codec flags hold in dev mode too, so that
// a starter with them and the dev worker agree: the banner names the codec
// (for the embedded server's namespace), and a client with the same codec
// runs hello with its payload stored encoded.
func TestWorkerAppDevModeCodec(t *testing.T) {
	needsEmbedded(t)
	const auth, secret = "Bearer dev-codec", "Ada-Lovelace-9b1f"
	codec, served := xorCodecServer(t, auth)
	m := workerMain(t, nil)
	var stdout bytes.Buffer
	m.Stdout = &stdout
	require.NoError(t, m.ParseFlags([]string{
		"--dev-grpc-addr", "127.0.0.1:0", "--dev-ui-addr", "", "--http-addr", "",
		"--dev-db", filepath.Join(t.TempDir(), "dev.db"), "--log-level", "error",
		"--codec-endpoint", codec.URL + "/{namespace}", "--codec-auth", auth,
	}))
	require.True(t, m.Dev)
	ctx := testCtx(t, 2*time.Minute)
	require.NoError(t, m.Run(ctx))
	defer func() { require.NoError(t, m.Close()) }()
	ns := m.Server().Namespace()
	require.Contains(t, stdout.String(), fmt.Sprintf("\nCodec            %s/%s\n", codec.URL, ns))

	c, err := client.DialContext(ctx, client.Options{
		HostPort: m.Server().Address(), Namespace: ns, Logger: shared.DiscardLogger(),
		DataConverter: converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), xorPayloadCodec{}),
	})
	require.NoError(t, err)
	defer c.Close()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: unique("hello"), TaskQueue: once.TaskQueue("", "dev"),
	}, "hello", map[string]string{"name": secret})
	require.NoError(t, err)
	var got string
	require.NoError(t, run.Get(ctx, &got))
	require.Equal(t, "Hello, "+secret, got)
	requireEncodedRun(t, ctx, dial(t, m.Server().Address(), ns), run.GetID(), run.GetRunID(), secret)
	require.Positive(t, served(ns), "the worker asked the codec server for the dev namespace")
}
