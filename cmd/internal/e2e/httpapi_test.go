package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/once-run/once/cmd/internal/apiapp"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/starter/httpapi"
	"github.com/once-run/once/worker"
	"github.com/once-run/once/workflows"
)

// The HTTP API (starter/httpapi) against the shared server: every route and
// every error row of issue 23, each request and answer checked against the
// OpenAPI document with kin-openapi (openapi3filter), request and response.

func init() {
	// NDJSON bodies (a batch, and its streamed answer) validate as the
	// array of their lines, as the document describes them.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		var out []any
		sc := bufio.NewScanner(body)
		sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) == 0 {
				continue
			}
			var v any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, sc.Err()
	})
}

// apiClient calls an API server and checks every exchange against the
// OpenAPI document.
type apiClient struct {
	t      *testing.T
	base   string
	http   *http.Client
	doc    *openapi3.T
	router routers.Router
}

// newAPIClient loads the document served at base/openapi.json (the one
// embedded in the library, as served) and validates it.
func newAPIClient(t *testing.T, base string, hc *http.Client) *apiClient {
	t.Helper()
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	resp, err := hc.Get(base + "/openapi.json")
	require.NoError(t, err)
	served, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.JSONEq(t, string(httpapi.OpenAPI()), string(served))
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(served)
	require.NoError(t, err)
	require.True(t, doc.IsOpenAPI31OrLater(), "the document is OpenAPI 3.1")
	require.NoError(t, doc.Validate(loader.Context), "the OpenAPI document is valid")
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	return &apiClient{t: t, base: base, http: hc, doc: doc, router: router}
}

// apiCall is one request.
type apiCall struct {
	method, path string
	token        string
	header       map[string]string
	ctype        string
	body         string
	// invalid marks a request that breaks the document on purpose (no
	// token, malformed JSON, …): only the answer is checked.
	invalid bool
}

// apiAnswer is the answer to an apiCall.
type apiAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a apiAnswer) json(tb testing.TB) map[string]any {
	tb.Helper()
	var m map[string]any
	require.NoError(tb, json.Unmarshal(a.body, &m), "%s", a.body)
	return m
}

func (a apiAnswer) problem(tb testing.TB, status int, typ string) map[string]any {
	tb.Helper()
	require.Equal(tb, status, a.status, "%s", a.body)
	require.Equal(tb, "application/problem+json", a.header.Get("Content-Type"))
	p := a.json(tb)
	require.Equal(tb, typ, p["type"], "%s", a.body)
	require.EqualValues(tb, status, p["status"])
	require.NotEmpty(tb, p["title"])
	return p
}

func (c *apiClient) do(call apiCall) apiAnswer {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, call.method, c.base+call.path, strings.NewReader(call.body))
	require.NoError(c.t, err)
	if call.body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if call.token != "" {
		req.Header.Set("Authorization", "Bearer "+call.token)
	}
	if call.ctype != "" {
		req.Header.Set("Content-Type", call.ctype)
	}
	for k, v := range call.header {
		req.Header.Set(k, v)
	}
	input := c.validateRequest(req, call)
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	a := apiAnswer{status: resp.StatusCode, header: resp.Header, body: body}
	c.validateResponse(input, a)
	return a
}

// validateRequest checks req against the document (unless call.invalid)
// and returns the validation input its answer is checked with; nil when
// the document has no operation for it.
func (c *apiClient) validateRequest(req *http.Request, call apiCall) *openapi3filter.RequestValidationInput {
	c.t.Helper()
	vreq := req.Clone(req.Context())
	vreq.Body = io.NopCloser(strings.NewReader(call.body))
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		require.True(c.t, call.invalid, "%s %s: no operation in the document: %v", call.method, call.path, err)
		return nil
	}
	input := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
				if !strings.HasPrefix(in.RequestValidationInput.Request.Header.Get("Authorization"), "Bearer ") {
					return fmt.Errorf("no bearer token")
				}
				return nil
			},
		},
	}
	if !call.invalid {
		require.NoError(c.t, openapi3filter.ValidateRequest(req.Context(), input), "%s %s: the request breaks the document", call.method, call.path)
	}
	return input
}

// validateResponse checks the answer against the operation's responses, or
// (no operation: an unknown route or method) against the Problem schema.
func (c *apiClient) validateResponse(input *openapi3filter.RequestValidationInput, a apiAnswer) {
	c.t.Helper()
	if input == nil {
		require.Equal(c.t, "application/problem+json", a.header.Get("Content-Type"))
		var v any
		require.NoError(c.t, json.Unmarshal(a.body, &v))
		require.NoError(c.t, c.doc.Components.Schemas["Problem"].Value.VisitJSON(v, openapi3.EnableJSONSchema2020()), "%s", a.body)
		return
	}
	err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 a.status,
		Header:                 a.header,
		Body:                   io.NopCloser(bytes.NewReader(a.body)),
		Options:                input.Options,
	})
	require.NoError(c.t, err, "%s %s → %d %s: the answer breaks the document", input.Request.Method, input.Request.URL.Path, a.status, a.body)
}

// apiEnv is a server of the API in front of two environments of the shared
// server, each with a worker: dev (devToken, devTaskToken for child-task
// only) and prod (prodToken).
type apiEnv struct {
	dev, prod                         *taskEnv
	devToken, prodToken, devTaskToken string
	api                               *apiClient
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	e := &apiEnv{
		dev: newTaskEnv(t, true), prod: newTaskEnv(t, true),
		devToken: "dev-" + unique("tok"), prodToken: "prod-" + unique("tok"), devTaskToken: "devtask-" + unique("tok"),
	}
	list := fmt.Sprintf("# test tokens\n%s %s\n%s %s\n%s %s child-task\n",
		httpapi.HashToken(e.devToken), e.dev.env, httpapi.HashToken(e.prodToken), e.prod.env, httpapi.HashToken(e.devTaskToken), e.dev.env)
	tokens, err := httpapi.ParseTokens(strings.NewReader(list))
	require.NoError(t, err)
	// The base starter is a third environment's: a token's environment is
	// the one its requests act in, never the base's.
	base := newStarter(t, starter.Options{Environment: unique("base"), Logger: shared.DiscardLogger()})
	h, err := httpapi.New(base, httpapi.Options{Tokens: tokens, MaxWait: 30 * time.Second, MaxBatchItems: 50})
	require.NoError(t, err)
	e.api = serveAPI(t, h)
	return e
}

// serveAPI serves h with the API binary's server settings on loopback.
func serveAPI(t *testing.T, h http.Handler) *apiClient {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.Config = apiapp.NewServer(h, 30*time.Second)
	ts.Start()
	t.Cleanup(ts.Close)
	return newAPIClient(t, ts.URL, nil)
}

func (e *apiEnv) trigger(t *testing.T, token, task, key, body string, header map[string]string) apiAnswer {
	t.Helper()
	hdr := map[string]string{}
	for k, v := range header {
		hdr[k] = v
	}
	if key != "" {
		hdr["Idempotency-Key"] = key
	}
	return e.api.do(apiCall{method: "POST", path: "/v1/tasks/" + task + "/trigger", token: token, header: hdr, ctype: "application/json", body: body})
}

func TestHTTPAPITriggerAndRead(t *testing.T) {
	e := newAPIEnv(t)
	ctx := testCtx(t, 3*time.Minute)
	keyText := unique("order")

	// A new key: 201, and the result when asked to wait.
	a := e.trigger(t, e.devToken, "hello", keyText, `{"payload": {"name": "Ada"}, "ttl": "1h", "wait": "30s"}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	first := a.json(t)
	require.Equal(t, false, first["cached"])
	require.Equal(t, "completed", first["status"])
	require.Equal(t, "Hello, Ada", first["result"])
	require.Equal(t, "ttl", first["expiryBound"])
	expires, err := time.Parse(time.RFC3339Nano, first["expiresAt"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(time.Hour), expires, time.Minute)
	wantKey, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, keyText)
	require.NoError(t, err)
	require.Equal(t, string(wantKey), first["key"], "text is hashed as the one-part key")
	require.Equal(t, e.dev.env+"/hello/"+string(wantKey), first["workflowId"])

	// The same key again: 200, the same run.
	a = e.trigger(t, e.devToken, "hello", keyText, `{"payload": {"name": "Ada"}}`, nil)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	again := a.json(t)
	require.Equal(t, true, again["cached"])
	require.Equal(t, first["runId"], again["runId"])
	require.Equal(t, first["id"], again["id"])
	require.NotContains(t, again, "result", "no wait, no result")

	// The Go API with the same key finds the same run.
	run, err := e.dev.starter.Trigger(ctx, "hello", map[string]string{"name": "Ada"}, starter.TriggerOptions{Key: idempotency.Parts{keyText}})
	require.NoError(t, err)
	require.True(t, run.Cached)
	require.Equal(t, first["runId"], run.RunID)

	// A 64-hex key is used as is.
	a = e.trigger(t, e.devToken, "hello", string(wantKey), `{"payload": {"name": "Ada"}}`, nil)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, first["runId"], a.json(t)["runId"])
	// In quotes (the IETF draft's sf-string), too.
	a = e.trigger(t, e.devToken, "hello", `"`+keyText+`"`, `{"payload": {"name": "Ada"}}`, nil)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, first["runId"], a.json(t)["runId"])

	// The run by its id.
	id := first["id"].(string)
	a = e.api.do(apiCall{method: "GET", path: "/v1/runs/" + id, token: e.devToken})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	got := a.json(t)
	require.Equal(t, "completed", got["status"])
	require.Equal(t, "Hello, Ada", got["result"])
	require.EqualValues(t, 1, got["attempts"])
	require.Equal(t, keyText, got["keyText"])
	require.NotEmpty(t, got["expiresAt"])

	// The key.
	a = e.api.do(apiCall{method: "GET", path: "/v1/tasks/hello/keys/" + url.PathEscape(keyText), token: e.devToken})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Equal(t, first["runId"], a.json(t)["runId"])
	require.Equal(t, id, a.json(t)["id"])
	a = e.api.do(apiCall{method: "GET", path: "/v1/tasks/hello/keys/" + string(wantKey), token: e.devToken})
	require.Equal(t, http.StatusOK, a.status)
	e.api.do(apiCall{method: "GET", path: "/v1/tasks/hello/keys/" + unique("nokey"), token: e.devToken}).problem(t, 404, httpapi.ProblemKeyNotFound)

	// The list (visibility may lag).
	eventually(t, 30*time.Second, "the run is listed", func() (bool, error) {
		a := e.api.do(apiCall{method: "GET", path: "/v1/tasks/hello/runs?limit=10", token: e.devToken})
		if a.status != http.StatusOK {
			return false, fmt.Errorf("%d %s", a.status, a.body)
		}
		var l struct{ Runs []map[string]any }
		if err := json.Unmarshal(a.body, &l); err != nil {
			return false, err
		}
		for _, r := range l.Runs {
			if r["id"] == id && r["status"] == "completed" && r["keyText"] == keyText {
				return true, nil
			}
		}
		return false, nil
	})

	// Reset: the next trigger starts a new run; the old id still reads.
	a = e.api.do(apiCall{method: "POST", path: "/v1/tasks/hello/keys/" + url.PathEscape(keyText) + "/reset", token: e.devToken})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Equal(t, true, a.json(t)["reset"])
	a = e.trigger(t, e.devToken, "hello", keyText, `{"payload": {"name": "Bob"}, "wait": "30s"}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	require.NotEqual(t, first["runId"], a.json(t)["runId"])
	require.Equal(t, "Hello, Bob", a.json(t)["result"])
	a = e.api.do(apiCall{method: "GET", path: "/v1/runs/" + id, token: e.devToken})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Equal(t, "completed", a.json(t)["status"])
	require.Equal(t, "Hello, Ada", a.json(t)["result"], "the replaced run is still readable by its id")

	// The effective expiry of a closed run: its TTL (30 days by default),
	// or its close time plus the namespace's retention when that is earlier.
	ns, err := e.dev.c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: srv.Namespace()})
	require.NoError(t, err)
	retention := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()
	key30d := unique("default-ttl")
	a = e.trigger(t, e.devToken, "hello", key30d, `{"payload": {"name": "Cy"}, "wait": "30s"}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	got = a.json(t)
	closed, err := time.Parse(time.RFC3339Nano, got["closedAt"].(string))
	require.NoError(t, err, "%s", a.body)
	expires, err = time.Parse(time.RFC3339Nano, got["expiresAt"].(string))
	require.NoError(t, err)
	if retention > 0 && retention < idempotency.DefaultTTL {
		require.Equal(t, "retention", got["expiryBound"])
		require.WithinDuration(t, closed.Add(retention), expires, time.Second)
	} else {
		require.Equal(t, "ttl", got["expiryBound"])
	}
}

// A run with attempts: my-task fails its first attempt, then completes; the
// run's id follows the chain (the worker's restart, the retry).
func TestHTTPAPIRunAttemptsAndFailure(t *testing.T) {
	e := newAPIEnv(t)
	a := e.trigger(t, e.devToken, "my-task", unique("k"), `{"payload": {"failAttempts": 1}}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	id := a.json(t)["id"].(string)
	a = e.api.do(apiCall{method: "GET", path: "/v1/runs/" + id + "?wait=30s", token: e.devToken})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	got := a.json(t)
	require.Equal(t, "completed", got["status"], "%s", a.body)
	require.EqualValues(t, 2, got["attempts"])
	require.NotEqual(t, got["runId"], got["currentRunId"])

	// An unkeyed run that fails for good: its failure.
	a = e.trigger(t, e.devToken, "failing-child", "", `{"wait": "30s"}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	got = a.json(t)
	require.Equal(t, "failed", got["status"], "%s", a.body)
	failure := got["failure"].(map[string]any)
	require.Equal(t, "ChildNope", failure["type"])
	require.Equal(t, "failing-child fails", failure["message"])
	require.Equal(t, true, failure["nonRetryable"])
	require.NotContains(t, got, "expiresAt", "an unkeyed run has no key to expire")
	a = e.api.do(apiCall{method: "GET", path: "/v1/runs/" + got["id"].(string), token: e.devToken})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Equal(t, "failed", a.json(t)["status"])
	require.Equal(t, "ChildNope", a.json(t)["failure"].(map[string]any)["type"])
}

// A run that stays running (its first task delayed): a bounded wait answers
// running; a reset without terminate is 409, with it 200.
func TestHTTPAPIRunningRun(t *testing.T) {
	e := newAPIEnv(t)
	ctx := testCtx(t, time.Minute)
	keyText := unique("slow")
	run, err := e.dev.starter.Trigger(ctx, "hello", map[string]string{"name": "Later"}, starter.TriggerOptions{Key: idempotency.Parts{keyText}, StartDelay: time.Hour})
	require.NoError(t, err)

	a := e.trigger(t, e.devToken, "hello", keyText, `{"payload": {"name": "Later"}, "wait": "1s"}`, nil)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	got := a.json(t)
	require.Equal(t, run.RunID, got["runId"])
	require.Equal(t, "running", got["status"])
	require.NotContains(t, got, "result")

	start := time.Now()
	a = e.api.do(apiCall{method: "GET", path: "/v1/runs/" + got["id"].(string) + "?wait=1500ms", token: e.devToken})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Equal(t, "running", a.json(t)["status"])
	require.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond, "it waited")
	require.Less(t, time.Since(start), 20*time.Second, "a bounded wait")

	reset := "/v1/tasks/hello/keys/" + url.PathEscape(keyText) + "/reset"
	e.api.do(apiCall{method: "POST", path: reset, token: e.devToken, ctype: "application/json", body: `{"terminate": false}`}).problem(t, 409, httpapi.ProblemRunRunning)
	a = e.api.do(apiCall{method: "POST", path: reset, token: e.devToken, ctype: "application/json", body: `{"terminate": true}`})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	a = e.api.do(apiCall{method: "GET", path: "/v1/runs/" + got["id"].(string), token: e.devToken})
	require.Equal(t, "terminated", a.json(t)["status"], "%s", a.body)
}

// A client's retry of a request with the same request ID never starts a
// second run, keyed or not; without one, each unkeyed trigger is a run.
func TestHTTPAPIRequestIDDedup(t *testing.T) {
	e := newAPIEnv(t)
	reqID := unique("req")
	a := e.trigger(t, e.devToken, "hello", "", `{"payload": {"name": "Ada"}}`, map[string]string{"X-Request-Id": reqID})
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	first := a.json(t)
	a = e.trigger(t, e.devToken, "hello", "", `{"payload": {"name": "Ada"}}`, map[string]string{"X-Request-Id": reqID})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Equal(t, first["runId"], a.json(t)["runId"])
	a = e.trigger(t, e.devToken, "hello", "", `{"payload": {"name": "Ada"}}`, map[string]string{"X-Trigger-Request-Idempotency-Key": reqID})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Equal(t, first["runId"], a.json(t)["runId"])
	// The same request ID with another body is not a retry of it: 422.
	e.trigger(t, e.devToken, "hello", "", `{"payload": {"name": "Eve"}}`, map[string]string{"X-Request-Id": reqID}).problem(t, 422, httpapi.ProblemKeyReused)

	// Unkeyed without a request ID: a new run each time.
	a1 := e.trigger(t, e.devToken, "hello", "", `{"payload": {"name": "Ada"}}`, nil)
	a2 := e.trigger(t, e.devToken, "hello", "", `{"payload": {"name": "Ada"}}`, nil)
	require.Equal(t, http.StatusCreated, a1.status)
	require.Equal(t, http.StatusCreated, a2.status)
	require.NotEqual(t, a1.json(t)["workflowId"], a2.json(t)["workflowId"])

	// A batch without a batch key uses the request ID as one.
	body := `[{"payload": {"name": "A"}}, {"payload": {"name": "B"}}]`
	call := apiCall{method: "POST", path: "/v1/tasks/hello/batch", token: e.devToken, ctype: "application/json", body: body, header: map[string]string{"X-Request-Id": unique("breq")}}
	b1 := batchItems(t, e.api.do(call))
	b2 := batchItems(t, e.api.do(call))
	for i := range b1 {
		require.EqualValues(t, 201, b1[i]["status"])
		require.EqualValues(t, 200, b2[i]["status"])
		require.Equal(t, b1[i]["runId"], b2[i]["runId"])
	}
}

func batchItems(t *testing.T, a apiAnswer) []map[string]any {
	t.Helper()
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var out struct{ Items []map[string]any }
	require.NoError(t, json.Unmarshal(a.body, &out))
	for i, it := range out.Items {
		require.EqualValues(t, i, it["index"])
	}
	return out.Items
}

func ndjsonItems(t *testing.T, body []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m), "%s", line)
		require.EqualValues(t, len(out), m["index"])
		out = append(out, m)
	}
	return out
}

// A batch as a JSON array and as NDJSON: per-item keys or the batch key,
// results in input order, bad items do not fail the others; the same batch
// key gives the same runs whichever the form, and as the Go API's.
func TestHTTPAPIBatch(t *testing.T) {
	e := newAPIEnv(t)
	ctx := testCtx(t, 2*time.Minute)
	batchKey := unique("batch")
	own := unique("own")
	items := []string{
		`{"payload": {"name": "A"}}`,
		`{"payload": {"name": "B"}, "key": "` + own + `", "ttl": "2h"}`,
		`{"payload": {"name": "C"}, "ttl": "soon"}`,
		`42`,
		`{"payload": {"name": "D"}, "colour": "red"}`,
		`{"payload": {"name": "A"}}`,
	}
	// Items 2, 3 and 4 break the document on purpose.
	call := apiCall{method: "POST", path: "/v1/tasks/hello/batch", token: e.devToken, ctype: "application/json",
		body: "[" + strings.Join(items, ",\n") + "]", header: map[string]string{"Idempotency-Key": batchKey}, invalid: true}
	got := batchItems(t, e.api.do(call))
	require.Len(t, got, len(items))
	for i, want := range []int{201, 201, 400, 400, 400, 201} {
		require.EqualValues(t, want, got[i]["status"], "item %d: %v", i, got[i])
	}
	require.Equal(t, httpapi.ProblemInvalidInput, got[2]["error"].(map[string]any)["type"])
	require.Equal(t, httpapi.ProblemInvalidJSON, got[3]["error"].(map[string]any)["type"])
	ownKey, _ := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, own)
	require.Equal(t, string(ownKey), got[1]["key"])
	require.NotEqual(t, got[0]["runId"], got[5]["runId"], "items 0 and 5 have keys of their index")

	// Again: the same runs, cached.
	again := batchItems(t, e.api.do(call))
	for _, i := range []int{0, 1, 5} {
		require.EqualValues(t, 200, again[i]["status"])
		require.Equal(t, got[i]["runId"], again[i]["runId"])
	}

	// The same batch key in Go: the same runs.
	bk, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, batchKey)
	require.NoError(t, err)
	goItems := make([]starter.BatchItem, 6)
	for i := range goItems {
		goItems[i] = starter.BatchItem{Payload: map[string]string{"name": "x"}}
	}
	res, err := e.dev.starter.BatchTrigger(ctx, "hello", goItems, starter.BatchOptions{BatchKey: idempotency.Parts{batchKey}})
	require.NoError(t, err)
	for _, i := range []int{0, 5} {
		require.NoError(t, res[i].Err)
		require.True(t, res[i].Run.Cached)
		require.Equal(t, got[i]["runId"], res[i].Run.RunID)
		itemKey, err := idempotency.BatchItemKey(bk, i)
		require.NoError(t, err)
		require.Equal(t, string(itemKey), got[i]["key"])
	}

	// NDJSON with the same batch key: the same runs, streamed in order.
	nd := call
	nd.ctype = "application/x-ndjson"
	nd.body = strings.Join(items, "\n") + "\n"
	a := e.api.do(nd)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Equal(t, "application/x-ndjson", a.header.Get("Content-Type"))
	lines := ndjsonItems(t, a.body)
	require.Len(t, lines, len(items))
	for i, want := range []int{200, 200, 400, 400, 400, 200} {
		require.EqualValues(t, want, lines[i]["status"], "line %d: %v", i, lines[i])
	}
	for _, i := range []int{0, 1, 5} {
		require.Equal(t, got[i]["runId"], lines[i]["runId"])
	}

	// Too many items: 413 for an array; for a stream, a last line says so.
	many := "[" + strings.Repeat(`{"payload": 1},`, 50) + `{"payload": 1}]`
	e.api.do(apiCall{method: "POST", path: "/v1/tasks/hello/batch", token: e.devToken, ctype: "application/json", body: many}).problem(t, 413, httpapi.ProblemPayloadTooLarge)
}

// An NDJSON batch is answered line by line while the client still sends:
// the answer to the first item arrives before the second item is sent.
func TestHTTPAPIBatchStreams(t *testing.T) {
	e := newAPIEnv(t)
	pr, pw := io.Pipe()
	ctx := testCtx(t, time.Minute)
	req, err := http.NewRequestWithContext(ctx, "POST", e.api.base+"/v1/tasks/hello/batch", pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.devToken)
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Idempotency-Key", unique("stream"))
	type result struct {
		resp *http.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := e.api.http.Do(req)
		done <- result{resp, err}
	}()
	_, err = pw.Write([]byte(`{"payload": {"name": "first"}}` + "\n"))
	require.NoError(t, err)
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("no answer headers while the batch is open")
	}
	require.NoError(t, r.err)
	defer r.resp.Body.Close()
	require.Equal(t, http.StatusOK, r.resp.StatusCode)
	lines := bufio.NewReader(r.resp.Body)
	lineCh := make(chan string, 4)
	go func() {
		for {
			l, err := lines.ReadString('\n')
			if err != nil {
				close(lineCh)
				return
			}
			lineCh <- l
		}
	}()
	var all []string
	select {
	case l := <-lineCh:
		all = append(all, l)
		require.Contains(t, l, `"index":0`)
	case <-time.After(30 * time.Second):
		t.Fatal("the first item's answer did not come while the stream was open")
	}
	_, err = pw.Write([]byte(`{"payload": {"name": "second"}}` + "\n"))
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	for l := range lineCh {
		all = append(all, l)
	}
	items := ndjsonItems(t, []byte(strings.Join(all, "")))
	require.Len(t, items, 2)
	for _, it := range items {
		require.EqualValues(t, 201, it["status"])
	}
	// The whole answer, as the document describes it.
	input := e.api.validateRequest(req.Clone(ctx), apiCall{method: "POST", path: "/v1/tasks/hello/batch", invalid: true})
	e.api.validateResponse(input, apiAnswer{status: 200, header: r.resp.Header, body: []byte(strings.Join(all, ""))})
}

// Strict mode: the same key with another payload is 422; field order does
// not matter.
func TestHTTPAPIStrict(t *testing.T) {
	e := newAPIEnv(t)
	key := unique("strict")
	a := e.trigger(t, e.devToken, "hello", key, `{"payload": {"name": "Ada", "x": 1}, "strict": true}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	a = e.trigger(t, e.devToken, "hello", key, `{"payload": {"x": 1, "name": "Ada"}, "strict": true}`, nil)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	e.trigger(t, e.devToken, "hello", key, `{"payload": {"name": "Eve"}, "strict": true}`, nil).problem(t, 422, httpapi.ProblemKeyReused)
	a = e.trigger(t, e.devToken, "hello", key, `{"payload": {"name": "Eve"}}`, nil)
	require.Equal(t, http.StatusOK, a.status, "not strict: the cached run")
}

// A dev token never triggers, reads, lists or resets a prod run: every
// route answers 404 (or acts in dev).
func TestHTTPAPIEnvironmentIsolation(t *testing.T) {
	e := newAPIEnv(t)
	key := unique("iso")
	a := e.trigger(t, e.prodToken, "hello", key, `{"payload": {"name": "Prod"}, "wait": "30s"}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	prodRun := a.json(t)
	require.True(t, strings.HasPrefix(prodRun["workflowId"].(string), e.prod.env+"/"))
	prodID := prodRun["id"].(string)

	// Read: 404.
	e.api.do(apiCall{method: "GET", path: "/v1/runs/" + prodID, token: e.devToken}).problem(t, 404, httpapi.ProblemRunNotFound)
	e.api.do(apiCall{method: "GET", path: "/v1/runs/" + prodID + "?wait=1s", token: e.devToken}).problem(t, 404, httpapi.ProblemRunNotFound)
	e.api.do(apiCall{method: "GET", path: "/v1/tasks/hello/keys/" + key, token: e.devToken}).problem(t, 404, httpapi.ProblemKeyNotFound)
	// Reset: 404, and the prod key still holds its run.
	e.api.do(apiCall{method: "POST", path: "/v1/tasks/hello/keys/" + key + "/reset", token: e.devToken, ctype: "application/json", body: `{"terminate": true}`}).problem(t, 404, httpapi.ProblemKeyNotFound)
	a = e.api.do(apiCall{method: "GET", path: "/v1/tasks/hello/keys/" + key, token: e.prodToken})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Equal(t, prodRun["runId"], a.json(t)["runId"])
	require.NotEqual(t, true, a.json(t)["reset"])
	// List: not there.
	eventually(t, 30*time.Second, "prod lists its run", func() (bool, error) {
		a := e.api.do(apiCall{method: "GET", path: "/v1/tasks/hello/runs", token: e.prodToken})
		return bytes.Contains(a.body, []byte(prodID)), nil
	})
	a = e.api.do(apiCall{method: "GET", path: "/v1/tasks/hello/runs", token: e.devToken})
	require.Equal(t, http.StatusOK, a.status)
	require.NotContains(t, string(a.body), prodRun["runId"].(string))
	// Trigger and batch with the prod key: new dev runs, never the prod one.
	a = e.trigger(t, e.devToken, "hello", key, `{"payload": {"name": "Dev"}}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	require.True(t, strings.HasPrefix(a.json(t)["workflowId"].(string), e.dev.env+"/"))
	require.NotEqual(t, prodRun["runId"], a.json(t)["runId"])
	b := batchItems(t, e.api.do(apiCall{method: "POST", path: "/v1/tasks/hello/batch", token: e.devToken, ctype: "application/json", body: `[{"payload": 1, "key": "` + key + `"}]`}))
	require.NotEqual(t, prodRun["runId"], b[0]["runId"])
	require.True(t, strings.HasPrefix(b[0]["workflowId"].(string), e.dev.env+"/"))

	// A token bound to a task: any other task is unknown.
	e.trigger(t, e.devTaskToken, "hello", "", `{}`, nil).problem(t, 404, httpapi.ProblemUnknownTask)
	e.api.do(apiCall{method: "GET", path: "/v1/runs/" + prodID, token: e.devTaskToken}).problem(t, 404, httpapi.ProblemRunNotFound)
	a = e.trigger(t, e.devTaskToken, "child-task", "", `{"payload": {"x": 1}}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
}

// The error rows of issue 23, each with its problem type and status.
func TestHTTPAPIErrors(t *testing.T) {
	e := newAPIEnv(t)
	tok := e.devToken
	trig := "/v1/tasks/hello/trigger"

	p := e.api.do(apiCall{method: "POST", path: trig, token: tok, ctype: "application/json", body: "{\n  \"payload\": {\"name\": \"Ada\"},,\n}", invalid: true}).problem(t, 400, httpapi.ProblemInvalidJSON)
	require.EqualValues(t, 2, p["line"])
	require.EqualValues(t, 30, p["column"])
	e.api.do(apiCall{method: "POST", path: trig, token: tok, ctype: "application/json", body: `{"ttl": "-1h"}`, invalid: true}).problem(t, 400, httpapi.ProblemInvalidInput)
	e.api.do(apiCall{method: "POST", path: trig, token: tok, ctype: "application/json", body: `{"wait": "10m"}`}).problem(t, 400, httpapi.ProblemInvalidInput)
	e.api.do(apiCall{method: "POST", path: trig, token: tok, ctype: "application/json", body: `{"strict": "yes"}`, invalid: true}).problem(t, 400, httpapi.ProblemInvalidJSON)
	e.trigger(t, tok, "hello", strings.Repeat("k", 3000), `{}`, nil).problem(t, 400, httpapi.ProblemInvalidInput)
	e.api.do(apiCall{method: "GET", path: "/v1/tasks/hello/runs?limit=5000", token: tok, invalid: true}).problem(t, 400, httpapi.ProblemInvalidInput)

	e.api.do(apiCall{method: "POST", path: trig, ctype: "application/json", body: `{}`, invalid: true}).problem(t, 401, httpapi.ProblemUnauthorized)
	a := e.api.do(apiCall{method: "POST", path: trig, token: "not-a-token", ctype: "application/json", body: `{}`})
	a.problem(t, 401, httpapi.ProblemUnauthorized)
	require.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer")
	for _, path := range []string{"/v1/runs/run_x", "/v1/tasks/hello/runs", "/v1/tasks/hello/keys/k"} {
		e.api.do(apiCall{method: "GET", path: path, invalid: true}).problem(t, 401, httpapi.ProblemUnauthorized)
	}

	e.api.do(apiCall{method: "POST", path: "/v1/tasks/bad%20task/trigger", token: tok, ctype: "application/json", body: `{}`}).problem(t, 404, httpapi.ProblemUnknownTask)
	e.api.do(apiCall{method: "GET", path: "/v1/runs/run_nonsense", token: tok}).problem(t, 404, httpapi.ProblemRunNotFound)
	e.api.do(apiCall{method: "GET", path: "/v1/runs/" + httpapi.EncodeRunID(httpapi.RunRef{Task: "hello", Suffix: unique("gone"), FirstRunID: "0190c3b4-7c1e-7000-8000-000000000001"}), token: tok}).problem(t, 404, httpapi.ProblemRunNotFound)
	e.api.do(apiCall{method: "GET", path: "/v2/tasks", token: tok, invalid: true}).problem(t, 404, httpapi.ProblemNotFound)

	a = e.api.do(apiCall{method: "GET", path: trig, token: tok, invalid: true})
	a.problem(t, 405, httpapi.ProblemMethodNotAllowed)
	require.Equal(t, "POST", a.header.Get("Allow"))
	e.api.do(apiCall{method: "DELETE", path: "/v1/runs/run_x", token: tok, invalid: true}).problem(t, 405, httpapi.ProblemMethodNotAllowed)

	// 413: a payload over the starter's limit (2 MiB), and a body over it
	// and the envelope.
	big := strings.Repeat("x", starter.DefaultMaxPayloadBytes)
	p = e.api.do(apiCall{method: "POST", path: trig, token: tok, ctype: "application/json", body: `{"payload": "` + big + `"}`}).problem(t, 413, httpapi.ProblemPayloadTooLarge)
	require.Contains(t, p["detail"], "limit")
	e.api.do(apiCall{method: "POST", path: trig, token: tok, ctype: "application/json", body: `{"payload": "` + big + strings.Repeat("y", httpapi.Envelope) + `"}`}).problem(t, 413, httpapi.ProblemPayloadTooLarge)

	e.api.do(apiCall{method: "POST", path: trig, token: tok, ctype: "text/plain", body: "hello", invalid: true}).problem(t, 415, httpapi.ProblemUnsupportedMediaType)
	e.api.do(apiCall{method: "POST", path: "/v1/tasks/hello/batch", token: tok, ctype: "application/xml", body: "<a/>", invalid: true}).problem(t, 415, httpapi.ProblemUnsupportedMediaType)
	// No body at all is a trigger with a null payload.
	a = e.api.do(apiCall{method: "POST", path: "/v1/tasks/child-task/trigger", token: tok})
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
}

// 429 and 503 with Retry-After: a server that sheds load, and one that
// cannot be reached.
func TestHTTPAPIUnavailable(t *testing.T) {
	dead, err := starter.NewLazy(client.Options{HostPort: "127.0.0.1:1", Logger: shared.DiscardLogger()},
		starter.Options{Environment: "dev", RequestTimeout: 2 * time.Second, Logger: shared.DiscardLogger()})
	require.NoError(t, err)
	t.Cleanup(dead.Close)
	h, err := httpapi.New(dead, httpapi.Options{AllowUnauthenticated: true})
	require.NoError(t, err)
	api := serveAPI(t, h)
	api.doc.Security = nil // no tokens here
	for _, call := range []apiCall{
		{method: "POST", path: "/v1/tasks/hello/trigger", ctype: "application/json", body: `{}`, invalid: true},
		{method: "GET", path: "/v1/tasks/hello/keys/k", invalid: true},
	} {
		a := api.do(call)
		a.problem(t, 503, httpapi.ProblemUnavailable)
		require.Equal(t, "1", a.header.Get("Retry-After"))
	}

	shedding := newSheddingStarter(t)
	h, err = httpapi.New(shedding, httpapi.Options{AllowUnauthenticated: true})
	require.NoError(t, err)
	api = serveAPI(t, h)
	// Once's reads (a key's lookup) answer the last ResourceExhausted when
	// the deadline stops their retries: 429.
	a := api.do(apiCall{method: "GET", path: "/v1/tasks/hello/keys/" + unique("k"), invalid: true})
	a.problem(t, 429, httpapi.ProblemRateLimited)
	require.Equal(t, "1", a.header.Get("Retry-After"))
	// A start is the SDK client's, which asks again until the deadline and
	// then answers that: 503.
	a = api.do(apiCall{method: "POST", path: "/v1/tasks/hello/trigger", ctype: "application/json", body: `{}`, header: map[string]string{"Idempotency-Key": unique("k")}, invalid: true})
	a.problem(t, 503, httpapi.ProblemUnavailable)
	require.Equal(t, "1", a.header.Get("Retry-After"))
}

// The payloads a codec'd client triggers over HTTP are stored encoded, as
// the Go API's: no payload, key text or result in a raw history in
// plaintext.
func TestHTTPAPICodec(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	registerNamespace(t, ctx, secureNamespace)
	env := unique("hsec")
	s := dialSecure(t, secureNamespace, starter.Options{Environment: env, Logger: shared.DiscardLogger()})
	startSecureWorker(t, s)
	h, err := httpapi.New(s, httpapi.Options{AllowUnauthenticated: true})
	require.NoError(t, err)
	api := serveAPI(t, h)
	api.doc.Security = nil

	a := api.do(apiCall{method: "POST", path: "/v1/tasks/" + secureEcho.ID() + "/trigger", ctype: "application/json",
		header: map[string]string{"Idempotency-Key": secretKeyText + "-" + unique("h")},
		body:   `{"payload": {"customer": "` + secretCustomer + `"}, "wait": "30s", "strict": true}`})
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	got := a.json(t)
	require.Equal(t, secretCustomer, got["result"].(map[string]any)["customer"], "the result decodes through the codec")
	raw := dial(t, srv.Address(), secureNamespace)
	requireNoPlaintext(t, ctx, raw, got["workflowId"].(string), got["runId"].(string))

	b := batchItems(t, api.do(apiCall{method: "POST", path: "/v1/tasks/" + secureEcho.ID() + "/batch", ctype: "application/json",
		body: `[{"payload": {"customer": "` + secretBatch + `"}}]`}))
	require.EqualValues(t, 201, b[0]["status"], "%v", b[0])
	requireNoPlaintext(t, ctx, raw, b[0]["workflowId"].(string), b[0]["runId"].(string))

	a = api.do(apiCall{method: "GET", path: "/v1/runs/" + got["id"].(string)})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Contains(t, a.json(t)["keyText"], secretKeyText, "the memo decodes through the codec")
}

// startSecureWorker runs the secure tasks on s's namespace and environment.
func startSecureWorker(t *testing.T, s *starter.Client) {
	t.Helper()
	w, err := worker.New(s, worker.Options{
		Tasks:  []workflows.Definition{secureEcho, secureParent, secureActivityParent},
		Logger: shared.DiscardLogger(),
	})
	require.NoError(t, err)
	w.RegisterActivity(&secureActivities{starter: w.Starter()})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
}

// newSheddingStarter is a starter on the shared server whose starts and
// describes the server turns away (ResourceExhausted, as a namespace's rate
// limit does), with a short request timeout.
func newSheddingStarter(t *testing.T) *starter.Client {
	t.Helper()
	copts := sharedClientOptions()
	copts.ConnectionOptions.DialOptions = append(copts.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if strings.HasSuffix(method, "/StartWorkflowExecution") || strings.HasSuffix(method, "/DescribeWorkflowExecution") {
				return serviceerror.ToStatus(serviceerror.NewResourceExhausted(enumspb.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT, "namespace rate limit exceeded")).Err()
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
	return mustDialStarter(t, copts, starter.Options{Environment: unique("shed"), RequestTimeout: 2 * time.Second, Logger: shared.DiscardLogger()})
}
