package httpapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// openAPI is the API's OpenAPI 3.1 document, served at /openapi.json.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the API: the contract the
// handler is tested against.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Defaults of Options.
const (
	// DefaultMaxWait is the longest wait a request may ask for when
	// Options.MaxWait is zero.
	DefaultMaxWait = time.Minute
	// DefaultMaxBatchItems is the most items of a batch when
	// Options.MaxBatchItems is zero.
	DefaultMaxBatchItems = 1000
	// DefaultMaxBatchBytes bounds a batch's body when Options.MaxBatchBytes
	// is zero.
	DefaultMaxBatchBytes = 32 << 20
	// Envelope is what a body may hold beside its payload (options, JSON
	// syntax): a trigger's body is bounded by the starter's MaxPayloadBytes
	// plus Envelope.
	Envelope = 64 << 10
)

// The request headers the API reads.
const (
	// HeaderIdempotencyKey holds a trigger's key, or a batch's batch key: a
	// 64-character lowercase hex key is used as is, other text is hashed as
	// the one-part key idempotency.Parts{text}. An sf-string in quotes, as
	// the IETF draft writes it, has its quotes removed.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderRequestID identifies a request across a client's retries: a
	// request that carries one and no key gets a key derived from it, so a
	// retry never starts a second run.
	HeaderRequestID = "X-Request-Id"
	// HeaderTriggerRequestID is trigger.dev's SDK's name for the same.
	HeaderTriggerRequestID = "X-Trigger-Request-Idempotency-Key"
)

// ErrNoTokens: New was given no tokens and not told to allow requests
// without one.
var ErrNoTokens = errors.New("httpapi: no tokens: give Options.Tokens, or set Options.AllowUnauthenticated (loopback development only)")

// Options configures the handler.
type Options struct {
	// Tokens are the bearer tokens the API accepts, each bound to one
	// environment. Required unless AllowUnauthenticated.
	Tokens []Token
	// AllowUnauthenticated lets requests without a token through when there
	// are no Tokens: they act in the starter's environment. For a
	// development server on loopback only. Optional: defaults to false.
	AllowUnauthenticated bool
	// MaxWait is the longest wait ("wait" of a trigger, ?wait= of a run) a
	// request may ask for. Optional: defaults to DefaultMaxWait.
	MaxWait time.Duration
	// MaxBatchItems is the most items of one batch. Optional: defaults to
	// DefaultMaxBatchItems.
	MaxBatchItems int
	// MaxBatchBytes bounds a batch's body. Optional: defaults to
	// DefaultMaxBatchBytes.
	MaxBatchBytes int64
	// Logger logs the errors answered with 500. Optional: defaults to the
	// starter's.
	Logger sdklog.Logger
	// Observe is called after every request with its route pattern (e.g.
	// "POST /v1/tasks/{task}/trigger"; "" for none), the status answered
	// and the time it took: a hook for metrics of one's own. Optional.
	Observe func(route string, status int, elapsed time.Duration)
	// MetricsHandler counts requests (MetricRequests) and times them
	// (MetricRequestLatency), tagged by route and status: the SDK's
	// metrics handler, as the worker serves it in Prometheus naming
	// (once_http_requests_total, once_http_request_latency_seconds).
	// Optional: defaults to none.
	MetricsHandler client.MetricsHandler
	// Tracer continues the caller's trace: each request gets a span
	// "HTTP:<route pattern>" whose parent is the request's W3C trace
	// context (traceparent, tracestate, as the tracer's UnmarshalSpan reads
	// them), and carries it in the request's context, so that the starter's
	// Trigger:<task> span (starter.Options.Tracer: give both the same
	// tracer) and the run's spans are its children. Optional: defaults to
	// none.
	Tracer interceptor.Tracer
}

// Metric names and tags of Options.MetricsHandler.
const (
	// MetricRequests counts the API's requests, tagged TagRoute and
	// TagStatus.
	MetricRequests = "once_http_requests"
	// MetricRequestLatency times them, with the same tags.
	MetricRequestLatency = "once_http_request_latency"
	// TagRoute is the route pattern ("POST /v1/tasks/{task}/trigger"),
	// "none" for a request no route matched.
	TagRoute = "route"
	// TagStatus is the HTTP status code answered.
	TagStatus = "status"
	// SpanHTTP is the operation of a request's span (Options.Tracer).
	SpanHTTP = "HTTP"
)

// handler is the API.
type handler struct {
	opts    Options
	base    *target
	targets map[string]*target // by environment: one per token environment
	mux     *http.ServeMux
}

// target is an environment's starter, with what a request reads of its
// options taken once (Options copies them).
type target struct {
	s *starter.Client
	// bodyLimit bounds a trigger's body: the starter's MaxPayloadBytes and
	// the Envelope around it.
	bodyLimit int64
	// parallelism is the starter's BatchParallelism.
	parallelism int
}

func newTarget(s *starter.Client) *target {
	o := s.Options()
	return &target{s: s, bodyLimit: int64(o.MaxPayloadBytes) + Envelope, parallelism: max(o.BatchParallelism, 1)}
}

// New returns the HTTP API of s: Once's routes under /v1/ and the OpenAPI
// document at /openapi.json. Each token's requests go through a starter of
// the token's environment on s's connection (s.With), with s's client
// settings: namespace, data converter and codec, interceptors.
//
// Errors: ErrNoTokens; an invalid token environment.
func New(s *starter.Client, opts Options) (http.Handler, error) {
	if len(opts.Tokens) == 0 && !opts.AllowUnauthenticated {
		return nil, ErrNoTokens
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.MaxBatchItems <= 0 {
		opts.MaxBatchItems = DefaultMaxBatchItems
	}
	if opts.MaxBatchBytes <= 0 {
		opts.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if opts.Logger == nil {
		opts.Logger = s.Options().Logger
	}
	base := newTarget(s)
	h := &handler{opts: opts, base: base, targets: map[string]*target{s.Environment(): base}}
	for _, t := range opts.Tokens {
		if _, ok := h.targets[t.Environment]; ok {
			continue
		}
		o := s.Options()
		o.Environment = t.Environment
		es, err := s.With(o)
		if err != nil {
			return nil, fmt.Errorf("httpapi: token environment %q: %w", t.Environment, err)
		}
		h.targets[t.Environment] = newTarget(es)
	}
	h.routes()
	return h, nil
}

func (h *handler) routes() {
	h.mux = http.NewServeMux()
	h.mount([]route{
		{http.MethodPost, "/v1/tasks/{task}/trigger", h.trigger},
		{http.MethodPost, "/v1/tasks/{task}/batch", h.batch},
		{http.MethodGet, "/v1/tasks/{task}/runs", h.listRuns},
		{http.MethodGet, "/v1/tasks/{task}/keys/{key}", h.describeKey},
		{http.MethodPost, "/v1/tasks/{task}/keys/{key}/reset", h.resetKey},
		{http.MethodGet, "/v1/runs/{id}", h.getRun},
	}, h.authed, methodNotAllowed)
	h.triggerDevRoutes()
	h.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	h.mux.Handle("/openapi.json", methodNotAllowed(http.MethodGet))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, newProblem(ProblemNotFound, "no route "+r.URL.Path+": Once's routes are under /v1/ (see /openapi.json)"))
	})
}

// ServeHTTP routes the request; it reports it to Options.Observe and
// MetricsHandler, and traces it with Options.Tracer.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.opts.Observe == nil && h.opts.MetricsHandler == nil && h.opts.Tracer == nil {
		h.mux.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	_, route := h.mux.Handler(r)
	if route == "" || route == "/" {
		route = "none"
	}
	var span interceptor.TracerSpan
	if t := h.opts.Tracer; t != nil {
		span = h.startSpan(r, route)
		if span != nil {
			r = r.WithContext(t.ContextWithSpan(r.Context(), span))
		}
	}
	sw := &statusWriter{ResponseWriter: w}
	h.mux.ServeHTTP(sw, r)
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	elapsed := time.Since(start)
	if span != nil {
		var err error
		if sw.status >= http.StatusInternalServerError {
			err = errors.New(http.StatusText(sw.status))
		}
		span.Finish(&interceptor.TracerFinishSpanOptions{Error: err})
	}
	if m := h.opts.MetricsHandler; m != nil {
		m = m.WithTags(map[string]string{TagRoute: route, TagStatus: strconv.Itoa(sw.status)})
		m.Counter(MetricRequests).Inc(1)
		m.Timer(MetricRequestLatency).Record(elapsed)
	}
	if h.opts.Observe != nil {
		h.opts.Observe(route, sw.status, elapsed)
	}
}

// startSpan starts the span of a request, a child of the trace context it
// carries; nil when the tracer cannot (the request is not traced then).
func (h *handler) startSpan(r *http.Request, route string) interceptor.TracerSpan {
	t := h.opts.Tracer
	var parent interceptor.TracerSpanRef
	if tp := r.Header.Get("Traceparent"); tp != "" {
		carrier := map[string]string{"traceparent": tp}
		if ts := r.Header.Get("Tracestate"); ts != "" {
			carrier["tracestate"] = ts
		}
		if ref, err := t.UnmarshalSpan(carrier); err == nil {
			parent = ref
		}
	}
	span, err := t.StartSpan(&interceptor.TracerStartSpanOptions{
		Parent:    parent,
		Operation: SpanHTTP,
		Name:      route,
		Time:      time.Now(),
		Tags:      map[string]string{TagRoute: route},
	})
	if err != nil {
		h.opts.Logger.Warn("http api: cannot start the request's span; it is not traced", "error", err)
		return nil
	}
	return span
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// route is a route of the API: its method and path pattern, and what
// answers an authenticated caller.
type route struct {
	method, path string
	fn           func(http.ResponseWriter, *http.Request, *caller)
}

// mount adds routes to h's mux, each authenticated by authed, and another
// method on a route's path answered by notAllowed(the route's method).
func (h *handler) mount(routes []route, authed func(func(http.ResponseWriter, *http.Request, *caller)) http.Handler, notAllowed func(allow string) http.Handler) {
	for _, rt := range routes {
		h.mux.Handle(rt.method+" "+rt.path, authed(rt.fn))
		h.mux.Handle(rt.path, notAllowed(rt.method))
	}
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeProblem(w, newProblem(ProblemMethodNotAllowed, r.Method+" "+r.URL.Path+": use "+allow))
	})
}

// caller is who asks: the starter of the token's environment and the token
// (nil without authentication).
type caller struct {
	*target
	token *Token
}

// authed authenticates the request (401) before fn.
func (h *handler) authed(fn func(http.ResponseWriter, *http.Request, *caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, p := h.authenticate(r)
		if p != nil {
			writeProblem(w, p)
			return
		}
		fn(w, r, c)
	})
}

func (h *handler) authenticate(r *http.Request) (*caller, *Problem) {
	if len(h.opts.Tokens) == 0 {
		return &caller{target: h.base}, nil
	}
	auth := r.Header.Get("Authorization")
	scheme, bearer, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(bearer) == "" {
		return nil, newProblem(ProblemUnauthorized, "send Authorization: Bearer <token>")
	}
	t := match(h.opts.Tokens, strings.TrimSpace(bearer))
	if t == nil {
		return nil, newProblem(ProblemUnauthorized, "the bearer token is not one this API accepts")
	}
	return &caller{target: h.targets[t.Environment], token: t}, nil
}

// task reads the {task} of the path: a task the caller may use, else 404.
func (c *caller) task(r *http.Request) (string, *Problem) {
	task := r.PathValue("task")
	if err := idempotency.ValidateTaskID(task); err != nil {
		return "", newProblem(ProblemUnknownTask, err.Error())
	}
	if c.token != nil && !c.token.allows(task) {
		return "", newProblem(ProblemUnknownTask, "task "+strconv.Quote(task)+" is not one this token may use")
	}
	return task, nil
}

// keyInput is a key as the API takes it, in the Idempotency-Key header or
// the path: a 64-character lowercase hex key as is, other text as the
// one-part key idempotency.Parts{text}.
func keyInput(text string) idempotency.Input {
	if len(text) == idempotency.KeyLen {
		if k, err := idempotency.ParseKey(text); err == nil {
			return k
		}
	}
	return idempotency.Parts{text}
}

// headerKey is the Idempotency-Key header, its quotes removed; "" when
// absent. A header that is there but empty (or blank, or "") is a problem:
// a client that meant to send a key must not get an unkeyed run.
func headerKey(r *http.Request) (string, *Problem) {
	if len(r.Header.Values(HeaderIdempotencyKey)) == 0 {
		return "", nil
	}
	v := strings.TrimSpace(r.Header.Get(HeaderIdempotencyKey))
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if strings.TrimSpace(v) == "" {
		return "", newProblem(ProblemInvalidInput, HeaderIdempotencyKey+" is empty: send a key, or no "+HeaderIdempotencyKey+" header for an unkeyed trigger")
	}
	return v, nil
}

// requestKey is the key derived from the request's request ID (the same in
// every retry of it); ok is false without one.
func requestKey(r *http.Request) (idempotency.Key, bool, error) {
	id := strings.TrimSpace(r.Header.Get(HeaderRequestID))
	if id == "" {
		id = strings.TrimSpace(r.Header.Get(HeaderTriggerRequestID))
	}
	if id == "" {
		return "", false, nil
	}
	k, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "once-http-request", id)
	return k, true, err
}

// readJSON decodes the JSON body of r into dst, with at most limit bytes. An
// empty body leaves dst as it is when emptyOK.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any, emptyOK bool) *Problem {
	body, p := readBody(w, r, limit, "application/json")
	if p != nil {
		return p
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return newProblem(ProblemInvalidJSON, "the body is empty: send a JSON value")
	}
	return decodeJSON(body, dst)
}

// readBody reads r's body, at most limit bytes, after checking its media
// type is want (or, for an empty body, absent).
func readBody(w http.ResponseWriter, r *http.Request, limit int64, want ...string) ([]byte, *Problem) {
	if p := checkMediaType(r, want...); p != nil {
		return nil, p
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, ProblemFor(err)
	}
	return body, nil
}

// checkMediaType is nil when r's Content-Type is one of want, or absent
// with an empty body.
func checkMediaType(r *http.Request, want ...string) *Problem {
	ct := r.Header.Get("Content-Type")
	if ct == "" && (r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody) {
		return nil
	}
	if slices.Contains(want, ct) {
		return nil // the usual "application/json", without parameters to parse
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		for _, w := range want {
			if mt == w {
				return nil
			}
		}
	}
	return newProblem(ProblemUnsupportedMediaType, fmt.Sprintf("Content-Type %q: send %s", ct, strings.Join(want, " or ")))
}

// decodeJSON decodes one JSON value into dst, refusing unknown fields and
// trailing data; a syntax or type error says where it is.
func decodeJSON(body []byte, dst any) *Problem {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return positioned(body, dec.InputOffset()-1, "unexpected data after the JSON value")
		}
		return nil
	}
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return positioned(body, syn.Offset-1, syn.Error()) // the offending byte
	case errors.As(err, &typ):
		what := "a value"
		if typ.Field != "" {
			what = strconv.Quote(typ.Field)
		}
		return positioned(body, typ.Offset, fmt.Sprintf("%s: want %s, not %s", what, typ.Type, typ.Value))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return positioned(body, int64(len(body)), "unexpected end of JSON input")
	}
	return positioned(body, dec.InputOffset(), strings.TrimPrefix(err.Error(), "json: "))
}

// positioned is a malformed-JSON problem at byte offset of body.
func positioned(body []byte, offset int64, msg string) *Problem {
	offset = min(max(offset, 0), int64(len(body)))
	line, col := 1, 1
	for _, b := range body[:offset] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	p := newProblem(ProblemInvalidJSON, fmt.Sprintf("line %d, column %d: %s", line, col, msg))
	p.Line, p.Column = line, col
	return p
}

// parseWait parses a wait ("30s"; "" for none), at most max.
func parseWait(s string, max time.Duration) (time.Duration, *Problem) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, newProblem(ProblemInvalidInput, fmt.Sprintf("wait %q: want a duration such as \"30s\"", s))
	}
	if d > max {
		return 0, newProblem(ProblemInvalidInput, fmt.Sprintf("wait %s: at most %s", d, max))
	}
	return d, nil
}
