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
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once/cmd/internal/apiapp"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/starter/httpapi"
)

// trigger.dev's own SDK against Once (issue 24): cmd/internal/e2e/triggerdev
// pins @trigger.dev/sdk (package-lock.json) and drives it against the HTTP
// API on the shared server with a worker of Once's tasks (node --test). Each
// check the SDK makes is then verified from Go, against Temporal: how many
// runs each key has.

// TestTriggerDevSDK installs Node.js and npm from Debian's packages when
// they are missing, installs the SDK with npm ci, and fails when Node fails:
// it never skips.
func TestTriggerDevSDK(t *testing.T) {
	ctx := testCtx(t, 8*time.Minute)
	dir, err := filepath.Abs("triggerdev")
	require.NoError(t, err)
	ensureNode(t, ctx)
	npm := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	npm.Dir = dir
	out, err := npm.CombinedOutput()
	require.NoError(t, err, "npm ci: %s", out)

	e := newTaskEnv(t, true)
	token := "tr_dev_" + strings.ReplaceAll(unique("tok"), "-", "")
	tokens, err := httpapi.ParseTokens(strings.NewReader(httpapi.HashToken(token) + " " + e.env + "\n"))
	require.NoError(t, err)
	h, err := httpapi.New(e.starter, httpapi.Options{Tokens: tokens, MaxWait: 30 * time.Second})
	require.NoError(t, err)
	api := httptest.NewUnstartedServer(h)
	api.Config = apiapp.NewServer(h, 30*time.Second)
	api.Start()
	t.Cleanup(api.Close)
	// Every exchange of the SDK goes through a proxy that records it, to be
	// checked against the OpenAPI document; the flaky one also answers 500
	// to the first POST of each route (after the API has handled it).
	direct := newRecordingProxy(t, api.URL, false)
	flaky := newRecordingProxy(t, api.URL, true)

	reportPath := filepath.Join(t.TempDir(), "report.ndjson")
	node := exec.CommandContext(ctx, "node", "--test", "--test-reporter=spec")
	node.Dir = dir
	node.Env = append(os.Environ(),
		"TRIGGER_API_URL="+direct.URL(),
		"TRIGGER_SECRET_KEY="+token,
		"ONCE_FLAKY_URL="+flaky.URL(),
		"ONCE_REPORT="+reportPath,
	)
	out, err = node.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	require.NoError(t, err, "the SDK's tests failed (output above)")

	// From Go: each key has the runs the SDK saw.
	entries := readReport(t, reportPath)
	require.NotEmpty(t, entries)
	cases := map[string]bool{}
	for _, en := range entries {
		cases[en.Case] = true
		if en.Case == "debounce" {
			// The burst's run: its key is its workflow ID's suffix.
			ref, err := httpapi.DecodeRunID(en.IDs[0])
			require.NoError(t, err)
			require.True(t, ref.Debounced(), "a debounced trigger's id")
			en.Key = ref.Suffix
		}
		if en.Case == "flaky-trigger" {
			// Keyed by the request ID the proxy saw on both tries.
			ids := flaky.requestIDs("/api/v1/tasks/fast-child/trigger")
			require.Len(t, ids, 1, "both tries of the trigger carried one request ID")
			k, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "once-http-request", ids[0])
			require.NoError(t, err)
			en.Key = string(k)
		}
		if en.Parts != nil {
			want, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, en.Parts...)
			require.NoError(t, err)
			require.Equal(t, string(want), en.Key, "idempotencyKeys.create(%q) is Once's key of the same parts", en.Parts)
		}
		if en.BatchKey != "" {
			want, err := idempotency.BatchItemKey(idempotency.Key(en.BatchKey), en.Index)
			require.NoError(t, err)
			require.Equal(t, string(want), en.Key, "the SDK's batch item key is Once's BatchItemKey")
		}
		requireKeyRuns(t, ctx, e, en)
		if en.GoTrigger {
			run, err := e.starter.Trigger(ctx, en.Task, map[string]string{"name": "Go"}, starter.TriggerOptions{Key: idempotency.Parts(en.Parts)})
			require.NoError(t, err)
			require.True(t, run.Cached, "case %s: the Go API finds the SDK's run", en.Case)
			ref, err := httpapi.DecodeRunID(en.IDs[0])
			require.NoError(t, err)
			require.Equal(t, ref.FirstRunID, run.RunID)
		}
	}
	for _, c := range []string{"twice", "parts", "text-key", "delay", "debounce", "concurrent", "ttl", "failed", "date", "reset", "batch", "items", "flaky-trigger", "flaky-batch", "wrong-token"} {
		require.True(t, cases[c], "the SDK's tests reported %q", c)
	}
	require.Equal(t, 3, flaky.injected(), "a 500 was injected on the trigger, the batch and the items call")

	// Every request the SDK made and every answer of the API (the injected
	// 500s aside) is what the OpenAPI document says.
	doc := newAPIClient(t, api.URL, nil)
	exchanges := append(direct.recorded(), flaky.recorded()...)
	require.NotEmpty(t, exchanges)
	routes := map[string]bool{}
	for _, x := range exchanges {
		req, err := http.NewRequest(x.method, api.URL+x.uri, bytes.NewReader(x.reqBody))
		require.NoError(t, err)
		req.Header = x.reqHeader.Clone()
		call := apiCall{method: x.method, path: x.uri, body: string(x.reqBody)}
		input := doc.validateRequest(req, call)
		require.NotNil(t, input, "%s %s: a route of the document", x.method, x.uri)
		routes[input.Route.Method+" "+input.Route.Path] = true
		doc.validateResponse(input, apiAnswer{status: x.status, header: x.respHeader, body: x.respBody})
	}
	for _, r := range []string{"POST /api/v1/tasks/{task}/trigger", "POST /api/v3/batches", "POST /api/v3/batches/{batch}/items",
		"GET /api/v3/runs/{id}", "POST /api/v1/idempotencyKeys/{key}/reset"} {
		require.True(t, routes[r], "the SDK called %s", r)
	}
}

// TestTriggerDevFailureRelease: starter.FailureRelease, the key lifecycle of
// the trigger.dev routes, against the server: a run that failed, timed out or
// was terminated releases its key, and concurrent callers that find it get
// one new run, which exactly one of them started (while it runs); a
// completed or canceled run keeps it.
func TestTriggerDevFailureRelease(t *testing.T) {
	e := newStarterEnv(t, starter.Options{})
	ctx := testCtx(t, 3*time.Minute)
	for _, tc := range []struct {
		name, task string
		close      func(t *testing.T, run *starter.Run)
		release    bool
	}{
		// One caller: "fail" fails at once, so the new run may have failed
		// too before a slower caller finds it, which then replaces it in
		// turn (trigger.dev's lifecycle; see the starter's package doc).
		{"failed", "fail", nil, true},
		{"timed out", sleepyOneSecond.ID(), nil, true},
		{"terminated", "sleepy", func(t *testing.T, run *starter.Run) {
			require.NoError(t, e.c.TerminateWorkflow(ctx, run.WorkflowID, run.RunID, "test"))
		}, true},
		{"completed", "echo", nil, false},
		{"canceled", "sleepy", func(t *testing.T, run *starter.Run) {
			require.NoError(t, e.c.CancelWorkflow(ctx, run.WorkflowID, run.RunID))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := starter.TriggerOptions{Key: key(unique("release")), OnFailure: starter.FailureRelease}
			first, err := e.s.Trigger(ctx, tc.task, map[string]any{"n": 1}, opts)
			require.NoError(t, err)
			require.False(t, first.Cached)
			if tc.close != nil {
				tc.close(t, first)
			}
			_ = first.Get(ctx, nil) // closed, however it closed

			var wg sync.WaitGroup
			callers := 5
			if tc.task == "fail" {
				callers = 1
			}
			runs := make([]*starter.Run, callers)
			errs := make([]error, len(runs))
			for i := range runs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					runs[i], errs[i] = e.s.Trigger(ctx, tc.task, map[string]any{"n": 2}, opts)
				}()
			}
			wg.Wait()
			started := 0
			for i, r := range runs {
				require.NoError(t, errs[i])
				require.Equal(t, runs[0].RunID, r.RunID, "one run for every caller")
				if !r.Cached {
					started++
				}
			}
			if tc.release {
				require.NotEqual(t, first.RunID, runs[0].RunID, "the key was released")
				require.Equal(t, 1, started, "exactly one caller started the new run")
			} else {
				require.Equal(t, first.RunID, runs[0].RunID, "the key was kept")
				require.Zero(t, started)
			}
			if tc.task != sleepyOneSecond.ID() { // a Once task: the worker restarts its runs (more executions)
				want := int64(1)
				if tc.release {
					want = 2
				}
				countRuns(t, e.c, runsOf(first.WorkflowID), want)
			}
		})
	}
}

// reportEntry is one line of the Node tests' report (sdk.test.js).
type reportEntry struct {
	Case     string   `json:"case"`
	Task     string   `json:"task"`
	Key      string   `json:"key"`
	Runs     int      `json:"runs"`
	IDs      []string `json:"ids"`
	Parts    []string `json:"parts"`
	KeyText  string   `json:"keyText"`
	BatchKey string   `json:"batchKey"`
	Index    int      `json:"index"`
	// GoTrigger: the Go API triggering Parts finds the run (Cached).
	GoTrigger bool `json:"goTrigger"`
}

func readReport(t *testing.T, path string) []*reportEntry {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err, "the Node tests wrote no report")
	defer f.Close()
	var out []*reportEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var en reportEntry
		require.NoError(t, json.Unmarshal(sc.Bytes(), &en), "%s", sc.Bytes())
		out = append(out, &en)
	}
	require.NoError(t, sc.Err())
	return out
}

// requireKeyRuns: the key of en has exactly en.Runs runs of en.Task (reset
// markers aside), listed by visibility, and en.IDs are among them.
func requireKeyRuns(t *testing.T, ctx context.Context, e *taskEnv, en *reportEntry) {
	t.Helper()
	k, err := idempotency.ParseKey(en.Key)
	require.NoError(t, err, "case %s", en.Case)
	workflowID, err := idempotency.WorkflowID(e.env, en.Task, k)
	require.NoError(t, err)
	runsOfKey := func() (map[string]starter.RunSummary, error) {
		all, err := e.starter.ListRuns(ctx, en.Task, starter.ListOptions{Limit: 1000})
		if err != nil {
			return nil, err
		}
		out := map[string]starter.RunSummary{}
		for _, r := range all {
			if r.WorkflowID == workflowID && !r.Reset && r.RunID != "" {
				out[r.RunID] = r
			}
		}
		return out, nil
	}
	what := fmt.Sprintf("case %s: %d runs of %s", en.Case, en.Runs, workflowID)
	eventually(t, 30*time.Second, what, func() (bool, error) {
		got, err := runsOfKey()
		return len(got) >= en.Runs, err
	})
	time.Sleep(300 * time.Millisecond)
	got, err := runsOfKey()
	require.NoError(t, err)
	require.Len(t, got, en.Runs, what)
	for _, id := range en.IDs {
		ref, err := httpapi.DecodeRunID(id)
		require.NoError(t, err, "case %s: run id %s", en.Case, id)
		require.Equal(t, workflowID, ref.WorkflowID(e.env), "case %s", en.Case)
		if ref.Debounced() {
			continue // no run ID in it: the workflow ID names the run
		}
		require.Contains(t, got, ref.FirstRunID, "case %s: run %s", en.Case, id)
	}
	if en.KeyText != "" {
		for _, r := range got {
			require.Equal(t, en.KeyText, r.KeyText, "case %s: the memo holds the key's text", en.Case)
		}
	}
}

// recordingProxy forwards to the API and records every exchange; with
// inject, it answers 500 to the first POST of each trigger.dev route kind
// (trigger, batch, items) after the API has handled it: the SDK retries a
// request whose run already started.
type recordingProxy struct {
	srv    *httptest.Server
	inject bool

	mu        sync.Mutex
	failed    map[string]bool
	ids       map[string][]string // path → request IDs seen
	count     int
	exchanges []exchange
}

// exchange is one request and the API's answer to it.
type exchange struct {
	method, uri           string
	reqHeader, respHeader http.Header
	reqBody, respBody     []byte
	status                int
}

// bodyKey carries the buffer that records a request's body.
type bodyKey struct{}

func newRecordingProxy(t *testing.T, target string, inject bool) *recordingProxy {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	p := &recordingProxy{inject: inject, failed: map[string]bool{}, ids: map[string][]string{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.ModifyResponse = func(resp *http.Response) error {
		r := resp.Request
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		p.mu.Lock()
		defer p.mu.Unlock()
		if id := r.Header.Get("X-Trigger-Request-Idempotency-Key"); id != "" && r.Method == http.MethodPost {
			seen := p.ids[r.URL.Path]
			if len(seen) == 0 || seen[len(seen)-1] != id {
				p.ids[r.URL.Path] = append(seen, id)
			}
		}
		var reqBody []byte
		if buf, ok := r.Context().Value(bodyKey{}).(*bytes.Buffer); ok {
			reqBody = buf.Bytes()
		}
		p.exchanges = append(p.exchanges, exchange{
			method: r.Method, uri: r.URL.RequestURI(), reqHeader: r.Header.Clone(), reqBody: reqBody,
			status: resp.StatusCode, respHeader: resp.Header.Clone(), respBody: body,
		})
		kind := routeKind(r.URL.Path)
		if !p.inject || r.Method != http.MethodPost || kind == "" || p.failed[kind] || resp.StatusCode >= 300 {
			return nil
		}
		p.failed[kind] = true
		p.count++
		p.exchanges = p.exchanges[:len(p.exchanges)-1] // not the API's answer
		injected := []byte(`{"error":"injected by the test's proxy"}`)
		resp.StatusCode, resp.Status = http.StatusInternalServerError, "500 Internal Server Error"
		resp.Body = io.NopCloser(bytes.NewReader(injected))
		resp.ContentLength = int64(len(injected))
		resp.Header.Set("Content-Length", fmt.Sprint(len(injected)))
		resp.Header.Set("Content-Type", "application/json")
		return nil
	}
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The request's body, as the API reads it.
		buf := &bytes.Buffer{}
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(r.Body, buf), r.Body}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, buf)))
	})
	p.srv = httptest.NewServer(record)
	t.Cleanup(p.srv.Close)
	return p
}

func routeKind(path string) string {
	switch {
	case strings.HasPrefix(path, "/api/v1/tasks/") && strings.HasSuffix(path, "/trigger"):
		return "trigger"
	case path == "/api/v3/batches":
		return "batch"
	case strings.HasPrefix(path, "/api/v3/batches/") && strings.HasSuffix(path, "/items"):
		return "items"
	}
	return ""
}

func (p *recordingProxy) URL() string { return p.srv.URL }

func (p *recordingProxy) injected() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

func (p *recordingProxy) requestIDs(path string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.ids[path]...)
}

func (p *recordingProxy) recorded() []exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]exchange(nil), p.exchanges...)
}

// ensureNode installs Node.js and npm from Debian's packages when either is
// missing (as .ci/run installs docker-compose).
func ensureNode(t *testing.T, ctx context.Context) {
	t.Helper()
	_, nodeErr := exec.LookPath("node")
	_, npmErr := exec.LookPath("npm")
	if nodeErr == nil && npmErr == nil {
		return
	}
	t.Log("installing nodejs and npm (Debian packages)")
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{
		{"apt-get", "update", "-qq"},
		{"apt-get", "install", "-y", "-qq", "--no-install-recommends", "nodejs", "npm"},
	} {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", strings.Join(args, " "), out)
	}
}
