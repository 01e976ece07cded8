package e2e

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once/cmd/internal/apiapp"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/starter/httpapi"
)

// The HTTP API against bad input (issue 23): each kind of bad request gets
// its documented status and problem type, starts nothing, and leaves the
// server serving. The server is the API binary's (apiapp.NewServer, so that
// MaxHeaderBytes applies) with short header and body timeouts, so that a
// slow client is seen closed within seconds.

// Timeouts of the abuse tests' server: apiapp's, shortened.
const (
	abuseReadHeaderTimeout = time.Second
	abuseReadTimeout       = 3 * time.Second
)

// abuseEnv is an API server in front of two environments (no worker: runs
// stay open, which is all these tests need) with a trigger limit of
// 64 KiB + the envelope and a batch limit of 256 KiB and 50 items.
type abuseEnv struct {
	dev, prod                         *taskEnv
	devToken, prodToken, devTaskToken string
	api                               *apiClient
	addr                              string // host:port of the server
	// task is the task every bad request names: no run of it may exist.
	task string
	// prodRunID is a run of task in prod, by its API id.
	prodRunID, prodKey string
}

func newAbuseEnv(t *testing.T) *abuseEnv {
	t.Helper()
	e := &abuseEnv{
		dev: newTaskEnv(t, false), prod: newTaskEnv(t, false),
		devToken: "dev-" + unique("tok"), prodToken: "prod-" + unique("tok"), devTaskToken: "devtask-" + unique("tok"),
		task: unique("abuse"),
	}
	list := fmt.Sprintf("%s %s\n%s %s\n%s %s child-task\n",
		httpapi.HashToken(e.devToken), e.dev.env, httpapi.HashToken(e.prodToken), e.prod.env, httpapi.HashToken(e.devTaskToken), e.dev.env)
	tokens, err := httpapi.ParseTokens(strings.NewReader(list))
	require.NoError(t, err)
	base := newStarter(t, starter.Options{Environment: unique("base"), MaxPayloadBytes: 64 << 10, Logger: shared.DiscardLogger()})
	h, err := httpapi.New(base, httpapi.Options{Tokens: tokens, MaxWait: 30 * time.Second, MaxBatchItems: 50, MaxBatchBytes: 256 << 10})
	require.NoError(t, err)
	ts := httptest.NewUnstartedServer(h)
	ts.Config = apiapp.NewServer(h, 30*time.Second)
	ts.Config.ReadHeaderTimeout = abuseReadHeaderTimeout
	ts.Config.ReadTimeout = abuseReadTimeout
	ts.Start()
	t.Cleanup(ts.Close)
	e.addr = ts.Listener.Addr().String()
	e.api = newAPIClient(t, ts.URL, nil)

	// A prod run of the task (the Go API, in prod): what another
	// environment's token must never see.
	ctx := testCtx(t, time.Minute)
	e.prodKey = unique("prod-key")
	run, err := e.prod.starter.Trigger(ctx, e.task, nil, starter.TriggerOptions{Key: idempotency.Parts{e.prodKey}})
	require.NoError(t, err)
	ref := httpapi.RunRef{Task: e.task, Suffix: strings.TrimPrefix(run.WorkflowID, e.prod.env+"/"+e.task+"/"), FirstRunID: run.RunID}
	e.prodRunID = httpapi.EncodeRunID(ref)
	return e
}

// raw sends req (a whole HTTP/1.1 request, written as is) on a new
// connection and reads the answer; head is true for a HEAD request.
func (e *abuseEnv) raw(t *testing.T, req string, head bool) apiAnswer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = io.WriteString(conn, req)
	require.NoError(t, err)
	method := http.MethodGet
	if head {
		method = http.MethodHead
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return apiAnswer{status: resp.StatusCode, header: resp.Header, body: body}
}

// rawRequest is a request with the dev token, Connection: close and, when
// body is not "", a Content-Length; extra holds more header lines
// ("Name: value\r\n" each).
func (e *abuseEnv) rawRequest(method, target, ctype, extra, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n", method, target, e.addr, e.devToken)
	if ctype != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", ctype)
	}
	if body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString(extra)
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// closedWithin opens a connection, sends start and then trickle, one byte
// every 100ms, and returns how long the server took to close it (an
// answer it wrote, if any, is returned too).
func (e *abuseEnv) closedWithin(t *testing.T, start, trickle string, limit time.Duration) (time.Duration, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	began := time.Now()
	_, err = io.WriteString(conn, start)
	require.NoError(t, err)
	closed := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(conn) // until the server closes
		closed <- string(b)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case answer := <-closed:
			return time.Since(began), answer
		case <-tick.C:
			if i < len(trickle) {
				_, _ = conn.Write([]byte{trickle[i]}) // may fail once the server closed
			}
		case <-time.After(limit):
			t.Fatalf("the server did not close a slow connection within %s", limit)
		}
	}
}

// abuseCase is one kind of bad request.
type abuseCase struct {
	name string
	// call is sent with the API client (checked against the document);
	// else raw is sent on a connection of its own (HEAD when head); else
	// send makes the exchange.
	call apiCall
	raw  string
	head bool
	send func(t *testing.T) apiAnswer
	// status is the answer's status; problem its problem type, "" when
	// the answer is not the handler's (net/http's own, or a HEAD's, which
	// has no body).
	status  int
	problem string
	// check checks more of the answer.
	check func(t *testing.T, a apiAnswer)
}

// TestHTTPAPIAbuse sends each kind of bad request and checks its answer,
// that the server still triggers a good request afterwards, and at the end
// that no run of the task exists in either environment but the prod run
// made on purpose.
func TestHTTPAPIAbuse(t *testing.T) {
	e := newAbuseEnv(t)
	tok := e.devToken
	trig := "/v1/tasks/" + e.task + "/trigger"
	batch := "/v1/tasks/" + e.task + "/batch"
	keys := "/v1/tasks/" + e.task + "/keys/"
	post := func(body string) apiCall {
		return apiCall{method: "POST", path: trig, token: tok, ctype: "application/json", body: body, invalid: true}
	}
	keyed := func(key string) apiCall {
		c := post(`{"payload": 1}`)
		c.header = map[string]string{"Idempotency-Key": key}
		return c
	}
	get := func(path string) apiCall { return apiCall{method: "GET", path: path, token: tok, invalid: true} }
	unknownRun := httpapi.EncodeRunID(httpapi.RunRef{Task: e.task, Suffix: unique("gone"), FirstRunID: "0190c3b4-7c1e-7000-8000-000000000001"})
	b64 := func(s string) string { return "run_" + base64.RawURLEncoding.EncodeToString([]byte(s)) }
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	over := `{"payload": "` + strings.Repeat("x", 64<<10+httpapi.Envelope) + `"}`

	cases := []abuseCase{
		// Malformed and truncated JSON.
		{name: "json: trailing comma", call: post(`{"payload": 1,}`), status: 400, problem: httpapi.ProblemInvalidJSON},
		{name: "json: object cut short", call: post(`{"payload": {"name": "Ada"`), status: 400, problem: httpapi.ProblemInvalidJSON},
		{name: "json: string cut short", call: post(`{"payload": "Ad`), status: 400, problem: httpapi.ProblemInvalidJSON},
		{name: "json: not JSON", call: post(`payload=1`), status: 400, problem: httpapi.ProblemInvalidJSON},
		{name: "json: an array, not an object", call: post(`[{"payload": 1}]`), status: 400, problem: httpapi.ProblemInvalidJSON},
		{name: "json: two values", call: post(`{"payload": 1} {"payload": 2}`), status: 400, problem: httpapi.ProblemInvalidJSON},
		{name: "json: unknown field", call: post(`{"paylaod": 1}`), status: 400, problem: httpapi.ProblemInvalidJSON},
		{name: "json: wrong type", call: post(`{"payload": 1, "ttl": 3600}`), status: 400, problem: httpapi.ProblemInvalidJSON},
		{name: "json: NUL byte", call: post("{\"payload\": \x00}"), status: 400, problem: httpapi.ProblemInvalidJSON},
		{name: "json: nested 10001 deep", call: post(`{"payload": ` + deep + `}`), status: 400, problem: httpapi.ProblemInvalidJSON},
		{name: "json: single quotes", call: post(`{'payload': 1}`), status: 400, problem: httpapi.ProblemInvalidJSON},
		{name: "json: where it breaks", call: post("{\n\"payload\": [1, 2,\n]}"), status: 400, problem: httpapi.ProblemInvalidJSON,
			check: func(t *testing.T, a apiAnswer) {
				p := a.json(t)
				require.EqualValues(t, 3, p["line"])
				require.EqualValues(t, 1, p["column"])
			}},
		{name: "json: body shorter than its Content-Length", send: func(t *testing.T) apiAnswer {
			return e.truncatedBody(t, trig, `{"payload": {"name": "Ada"}}`, 10)
		}, status: 400, problem: httpapi.ProblemInvalidJSON},

		// Content types.
		{name: "content type: text/plain", call: apiCall{method: "POST", path: trig, token: tok, ctype: "text/plain", body: `{"payload": 1}`, invalid: true}, status: 415, problem: httpapi.ProblemUnsupportedMediaType},
		{name: "content type: missing, with a body", raw: e.rawRequest("POST", trig, "", "", `{"payload": 1}`), status: 415, problem: httpapi.ProblemUnsupportedMediaType},
		{name: "content type: malformed", call: apiCall{method: "POST", path: trig, token: tok, ctype: "application/json; charset", body: `{"payload": 1}`, invalid: true}, status: 415, problem: httpapi.ProblemUnsupportedMediaType},
		{name: "content type: form", call: apiCall{method: "POST", path: trig, token: tok, ctype: "application/x-www-form-urlencoded", body: `payload=1`, invalid: true}, status: 415, problem: httpapi.ProblemUnsupportedMediaType},
		{name: "content type: NDJSON to trigger", call: apiCall{method: "POST", path: trig, token: tok, ctype: "application/x-ndjson", body: `{"payload": 1}`, invalid: true}, status: 415, problem: httpapi.ProblemUnsupportedMediaType},
		{name: "content type: batch as XML", call: apiCall{method: "POST", path: batch, token: tok, ctype: "application/xml", body: `<items/>`, invalid: true}, status: 415, problem: httpapi.ProblemUnsupportedMediaType},

		// Bodies over the limit.
		{name: "body over the limit", call: post(over), status: 413, problem: httpapi.ProblemPayloadTooLarge},
		{name: "body over the limit, chunked", send: func(t *testing.T) apiAnswer {
			return e.chunked(t, trig, "application/json", over)
		}, status: 413, problem: httpapi.ProblemPayloadTooLarge},
		{name: "batch over its byte limit", call: apiCall{method: "POST", path: batch, token: tok, ctype: "application/json",
			body: `[{"payload": "` + strings.Repeat("x", 300<<10) + `"}]`, invalid: true}, status: 413, problem: httpapi.ProblemPayloadTooLarge},
		{name: "batch over its item limit", call: apiCall{method: "POST", path: batch, token: tok, ctype: "application/json",
			body: "[" + strings.Repeat(`{"payload": 1},`, 50) + `{"payload": 1}]`, invalid: true}, status: 413, problem: httpapi.ProblemPayloadTooLarge},

		// Headers over the server's limit: net/http answers.
		{name: "headers: one of 100 KiB", raw: e.rawRequest("POST", trig, "application/json", "X-Junk: "+strings.Repeat("j", 100<<10)+"\r\n", `{"payload": 1}`), status: 431},
		{name: "headers: 3000 small ones", raw: e.rawRequest("POST", trig, "application/json", strings.Repeat("X-Junk: jjjjjjjjjjjjjjjjjjjjjjjjjjjj\r\n", 3000), `{"payload": 1}`), status: 431},

		// Keys.
		{name: "key: empty", raw: e.rawRequest("POST", trig, "application/json", "Idempotency-Key: \r\n", `{"payload": 1}`), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "key: empty in quotes", call: keyed(`""`), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "key: blanks", call: keyed("   "), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "key: too long", call: keyed(strings.Repeat("k", idempotency.MaxKeyTextBytes+1)), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "key: too long, in the path", call: get(keys + strings.Repeat("k", idempotency.MaxKeyTextBytes+1)), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "key: too long, batch key", call: apiCall{method: "POST", path: batch, token: tok, ctype: "application/json", body: `[{"payload": 1}]`,
			header: map[string]string{"Idempotency-Key": strings.Repeat("k", idempotency.MaxKeyTextBytes+1)}, invalid: true}, status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "key: control character", raw: e.rawRequest("POST", trig, "application/json", "Idempotency-Key: a\x01b\r\n", `{"payload": 1}`), status: 400},
		{name: "key: DEL", raw: e.rawRequest("POST", trig, "application/json", "Idempotency-Key: a\x7fb\r\n", `{"payload": 1}`), status: 400},
		{name: "key: NUL", raw: e.rawRequest("POST", trig, "application/json", "Idempotency-Key: a\x00b\r\n", `{"payload": 1}`), status: 400},
		{name: "key: request ID with a control character", raw: e.rawRequest("POST", trig, "application/json", "X-Request-Id: r\x1b[31m\r\n", `{"payload": 1}`), status: 400},

		// TTLs.
		{name: "ttl: negative", call: post(`{"payload": 1, "ttl": "-1h"}`), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "ttl: zero", call: post(`{"payload": 1, "ttl": "0s"}`), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "ttl: garbage", call: post(`{"payload": 1, "ttl": "soon"}`), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "ttl: overflows", call: post(`{"payload": 1, "ttl": "99999999999d"}`), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "ttl: a unit alone", call: post(`{"payload": 1, "ttl": "d"}`), status: 400, problem: httpapi.ProblemInvalidInput},

		// Waits.
		{name: "wait: over the maximum", call: post(`{"payload": 1, "wait": "31s"}`), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "wait: negative", call: post(`{"payload": 1, "wait": "-1s"}`), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "wait: garbage", call: post(`{"payload": 1, "wait": "later"}`), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "wait: overflows", call: post(`{"payload": 1, "wait": "9999999999h"}`), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "wait: garbage, reading a run", call: get("/v1/runs/" + unknownRun + "?wait=soon"), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "limit: garbage", call: get("/v1/tasks/" + e.task + "/runs?limit=ten"), status: 400, problem: httpapi.ProblemInvalidInput},
		{name: "limit: zero", call: get("/v1/tasks/" + e.task + "/runs?limit=0"), status: 400, problem: httpapi.ProblemInvalidInput},

		// Path tricks in task IDs.
		{name: "task: ..", raw: e.rawRequest("POST", "/v1/tasks/../trigger", "application/json", "", `{"payload": 1}`), status: 307, check: e.cleaned("/v1/trigger")},
		{name: "task: .. encoded", raw: e.rawRequest("POST", "/v1/tasks/%2e%2e/trigger", "application/json", "", `{"payload": 1}`), status: 404, problem: httpapi.ProblemUnknownTask},
		{name: "task: .", raw: e.rawRequest("POST", "/v1/tasks/./trigger", "application/json", "", `{"payload": 1}`), status: 307, check: e.cleaned("/v1/tasks/trigger")},
		{name: "task: encoded slash", call: post(`{"payload": 1}`).at("/v1/tasks/" + e.task + "%2Fx/trigger"), status: 404, problem: httpapi.ProblemUnknownTask},
		{name: "task: encoded slash, lower case", call: post(`{"payload": 1}`).at("/v1/tasks/x%2f" + e.task + "/trigger"), status: 404, problem: httpapi.ProblemUnknownTask},
		{name: "task: double-encoded slash", call: post(`{"payload": 1}`).at("/v1/tasks/" + e.task + "%252Fx/trigger"), status: 404, problem: httpapi.ProblemUnknownTask},
		{name: "task: encoded backslash", call: post(`{"payload": 1}`).at("/v1/tasks/..%5C" + e.task + "/trigger"), status: 404, problem: httpapi.ProblemUnknownTask},
		{name: "task: unicode", call: post(`{"payload": 1}`).at("/v1/tasks/h%C3%A9llo/trigger"), status: 404, problem: httpapi.ProblemUnknownTask},
		{name: "task: unicode, raw bytes", raw: e.rawRequest("POST", "/v1/tasks/h\xc3\xa9llo/trigger", "application/json", "", `{"payload": 1}`), status: 404, problem: httpapi.ProblemUnknownTask},
		{name: "task: NUL", call: post(`{"payload": 1}`).at("/v1/tasks/" + e.task + "%00/trigger"), status: 404, problem: httpapi.ProblemUnknownTask},
		{name: "task: 129 bytes", call: post(`{"payload": 1}`).at("/v1/tasks/" + strings.Repeat("t", 129) + "/trigger"), status: 404, problem: httpapi.ProblemUnknownTask},
		{name: "task: empty", raw: e.rawRequest("POST", "/v1/tasks//trigger", "application/json", "", `{"payload": 1}`), status: 307, check: e.cleaned("/v1/tasks/trigger")},
		{name: "task: leading dash", call: post(`{"payload": 1}`).at("/v1/tasks/-" + e.task + "/trigger"), status: 404, problem: httpapi.ProblemUnknownTask},
		{name: "task: other environment's shape", call: post(`{"payload": 1}`).at("/v1/tasks/" + e.prod.env + "%2F" + e.task + "/trigger"), status: 404, problem: httpapi.ProblemUnknownTask},

		// Unknown routes and methods.
		{name: "route: unknown version", call: get("/v2/tasks/" + e.task + "/trigger"), status: 404, problem: httpapi.ProblemNotFound},
		{name: "route: root", call: get("/"), status: 404, problem: httpapi.ProblemNotFound},
		{name: "route: trailing slash", call: post(`{"payload": 1}`).at(trig + "/"), status: 404, problem: httpapi.ProblemNotFound},
		{name: "route: upper case", call: post(`{"payload": 1}`).at(strings.ToUpper(trig)), status: 404, problem: httpapi.ProblemNotFound},
		{name: "route: absolute-form target", raw: e.rawRequest("POST", "http://"+e.addr+"/v1/tasks/x/../../trigger", "application/json", "", `{"payload": 1}`), status: 307, check: e.cleaned("/v1/trigger")},
		{name: "method: PUT trigger", call: apiCall{method: "PUT", path: trig, token: tok, ctype: "application/json", body: `{"payload": 1}`, invalid: true}, status: 405, problem: httpapi.ProblemMethodNotAllowed,
			check: allow("POST")},
		{name: "method: GET trigger", call: get(trig), status: 405, problem: httpapi.ProblemMethodNotAllowed, check: allow("POST")},
		{name: "method: DELETE run", call: apiCall{method: "DELETE", path: "/v1/runs/" + unknownRun, token: tok, invalid: true}, status: 405, problem: httpapi.ProblemMethodNotAllowed, check: allow("GET")},
		{name: "method: PATCH key", call: apiCall{method: "PATCH", path: keys + "k", token: tok, invalid: true}, status: 405, problem: httpapi.ProblemMethodNotAllowed, check: allow("GET")},
		{name: "method: made up", raw: e.rawRequest("BREW", trig, "application/json", "", `{"payload": 1}`), status: 405, problem: httpapi.ProblemMethodNotAllowed},
		{name: "method: HEAD trigger", raw: e.rawRequest("HEAD", trig, "", "", ""), head: true, status: 405, check: allow("POST")},
		{name: "method: HEAD run", raw: e.rawRequest("HEAD", "/v1/runs/"+unknownRun, "", "", ""), head: true, status: 404},
		{name: "method: OPTIONS trigger", call: apiCall{method: "OPTIONS", path: trig, token: tok, invalid: true}, status: 405, problem: httpapi.ProblemMethodNotAllowed, check: allow("POST")},
		{name: "method: OPTIONS *", raw: "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", status: 200,
			check: func(t *testing.T, a apiAnswer) { require.Empty(t, a.body, "net/http's own answer") }},

		// Run ids.
		{name: "run id: garbage", call: get("/v1/runs/nonsense"), status: 404, problem: httpapi.ProblemRunNotFound},
		{name: "run id: not base64", call: get("/v1/runs/run_!!!!"), status: 404, problem: httpapi.ProblemRunNotFound},
		{name: "run id: padded standard base64", call: get("/v1/runs/run_" + base64.StdEncoding.EncodeToString([]byte(e.task+"/r/k"))), status: 404, problem: httpapi.ProblemRunNotFound},
		{name: "run id: two parts", call: get("/v1/runs/" + b64(e.task+"/r")), status: 404, problem: httpapi.ProblemRunNotFound},
		{name: "run id: an invalid task", call: get("/v1/runs/" + b64("../x/r/k")), status: 404, problem: httpapi.ProblemRunNotFound},
		{name: "run id: path in the suffix", call: get("/v1/runs/" + b64(e.task+"/r/../../"+e.prod.env+"/x")), status: 404, problem: httpapi.ProblemRunNotFound},
		{name: "run id: 16 KiB", call: get("/v1/runs/run_" + strings.Repeat("A", 16<<10)), status: 404, problem: httpapi.ProblemRunNotFound},
		{name: "run id: no such run", call: get("/v1/runs/" + unknownRun), status: 404, problem: httpapi.ProblemRunNotFound},
		{name: "run id: another environment's run", call: get("/v1/runs/" + e.prodRunID), status: 404, problem: httpapi.ProblemRunNotFound},
		{name: "run id: another task's, with a token of one task", call: apiCall{method: "GET", path: "/v1/runs/" + e.prodRunID, token: e.devTaskToken}, status: 404, problem: httpapi.ProblemRunNotFound},

		// Authentication.
		{name: "auth: missing", call: apiCall{method: "POST", path: trig, ctype: "application/json", body: `{"payload": 1}`, invalid: true}, status: 401, problem: httpapi.ProblemUnauthorized, check: challenge},
		{name: "auth: Bearer and nothing", call: post(`{"payload": 1}`).auth("Bearer "), status: 401, problem: httpapi.ProblemUnauthorized},
		{name: "auth: Basic", call: post(`{"payload": 1}`).auth("Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+tok))), status: 401, problem: httpapi.ProblemUnauthorized},
		{name: "auth: the token without a scheme", call: post(`{"payload": 1}`).auth(tok), status: 401, problem: httpapi.ProblemUnauthorized},
		{name: "auth: a wrong token", call: post(`{"payload": 1}`).auth("Bearer " + tok + "x"), status: 401, problem: httpapi.ProblemUnauthorized},
		{name: "auth: the token and more", call: post(`{"payload": 1}`).auth("Bearer " + tok + " " + tok), status: 401, problem: httpapi.ProblemUnauthorized},
		{name: "auth: the token's hash", call: post(`{"payload": 1}`).auth("Bearer " + httpapi.HashToken(tok)), status: 401, problem: httpapi.ProblemUnauthorized},
		{name: "auth: another environment's key", call: get(keys + e.prodKey), status: 404, problem: httpapi.ProblemKeyNotFound},
		{name: "auth: another environment's key, reset", call: apiCall{method: "POST", path: keys + e.prodKey + "/reset", token: tok, ctype: "application/json", body: `{"terminate": true}`}, status: 404, problem: httpapi.ProblemKeyNotFound},
		{name: "auth: a task the token may not use", call: apiCall{method: "POST", path: trig, token: e.devTaskToken, ctype: "application/json", body: `{"payload": 1}`}, status: 404, problem: httpapi.ProblemUnknownTask},
		{name: "auth: a task the token may not use, batch", call: apiCall{method: "POST", path: batch, token: e.devTaskToken, ctype: "application/x-ndjson", body: `{"payload": 1}` + "\n", invalid: true}, status: 404, problem: httpapi.ProblemUnknownTask},

		// Slow clients.
		{name: "slowloris: headers never finished", send: func(t *testing.T) apiAnswer {
			took, _ := e.closedWithin(t, "POST "+trig+" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\n", strings.Repeat("X-Slow: s\r\n", 1000), 10*time.Second)
			require.Less(t, took, abuseReadHeaderTimeout+2*time.Second, "closed within its ReadHeaderTimeout")
			return apiAnswer{status: 0}
		}},
		{name: "slowloris: body never finished", send: func(t *testing.T) apiAnswer {
			body := `{"payload": "` + strings.Repeat("s", 200) + `"}`
			start := e.rawRequest("POST", trig, "application/json", "", body)
			start = start[:len(start)-len(body)] // headers only; the body trickles
			took, answer := e.closedWithin(t, start, body, 15*time.Second)
			require.Less(t, took, abuseReadTimeout+2*time.Second, "closed within its ReadTimeout")
			if answer != "" {
				// The handler's read ended with the deadline: the client's fault.
				resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(answer)), nil)
				require.NoError(t, err)
				require.Equal(t, http.StatusBadRequest, resp.StatusCode, "%s", answer)
			}
			return apiAnswer{status: 0}
		}},
	}
	require.GreaterOrEqual(t, len(cases), 40)

	alive := unique("alive")
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			api := *e.api
			api.t = t
			var a apiAnswer
			switch {
			case tt.send != nil:
				a = tt.send(t)
			case tt.raw != "":
				a = e.raw(t, tt.raw, tt.head)
				if tt.problem != "" {
					api.validateResponse(nil, a)
				}
			default:
				a = api.do(tt.call)
			}
			if tt.status != 0 {
				if tt.problem != "" {
					a.problem(t, tt.status, tt.problem)
				} else {
					require.Equal(t, tt.status, a.status, "%s", a.body)
				}
			}
			if tt.check != nil {
				tt.check(t, a)
			}
			// Still serving: a good trigger (another task) succeeds.
			good := api.do(apiCall{method: "POST", path: "/v1/tasks/" + e.task + "-ok/trigger", token: tok, ctype: "application/json",
				header: map[string]string{"Idempotency-Key": alive}, body: `{"payload": 1}`})
			require.Contains(t, []int{http.StatusCreated, http.StatusOK}, good.status, "after %q: %s", tt.name, good.body)
		})
	}

	// Nothing started: the good trigger's run is listed, and no run of the
	// task in dev; in prod, only the run made on purpose.
	ctx := testCtx(t, time.Minute)
	eventually(t, 30*time.Second, "the good trigger's run is listed", func() (bool, error) {
		runs, err := e.dev.starter.ListRuns(ctx, e.task+"-ok", starter.ListOptions{})
		return len(runs) == 1, err
	})
	runs, err := e.dev.starter.ListRuns(ctx, e.task, starter.ListOptions{})
	require.NoError(t, err)
	require.Empty(t, runs, "a bad request started a run")
	runs, err = e.prod.starter.ListRuns(ctx, e.task, starter.ListOptions{})
	require.NoError(t, err)
	require.Len(t, runs, 1, "prod holds only its own run")
	require.Equal(t, string(mustKey(t, e.prodKey)), string(runs[0].Key))
}

// at is c with another path.
func (c apiCall) at(path string) apiCall {
	c.path = path
	return c
}

// auth is c with this Authorization header instead of its token.
func (c apiCall) auth(value string) apiCall {
	c.token = ""
	hdr := map[string]string{"Authorization": value}
	for k, v := range c.header {
		hdr[k] = v
	}
	c.header = hdr
	return c
}

func allow(methods string) func(*testing.T, apiAnswer) {
	return func(t *testing.T, a apiAnswer) { require.Equal(t, methods, a.header.Get("Allow")) }
}

// cleaned checks the redirect (307) of net/http's ServeMux to the cleaned path:
// a path with "." or ".." segments (or "//") is never routed as it is. The
// cleaned paths of these tests name no route: 404.
func (e *abuseEnv) cleaned(path string) func(*testing.T, apiAnswer) {
	return func(t *testing.T, a apiAnswer) {
		loc, err := url.Parse(a.header.Get("Location"))
		require.NoError(t, err)
		require.Equal(t, path, loc.Path)
		e.raw(t, e.rawRequest("POST", path, "application/json", "", `{"payload": 1}`), false).problem(t, 404, httpapi.ProblemNotFound)
	}
}

func challenge(t *testing.T, a apiAnswer) {
	require.Contains(t, a.header.Get("WWW-Authenticate"), "Bearer")
}

// truncatedBody sends a request whose Content-Length promises body but
// that sends only its first n bytes, then half-closes the connection.
func (e *abuseEnv) truncatedBody(t *testing.T, path, body string, n int) apiAnswer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	req := e.rawRequest("POST", path, "application/json", "", body)
	_, err = io.WriteString(conn, req[:len(req)-len(body)+n])
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		require.NoError(t, err)
	}
	return apiAnswer{status: resp.StatusCode, header: resp.Header, body: b}
}

// chunked sends body with Transfer-Encoding: chunked (no Content-Length),
// in chunks of 8 KiB.
func (e *abuseEnv) chunked(t *testing.T, path, ctype, body string) apiAnswer {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", path, e.addr, e.devToken, ctype)
	for rest := body; rest != ""; {
		n := min(len(rest), 8<<10)
		b.WriteString(strconv.FormatInt(int64(n), 16) + "\r\n" + rest[:n] + "\r\n")
		rest = rest[n:]
	}
	b.WriteString("0\r\n\r\n")
	return e.raw(t, b.String(), false)
}

// TestHTTPAPIAbuseBatchItems: bad items of a batch, as an array and as
// NDJSON with a broken line mid-stream, are answered each with its problem;
// the good items around them start their runs.
func TestHTTPAPIAbuseBatchItems(t *testing.T) {
	e := newAbuseEnv(t)
	ctx := testCtx(t, 2*time.Minute)
	items := []struct {
		line    string
		status  int
		problem string
	}{
		{`{"payload": {"n": 0}}`, 201, ""},
		{`{"payload": {"n": 1}`, 400, httpapi.ProblemInvalidJSON}, // cut short
		{`{"payload": {"n": 2}, "ttl": "-1h"}`, 400, httpapi.ProblemInvalidInput},
		{`{"payload": {"n": 3}, "key": "` + strings.Repeat("k", idempotency.MaxKeyTextBytes+1) + `"}`, 400, httpapi.ProblemInvalidInput},
		{`{"payload": {"n": 4}}`, 201, ""},
		{`"just a string"`, 400, httpapi.ProblemInvalidJSON},
		{`{"payload": {"n": 6}, "strict": "yes"}`, 400, httpapi.ProblemInvalidJSON},
		{`{"payload": {"n": 7}, "colour": "red"}`, 400, httpapi.ProblemInvalidJSON},
		{"{\"payload\": \x00}", 400, httpapi.ProblemInvalidJSON},
		{`{"payload": {"n": 9}, "key": "own-` + unique("k") + `"}`, 201, ""},
		{`{"payload": {"n": 10}, "ttl": "0s"}`, 400, httpapi.ProblemInvalidInput},
		{`{"payload": {"n": 11}}`, 201, ""},
	}
	// broken are the items that are not JSON values: an array cannot hold
	// them (it is malformed as a whole), a stream can.
	broken := map[int]bool{1: true, 8: true}
	for _, form := range []string{"array", "ndjson"} {
		t.Run(form, func(t *testing.T) {
			task := unique("abuse-" + form)
			path := "/v1/tasks/" + task + "/batch"
			var lines []string
			var want []int // the index in items of each line sent
			for i, it := range items {
				if form == "array" && broken[i] {
					continue
				}
				lines, want = append(lines, it.line), append(want, i)
			}
			var got []map[string]any
			if form == "array" {
				e.api.do(apiCall{method: "POST", path: path, token: e.devToken, ctype: "application/json",
					body: "[" + strings.Join(append(lines, items[1].line), ",") + "]", invalid: true}).problem(t, 400, httpapi.ProblemInvalidJSON)
				got = batchItems(t, e.api.do(apiCall{method: "POST", path: path, token: e.devToken, ctype: "application/json", body: "[" + strings.Join(lines, ",\n") + "]", invalid: true}))
			} else {
				a := e.api.do(apiCall{method: "POST", path: path, token: e.devToken, ctype: "application/x-ndjson", body: strings.Join(lines, "\n") + "\n", invalid: true})
				require.Equal(t, http.StatusOK, a.status, "%s", a.body)
				got = ndjsonItems(t, a.body)
			}
			require.Len(t, got, len(want))
			good := 0
			for j, i := range want {
				it := items[i]
				require.EqualValues(t, it.status, got[j]["status"], "item %d: %v", i, got[j])
				if it.problem != "" {
					require.Equal(t, it.problem, got[j]["error"].(map[string]any)["type"], "item %d", i)
				} else {
					require.NotEmpty(t, got[j]["runId"], "item %d", i)
					good++
				}
			}
			eventually(t, 30*time.Second, "the good items' runs are listed", func() (bool, error) {
				runs, err := e.dev.starter.ListRuns(ctx, task, starter.ListOptions{})
				return len(runs) >= good, err
			})
			time.Sleep(300 * time.Millisecond)
			runs, err := e.dev.starter.ListRuns(ctx, task, starter.ListOptions{})
			require.NoError(t, err)
			require.Len(t, runs, good, "one run per good item, none for a bad one")
		})
	}

	// A stream that breaks off mid-line (the client goes away): the items
	// before it are answered and started; the server serves on.
	task := unique("abuse-cut")
	conn, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = fmt.Fprintf(conn, "POST /v1/tasks/%s/batch HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n", task, e.addr, e.devToken)
	require.NoError(t, err)
	line := `{"payload": {"n": 0}}` + "\n" + `{"payload": {"n": 1}}` + "\n" + `{"payload": {"n"`
	_, err = fmt.Fprintf(conn, "%x\r\n%s\r\n", len(line), line)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	rd := bufio.NewReader(resp.Body)
	for i := range 2 {
		l, err := rd.ReadString('\n')
		require.NoError(t, err)
		require.Contains(t, l, fmt.Sprintf(`"index":%d`, i))
		require.Contains(t, l, `"status":201`)
	}
	require.NoError(t, conn.Close())
	eventually(t, 30*time.Second, "the items before the break are listed", func() (bool, error) {
		runs, err := e.dev.starter.ListRuns(ctx, task, starter.ListOptions{})
		return len(runs) == 2, err
	})
	a := e.api.do(apiCall{method: "POST", path: "/v1/tasks/" + task + "/trigger", token: e.devToken, ctype: "application/json", body: `{"payload": 1}`})
	require.Equal(t, http.StatusCreated, a.status, "%s", a.body)
}
