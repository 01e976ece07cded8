package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

func TestRunIDRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		ref  RunRef
	}{
		{"keyed", RunRef{Task: "hello", Suffix: strings.Repeat("ab", 32), FirstRunID: "0190c3b4-7c1e-7000-8000-000000000001"}},
		{"unkeyed", RunRef{Task: "send.email_v2", Suffix: "6f1c0b8e-1d2a-4b3c-9d4e-5f6a7b8c9d0e", FirstRunID: "r1"}},
		{"suffix with slashes", RunRef{Task: "t", Suffix: "a/b/c", FirstRunID: "r"}},
		{"debounced", RunRef{Task: "reindex", Suffix: strings.Repeat("cd", 32), Debouncer: "debounce-" + strings.Repeat("ef", 32), DebouncerRunID: "0190c3b4-7c1e-7000-8000-000000000002"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := EncodeRunID(tt.ref)
			require.True(t, strings.HasPrefix(id, "run_"))
			require.NotContains(t, id, "/")
			require.NotContains(t, id, "=")
			got, err := DecodeRunID(id)
			require.NoError(t, err)
			require.Equal(t, tt.ref, got)
			require.Equal(t, "prod/"+tt.ref.Task+"/"+tt.ref.Suffix, got.WorkflowID("prod"))
		})
	}
}

func TestDecodeRunIDRefuses(t *testing.T) {
	for _, id := range []string{
		"", "run_", "hello", "run_!!!", "run_" + b64("hello"), "run_" + b64("hello/r1"),
		"run_" + b64("/r1/suffix"), "run_" + b64("bad task/r1/suffix"), "run_" + b64("t//suffix"),
		"run_" + b64("t/r1/"), "RUN_" + b64("t/r1/s"),
	} {
		t.Run(id, func(t *testing.T) {
			_, err := DecodeRunID(id)
			require.ErrorIs(t, err, errBadRunID)
		})
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestDebouncedRunID(t *testing.T) {
	ref := RunRef{Task: "reindex", Suffix: strings.Repeat("cd", 32), Debouncer: "debounce-" + strings.Repeat("ef", 32), DebouncerRunID: "r.1"}
	got, err := DecodeRunID(EncodeRunID(ref))
	require.NoError(t, err)
	require.True(t, got.Debounced())
	require.Empty(t, got.FirstRunID, "no run ID until the debouncer starts the run")
	require.Equal(t, "dev/reindex/"+ref.Suffix, got.WorkflowID("dev"))
	require.Equal(t, "dev/reindex/"+ref.Debouncer, got.debouncerWorkflowID("dev"))
	require.Equal(t, "r.1", got.DebouncerRunID, "a run ID with dots")
	// A started run's id is not a debounced one.
	plain, err := DecodeRunID(EncodeRunID(RunRef{Task: "t", Suffix: "s", FirstRunID: "r"}))
	require.NoError(t, err)
	require.False(t, plain.Debounced())
	for _, raw := range []string{"t/d./s", "t/d.debounce-x/s", "t/d..r/s", "t/d.x./s"} {
		_, err := DecodeRunID("run_" + base64.RawURLEncoding.EncodeToString([]byte(raw)))
		require.ErrorIs(t, err, errBadRunID, raw)
	}
}

func TestTriggerRequestOptions(t *testing.T) {
	tests := []struct {
		name string
		body string
		want starter.TriggerOptions
		err  error
	}{
		{"onFailure release", `{"onFailure": "release"}`, starter.TriggerOptions{OnFailure: starter.FailureRelease}, nil},
		{"onFailure keep", `{"onFailure": "keep"}`, starter.TriggerOptions{OnFailure: starter.FailureKeep}, nil},
		{"onFailure absent: the task's", `{}`, starter.TriggerOptions{}, nil},
		{"onFailure bad", `{"onFailure": "retry"}`, starter.TriggerOptions{}, once.ErrInvalidFailurePolicy},
		{"debounce", `{"debounce": {"key": "user-7", "delay": "500ms", "maxDelay": "5s", "mode": "trailing"}}`,
			starter.TriggerOptions{Debounce: &starter.Debounce{Key: "user-7", Delay: 500 * time.Millisecond, MaxDelay: 5 * time.Second, Mode: once.DebounceTrailing}}, nil},
		{"debounce: bad delay", `{"debounce": {"key": "k", "delay": "5 seconds"}}`, starter.TriggerOptions{}, once.ErrInvalidDebounce},
		{"debounce: bad maxDelay", `{"debounce": {"key": "k", "delay": "1s", "maxDelay": "1d"}}`, starter.TriggerOptions{}, once.ErrInvalidDebounce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req triggerRequest
			require.Nil(t, decodeJSON([]byte(tt.body), &req))
			got, err := req.options(nil, false)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				require.ErrorIs(t, err, once.ErrInvalidInput)
				require.Equal(t, http.StatusBadRequest, ProblemFor(err).Status)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	var it batchItemRequest
	require.Nil(t, decodeJSON([]byte(`{"onFailure": "release"}`), &it))
	opts, err := itemOptions(&it, 0, "", false)
	require.NoError(t, err)
	require.Equal(t, starter.FailureRelease, opts.OnFailure)
	require.Nil(t, decodeJSON([]byte(`{"onFailure": "never"}`), &it))
	_, err = itemOptions(&it, 0, "", false)
	require.ErrorIs(t, err, once.ErrInvalidFailurePolicy)
}

func TestRunRefOf(t *testing.T) {
	ref, ok := runRefOf("dev/hello/abc", "r1")
	require.True(t, ok)
	require.Equal(t, RunRef{Task: "hello", Suffix: "abc", FirstRunID: "r1"}, ref)
	_, ok = runRefOf("not-once", "r1")
	require.False(t, ok)
	_, ok = runRefOf("dev/hello/abc", "")
	require.False(t, ok)
}

func TestParseTokens(t *testing.T) {
	hDev, hProd := HashToken("dev-secret"), HashToken("prod-secret")
	tests := []struct {
		name    string
		in      string
		want    []Token
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"comments and blanks", "# tokens\n\n   \n", nil, ""},
		{"two lines", hDev + " dev\n" + hProd + " prod send-invoice,refund\n", []Token{
			{Hash: hashOf(hDev), Environment: "dev"},
			{Hash: hashOf(hProd), Environment: "prod", Tasks: []string{"send-invoice", "refund"}},
		}, ""},
		{"semicolons (an environment variable)", hDev + " dev; " + hProd + " prod", []Token{
			{Hash: hashOf(hDev), Environment: "dev"}, {Hash: hashOf(hProd), Environment: "prod"},
		}, ""},
		{"upper-case hex", strings.ToUpper(hDev) + " dev", []Token{{Hash: hashOf(hDev), Environment: "dev"}}, ""},
		{"a token, not its hash", "dev-secret dev", nil, "line 1: the first field is not a SHA-256"},
		{"short hash", hDev[:63] + " dev", nil, "not a SHA-256"},
		{"no environment", hDev, nil, "want"},
		{"bad environment", hDev + " Prod", nil, "invalid environment"},
		{"bad task", hDev + " dev ok,bad/task", nil, "invalid task ID"},
		{"extra field", hDev + " dev a b", nil, "want"},
		{"the same hash twice", hDev + " dev\n" + hDev + " prod", nil, "line 2: the same token hash twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTokens(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidTokens)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func hashOf(h string) (out [32]byte) {
	var b []byte
	_, _ = fmt.Sscanf(h, "%x", &b)
	copy(out[:], b)
	return out
}

func TestMatchToken(t *testing.T) {
	tokens, err := ParseTokens(strings.NewReader(HashToken("a") + " dev\n" + HashToken("b") + " prod t1"))
	require.NoError(t, err)
	require.Equal(t, "dev", match(tokens, "a").Environment)
	p := match(tokens, "b")
	require.Equal(t, "prod", p.Environment)
	require.True(t, p.allows("t1"))
	require.False(t, p.allows("t2"))
	require.Nil(t, match(tokens, "c"))
	require.Nil(t, match(tokens, HashToken("a")), "the hash is not the token")
	require.Equal(t, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb", HashToken("a"))
}

func TestProblemFor(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		typ    string
	}{
		{"invalid TTL", fmt.Errorf("trigger x: %w", idempotency.ErrInvalidTTL), 400, ProblemInvalidInput},
		{"key too long", idempotency.ErrKeyTooLong, 400, ProblemInvalidInput},
		{"unknown task", fmt.Errorf("trigger x: %w", starter.ErrUnknownTask), 404, ProblemUnknownTask},
		{"no run for the key", starter.ErrNotFound, 404, ProblemKeyNotFound},
		{"run not found", serviceerror.NewNotFound("gone"), 404, ProblemRunNotFound},
		{"reset running", starter.ErrResetRunning, 409, ProblemRunRunning},
		{"payload too large", &starter.PayloadTooLargeError{Size: 3, Limit: 2}, 413, ProblemPayloadTooLarge},
		{"body too large", &http.MaxBytesError{Limit: 10}, 413, ProblemPayloadTooLarge},
		{"strict mismatch", fmt.Errorf("x: %w", starter.ErrKeyReusedWithDifferentPayload), 422, ProblemKeyReused},
		{"rate limited", serviceerror.NewResourceExhausted(0, "namespace rate limit exceeded"), 429, ProblemRateLimited},
		{"unreachable", starter.ErrServerUnreachable, 503, ProblemUnavailable},
		{"unavailable", serviceerror.NewUnavailable("down"), 503, ProblemUnavailable},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), 503, ProblemUnavailable},
		{"other", errors.New("boom"), 500, ProblemInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ProblemFor(tt.err)
			require.Equal(t, tt.status, p.Status)
			require.Equal(t, tt.typ, p.Type)
			require.NotEmpty(t, p.Title)
			require.True(t, strings.HasPrefix(p.Type, "urn:once:problem:"))
			if tt.status == 500 {
				require.NotContains(t, p.Detail, "boom", "internal errors are logged, not told")
			}
			rec := httptest.NewRecorder()
			writeProblem(rec, p)
			require.Equal(t, tt.status, rec.Code)
			require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			if tt.status == 429 || tt.status == 503 {
				require.Equal(t, "1", rec.Header().Get("Retry-After"))
			} else {
				require.Empty(t, rec.Header().Get("Retry-After"))
			}
		})
	}
}

// Every problem type has a title and a status, and the OpenAPI document
// lists it.
func TestProblemTypesDocumented(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(OpenAPI(), &doc))
	documented := doc.Components.Schemas["Problem"].Properties["type"].Enum
	require.Len(t, documented, len(problemTitles))
	for typ := range problemTitles {
		require.Contains(t, documented, typ)
		require.NotZero(t, problemStatus[typ], typ)
	}
}

func TestDecodeJSONPosition(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		line, col int
	}{
		{"syntax on line 2", "{\n  \"ttl\": \"1h\",,\n}", 2, 15},
		{"wrong type", "{\"strict\": \"yes\"}", 1, 17},
		{"unknown field", "{\"retry_failed\": true}", 1, 23},
		{"truncated", "{\"ttl\": \"1h\"", 1, 13},
		{"trailing data", "{} {}", 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req triggerRequest
			p := decodeJSON([]byte(tt.body), &req)
			require.NotNil(t, p)
			require.Equal(t, ProblemInvalidJSON, p.Type)
			require.Equal(t, 400, p.Status)
			require.Equal(t, tt.line, p.Line, p.Detail)
			require.Equal(t, tt.col, p.Column, p.Detail)
			require.Contains(t, p.Detail, fmt.Sprintf("line %d, column %d", tt.line, tt.col))
		})
	}
	var req triggerRequest
	require.Nil(t, decodeJSON([]byte(`{"payload": {"a": [1, 2]}, "ttl": "1h", "strict": true, "retryFailed": true, "wait": "1s"}`), &req))
	require.JSONEq(t, `{"a": [1, 2]}`, string(req.Payload))
}

func TestKeyInput(t *testing.T) {
	hex := strings.Repeat("0a", 32)
	require.Equal(t, idempotency.Key(hex), keyInput(hex))
	require.Equal(t, idempotency.Parts{"order-42"}, keyInput("order-42"))
	require.Equal(t, idempotency.Parts{strings.ToUpper(hex)}, keyInput(strings.ToUpper(hex)), "upper-case hex is text")
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set(HeaderIdempotencyKey, `"order-42"`)
	text, p := headerKey(r)
	require.Nil(t, p)
	require.Equal(t, "order-42", text)
	text, p = headerKey(httptest.NewRequest("POST", "/", nil))
	require.Nil(t, p)
	require.Empty(t, text, "no header: no key")
	for _, empty := range []string{"", "  ", `""`, `" "`} {
		_, p = headerKey(withHeader(HeaderIdempotencyKey, empty))
		require.NotNil(t, p, "%q", empty)
		require.Equal(t, ProblemInvalidInput, p.Type, "an empty key is not an unkeyed trigger")
	}
	require.Equal(t, ProblemInvalidJSON, ProblemFor(fmt.Errorf("read body: %w", io.ErrUnexpectedEOF)).Type, "a body cut short")
	require.Equal(t, ProblemInvalidJSON, ProblemFor(fmt.Errorf("read body: %w", os.ErrDeadlineExceeded)).Type, "a body too slow")
	k1, ok, err := requestKey(withHeader(HeaderRequestID, "req-1"))
	require.NoError(t, err)
	require.True(t, ok)
	k2, _, _ := requestKey(withHeader(HeaderTriggerRequestID, "req-1"))
	require.Equal(t, k1, k2, "both request-ID headers derive the same key")
	want, _ := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "once-http-request", "req-1")
	require.Equal(t, want, k1)
	_, ok, _ = requestKey(httptest.NewRequest("POST", "/", nil))
	require.False(t, ok)
}

func withHeader(name, value string) *http.Request {
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set(name, value)
	return r
}

func TestParseWait(t *testing.T) {
	d, p := parseWait("30s", DefaultMaxWait)
	require.Nil(t, p)
	require.Equal(t, "30s", d.String())
	for _, bad := range []string{"soon", "-1s", "2m"} {
		_, p := parseWait(bad, DefaultMaxWait)
		require.NotNil(t, p, bad)
		require.Equal(t, 400, p.Status)
	}
}

// lazyStarter is a starter that never connects (nothing here reaches a
// server).
func lazyStarter(tb testing.TB, env string) *starter.Client {
	tb.Helper()
	s, err := starter.NewLazy(client.Options{HostPort: "127.0.0.1:1"}, starter.Options{Environment: env, Tasks: []string{"hello"}, MaxPayloadBytes: 1024})
	require.NoError(tb, err)
	tb.Cleanup(s.Close)
	return s
}

func TestNewNeedsTokens(t *testing.T) {
	_, err := New(lazyStarter(t, "dev"), Options{})
	require.ErrorIs(t, err, ErrNoTokens)
	_, err = New(lazyStarter(t, "dev"), Options{AllowUnauthenticated: true})
	require.NoError(t, err)
}

// The answers that need no server: authentication, routing, methods, media
// types, malformed JSON, limits.
func TestHandlerWithoutServer(t *testing.T) {
	tokens, err := ParseTokens(strings.NewReader(HashToken("dev-token") + " dev\n" + HashToken("only-other") + " dev other"))
	require.NoError(t, err)
	h, err := New(lazyStarter(t, "dev"), Options{Tokens: tokens, MaxBatchItems: 2})
	require.NoError(t, err)
	tests := []struct {
		name, method, path, token, ctype, body string
		status                                 int
		typ                                    string
	}{
		{"no token", "POST", "/v1/tasks/hello/trigger", "", "application/json", "{}", 401, ProblemUnauthorized},
		{"wrong token", "POST", "/v1/tasks/hello/trigger", "nope", "application/json", "{}", 401, ProblemUnauthorized},
		{"the hash as token", "GET", "/v1/tasks/hello/runs", HashToken("dev-token"), "", "", 401, ProblemUnauthorized},
		{"no token for a run", "GET", "/v1/runs/run_x", "", "", "", 401, ProblemUnauthorized},
		{"unknown route", "GET", "/v2/nothing", "dev-token", "", "", 404, ProblemNotFound},
		{"invalid task", "POST", "/v1/tasks/bad%20task/trigger", "dev-token", "application/json", "{}", 404, ProblemUnknownTask},
		{"unknown task (starter's list)", "POST", "/v1/tasks/nope/trigger", "dev-token", "application/json", "{}", 404, ProblemUnknownTask},
		{"a task the token may not use", "POST", "/v1/tasks/hello/trigger", "only-other", "application/json", "{}", 404, ProblemUnknownTask},
		{"bad run id", "GET", "/v1/runs/nope", "dev-token", "", "", 404, ProblemRunNotFound},
		{"wrong method", "GET", "/v1/tasks/hello/trigger", "dev-token", "", "", 405, ProblemMethodNotAllowed},
		{"wrong method, no token", "DELETE", "/v1/runs/run_x", "", "", "", 405, ProblemMethodNotAllowed},
		{"wrong content type", "POST", "/v1/tasks/hello/trigger", "dev-token", "text/plain", "{}", 415, ProblemUnsupportedMediaType},
		{"batch: wrong content type", "POST", "/v1/tasks/hello/batch", "dev-token", "text/csv", "a,b", 415, ProblemUnsupportedMediaType},
		{"malformed JSON", "POST", "/v1/tasks/hello/trigger", "dev-token", "application/json", "{\n\"ttl\": }", 400, ProblemInvalidJSON},
		{"invalid TTL", "POST", "/v1/tasks/hello/trigger", "dev-token", "application/json", `{"ttl": "forever"}`, 400, ProblemInvalidInput},
		{"wait too long", "POST", "/v1/tasks/hello/trigger", "dev-token", "application/json", `{"wait": "1h"}`, 400, ProblemInvalidInput},
		{"payload over the limit", "POST", "/v1/tasks/hello/trigger", "dev-token", "application/json", `{"payload": "` + strings.Repeat("x", 1024) + `"}`, 413, ProblemPayloadTooLarge},
		{"body over the limit", "POST", "/v1/tasks/hello/trigger", "dev-token", "application/json", `{"payload": "` + strings.Repeat("x", 1024+Envelope) + `"}`, 413, ProblemPayloadTooLarge},
		{"too many batch items", "POST", "/v1/tasks/hello/batch", "dev-token", "application/json", `[{}, {}, {}]`, 413, ProblemPayloadTooLarge},
		{"batch not an array", "POST", "/v1/tasks/hello/batch", "dev-token", "application/json", `{}`, 400, ProblemInvalidJSON},
		{"bad limit", "GET", "/v1/tasks/hello/runs?limit=0", "dev-token", "", "", 400, ProblemInvalidInput},
		{"bad wait", "GET", "/v1/runs/" + EncodeRunID(RunRef{Task: "hello", Suffix: "k", FirstRunID: "r"}) + "?wait=x", "dev-token", "", "", 400, ProblemInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.token != "" {
				r.Header.Set("Authorization", "Bearer "+tt.token)
			}
			if tt.ctype != "" {
				r.Header.Set("Content-Type", tt.ctype)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			var p Problem
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			require.Equal(t, tt.typ, p.Type, p.Detail)
			require.Equal(t, tt.status, p.Status)
			if tt.status == 401 {
				require.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer")
			}
			if tt.status == 405 {
				require.NotEmpty(t, rec.Header().Get("Allow"))
			}
		})
	}
	t.Run("openapi without a token", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
		require.Equal(t, 200, rec.Code)
		require.JSONEq(t, string(OpenAPI()), rec.Body.String())
	})
}

func TestObserve(t *testing.T) {
	var route string
	var status int
	h, err := New(lazyStarter(t, "dev"), Options{AllowUnauthenticated: true, Observe: func(r string, s int, _ time.Duration) { route, status = r, s }})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/tasks/nope/runs", nil))
	require.Equal(t, "GET /v1/tasks/{task}/runs", route)
	require.Equal(t, 404, status)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/nowhere", nil))
	require.Equal(t, "none", route)
}
