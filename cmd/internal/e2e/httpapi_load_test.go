package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once/cmd/internal/apiapp"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
	"github.com/once-run/once/starter/httpapi"
)

// The HTTP API under load and faults (issue 23): many clients on few keys
// make one run per key; a client that lost its answer retries into the run
// its first try started; an API process killed in the middle of a streamed
// batch loses no item and duplicates none when the batch is sent again.

// tokenAPI serves an API of one token for env (no worker: runs stay open,
// the trivial load these tests need) with the binary's server settings.
func tokenAPI(t *testing.T, env string) (url, token string) {
	t.Helper()
	token = unique("tok")
	tokens, err := httpapi.ParseTokens(strings.NewReader(httpapi.HashToken(token) + " " + env))
	require.NoError(t, err)
	s := newStarter(t, starter.Options{Environment: env, Logger: shared.DiscardLogger()})
	h, err := httpapi.New(s, httpapi.Options{Tokens: tokens})
	require.NoError(t, err)
	ts := httptest.NewUnstartedServer(h)
	ts.Config = apiapp.NewServer(h, httpapi.DefaultMaxWait)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL, token
}

// post sends one trigger; the answer's status and body, or the error of a
// client that got no answer.
func post(ctx context.Context, hc *http.Client, url, token string, header map[string]string, body string) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%d %s: %w", resp.StatusCode, b, err)
	}
	return resp.StatusCode, m, nil
}

// requireRuns waits (bounded) until the starter lists n runs of task, and
// still does a moment later.
func requireRuns(t *testing.T, ctx context.Context, s *starter.Client, task string, n int) []starter.RunSummary {
	t.Helper()
	var runs []starter.RunSummary
	eventually(t, 30*time.Second, fmt.Sprintf("%d runs of %s are listed", n, task), func() (bool, error) {
		var err error
		runs, err = s.ListRuns(ctx, task, starter.ListOptions{Limit: 1000})
		return len(runs) >= n, err
	})
	time.Sleep(500 * time.Millisecond)
	runs, err := s.ListRuns(ctx, task, starter.ListOptions{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, runs, n, "runs of %s", task)
	return runs
}

// Load shape of TestHTTPAPILoad.
const (
	loadClients = 64
	loadKeys    = 100
	loadRepeats = 10
)

// TestHTTPAPILoad: 64 concurrent clients each trigger 100 keys 10 times
// (each pass in its own random order): 64,000 requests make exactly 100
// runs, each key answered 201 exactly once and always with its one run.
func TestHTTPAPILoad(t *testing.T) {
	if testing.Short() {
		t.Skip("64,000 requests: skipped with -short")
	}
	e := newTaskEnv(t, false)
	url, token := tokenAPI(t, e.env)
	task := unique("load")
	ctx := testCtx(t, 5*time.Minute)
	keys := make([]string, loadKeys)
	for i := range keys {
		keys[i] = unique("lk")
	}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: loadClients, MaxConnsPerHost: loadClients}}
	t.Cleanup(hc.CloseIdleConnections)

	var (
		mu      sync.Mutex
		runOf   = map[string]string{} // key → the run ID every answer names
		created = map[string]int{}    // key → 201 answers
		answers atomic.Int64
		wg      sync.WaitGroup
		errs    = make(chan error, loadClients)
	)
	start := time.Now()
	for c := range loadClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range loadRepeats {
				for _, i := range rand.Perm(loadKeys) {
					status, got, err := post(ctx, hc, url+"/v1/tasks/"+task+"/trigger", token, map[string]string{"Idempotency-Key": keys[i]}, `{"payload": {"n": 1}}`)
					if err == nil && status != http.StatusCreated && status != http.StatusOK {
						err = fmt.Errorf("status %d: %v", status, got)
					}
					if err != nil {
						errs <- fmt.Errorf("client %d, key %d: %w", c, i, err)
						return
					}
					answers.Add(1)
					mu.Lock()
					if prev, ok := runOf[keys[i]]; ok && prev != got["runId"] {
						mu.Unlock()
						errs <- fmt.Errorf("key %d: runs %s and %v", i, prev, got["runId"])
						return
					}
					runOf[keys[i]] = got["runId"].(string)
					if status == http.StatusCreated {
						created[keys[i]]++
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	took := time.Since(start)
	n := answers.Load()
	t.Logf("%d clients × %d keys × %d repeats: %d answers in %s (%.0f/s)", loadClients, loadKeys, loadRepeats, n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	require.EqualValues(t, loadClients*loadKeys*loadRepeats, n)
	require.Len(t, runOf, loadKeys)
	for _, k := range keys {
		require.Equal(t, 1, created[k], "key %s: one 201", k)
	}

	// Through the starter: each key's run is the one answered, and the
	// task has exactly one run per key.
	for _, k := range keys {
		info, err := e.starter.Lookup(ctx, task, idempotency.Parts{k}, starter.LookupOptions{})
		require.NoError(t, err)
		require.Equal(t, runOf[k], info.RunID)
	}
	requireRuns(t, ctx, e.starter, task, loadKeys)
}

// dropProxy forwards requests to upstream; the first drop of them (per
// path prefix the test sets) get their answer read from upstream and then
// the client's connection closed instead of the answer: a response lost
// after the server acted on the request.
type dropProxy struct {
	upstream string
	drop     atomic.Int64
	dropped  atomic.Int64
}

func (p *dropProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	out.ContentLength = r.ContentLength
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if p.drop.Add(-1) >= 0 {
		// The server answered; the client never hears it.
		p.dropped.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// TestHTTPAPILostResponse: a proxy in front of the API closes the client's
// connection after the server started the run and before its answer
// reaches the client; the client's retries (the same X-Request-Id and no
// key; the same key) get that run, cached: one run each.
func TestHTTPAPILostResponse(t *testing.T) {
	e := newTaskEnv(t, false)
	url, token := tokenAPI(t, e.env)
	proxy := &dropProxy{upstream: url}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	ctx := testCtx(t, 2*time.Minute)
	// A fresh connection per request: net/http retries a request with an
	// Idempotency-Key itself on a reused connection that breaks; this
	// test's client does its retries itself.
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}

	for _, tt := range []struct {
		name   string
		header map[string]string
	}{
		{"X-Request-Id, no key", map[string]string{"X-Request-Id": unique("req")}},
		{"trigger.dev's request ID, no key", map[string]string{"X-Trigger-Request-Idempotency-Key": unique("req")}},
		{"a key", map[string]string{"Idempotency-Key": unique("key")}},
		{"a key and a request ID", map[string]string{"Idempotency-Key": unique("key"), "X-Request-Id": unique("req")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			task := unique("lost")
			path := ps.URL + "/v1/tasks/" + task + "/trigger"
			body := `{"payload": {"order": 42}}`
			proxy.drop.Store(2) // the first try and the first retry
			before := proxy.dropped.Load()
			var status int
			var got map[string]any
			tries := 0
			for {
				tries++
				var err error
				status, got, err = post(ctx, hc, path, token, tt.header, body)
				if err == nil {
					break
				}
				require.Less(t, tries, 5, "retries: %v", err)
			}
			require.Equal(t, 3, tries, "two answers lost, the third try answered")
			require.EqualValues(t, 2, proxy.dropped.Load()-before)
			require.Equal(t, http.StatusOK, status, "the first try started the run: the retry finds it: %v", got)
			require.Equal(t, true, got["cached"])
			runs := requireRuns(t, ctx, e.starter, task, 1)
			require.Equal(t, got["runId"], runs[0].RunID)
			// And again, straight to the server: the same run.
			status, again, err := post(ctx, hc, url+"/v1/tasks/"+task+"/trigger", token, tt.header, body)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, status)
			require.Equal(t, got["runId"], again["runId"])
		})
	}
}

// childAPIMode is the child mode of the API program: its ready line is the
// URL it serves.
const childAPIMode = "api"

// runAPIChild runs the API program (cmd/api's apiapp.Main) as configured
// by its environment variables (TEMPORAL_ADDRESS, ONCE_API_TOKENS, …) on a
// free loopback port, until SIGTERM or SIGKILL.
func runAPIChild() int {
	m := apiapp.NewMain()
	m.Stdout = io.Discard
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:0", "--log-level", "error"}); err != nil {
		fmt.Fprintln(os.Stderr, "child api:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := m.Run(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child api:", err)
		return 1
	}
	readyUntilSignal(m.URL())
	if err := m.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "child api: stop:", err)
		return 1
	}
	return 0
}

// startAPIChild runs the API program in a child process with one token of
// env, on the shared server.
func startAPIChild(t *testing.T, env, token string) *child {
	t.Helper()
	return startChild(t, time.Minute, childModeEnv+"="+childAPIMode,
		"TEMPORAL_ADDRESS="+srv.Address(), "TEMPORAL_NAMESPACE="+srv.Namespace(),
		"TEMPORAL_CONFIG_FILE="+filepath.Join(t.TempDir(), "missing.toml"),
		"ONCE_API_TOKENS="+httpapi.HashToken(token)+" "+env, "ONCE_API_TOKENS_FILE=", "ONCE_API_ADDR=")
}

// streamBatch sends lines as an NDJSON batch, one line at a time, and
// reads the answer lines as they come; after killAfter answer lines (0:
// never) it calls kill and returns the lines read so far. Without kill it
// returns every answer line.
func streamBatch(t *testing.T, ctx context.Context, url, token string, header map[string]string, lines []string, killAfter int, kill func()) []map[string]any {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, "POST", url, pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	answered := make(chan int, len(lines)+1)
	go func() {
		// One line, then wait for answers to catch up a little, so that
		// the kill lands with lines sent and not yet answered.
		defer pw.Close()
		got := 0
		for i, l := range lines {
			if _, err := io.WriteString(pw, l+"\n"); err != nil {
				return
			}
			for got < i-4 {
				n, ok := <-answered
				if !ok {
					return
				}
				got = n
			}
		}
	}()
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out []map[string]any
	rd := bufio.NewReader(resp.Body)
	defer close(answered)
	for {
		l, err := rd.ReadString('\n')
		if err != nil {
			require.NotNil(t, kill, "the stream broke without a kill: %v", err)
			return out
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), "%s", l)
		require.EqualValues(t, len(out), m["index"])
		out = append(out, m)
		answered <- len(out)
		if kill != nil && len(out) == killAfter {
			kill()
			// The rest, if any arrive before the connection breaks, are
			// read by the loop; the error ends it.
			kill = func() {}
		}
		if len(out) == len(lines) {
			return out
		}
	}
}

// TestHTTPAPIKilledMidBatch: the API program (a child process) is killed
// with SIGKILL while a streamed NDJSON batch of 60 items is half answered;
// a new API process gets the same batch again (with a batch key; with only
// an X-Request-Id): every item is answered, the items answered before the
// kill with the same runs, and the task has exactly one run per item.
func TestHTTPAPIKilledMidBatch(t *testing.T) {
	const items, killAfter = 60, 20
	e := newTaskEnv(t, false)
	token := unique("tok")
	ctx := testCtx(t, 4*time.Minute)
	for _, tt := range []struct {
		name   string
		header map[string]string
	}{
		{"batch key", map[string]string{"Idempotency-Key": unique("batch")}},
		{"X-Request-Id only", map[string]string{"X-Request-Id": unique("req")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			task := unique("killed")
			lines := make([]string, items)
			for i := range lines {
				lines[i] = fmt.Sprintf(`{"payload": {"item": %d}}`, i)
			}
			api := startAPIChild(t, e.env, token)
			path := "/v1/tasks/" + task + "/batch"
			var killedAt time.Time
			first := streamBatch(t, ctx, api.addr+path, token, tt.header, lines, killAfter, func() {
				killedAt = time.Now()
				require.NoError(t, api.cmd.Process.Signal(os.Kill))
			})
			require.False(t, killedAt.IsZero(), "killed")
			require.GreaterOrEqual(t, len(first), killAfter)
			require.Less(t, len(first), items, "killed before the end of the batch")
			<-api.done
			t.Logf("killed after %d of %d answers", len(first), items)

			api = startAPIChild(t, e.env, token)
			again := streamBatch(t, ctx, api.addr+path, token, tt.header, lines, 0, nil)
			require.Len(t, again, items, "every item answered")
			for i, it := range again {
				require.Contains(t, []any{201.0, 200.0}, it["status"], "item %d: %v", i, it)
				if i < len(first) {
					require.EqualValues(t, 200, it["status"], "item %d was started before the kill", i)
					require.Equal(t, first[i]["runId"], it["runId"], "item %d", i)
				}
			}
			runs := requireRuns(t, ctx, e.starter, task, items)
			byRun := map[string]bool{}
			for _, r := range runs {
				byRun[r.RunID] = true
			}
			for i, it := range again {
				require.True(t, byRun[it["runId"].(string)], "item %d's run is the task's", i)
			}
		})
	}
}
