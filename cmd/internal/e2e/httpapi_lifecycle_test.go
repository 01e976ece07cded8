package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once/starter/httpapi"
)

// The key lifecycle features of the starter through the HTTP API (issue
// 25), against the shared server, every exchange checked against the
// OpenAPI document: debounced triggers (Once's "debounce", trigger.dev's
// options.debounce) and a trigger's failure policy ("onFailure").

// debounceBody is a trigger's body with payload {"i": i} and a debounce.
func debounceBody(i int, key, delay, mode, wait string) string {
	body := fmt.Sprintf(`{"payload": {"i": %d}, "debounce": {"key": %q, "delay": %q, "mode": %q}`, i, key, delay, mode)
	if wait != "" {
		body += fmt.Sprintf(`, "wait": %q`, wait)
	}
	return body + "}"
}

// TestHTTPAPILifecycleDebounce: five debounced triggers (trailing, 300 ms)
// are one run with the last payload; each answers 202 with the same id,
// which GET /v1/runs/{id} reads pending (trigger.dev's route DELAYED), then
// completed. A leading trigger that waits answers its run's result. Bad
// settings, or a debounce with a key, are 400.
func TestHTTPAPILifecycleDebounce(t *testing.T) {
	e := newAPIEnv(t)

	t.Run("trailing burst", func(t *testing.T) { debounceTrailingBurst(t, e) })
	t.Run("pending", func(t *testing.T) { debouncePending(t, e) })
	t.Run("leading, waiting", func(t *testing.T) { debounceLeadingWaits(t, e) })
	t.Run("no such debouncer run", func(t *testing.T) { debounceNoSuchRun(t, e) })
	t.Run("invalid", func(t *testing.T) { debounceInvalid(t, e) })
}

// debounceTrailingBurst: a trailing burst of five triggers is one run, with
// the last payload, and every trigger answers its id.
func debounceTrailingBurst(t *testing.T, e *apiEnv) {
	key := unique("burst")
	var id, workflowID string
	for i := range 5 {
		// A request ID does not key a debounced trigger: each joins.
		a := e.trigger(t, e.devToken, "child-task", "", debounceBody(i, key, "300ms", "trailing", ""),
			map[string]string{httpapi.HeaderRequestID: unique("req")})
		require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
		got := a.json(t)
		require.Equal(t, true, got["debounced"])
		require.Equal(t, "pending", got["status"])
		require.NotContains(t, got, "runId", "no run ID before the run starts")
		if i == 0 {
			id, workflowID = got["id"].(string), got["workflowId"].(string)
		}
		require.Equal(t, id, got["id"], "every trigger of the burst names its run")
		require.Equal(t, workflowID, got["workflowId"])
		time.Sleep(20 * time.Millisecond)
	}
	ref, err := httpapi.DecodeRunID(id)
	require.NoError(t, err)
	require.True(t, ref.Debounced())
	require.Equal(t, e.dev.env+"/child-task/"+ref.Suffix, workflowID)

	var got map[string]any
	eventually(t, time.Minute, "the burst's run completes", func() (bool, error) {
		a := e.api.do(apiCall{method: "GET", path: "/v1/runs/" + id + "?wait=5s", token: e.devToken})
		if a.status != http.StatusOK {
			return false, fmt.Errorf("%d %s", a.status, a.body)
		}
		got = a.json(t)
		return got["status"] == "completed", nil
	})
	require.Equal(t, map[string]any{"i": float64(4)}, got["result"], "the last payload")
	require.Equal(t, id, got["id"], "the id stays the burst's")
	require.Equal(t, workflowID, got["workflowId"])
	require.Equal(t, true, got["debounced"])
	require.NotEmpty(t, got["runId"])
	require.EqualValues(t, 1, got["attempts"])

	// One run of child-task for the burst.
	desc, err := e.dev.c.DescribeWorkflowExecution(testCtx(t, 10*time.Second), workflowID, "")
	require.NoError(t, err)
	require.NotEmpty(t, desc.GetWorkflowExecutionInfo().GetParentExecution().GetWorkflowId(), "started by the debouncer")
}

// debouncePending: a burst with quiet to go: its run reads pending
// (DELAYED on trigger.dev's route), however long a request waits within it.
func debouncePending(t *testing.T, e *apiEnv) {
	// A trailing burst with 10 s of quiet to go: its run has not
	// started, however long a request waits within that.
	a := e.trigger(t, e.devToken, "child-task", "", debounceBody(0, unique("slow"), "10s", "trailing", ""), nil)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	id := a.json(t)["id"].(string)
	start := time.Now()
	a = e.api.do(apiCall{method: "GET", path: "/v1/runs/" + id + "?wait=1s", token: e.devToken})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	got := a.json(t)
	require.Equal(t, "pending", got["status"])
	require.Equal(t, true, got["debounced"])
	require.NotContains(t, got, "runId")
	require.GreaterOrEqual(t, time.Since(start), time.Second, "it waited")
	// trigger.dev's route reads it DELAYED.
	a = e.api.do(apiCall{method: "GET", path: "/api/v3/runs/" + id, token: e.devToken})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	got = a.json(t)
	require.Equal(t, "DELAYED", got["status"])
	require.Equal(t, false, got["isCompleted"])
	require.Equal(t, false, got["isFailed"])
	require.Equal(t, id, got["id"])
}

// debounceLeadingWaits: a leading trigger that waits answers its run's
// result.
func debounceLeadingWaits(t *testing.T, e *apiEnv) {
	a := e.trigger(t, e.devToken, "child-task", "", debounceBody(7, unique("lead"), "300ms", "leading", "30s"), nil)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	got := a.json(t)
	require.Equal(t, "completed", got["status"], "%s", a.body)
	require.Equal(t, map[string]any{"i": float64(7)}, got["result"])
	require.NotEmpty(t, got["runId"])
	require.Equal(t, true, got["debounced"])
}

// debounceNoSuchRun: an id whose debouncer run does not exist, or one of
// another environment, is 404.
func debounceNoSuchRun(t *testing.T, e *apiEnv) {
	a := e.trigger(t, e.devToken, "child-task", "", debounceBody(0, unique("gone"), "300ms", "trailing", ""), nil)
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	ref, err := httpapi.DecodeRunID(a.json(t)["id"].(string))
	require.NoError(t, err)
	ref.DebouncerRunID = "0190c3b4-7c1e-7000-8000-00000000dead"
	ref.Suffix = "0000000000000000000000000000000000000000000000000000000000000000"
	e.api.do(apiCall{method: "GET", path: "/v1/runs/" + httpapi.EncodeRunID(ref), token: e.devToken}).problem(t, 404, httpapi.ProblemRunNotFound)
	// Another environment's token finds nothing either.
	e.api.do(apiCall{method: "GET", path: "/v1/runs/" + a.json(t)["id"].(string), token: e.prodToken}).problem(t, 404, httpapi.ProblemRunNotFound)
}

// debounceInvalid: bad settings, or a debounce with other options, are 400.
func debounceInvalid(t *testing.T, e *apiEnv) {
	for _, tc := range []struct {
		name, key, body string
	}{
		{"delay not a duration", "", debounceBody(0, "k", "soon", "trailing", "")},
		{"delay zero", "", debounceBody(0, "k", "0s", "trailing", "")},
		{"maxDelay below delay", "", `{"debounce": {"key": "k", "delay": "1s", "maxDelay": "10ms"}}`},
		{"with an Idempotency-Key", unique("k"), debounceBody(0, "k", "1s", "leading", "")},
		{"with a ttl", "", `{"ttl": "1h", "debounce": {"key": "k", "delay": "1s"}}`},
		{"with onFailure", "", `{"onFailure": "release", "debounce": {"key": "k", "delay": "1s"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.trigger(t, e.devToken, "child-task", tc.key, tc.body, nil).problem(t, 400, httpapi.ProblemInvalidInput)
		})
	}
	// What the document refuses too: the request breaks it.
	for _, body := range []string{
		`{"debounce": {"key": "k", "delay": "1s", "mode": "sideways"}}`,
		`{"debounce": {"key": "", "delay": "1s"}}`,
	} {
		e.api.do(apiCall{method: "POST", path: "/v1/tasks/child-task/trigger", token: e.devToken, ctype: "application/json",
			body: body, invalid: true}).problem(t, 400, httpapi.ProblemInvalidInput)
	}
}

// TestHTTPAPILifecycleOnFailure: a key whose run failed answers with it
// (200, cached) under the task's policy (keep) and "onFailure": "keep";
// "onFailure": "release" starts a new run (201), in a trigger and in a batch
// item. A bad policy is 400. The key's description names the policy its run
// records: keep for that task (a trigger's override is not recorded),
// release for a task that releases.
func TestHTTPAPILifecycleOnFailure(t *testing.T) {
	e := newAPIEnv(t)
	key := unique("fails")

	a := e.trigger(t, e.devToken, "failing-child", key, `{"wait": "30s"}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	first := a.json(t)
	require.Equal(t, "failed", first["status"], "%s", a.body)

	for _, body := range []string{`{}`, `{"onFailure": "keep"}`, `{"onFailure": "default"}`} {
		a = e.trigger(t, e.devToken, "failing-child", key, body, nil)
		require.Equal(t, http.StatusOK, a.status, "%s: %s", body, a.body)
		require.Equal(t, true, a.json(t)["cached"], body)
		require.Equal(t, first["runId"], a.json(t)["runId"], "%s: the failed run keeps its key", body)
	}

	a = e.trigger(t, e.devToken, "failing-child", key, `{"onFailure": "release", "wait": "30s"}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	second := a.json(t)
	require.Equal(t, false, second["cached"])
	require.NotEqual(t, first["runId"], second["runId"], "released: a new run")
	require.Equal(t, first["workflowId"], second["workflowId"])
	require.Equal(t, "failed", second["status"])

	// Batch items: keep finds the failed run, release starts a new one.
	a = e.api.do(apiCall{method: "POST", path: "/v1/tasks/failing-child/batch", token: e.devToken, ctype: "application/json",
		body: fmt.Sprintf(`[{"key": %q, "onFailure": "keep"}, {"key": %q, "onFailure": "bogus"}]`, key, key), invalid: true})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	items := batchItems(t, a)
	require.EqualValues(t, http.StatusOK, items[0]["status"])
	require.Equal(t, second["runId"], items[0]["runId"])
	require.EqualValues(t, http.StatusBadRequest, items[1]["status"], "a bad policy fails its item only")
	a = e.api.do(apiCall{method: "POST", path: "/v1/tasks/failing-child/batch", token: e.devToken, ctype: "application/json",
		body: fmt.Sprintf(`[{"key": %q, "onFailure": "release"}]`, key)})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	items = batchItems(t, a)
	require.EqualValues(t, http.StatusCreated, items[0]["status"], "%s", a.body)
	require.NotEqual(t, second["runId"], items[0]["runId"])

	// A policy the document does not have.
	e.api.do(apiCall{method: "POST", path: "/v1/tasks/failing-child/trigger", token: e.devToken, ctype: "application/json",
		header: map[string]string{"Idempotency-Key": key}, body: `{"onFailure": "retry"}`, invalid: true}).problem(t, 400, httpapi.ProblemInvalidInput)

	// The key's description: the task keeps (the trigger's release is not
	// recorded); a task that releases says so.
	describeKey := func(task, key string) map[string]any {
		t.Helper()
		a := e.api.do(apiCall{method: "GET", path: "/v1/tasks/" + task + "/keys/" + key, token: e.devToken})
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		return a.json(t)
	}
	require.Equal(t, "keep", describeKey("failing-child", key)["onFailure"], "a trigger's override is not recorded")
	relKey := unique("releases")
	a = e.trigger(t, e.devToken, "failing-release", relKey, `{"wait": "30s"}`, nil)
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
	require.Equal(t, "failed", a.json(t)["status"], "%s", a.body)
	released := describeKey("failing-release", relKey)
	require.Equal(t, "failed", released["status"])
	require.Equal(t, "release", released["onFailure"])
}

// TestHTTPAPILifecycleTriggerDevDebounce: trigger.dev's options.debounce on
// its trigger route: three triggers (trailing, 1s) answer one id, isCached
// false; GET /api/v3/runs/{id} reads it DELAYED until the run starts, then
// COMPLETED with the last payload. A bad delay is 400.
func TestHTTPAPILifecycleTriggerDevDebounce(t *testing.T) {
	e := newAPIEnv(t)
	key := unique("td-burst")
	tdTrigger := func(t *testing.T, body string) apiAnswer {
		t.Helper()
		return e.api.do(apiCall{method: "POST", path: "/api/v1/tasks/child-task/trigger", token: e.devToken, ctype: "application/json",
			header: map[string]string{httpapi.HeaderTriggerRequestID: unique("req")}, body: body})
	}
	var id string
	for i := range 3 {
		a := tdTrigger(t, fmt.Sprintf(`{"payload": "{\"json\":{\"i\":%d}}", "options": {"payloadType": "application/super+json", "debounce": {"key": %q, "delay": "1s", "mode": "trailing", "maxDelay": "1m"}}}`, i, key))
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		got := a.json(t)
		require.Equal(t, false, got["isCached"])
		if i == 0 {
			id = got["id"].(string)
		}
		require.Equal(t, id, got["id"], "one run for the burst")
	}
	a := e.api.do(apiCall{method: "GET", path: "/api/v3/runs/" + id, token: e.devToken})
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	require.Contains(t, []any{"DELAYED", "QUEUED", "EXECUTING", "COMPLETED"}, a.json(t)["status"])

	var got map[string]any
	eventually(t, time.Minute, "the burst's run completes", func() (bool, error) {
		a := e.api.do(apiCall{method: "GET", path: "/api/v3/runs/" + id, token: e.devToken})
		if a.status != http.StatusOK {
			return false, fmt.Errorf("%d %s", a.status, a.body)
		}
		got = a.json(t)
		if got["status"] == "DELAYED" {
			require.Equal(t, false, got["isCompleted"])
		}
		return got["status"] == "COMPLETED", nil
	})
	require.Equal(t, id, got["id"])
	require.Equal(t, map[string]any{"i": float64(2)}, got["output"], "the last payload")
	require.Equal(t, true, got["isSuccess"])

	a = tdTrigger(t, fmt.Sprintf(`{"payload": "{\"json\":{}}", "options": {"payloadType": "application/super+json", "debounce": {"key": %q, "delay": "500ms"}}}`, key))
	require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
	var body map[string]string
	require.NoError(t, json.Unmarshal(a.body, &body))
	require.Contains(t, body["error"], "debounce delay")
}
