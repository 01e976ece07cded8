package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// Payloads as @trigger.dev/sdk 4.8.3 sends them (superjson output recorded
// from the SDK's own superjson) decode to the plain JSON a task gets.
func TestTriggerDevPayload(t *testing.T) {
	tests := []struct {
		name, payloadType, raw, want string
		wantErr                      string
	}{
		{"superjson with a Date", "application/super+json",
			`"{\"json\":{\"at\":\"2024-01-02T03:04:05.678Z\",\"name\":\"x\"},\"meta\":{\"values\":{\"at\":[\"Date\"]}}}"`,
			`{"at":"2024-01-02T03:04:05.678Z","name":"x"}`, ""},
		{"superjson nested, undefined, NaN, bigint", "application/super+json",
			`"{\"json\":{\"a\":{\"d\":\"1970-01-01T00:00:00.000Z\",\"list\":[\"1970-01-01T00:00:00.001Z\",\"2\",null,\"NaN\"]},\"u\":null},\"meta\":{\"values\":{\"a.d\":[\"Date\"],\"a.list.0\":[\"Date\"],\"a.list.1\":[\"bigint\"],\"a.list.2\":[\"undefined\"],\"a.list.3\":[\"number\"],\"u\":[\"undefined\"]}}}"`,
			`{"a":{"d":"1970-01-01T00:00:00.000Z","list":["1970-01-01T00:00:00.001Z","2",null,null]}}`, ""},
		{"superjson Map, Set, RegExp, URL, Error", "application/super+json",
			`"{\"json\":{\"m\":[[\"k\",\"1970-01-01T00:00:00.000Z\"]],\"s\":[1,2],\"re\":\"/x/g\",\"url\":\"https://e.x/\",\"err\":{\"name\":\"Error\",\"message\":\"boom\"}},\"meta\":{\"values\":{\"m\":[\"map\",{\"0.1\":[\"Date\"]}],\"s\":[\"set\"],\"re\":[\"regexp\"],\"url\":[\"URL\"],\"err\":[\"Error\"]}}}"`,
			`{"m":[["k","1970-01-01T00:00:00.000Z"]],"s":[1,2],"re":"/x/g","url":"https://e.x/","err":{"name":"Error","message":"boom"}}`, ""},
		{"superjson root Date", "application/super+json",
			`"{\"json\":\"1970-01-01T00:00:00.005Z\",\"meta\":{\"values\":[\"Date\"]}}"`, `"1970-01-01T00:00:00.005Z"`, ""},
		{"superjson referential equality", "application/super+json",
			`"{\"json\":{\"same\":[{\"d\":1},{\"d\":1}]},\"meta\":{\"referentialEqualities\":{\"same.0\":[\"same.1\"]}}}"`, `{"same":[{"d":1},{"d":1}]}`, ""},
		{"superjson without meta", "application/super+json", `"{\"json\":[1,\"two\",null]}"`, `[1,"two",null]`, ""},
		{"superjson large number kept", "application/super+json",
			`"{\"json\":{\"n\":12345678901234567890,\"u\":null},\"meta\":{\"values\":{\"u\":[\"undefined\"]}}}"`, `{"n":12345678901234567890}`, ""},
		{"text", "text/plain", `"hello"`, `"hello"`, ""},
		{"json in a string", "application/json", `"{\"a\":1}"`, `{"a":1}`, ""},
		{"json as is", "application/json", `{"a":1}`, `{"a":1}`, ""},
		{"no type", "", `{"a":1}`, `{"a":1}`, ""},
		{"missing", "application/json", ``, `null`, ""},
		{"store", "application/store", `"packets/x"`, "", "application/store"},
		{"other type", "application/xml", `"<a/>"`, "", "application/xml"},
		{"bad json text", "application/json", `"{"`, "", "not JSON"},
		{"bad superjson", "application/super+json", `"nope"`, "", "super+json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tdPayload(json.RawMessage(tt.raw), tt.payloadType)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(got))
			if tt.name == "superjson large number kept" {
				require.Contains(t, string(got), "12345678901234567890", "numbers are not rounded through float64")
			}
		})
	}
}

func TestTriggerDevKey(t *testing.T) {
	hashed, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "order", "42")
	require.NoError(t, err)

	k, err := tdKey(&tdOptions{IdempotencyKey: string(hashed), IdempotencyKeyOptions: &tdKeyOptions{Key: "order-42", Scope: "global"}})
	require.NoError(t, err)
	require.Equal(t, idempotency.TriggerKey{Key: hashed, Text: "order-42", Scope: idempotency.ScopeGlobal}, k, "the SDK's hash is the key, never hashed again; the text goes to the memo")

	k, err = tdKey(&tdOptions{IdempotencyKey: string(hashed), IdempotencyKeyOptions: &tdKeyOptions{Key: "order-42", Scope: "run"}})
	require.NoError(t, err)
	require.Equal(t, idempotency.TriggerKey{Key: hashed, Text: "order-42", Scope: idempotency.ScopeGlobal}, k, "outside a run the SDK's run scope adds nothing: the key is the global one")

	k, err = tdKey(&tdOptions{IdempotencyKey: string(hashed)})
	require.NoError(t, err)
	require.Equal(t, hashed, k)

	k, err = tdKey(&tdOptions{IdempotencyKey: "plain"})
	require.NoError(t, err)
	require.Equal(t, idempotency.Parts{"plain"}, k, "text that is not a key is hashed as Once's routes hash it")

	k, err = tdKey(&tdOptions{})
	require.NoError(t, err)
	require.Nil(t, k)

	_, err = tdKey(&tdOptions{IdempotencyKey: string(hashed), IdempotencyKeyOptions: &tdKeyOptions{Key: "x", Scope: "weekly"}})
	require.ErrorIs(t, err, idempotency.ErrInvalidScope)
}

func TestTriggerDevDelay(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		raw  string
		want time.Duration
		err  bool
	}{
		{``, 0, false},
		{`null`, 0, false},
		{`"30s"`, 30 * time.Second, false},
		{`"1h30m"`, 90 * time.Minute, false},
		{`"2d"`, 48 * time.Hour, false},
		{`"1w"`, 7 * 24 * time.Hour, false},
		{`"2hr30m"`, 150 * time.Minute, false},
		{`"2026-01-01T00:10:00.000Z"`, 10 * time.Minute, false},
		{`"2025-01-01T00:00:00Z"`, 0, false},
		{`"soon"`, 0, true},
		{`"1y"`, 0, true},
		{`5`, 0, true},
		{`"99999999999999999999w"`, 0, true},
	} {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := parseDelay(json.RawMessage(tt.raw), now)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestTriggerDevDebounce(t *testing.T) {
	tests := []struct {
		name string
		in   tdDebounce
		want starter.Debounce
		err  bool
	}{
		{"delay", tdDebounce{Key: "k", Delay: "5s"}, starter.Debounce{Key: "k", Delay: 5 * time.Second}, false},
		{"all", tdDebounce{Key: "k", Delay: "1m", Mode: "trailing", MaxDelay: "2h30m"},
			starter.Debounce{Key: "k", Delay: time.Minute, Mode: once.DebounceTrailing, MaxDelay: 150 * time.Minute}, false},
		{"a Go duration is not trigger.dev's", tdDebounce{Key: "k", Delay: "500ms"}, starter.Debounce{}, true},
		{"bad maxDelay", tdDebounce{Key: "k", Delay: "1s", MaxDelay: "later"}, starter.Debounce{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.in.options()
			if tt.err {
				require.ErrorIs(t, err, once.ErrInvalidDebounce)
				require.ErrorIs(t, err, once.ErrInvalidInput)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, *got)
		})
	}
	// A debounced trigger has no key of the request's, and the task's
	// failure policy.
	opts, p := tdTriggerOptions(&tdOptions{Debounce: &tdDebounce{Key: "k", Delay: "1s"}}, idempotency.Parts{"request"}, true, time.Now())
	require.Nil(t, p)
	require.Nil(t, opts.Key)
	require.False(t, opts.Strict)
	require.Equal(t, starter.FailureDefault, opts.OnFailure)
	require.NotNil(t, opts.Debounce)
	opts, p = tdTriggerOptions(&tdOptions{}, idempotency.Parts{"request"}, true, time.Now())
	require.Nil(t, p)
	require.Equal(t, starter.FailureRelease, opts.OnFailure, "trigger.dev v4 releases a failed run's key")
}

func TestTriggerDevBatchID(t *testing.T) {
	k, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "b")
	require.NoError(t, err)
	for _, b := range []tdBatch{{Key: k, RunCount: 3}, {Key: k, Strict: true, RunCount: 1000}} {
		id := encodeBatchID(b)
		require.True(t, strings.HasPrefix(id, "batch_"))
		got, ok := decodeBatchID(id)
		require.True(t, ok)
		require.Equal(t, b, got)
	}
	for _, id := range []string{"", "batch_", "batch_!!", "run_x", "batch_" + b64("3.k.nokey"), "batch_" + b64("0.k."+string(k)),
		"batch_" + b64("03.k."+string(k)), "batch_" + b64("3.x."+string(k)), "batch_" + b64("3.k")} {
		_, ok := decodeBatchID(id)
		require.False(t, ok, id)
	}
}

// The trigger.dev routes' answers that need no server: authentication,
// refused options, bad input, batch creation (stateless), errors in
// trigger.dev's {"error": …} shape.
func TestTriggerDevWithoutServer(t *testing.T) {
	tokens, err := ParseTokens(strings.NewReader(HashToken("dev-token") + " dev\n" + HashToken("only-other") + " dev other"))
	require.NoError(t, err)
	h, err := New(lazyStarter(t, "dev"), Options{Tokens: tokens, MaxBatchItems: 5})
	require.NoError(t, err)
	do := func(method, path, token string, header map[string]string, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			r.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	trigger := `{"payload": "{\"json\":{}}", "options": {"payloadType": "application/super+json"`
	tests := []struct {
		name, method, path, token, body string
		status                          int
		contains                        string
	}{
		{"no token", "POST", "/api/v1/tasks/hello/trigger", "", trigger + `}}`, 401, "Bearer"},
		{"wrong token", "POST", "/api/v1/tasks/hello/trigger", "tr_dev_nope", trigger + `}}`, 401, "not one this API accepts"},
		{"unknown task", "POST", "/api/v1/tasks/nope/trigger", "dev-token", trigger + `}}`, 404, "unknown task"},
		{"a task the token may not use", "POST", "/api/v1/tasks/hello/trigger", "only-other", trigger + `}}`, 404, "not one this token may use"},
		{"debounce: bad delay", "POST", "/api/v1/tasks/hello/trigger", "dev-token", trigger + `, "debounce": {"key": "k", "delay": "soon"}}}`, 400, "debounce delay"},
		{"debounce: bad maxDelay", "POST", "/api/v1/tasks/hello/trigger", "dev-token", trigger + `, "debounce": {"key": "k", "delay": "5s", "maxDelay": "1s"}}}`, 400, "maxDelay"},
		{"debounce: no key", "POST", "/api/v1/tasks/hello/trigger", "dev-token", trigger + `, "debounce": {"key": "", "delay": "5s"}}}`, 400, "debounce"},
		{"debounce with an idempotencyKey", "POST", "/api/v1/tasks/hello/trigger", "dev-token", trigger + `, "idempotencyKey": "k", "debounce": {"key": "k", "delay": "5s"}}}`, 400, "debounce"},
		{"debounce with a delay", "POST", "/api/v1/tasks/hello/trigger", "dev-token", trigger + `, "delay": "1m", "debounce": {"key": "k", "delay": "5s"}}}`, 400, "StartDelay"},
		{"from inside a run", "POST", "/api/v1/tasks/hello/trigger", "dev-token", trigger + `, "parentRunId": "run_1", "resumeParentOnCompletion": true}}`, 400, "parentRunId, resumeParentOnCompletion"},
		{"offloaded payload", "POST", "/api/v1/tasks/hello/trigger", "dev-token", `{"payload": "p/x", "options": {"payloadType": "application/store"}}`, 400, "application/store"},
		{"bad TTL", "POST", "/api/v1/tasks/hello/trigger", "dev-token", trigger + `, "idempotencyKey": "k", "idempotencyKeyTTL": "forever"}}`, 400, "TTL"},
		{"bad delay", "POST", "/api/v1/tasks/hello/trigger", "dev-token", trigger + `, "delay": "soon"}}`, 400, "delay"},
		{"malformed", "POST", "/api/v1/tasks/hello/trigger", "dev-token", `{`, 400, "JSON"},
		{"batch: runCount 0", "POST", "/api/v3/batches", "dev-token", `{"runCount": 0}`, 400, "runCount"},
		{"batch: too many", "POST", "/api/v3/batches", "dev-token", `{"runCount": 6}`, 400, "want 1 to 5"},
		{"batch: a task the token may not use", "POST", "/api/v3/batches", "only-other", `{"runCount": 1, "taskIdentifiers": ["hello"]}`, 404, "not one this token may use"},
		{"batch: from inside a run", "POST", "/api/v3/batches", "dev-token", `{"runCount": 1, "parentRunId": "run_1"}`, 400, "parentRunId"},
		{"items: unknown batch", "POST", "/api/v3/batches/batch_nope/items", "dev-token", `{}`, 404, "no batch"},
		{"run: bad id", "GET", "/api/v3/runs/run_nope", "dev-token", ``, 404, "no such run"},
		{"reset: unknown task", "POST", "/api/v1/idempotencyKeys/k/reset", "dev-token", `{"taskIdentifier": "nope"}`, 404, "unknown task"},
		{"reset: no task", "POST", "/api/v1/idempotencyKeys/k/reset", "dev-token", `{}`, 404, "task"},
		{"unknown route", "GET", "/api/v1/runs/run_x/result", "dev-token", ``, 404, "no route"},
		{"wrong method", "GET", "/api/v1/tasks/hello/trigger", "dev-token", ``, 405, "use POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(tt.method, tt.path, tt.token, nil, tt.body)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			var body map[string]string
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Len(t, body, 1, "trigger.dev's error shape: {\"error\": …}")
			require.Contains(t, strings.ToLower(body["error"]), strings.ToLower(tt.contains))
			if tt.status == 401 {
				require.Contains(t, rec.Header().Get("WWW-Authenticate"), "Bearer")
			}
		})
	}

	t.Run("batch ids are stateless", func(t *testing.T) {
		create := func(header map[string]string, body string) map[string]any {
			rec := do("POST", "/api/v3/batches", "dev-token", header, body)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.Equal(t, tdPublicToken, rec.Header().Get("x-trigger-jwt"))
			var m map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m))
			require.Equal(t, false, m["isCached"])
			return m
		}
		bk, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "my-batch")
		require.NoError(t, err)
		a := create(map[string]string{HeaderTriggerRequestID: "r1"}, `{"runCount": 2, "idempotencyKey": "`+string(bk)+`"}`)
		b := create(map[string]string{HeaderTriggerRequestID: "r2"}, `{"runCount": 2, "idempotencyKey": "`+string(bk)+`"}`)
		require.Equal(t, a["id"], b["id"], "the batch key makes the id")
		require.Equal(t, string(bk), a["idempotencyKey"])
		got, ok := decodeBatchID(a["id"].(string))
		require.True(t, ok)
		require.Equal(t, tdBatch{Key: bk, RunCount: 2}, got)

		c := create(map[string]string{HeaderTriggerRequestID: "r3"}, `{"runCount": 2}`)
		d := create(map[string]string{HeaderTriggerRequestID: "r3"}, `{"runCount": 2}`)
		require.Equal(t, c["id"], d["id"], "a retried request (same request ID) gets the same batch")
		got, ok = decodeBatchID(c["id"].(string))
		require.True(t, ok)
		require.True(t, got.Strict)
		e := create(nil, `{"runCount": 2}`)
		f := create(nil, `{"runCount": 2}`)
		require.NotEqual(t, e["id"], f["id"], "without key or request ID, each batch is its own")

		id := a["id"].(string)
		for _, tc := range []struct{ token, body, contains string }{
			{"dev-token", `{"index": 2, "task": "hello", "payload": "{}", "options": {}}`, "index"},
			{"dev-token", `{"task": "hello"}`, "index"},
			{"only-other", `{"index": 0, "task": "hello", "payload": "{}", "options": {}}`, "not one this token may use"},
			{"dev-token", `{"index": 0, "task": "hello", "options": {"debounce": {"key": "k", "delay": "now"}}}`, "debounce"},
			{"dev-token", `not json`, "line 1"},
		} {
			rec := do("POST", "/api/v3/batches/"+id+"/items", tc.token, map[string]string{"Content-Type": "application/x-ndjson"}, tc.body)
			require.GreaterOrEqual(t, rec.Code, 400, rec.Body.String())
			require.Less(t, rec.Code, 500, rec.Body.String())
			require.Contains(t, rec.Body.String(), tc.contains)
		}
	})
}

// A run in trigger.dev's shape: the status and its flags, output or error,
// and no null anywhere (the SDK's schema refuses null for optional fields).
func TestTriggerDevRunShape(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(1500 * time.Millisecond)
	for _, tt := range []struct {
		name   string
		body   runBody
		status string
		flags  map[string]bool
		has    []string
		hasNot []string
	}{
		{"running", runBody{Status: "running", StartedAt: &start, Attempts: 1}, "EXECUTING",
			map[string]bool{"isExecuting": true}, []string{"startedAt"}, []string{"finishedAt", "output", "error", "idempotencyKey"}},
		{"completed", runBody{Status: "completed", Key: strings.Repeat("a", 64), StartedAt: &start, ClosedAt: &end, Result: json.RawMessage(`{"x":1}`), Attempts: 2}, "COMPLETED",
			map[string]bool{"isCompleted": true, "isSuccess": true}, []string{"output", "finishedAt", "idempotencyKey"}, []string{"error"}},
		{"failed", runBody{Status: "failed", StartedAt: &start, ClosedAt: &end, Failure: &failureBody{Message: "boom", Type: "Nope"}}, "FAILED",
			map[string]bool{"isCompleted": true, "isFailed": true}, []string{"error"}, []string{"output"}},
		{"timed out", runBody{Status: "timed_out", StartedAt: &start, ClosedAt: &end, Failure: &failureBody{Message: "timeout"}}, "TIMED_OUT",
			map[string]bool{"isCompleted": true, "isFailed": true}, []string{"error"}, nil},
		{"terminated", runBody{Status: "terminated", StartedAt: &start, ClosedAt: &end, Failure: &failureBody{Message: "terminated"}}, "CRASHED",
			map[string]bool{"isCompleted": true, "isFailed": true}, nil, nil},
		{"canceled", runBody{Status: "canceled", StartedAt: &start, ClosedAt: &end, Failure: &failureBody{Message: "canceled"}}, "CANCELED",
			map[string]bool{"isCompleted": true, "isCancelled": true}, nil, []string{"output"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.body
			b.ID, b.Task = "run_x", "hello"
			raw, err := json.Marshal(tdRunOf(&b))
			require.NoError(t, err)
			require.NotContains(t, string(raw), "null")
			var m map[string]any
			require.NoError(t, json.Unmarshal(raw, &m))
			require.Equal(t, tt.status, m["status"])
			require.Equal(t, "run_x", m["id"])
			require.Equal(t, "hello", m["taskIdentifier"])
			for _, f := range []string{"isQueued", "isExecuting", "isWaiting", "isCompleted", "isSuccess", "isFailed", "isCancelled", "isTest"} {
				require.Equal(t, tt.flags[f], m[f], f)
			}
			for _, f := range tt.has {
				require.Contains(t, m, f)
			}
			for _, f := range tt.hasNot {
				require.NotContains(t, m, f)
			}
			require.Equal(t, []any{}, m["tags"])
			require.Equal(t, map[string]any{}, m["relatedRuns"])
			if b.ClosedAt != nil {
				require.EqualValues(t, 1500, m["durationMs"])
			}
		})
	}
}
