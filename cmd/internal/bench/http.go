package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/once-run/once/cmd/internal/apiapp"
	"github.com/once-run/once/cmd/internal/shared"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter/httpapi"
)

// sectionHTTP holds the HTTP API's pairs.
const sectionHTTP = "HTTP API on loopback vs the Go starter it serves"

// httpAPI: Once's HTTP API (starter/httpapi behind cmd/api's http.Server,
// on loopback, with a bearer token) against the Go starter it serves, the
// same Client on both sides: a trigger of a new key, and a cached hit of a
// key the starter has seen, from Config.Concurrency clients. Besides the
// rates, the median latency of a request on each side: what HTTP adds.
func (e *env) httpAPI(ctx context.Context, rep *Report) error {
	api, err := e.serveHTTPAPI()
	if err != nil {
		return err
	}
	defer api.close()
	p := e.cfg.Concurrency
	// Warm the HTTP connections up.
	if _, err := e.measure(ctx, 4*p, p, func(ctx context.Context, _ int) error {
		return api.post(ctx, e.unique("http-warm"), http.StatusCreated)
	}); err != nil {
		return err
	}

	n := e.cfg.NewKeyStarts
	var goNew, httpNew latencies
	rounds, err := e.alternate(ctx, "http new-key", e.cfg.Rounds,
		goNew.timed(e, n, p, e.onceNew(e.plain)),
		httpNew.timed(e, n, p, func(ctx context.Context, _ int) error {
			return api.post(ctx, e.unique("http"), http.StatusCreated)
		}))
	if err != nil {
		return err
	}
	e.addHTTP(rep, fmt.Sprintf("new key: HTTP trigger vs Trigger (%d clients)", p), "starts/s", n, rounds, &goNew, &httpNew)

	keys, _, err := e.existingKeys(ctx, e.plain, e.cfg.CachedKeys)
	if err != nil {
		return err
	}
	n = e.cfg.CachedHits
	var goHit, httpHit latencies
	rounds, err = e.alternate(ctx, "http cached-hit", e.cfg.Rounds,
		goHit.timed(e, n, p, e.onceHit(e.plain.starter, keys)),
		httpHit.timed(e, n, p, func(ctx context.Context, i int) error {
			return api.post(ctx, keys[i%len(keys)][0], http.StatusOK)
		}))
	if err != nil {
		return err
	}
	e.addHTTP(rep, fmt.Sprintf("cached hit: HTTP trigger vs Trigger (%d clients)", p), "calls/s", n, rounds, &goHit, &httpHit)
	return e.httpLatency(ctx, rep, api, keys)
}

// oneClientCalls is the number of cached hits per side and round of the
// one-client latency pair.
const oneClientCalls = 300

// httpLatency times cached hits from one client on each side: with no
// queue in the server, the median latency is what HTTP adds to a request
// (under 16 clients the queue multiplies it).
func (e *env) httpLatency(ctx context.Context, rep *Report, api *benchAPI, keys []idempotency.Parts) error {
	var goOne, httpOne latencies
	_, err := e.alternate(ctx, "http one client", e.cfg.Rounds,
		goOne.timed(e, oneClientCalls, 1, e.onceHit(e.plain.starter, keys)),
		httpOne.timed(e, oneClientCalls, 1, func(ctx context.Context, i int) error {
			return api.post(ctx, keys[i%len(keys)][0], http.StatusOK)
		}))
	if err != nil {
		return err
	}
	goMed, httpMed := goOne.median(), httpOne.median()
	fmt.Fprintf(e.cfg.Log, "cached hit, one client: median latency Go %s, HTTP %s: HTTP adds %s\n",
		goMed.Round(time.Microsecond), httpMed.Round(time.Microsecond), (httpMed - goMed).Round(time.Microsecond))
	rep.add(sectionHTTP, latencyRow(fmt.Sprintf("cached hit, one client: median latency, HTTP adds %.0f µs", us(httpMed-goMed)), &goOne, &httpOne))
	return nil
}

// latencyRow is a row of the median latency of a request on each side, its
// rounds the ratios of the rounds' medians; no goal.
func latencyRow(name string, goSide, httpSide *latencies) Comparison {
	c := Comparison{
		Name: name, Unit: "ms", Once: ms(httpSide.median()), Baseline: ms(goSide.median()),
		OnceLabel: "HTTP", BaselineLabel: "Go", Goal: NoGoal,
	}
	for r := range min(len(goSide.rounds), len(httpSide.rounds)) {
		c.Rounds = append(c.Rounds, ms(median(httpSide.rounds[r]))/ms(median(goSide.rounds[r])))
	}
	return summarize(c)
}

// benchAPI is the HTTP API the bench triggers through, and its clients.
type benchAPI struct {
	srv     *http.Server
	client  *loadClient
	trigger string // the trigger route's path, for the bench's task
	auth    string // the Authorization header
}

// serveHTTPAPI serves the HTTP API on loopback with a token of the starter's
// environment: the handler triggers through e.plain.starter itself, whose
// seen keys the Go side shares.
func (e *env) serveHTTPAPI() (*benchAPI, error) {
	token := e.unique("token")
	tokens, err := httpapi.ParseTokens(strings.NewReader(httpapi.HashToken(token) + " " + startsEnvironment))
	if err != nil {
		return nil, err
	}
	h, err := httpapi.New(e.plain.starter, httpapi.Options{Tokens: tokens, Logger: shared.DiscardLogger()})
	if err != nil {
		return nil, err
	}
	url, srv, err := apiapp.Serve(h, httpapi.DefaultMaxWait, "127.0.0.1:0", "", "", func(err error) {
		fmt.Fprintf(e.cfg.Log, "http api: %v\n", err)
	})
	if err != nil {
		return nil, err
	}
	return &benchAPI{
		srv:     srv,
		client:  newLoadClient(strings.TrimPrefix(url, "http://"), e.cfg.Concurrency),
		trigger: "/v1/tasks/" + noopTask.ID() + "/trigger",
		auth:    "Bearer " + token,
	}, nil
}

func (a *benchAPI) close() {
	a.client.close()
	a.srv.Close()
}

// post triggers the bench's task with key and checks the answer's status.
func (a *benchAPI) post(_ context.Context, key string, want int) error {
	status, body, err := a.client.post(a.trigger, `{"payload": 1}`,
		"Authorization", a.auth, "Content-Type", "application/json", httpapi.HeaderIdempotencyKey, key)
	if err != nil {
		return err
	}
	if status != want {
		return fmt.Errorf("bench: http trigger: %d, want %d: %s", status, want, body)
	}
	return nil
}

// addHTTP files a pair of the HTTP section: the rates (goal ≥ 0.9) and the
// median latency of a request on each side, the added latency in its name.
func (e *env) addHTTP(rep *Report, name, unit string, n int, rounds []pair, goSide, httpSide *latencies) {
	c := rates(name, unit, n, rounds, AtLeast(0.9))
	c.OnceLabel, c.BaselineLabel = "HTTP", "Go"
	rep.add(sectionHTTP, c)
	goMed, httpMed := goSide.median(), httpSide.median()
	added := httpMed - goMed
	goCPU, httpCPU := goSide.cpuPerCall(), httpSide.cpuPerCall()
	fmt.Fprintf(e.cfg.Log, "%s: median latency Go %s, HTTP %s: HTTP adds %s; CPU per call Go %s, HTTP %s\n", name,
		goMed.Round(time.Microsecond), httpMed.Round(time.Microsecond), added.Round(time.Microsecond),
		goCPU.Round(time.Microsecond), httpCPU.Round(time.Microsecond))
	rep.add(sectionHTTP, latencyRow(fmt.Sprintf("  median latency of a request: HTTP adds %.2f ms", ms(added)), goSide, httpSide))
	where := "this process, the server in it"
	if e.cfg.Address != "" {
		where = "this process, not the server's"
	}
	c2 := Comparison{
		Name: fmt.Sprintf("  CPU per call (%s): HTTP adds %.0f µs", where, us(httpCPU-goCPU)), Unit: "µs",
		Once: us(httpCPU), Baseline: us(goCPU), OnceLabel: "HTTP", BaselineLabel: "Go", Goal: NoGoal,
	}
	for r := range min(len(goSide.cpu), len(httpSide.cpu)) {
		c2.Rounds = append(c2.Rounds, us(httpSide.cpu[r])/us(goSide.cpu[r]))
	}
	rep.add(sectionHTTP, summarize(c2))
}

func us(d time.Duration) float64 { return d.Seconds() * 1e6 }

func ms(d time.Duration) float64 { return d.Seconds() * 1000 }

// latencies records the time of each call of one side of a pair, by round,
// and the process's CPU time per call in each round.
type latencies struct {
	mu     sync.Mutex
	rounds [][]time.Duration
	cpu    []time.Duration
}

// timed is e.timed whose calls are recorded, each round apart.
func (l *latencies) timed(e *env, n, parallel int, fn func(context.Context, int) error) func(context.Context) (time.Duration, error) {
	return func(ctx context.Context) (time.Duration, error) {
		l.mu.Lock()
		l.rounds = append(l.rounds, make([]time.Duration, 0, n))
		r := len(l.rounds) - 1
		l.mu.Unlock()
		cpu := processCPU()
		elapsed, err := e.measure(ctx, n, parallel, func(ctx context.Context, i int) error {
			start := time.Now()
			err := fn(ctx, i)
			d := time.Since(start)
			l.mu.Lock()
			l.rounds[r] = append(l.rounds[r], d)
			l.mu.Unlock()
			return err
		})
		l.cpu = append(l.cpu, (processCPU()-cpu)/time.Duration(n))
		return elapsed, err
	}
}

// cpuPerCall is the median of the rounds' CPU time per call.
func (l *latencies) cpuPerCall() time.Duration { return median(l.cpu) }

// median is the median time of every call recorded.
func (l *latencies) median() time.Duration {
	var all []time.Duration
	for _, r := range l.rounds {
		all = append(all, r...)
	}
	return median(all)
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
