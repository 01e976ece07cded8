package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// trigger.dev's REST surface (issue 24): the routes that @trigger.dev/sdk v4
// calls to trigger tasks from a backend, with trigger.dev v4's server
// semantics, so that its SDK works unchanged against Once:
//
//	POST /api/v1/tasks/{task}/trigger          tasks.trigger
//	POST /api/v3/batches                       tasks.batchTrigger, phase 1
//	POST /api/v3/batches/{batch}/items         tasks.batchTrigger, phase 2 (NDJSON)
//	GET  /api/v3/runs/{id}                     runs.retrieve, runs.poll
//	POST /api/v1/idempotencyKeys/{key}/reset   idempotencyKeys.reset
//
// Tokens, environments, keys, reuse and convergence are those of Once's own
// routes (the same starter and token list). What differs is trigger.dev's:
// bodies and answers in its shapes, errors as {"error": "…"}, and the key
// lifecycle of trigger.dev v4 (starter.FailureRelease: a key whose run
// failed, timed out or was terminated starts a new run; completed and
// canceled runs keep it), the same for single and batch triggers.
//
// Batches are stateless: the id that phase 1 answers holds the batch key
// (the batch's idempotencyKey; else one derived from the request's
// X-Trigger-Request-Idempotency-Key; else a random one) and the item count,
// so any replica takes phase 2. An item without its own key gets
// idempotency.BatchItemKey(batch key, index), so a resent stream (the SDK
// resends it whole after an error or sealed: false) finds the runs it
// started. Phase 1 answers isCached: false always: with no batch record to
// read, a batch cut short could not tell that its later items never started,
// and the SDK sends no items for a cached batch. A repeated batch sends its
// items again and each finds its run (itemsDeduplicated).

// tdPublicTokenHeader is where trigger.dev answers a public access token for
// the run or batch; the SDK signs one itself when it is missing, which a
// token shaped like trigger.dev's additional keys (tr_dev_sk_…) cannot, so
// Once always sends it. Once has no public access tokens: the value is a
// placeholder that Once's API does not accept.
const (
	tdPublicTokenHeader = "X-Trigger-Jwt"
	tdPublicToken       = "once-has-no-public-access-tokens"
)

// tdBatchIDPrefix starts every batch id of the trigger.dev routes.
const tdBatchIDPrefix = "batch_"

// triggerDevRoutes adds trigger.dev's routes to h's mux.
func (h *handler) triggerDevRoutes() {
	h.mount([]route{
		{http.MethodPost, "/api/v1/tasks/{task}/trigger", h.tdTrigger},
		{http.MethodPost, "/api/v3/batches", h.tdCreateBatch},
		{http.MethodPost, "/api/v3/batches/{batch}/items", h.tdBatchItems},
		{http.MethodGet, "/api/v3/runs/{id}", h.tdRetrieveRun},
		{http.MethodPost, "/api/v1/idempotencyKeys/{key}/reset", h.tdResetKey},
	}, h.tdAuthed, tdMethodNotAllowed)
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		tdError(w, http.StatusNotFound, "no route "+r.Method+" "+r.URL.Path+": Once serves trigger.dev's trigger, batch (v3), run retrieve (v3) and idempotency-key reset routes")
	})
}

// tdMethodNotAllowed answers another method than allow on one of
// trigger.dev's routes, in trigger.dev's shape.
func tdMethodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		tdError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+": use "+allow)
	})
}

// tdAuthed authenticates the request as Once's routes do, answering a
// failure in trigger.dev's shape.
func (h *handler) tdAuthed(fn func(http.ResponseWriter, *http.Request, *caller)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, p := h.authenticate(r)
		if p != nil {
			tdProblem(w, p)
			return
		}
		fn(w, r, c)
	})
}

// tdError answers trigger.dev's error body, {"error": msg}. A 409 is
// Once's "the key's run is still running", not trigger.dev's lock timeout:
// x-should-retry: false keeps the SDK from asking again.
func tdError(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusConflict {
		w.Header().Set("X-Should-Retry", "false")
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

// tdProblem answers p in trigger.dev's shape, with its headers.
func tdProblem(w http.ResponseWriter, p *Problem) {
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="once"`)
	}
	msg := p.Detail
	if msg == "" {
		msg = p.Title
	}
	tdError(w, p.Status, msg)
}

// tdFail answers err, logging what is not the caller's doing.
func (h *handler) tdFail(w http.ResponseWriter, err error) {
	tdProblem(w, h.tdProblemFor(err))
}

// tdProblemFor is err's problem (ProblemFor), logging what is not the
// caller's doing.
func (h *handler) tdProblemFor(err error) *Problem {
	p := ProblemFor(err)
	if p.Status == http.StatusInternalServerError {
		h.opts.Logger.Error("http api (trigger.dev routes)", "error", err)
	}
	return p
}

// tdInvalid is a 400 problem.
func tdInvalid(format string, args ...any) *Problem {
	return newProblem(ProblemInvalidInput, fmt.Sprintf(format, args...))
}

// tdKeyOptions is trigger.dev's idempotencyKeyOptions: the text and scope
// the key was made from (idempotencyKeys.create).
type tdKeyOptions struct {
	Key   string `json:"key"`
	Scope string `json:"scope"`
}

// tdOptions are the options of a trigger or batch item that Once reads.
// Others are accepted and ignored (README, "Coming from trigger.dev").
type tdOptions struct {
	PayloadType           string          `json:"payloadType"`
	IdempotencyKey        string          `json:"idempotencyKey"`
	IdempotencyKeyTTL     string          `json:"idempotencyKeyTTL"`
	IdempotencyKeyOptions *tdKeyOptions   `json:"idempotencyKeyOptions"`
	Delay                 json.RawMessage `json:"delay"`
	Debounce              *tdDebounce     `json:"debounce"`

	// Refused: no equivalent in Once (yet).
	ParentRunID              string `json:"parentRunId"`
	ResumeParentOnCompletion bool   `json:"resumeParentOnCompletion"`
	ParentBatch              string `json:"parentBatch"`
	DependentAttempt         string `json:"dependentAttempt"`
	ParentAttempt            string `json:"parentAttempt"`
	DependentBatch           string `json:"dependentBatch"`
}

// refused names the options set that Once refuses; "" when none.
func (o *tdOptions) refused() string {
	var names []string
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"parentRunId", o.ParentRunID != ""},
		{"resumeParentOnCompletion", o.ResumeParentOnCompletion},
		{"parentBatch", o.ParentBatch != ""},
		{"dependentAttempt", o.DependentAttempt != ""},
		{"parentAttempt", o.ParentAttempt != ""},
		{"dependentBatch", o.DependentBatch != ""},
	} {
		if f.set {
			names = append(names, f.name)
		}
	}
	return strings.Join(names, ", ")
}

// tdDebounce is trigger.dev's debounce option: once.Debounce, its
// durations in trigger.dev's syntax ("5s", "2h30m"; tdDuration).
type tdDebounce struct {
	Key      string `json:"key"`
	Delay    string `json:"delay"`
	Mode     string `json:"mode"`
	MaxDelay string `json:"maxDelay"`
}

// options is d as the starter takes it.
//
// Errors: once.ErrInvalidDebounce (wrapped) for a duration that does not
// parse; the starter checks the rest.
func (d *tdDebounce) options() (*starter.Debounce, error) {
	return debounceOptions(d.Key, d.Mode, d.Delay, d.MaxDelay, parseTDDuration)
}

// tdKey is the key of options: idempotencyKey, which the SDK has hashed
// already (64 hex characters: used as is, never hashed again), with the
// text of idempotencyKeyOptions for the run's memo; other text is hashed as
// the one-part key, as Once's own routes do. nil without a key.
//
// The memo's scope is global: these routes take triggers from outside any
// run (parentRunId is refused), where the SDK adds nothing to the key text
// whatever the scope it reports, so the text alone is the key's (as
// idempotency.Derive with ScopeGlobal hashes it).
func tdKey(o *tdOptions) (idempotency.Input, error) {
	if o.IdempotencyKey == "" {
		return nil, nil
	}
	k, err := idempotency.ParseKey(o.IdempotencyKey)
	if err != nil {
		return idempotency.Parts{o.IdempotencyKey}, nil
	}
	if o.IdempotencyKeyOptions == nil || o.IdempotencyKeyOptions.Key == "" {
		return k, nil
	}
	if _, err := idempotency.ParseScope(o.IdempotencyKeyOptions.Scope); err != nil {
		return nil, err
	}
	return idempotency.TriggerKey{Key: k, Text: o.IdempotencyKeyOptions.Key, Scope: idempotency.ScopeGlobal}, nil
}

// tdDuration is trigger.dev's duration text: "30s", "10m", "2h" (or "2hr"),
// "1d", "1w", or several of them in that order ("1h30m").
var tdDuration = regexp.MustCompile(`^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)hr?)?(?:(\d+)m)?(?:(\d+)s)?$`)

// parseDelay reads trigger.dev's delay: a duration ("1h30m") or a date
// (ISO 8601; one in the past is no delay). now is the clock.
func parseDelay(raw json.RawMessage, now time.Time) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s == "" {
		return 0, fmt.Errorf("delay %s: want a duration such as \"1h30m\" or a date", raw)
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return max(t.Sub(now), 0), nil
	}
	d, err := parseTDDuration(s)
	if err != nil {
		return 0, fmt.Errorf("delay: %v or a date", err)
	}
	return d, nil
}

// parseTDDuration reads trigger.dev's duration text (tdDuration).
func parseTDDuration(s string) (time.Duration, error) {
	m := tdDuration.FindStringSubmatch(s)
	if m == nil || s == "" {
		return 0, fmt.Errorf("%q: want a duration such as \"1h30m\" (units w, d, h, m, s)", s)
	}
	units := []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var d time.Duration
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || n > int64(1<<62)/int64(u) {
			return 0, fmt.Errorf("%q: too long", s)
		}
		d += time.Duration(n) * u
	}
	return d, nil
}

// tdPayload decodes the payload of a trigger as options.payloadType says
// into the plain JSON a Once task gets:
//
//   - application/super+json (the SDK's default for objects): superjson's
//     {"json": …, "meta": …} in a string; the "json" part, in which a Date is
//     its ISO string, a BigInt its decimal string, a Map its entries, a Set its
//     items, and with what JSON cannot hold written as JSON.stringify would (an
//     undefined property dropped, NaN and ±Infinity null);
//   - application/json: JSON, in a string or as is;
//   - text/plain (the SDK's for a string): the string.
//
// A missing payload is null. Errors: an offloaded payload
// (application/store), another type, or text that does not decode.
func tdPayload(raw json.RawMessage, payloadType string) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("null"), nil
	}
	mt := payloadType
	if mt != "" {
		if parsed, _, err := mime.ParseMediaType(payloadType); err == nil {
			mt = parsed
		}
	}
	var text string
	isString := raw[0] == '"'
	if isString {
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, fmt.Errorf("payload: %v", err)
		}
	}
	switch mt {
	case "text/plain":
		return raw, nil // the string, as a JSON string
	case "", "application/json":
		if !isString {
			return raw, nil
		}
		if !json.Valid([]byte(text)) {
			return nil, errors.New("payload: payloadType application/json, but the payload is not JSON")
		}
		return json.RawMessage(text), nil
	case "application/super+json":
		if isString {
			raw = json.RawMessage(text)
		}
		return decodeSuperJSON(raw)
	case "application/store":
		return nil, errors.New("payload: payloadType application/store: the SDK uploaded a large payload to trigger.dev's object store, which Once does not have; send less data (a reference to it)")
	}
	return nil, fmt.Errorf("payload: payloadType %q: want application/super+json, application/json or text/plain", payloadType)
}

// decodeSuperJSON turns superjson's {"json": …, "meta": {"values": …}} into
// plain JSON (see tdPayload).
func decodeSuperJSON(raw []byte) (json.RawMessage, error) {
	var sj struct {
		JSON json.RawMessage `json:"json"`
		Meta *struct {
			Values json.RawMessage `json:"values"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(raw, &sj); err != nil {
		return nil, fmt.Errorf("payload: payloadType application/super+json: %v", err)
	}
	if len(sj.JSON) == 0 {
		return json.RawMessage("null"), nil
	}
	if sj.Meta == nil || len(sj.Meta.Values) == 0 {
		return sj.JSON, nil
	}
	var root any
	dec := json.NewDecoder(bytes.NewReader(sj.JSON))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("payload: payloadType application/super+json: %v", err)
	}
	// values: one annotation for the root (["Date"]), or a map from
	// dot-separated paths to annotations ({"a.0": ["undefined"]}).
	var rootAnn []any
	if json.Unmarshal(sj.Meta.Values, &rootAnn) == nil {
		root = plainValue(root, annotation(rootAnn))
	} else {
		var paths map[string][]any
		if err := json.Unmarshal(sj.Meta.Values, &paths); err != nil {
			return nil, fmt.Errorf("payload: payloadType application/super+json: meta.values: %v", err)
		}
		for path, ann := range paths {
			root = applyAt(root, splitPath(path), annotation(ann))
		}
	}
	return json.Marshal(root)
}

// annotation is the type name of a superjson annotation (["Date"], ["map",
// {…}], ["class", "Name"]); "" for none.
func annotation(a []any) string {
	if len(a) == 0 {
		return ""
	}
	s, _ := a[0].(string)
	return s
}

// removed marks a value that JSON.stringify would drop.
type removed struct{}

// plainValue is v as plain JSON has it, given its superjson type.
func plainValue(v any, typ string) any {
	switch typ {
	case "undefined":
		return removed{}
	case "number": // NaN, Infinity, -Infinity: null in JSON
		return nil
	}
	return v
}

// applyAt applies the annotation typ to the value at path in v.
func applyAt(v any, path []string, typ string) any {
	if len(path) == 0 {
		return plainValue(v, typ)
	}
	switch node := v.(type) {
	case map[string]any:
		child, ok := node[path[0]]
		if !ok {
			return v
		}
		if nv := applyAt(child, path[1:], typ); nv == (removed{}) {
			delete(node, path[0])
		} else {
			node[path[0]] = nv
		}
	case []any:
		i, err := strconv.Atoi(path[0])
		if err != nil || i < 0 || i >= len(node) {
			return v
		}
		nv := applyAt(node[i], path[1:], typ)
		if nv == (removed{}) {
			nv = nil // JSON.stringify writes undefined in an array as null
		}
		node[i] = nv
	}
	return v
}

// splitPath splits a superjson path at the dots that "\." does not escape.
func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	var out []string
	var cur strings.Builder
	for i := 0; i < len(p); i++ {
		switch {
		case p[i] == '\\' && i+1 < len(p) && p[i+1] == '.':
			cur.WriteByte('.')
			i++
		case p[i] == '.':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(p[i])
		}
	}
	return append(out, cur.String())
}

// tdTriggerOptions are the starter's options for o; key is the trigger's
// key when o has none (nil: unkeyed).
func tdTriggerOptions(o *tdOptions, fallback idempotency.Input, fallbackStrict bool, now time.Time) (starter.TriggerOptions, *Problem) {
	if names := o.refused(); names != "" {
		return starter.TriggerOptions{}, tdInvalid("options %s: not supported by Once (triggers from inside a trigger.dev run); see the README, \"Coming from trigger.dev\"", names)
	}
	key, err := tdKey(o)
	if err != nil {
		return starter.TriggerOptions{}, ProblemFor(err)
	}
	opts := starter.TriggerOptions{Key: key, OnFailure: starter.FailureRelease}
	if o.Debounce != nil {
		// A burst's trigger: no key of the request's, and the task's
		// policy (each burst's run has a key of its own). An
		// idempotencyKey, TTL or delay beside it is refused by the starter.
		opts.OnFailure = starter.FailureDefault
		fallback = nil
		if opts.Debounce, err = o.Debounce.options(); err != nil {
			return opts, ProblemFor(err)
		}
	}
	if key == nil && fallback != nil {
		opts.Key, opts.Strict = fallback, fallbackStrict
	}
	if o.IdempotencyKeyTTL != "" {
		if opts.TTL, err = idempotency.ParseTTL(o.IdempotencyKeyTTL); err != nil {
			return opts, ProblemFor(err)
		}
	}
	if opts.StartDelay, err = parseDelay(o.Delay, now); err != nil {
		return opts, tdInvalid("%v", err)
	}
	return opts, nil
}

// tdTask checks a task named by a request: a valid task ID the caller may
// use, else 404.
func tdTask(c *caller, task string) *Problem {
	if err := idempotency.ValidateTaskID(task); err != nil {
		return newProblem(ProblemUnknownTask, err.Error())
	}
	if c.token != nil && !c.token.allows(task) {
		return newProblem(ProblemUnknownTask, "task "+strconv.Quote(task)+" is not one this token may use")
	}
	return nil
}

// tdTriggerRequest is the body of POST /api/v1/tasks/{task}/trigger.
type tdTriggerRequest struct {
	Payload json.RawMessage `json:"payload"`
	Options tdOptions       `json:"options"`
}

// tdTrigger answers tasks.trigger: 200 {id, isCached}.
func (h *handler) tdTrigger(w http.ResponseWriter, r *http.Request, c *caller) {
	task := r.PathValue("task")
	if p := tdTask(c, task); p != nil {
		tdProblem(w, p)
		return
	}
	var req tdTriggerRequest
	if p := tdReadJSON(w, r, c.bodyLimit, &req); p != nil {
		tdProblem(w, p)
		return
	}
	payload, err := tdPayload(req.Payload, req.Options.PayloadType)
	if err != nil {
		tdProblem(w, tdInvalid("%v", err))
		return
	}
	// Without a key, one derived from the request ID (the same in the SDK's
	// retries of the request), strict: a retry never starts a second run.
	fallback, ok, err := requestKey(r)
	if err != nil {
		h.tdFail(w, err)
		return
	}
	var fb idempotency.Input
	if ok {
		fb = fallback
	}
	opts, p := tdTriggerOptions(&req.Options, fb, true, time.Now())
	if p != nil {
		tdProblem(w, p)
		return
	}
	run, err := c.s.Trigger(r.Context(), task, payload, opts)
	if err != nil {
		h.tdFail(w, err)
		return
	}
	w.Header().Set(tdPublicTokenHeader, tdPublicToken)
	writeJSON(w, http.StatusOK, map[string]any{"id": runIDOf(run), "isCached": run.Cached})
}

// runIDOf is the API's id of run: a debounced trigger's names its burst's
// run (debouncedRefOf).
func runIDOf(run *starter.Run) string {
	if ref, ok := debouncedRefOf(run); ok {
		return EncodeRunID(ref)
	}
	return newRunBody(run.Task, run.WorkflowID, run.RunID).ID
}

// tdReadJSON decodes a JSON body into dst, at most limit bytes; unknown
// fields are ignored (the SDK adds fields from version to version).
func tdReadJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) *Problem {
	body, p := readBody(w, r, limit, "application/json")
	if p != nil {
		return p
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return newProblem(ProblemInvalidJSON, "the body is empty: send a JSON object")
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return newProblem(ProblemInvalidJSON, err.Error())
	}
	return nil
}

// tdBatch is what a batch id holds: the batch key, whether it was derived
// from the request (its items are strict), and the item count.
type tdBatch struct {
	Key      idempotency.Key
	Strict   bool
	RunCount int
}

// encodeBatchID is "batch_" + base64url("<count>.<k|s>.<key>").
func encodeBatchID(b tdBatch) string {
	flag := "k"
	if b.Strict {
		flag = "s"
	}
	return tdBatchIDPrefix + base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(b.RunCount)+"."+flag+"."+string(b.Key)))
}

// decodeBatchID parses an id made by encodeBatchID.
func decodeBatchID(id string) (tdBatch, bool) {
	rest, ok := strings.CutPrefix(id, tdBatchIDPrefix)
	if !ok {
		return tdBatch{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return tdBatch{}, false
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || (parts[1] != "k" && parts[1] != "s") {
		return tdBatch{}, false
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 1 || strconv.Itoa(n) != parts[0] {
		return tdBatch{}, false
	}
	k, err := idempotency.ParseKey(parts[2])
	if err != nil {
		return tdBatch{}, false
	}
	return tdBatch{Key: k, Strict: parts[1] == "s", RunCount: n}, true
}

// tdCreateBatchRequest is the body of POST /api/v3/batches.
type tdCreateBatchRequest struct {
	RunCount                 int           `json:"runCount"`
	TaskIdentifiers          []string      `json:"taskIdentifiers"`
	IdempotencyKey           string        `json:"idempotencyKey"`
	IdempotencyKeyOptions    *tdKeyOptions `json:"idempotencyKeyOptions"`
	ParentRunID              string        `json:"parentRunId"`
	ResumeParentOnCompletion bool          `json:"resumeParentOnCompletion"`
}

// tdCreateBatch answers phase 1 of a batch: 200 {id, runCount, isCached}.
func (h *handler) tdCreateBatch(w http.ResponseWriter, r *http.Request, c *caller) {
	var req tdCreateBatchRequest
	if p := tdReadJSON(w, r, Envelope, &req); p != nil {
		tdProblem(w, p)
		return
	}
	if req.ParentRunID != "" || req.ResumeParentOnCompletion {
		tdProblem(w, tdInvalid("parentRunId, resumeParentOnCompletion: batches from inside a trigger.dev run are not supported by Once"))
		return
	}
	if req.RunCount < 1 || req.RunCount > h.opts.MaxBatchItems {
		tdProblem(w, tdInvalid("runCount %d: want 1 to %d", req.RunCount, h.opts.MaxBatchItems))
		return
	}
	for _, task := range req.TaskIdentifiers {
		if p := tdTask(c, task); p != nil {
			tdProblem(w, p)
			return
		}
	}
	b := tdBatch{RunCount: req.RunCount}
	switch {
	case req.IdempotencyKey != "":
		k, err := idempotency.Resolve(keyInput(req.IdempotencyKey), "", idempotency.RunContext{})
		if err != nil {
			h.tdFail(w, err)
			return
		}
		b.Key = k
	default:
		k, ok, err := requestKey(r)
		if err != nil {
			h.tdFail(w, err)
			return
		}
		if !ok {
			// No key and no request ID: a batch of its own; the id still
			// lets a resent stream find its runs.
			if k, err = idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "once-trigger-batch", uuid.NewString()); err != nil {
				h.tdFail(w, err)
				return
			}
		}
		b.Key, b.Strict = k, true
	}
	w.Header().Set(tdPublicTokenHeader, tdPublicToken)
	body := map[string]any{"id": encodeBatchID(b), "runCount": b.RunCount, "isCached": false}
	if req.IdempotencyKey != "" {
		body["idempotencyKey"] = req.IdempotencyKey
	}
	writeJSON(w, http.StatusOK, body)
}

// tdBatchItem is one NDJSON line of phase 2.
type tdBatchItem struct {
	Index   *int            `json:"index"`
	Task    string          `json:"task"`
	Payload json.RawMessage `json:"payload"`
	Options tdOptions       `json:"options"`
}

// tdBatchItems answers phase 2 of a batch: triggers every item of the
// NDJSON stream (an index seen before in the stream is deduplicated), and
// answers {id, itemsAccepted, itemsDeduplicated, sealed}: sealed once every
// index of the batch has its run. An item refused for its input fails the
// stream with 400 (items before it may have started: the batch's keys find
// them when it is sent again, corrected); an error of Temporal answers its
// status (429, 503, 500), and the SDK resends the stream.
func (h *handler) tdBatchItems(w http.ResponseWriter, r *http.Request, c *caller) {
	id := r.PathValue("batch")
	b, ok := decodeBatchID(id)
	if !ok {
		tdError(w, http.StatusNotFound, "no batch "+strconv.Quote(id)+": create it with POST /api/v3/batches")
		return
	}
	body, p := readBody(w, r, h.opts.MaxBatchBytes, "application/x-ndjson", "application/json")
	if p != nil {
		tdProblem(w, p)
		return
	}
	stream, p := h.tdReadBatchStream(body, b, c, time.Now())
	if p != nil {
		tdProblem(w, p)
		return
	}
	cached, p := h.tdTriggerBatch(r.Context(), c, stream.items)
	if p != nil {
		tdProblem(w, p)
		return
	}
	accepted, dups := 0, stream.dups
	for _, hit := range cached {
		if hit {
			dups++
		} else {
			accepted++
		}
	}
	resp := map[string]any{"id": id, "itemsAccepted": accepted, "itemsDeduplicated": dups, "sealed": stream.seen == b.RunCount}
	if stream.seen != b.RunCount {
		resp["enqueuedCount"] = stream.seen
		resp["expectedCount"] = b.RunCount
	}
	writeJSON(w, http.StatusOK, resp)
}

// tdParsedItem is one item of a batch stream, checked and ready to trigger.
type tdParsedItem struct {
	index   int
	task    string
	payload json.RawMessage
	opts    starter.TriggerOptions
}

// tdBatchStream is what a batch's NDJSON stream asks for.
type tdBatchStream struct {
	items []tdParsedItem // the items to trigger, one per index
	seen  int            // the distinct indexes of the stream
	dups  int            // the lines whose index an earlier line had
}

// tdReadBatchStream reads the NDJSON stream body of batch b: each item is
// checked and gets its key (its own, else the batch's for its index), the
// first line of each index counting. It returns the problem of the first
// line refused.
func (h *handler) tdReadBatchStream(body []byte, b tdBatch, c *caller, now time.Time) (tdBatchStream, *Problem) {
	var stream tdBatchStream
	seen := make(map[int]bool, b.RunCount)
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), len(body)+1)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var it tdBatchItem
		if err := json.Unmarshal(text, &it); err != nil {
			return tdBatchStream{}, newProblem(ProblemInvalidJSON, fmt.Sprintf("line %d: %v", line, err))
		}
		if it.Index == nil || *it.Index < 0 || *it.Index >= b.RunCount {
			return tdBatchStream{}, tdInvalid("line %d: index: want 0 to %d (the batch's runCount less one)", line, b.RunCount-1)
		}
		i := *it.Index
		if seen[i] {
			stream.dups++
			continue
		}
		item, p := h.tdParseBatchItem(&it, b, c, now)
		if p != nil {
			return tdBatchStream{}, p
		}
		seen[i] = true
		stream.items = append(stream.items, item)
	}
	if err := sc.Err(); err != nil {
		return tdBatchStream{}, h.tdProblemFor(err)
	}
	stream.seen = len(seen)
	return stream, nil
}

// tdParseBatchItem checks the item it (its index in range) of batch b
// and makes its trigger; a problem's detail names the item.
func (h *handler) tdParseBatchItem(it *tdBatchItem, b tdBatch, c *caller, now time.Time) (tdParsedItem, *Problem) {
	i := *it.Index
	if p := tdTask(c, it.Task); p != nil {
		p.Detail = fmt.Sprintf("item %d: %s", i, p.Detail)
		return tdParsedItem{}, p
	}
	payload, err := tdPayload(it.Payload, it.Options.PayloadType)
	if err != nil {
		return tdParsedItem{}, tdInvalid("item %d: %v", i, err)
	}
	k, err := idempotency.BatchItemKey(b.Key, i)
	if err != nil {
		return tdParsedItem{}, h.tdProblemFor(err)
	}
	opts, p := tdTriggerOptions(&it.Options, k, b.Strict, now)
	if p != nil {
		p.Detail = fmt.Sprintf("item %d: %s", i, p.Detail)
		return tdParsedItem{}, p
	}
	return tdParsedItem{index: i, task: it.Task, payload: payload, opts: opts}, nil
}

// tdTriggerBatch triggers items with the starter's batch parallelism; each
// item's key makes a resent item find its run. It returns whether each
// item's run was cached, or the problem of the worst error (tdWorstProblem).
func (h *handler) tdTriggerBatch(ctx context.Context, c *caller, items []tdParsedItem) ([]bool, *Problem) {
	cached := make([]bool, len(items))
	errs := make([]error, len(items))
	sem := make(chan struct{}, c.parallelism)
	var wg sync.WaitGroup
	for j := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func(j int) {
			defer wg.Done()
			defer func() { <-sem }()
			run, err := c.s.Trigger(ctx, items[j].task, items[j].payload, items[j].opts)
			if err == nil {
				cached[j] = run.Cached
			}
			errs[j] = err
		}(j)
	}
	wg.Wait()
	if p := h.tdWorstProblem(items, errs); p != nil {
		return nil, p
	}
	return cached, nil
}

// tdWorstProblem is the problem that answers the items' errors (errs[j] is
// items[j]'s), nil when there are none: the first server-side error, else
// the first; a 500 is logged.
func (h *handler) tdWorstProblem(items []tdParsedItem, errs []error) *Problem {
	var worst *Problem
	for j, err := range errs {
		if err == nil {
			continue
		}
		p := ProblemFor(err)
		if p.Status == http.StatusInternalServerError {
			h.opts.Logger.Error("http api (trigger.dev routes): batch item", "index", items[j].index, "error", err)
		}
		// A server-side error wins: the SDK resends the stream for it.
		if worst == nil || (p.Status >= 429 && worst.Status < 429) {
			p.Detail = fmt.Sprintf("item %d: %s", items[j].index, p.Detail)
			worst = p
		}
	}
	return worst
}

// The statuses of trigger.dev's runs, from Once's (statusNames): a running
// run is EXECUTING, or QUEUED before a worker took it, or DELAYED before its
// start delay passed (tdRunning); terminated is CRASHED (stopped from
// outside, and, as trigger.dev's CRASHED, it releases its key).
var tdStatuses = map[string]string{
	"running":    "EXECUTING",
	"completed":  "COMPLETED",
	"failed":     "FAILED",
	"canceled":   "CANCELED",
	"terminated": "CRASHED",
	"timed_out":  "TIMED_OUT",
	// A debounced trigger's run that its debouncer has not started.
	statusPending: "DELAYED",
}

// tdRun is a run as trigger.dev's GET /api/v3/runs/{id} answers it. The
// optional fields are left out when absent: the SDK's schema refuses null.
type tdRun struct {
	ID              string          `json:"id"`
	TaskIdentifier  string          `json:"taskIdentifier"`
	Status          string          `json:"status"`
	IdempotencyKey  string          `json:"idempotencyKey,omitempty"`
	IsQueued        bool            `json:"isQueued"`
	IsExecuting     bool            `json:"isExecuting"`
	IsWaiting       bool            `json:"isWaiting"`
	IsCompleted     bool            `json:"isCompleted"`
	IsSuccess       bool            `json:"isSuccess"`
	IsFailed        bool            `json:"isFailed"`
	IsCancelled     bool            `json:"isCancelled"`
	IsTest          bool            `json:"isTest"`
	CreatedAt       time.Time       `json:"createdAt"`
	UpdatedAt       time.Time       `json:"updatedAt"`
	DelayedUntil    *time.Time      `json:"delayedUntil,omitempty"`
	StartedAt       *time.Time      `json:"startedAt,omitempty"`
	FinishedAt      *time.Time      `json:"finishedAt,omitempty"`
	Tags            []string        `json:"tags"`
	CostInCents     float64         `json:"costInCents"`
	BaseCostInCents float64         `json:"baseCostInCents"`
	DurationMs      int64           `json:"durationMs"`
	Depth           int             `json:"depth"`
	TriggerFunction string          `json:"triggerFunction"`
	Output          json.RawMessage `json:"output,omitempty"`
	Error           *tdRunError     `json:"error,omitempty"`
	RelatedRuns     struct{}        `json:"relatedRuns"`
	AttemptCount    int32           `json:"attemptCount"`
}

// tdRunError is trigger.dev's serialized error.
type tdRunError struct {
	Message string `json:"message"`
	Name    string `json:"name,omitempty"`
}

// tdRunOf is b in trigger.dev's shape.
func tdRunOf(b *runBody) *tdRun {
	status, ok := tdStatuses[b.Status]
	if !ok {
		status = "SYSTEM_FAILURE"
	}
	out := &tdRun{
		ID: b.ID, TaskIdentifier: b.Task, Status: status, IdempotencyKey: b.Key,
		Tags: []string{}, TriggerFunction: "trigger", AttemptCount: b.Attempts,
		StartedAt: b.StartedAt, FinishedAt: b.ClosedAt,
	}
	switch status {
	case "EXECUTING":
		out.IsExecuting = true
	case "DELAYED":
		out.IsQueued = true
	case "COMPLETED":
		out.IsSuccess = true
		out.Output = b.Result
	case "CANCELED":
		out.IsCancelled = true
	default:
		out.IsFailed = true
	}
	out.IsCompleted = status != "EXECUTING" && status != "DELAYED"
	if b.Failure != nil {
		out.Error = &tdRunError{Message: b.Failure.Message, Name: b.Failure.Type}
	}
	if b.StartedAt != nil {
		out.CreatedAt, out.UpdatedAt = *b.StartedAt, *b.StartedAt
	}
	if b.ClosedAt != nil {
		out.UpdatedAt = *b.ClosedAt
		if b.StartedAt != nil {
			out.DurationMs = b.ClosedAt.Sub(*b.StartedAt).Milliseconds()
		}
	}
	return out
}

// tdRetrieveRun answers runs.retrieve: the run of an id this API made, with
// its output or error once it closed; 404 for another environment's.
func (h *handler) tdRetrieveRun(w http.ResponseWriter, r *http.Request, c *caller) {
	notFound := "no such run in this environment"
	ref, err := DecodeRunID(r.PathValue("id"))
	if err != nil || (c.token != nil && !c.token.allows(ref.Task)) {
		tdError(w, http.StatusNotFound, notFound)
		return
	}
	ctx := r.Context()
	id := EncodeRunID(ref)
	if ref.Debounced() {
		first, err := h.burstRun(ctx, c.s, ref, time.Now())
		switch {
		case errors.Is(err, errPending):
			writeJSON(w, http.StatusOK, h.tdPendingRun(ctx, c.s, ref))
			return
		case isNotFound(err):
			tdError(w, http.StatusNotFound, notFound)
			return
		case err != nil:
			h.tdFail(w, err)
			return
		}
		ref.FirstRunID = first
	}
	workflowID := ref.WorkflowID(c.s.Environment())
	b := newRunBody(ref.Task, workflowID, ref.FirstRunID)
	b.ID = id
	if err := h.describeRun(ctx, c.s, b, ref); err != nil {
		if isNotFound(err) {
			tdError(w, http.StatusNotFound, notFound)
			return
		}
		h.tdFail(w, err)
		return
	}
	if b.Key == "" {
		if k, err := idempotency.ParseKey(ref.Suffix); err == nil {
			b.Key = string(k) // a replaced run: its key is in its workflow ID
		}
	}
	if b.Status != "running" {
		if err := h.wait(ctx, c.s, b, workflowID, ref.FirstRunID, resultWait); err != nil {
			h.tdFail(w, err)
			return
		}
	}
	run := tdRunOf(b)
	if run.Status == "EXECUTING" {
		h.tdRunning(r.Context(), c.s, workflowID, b.CurrentRunID, run)
	}
	writeJSON(w, http.StatusOK, run)
}

// tdPendingRun is a debounced trigger's run that its debouncer has not
// started: DELAYED, created when the debouncer started (a read that fails
// leaves the time out).
func (h *handler) tdPendingRun(ctx context.Context, s *starter.Client, ref RunRef) *tdRun {
	run := tdRunOf(pendingRun(s.Environment(), ref))
	if d, err := s.Temporal().DescribeWorkflowExecution(ctx, ref.debouncerWorkflowID(s.Environment()), ref.DebouncerRunID); err == nil {
		if t := d.GetWorkflowExecutionInfo().GetStartTime(); t != nil {
			run.CreatedAt, run.UpdatedAt = t.AsTime().UTC(), t.AsTime().UTC()
		}
	}
	return run
}

// tdRunning tells a running run that waits from one that executes: DELAYED
// while its start delay has not passed, QUEUED while no worker has taken its
// first workflow task (its history holds only its start and that task). One
// DescribeWorkflowExecution of the current execution; a read that fails
// leaves EXECUTING.
func (h *handler) tdRunning(ctx context.Context, s *starter.Client, workflowID, runID string, run *tdRun) {
	if runID == "" {
		return
	}
	d, err := s.Temporal().DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil || d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return
	}
	info := d.GetWorkflowExecutionInfo()
	switch {
	case info.GetExecutionTime() != nil && info.GetExecutionTime().AsTime().After(time.Now()):
		run.Status = "DELAYED"
		run.DelayedUntil = timePtr(info.GetExecutionTime().AsTime())
	case info.GetHistoryLength() <= 2 && d.GetPendingWorkflowTask().GetState() != enumspb.PENDING_WORKFLOW_TASK_STATE_STARTED:
		run.Status = "QUEUED"
	default:
		return
	}
	run.IsExecuting, run.IsQueued = false, true
}

// tdResetRequest is the body of POST /api/v1/idempotencyKeys/{key}/reset.
type tdResetRequest struct {
	TaskIdentifier string `json:"taskIdentifier"`
}

// tdResetKey answers idempotencyKeys.reset: {id} (the key); 404 when no run
// holds the key; 409 while the key's run is running (trigger.dev lets that
// run go on without its key; one workflow ID cannot hold two runs).
func (h *handler) tdResetKey(w http.ResponseWriter, r *http.Request, c *caller) {
	var req tdResetRequest
	if p := tdReadJSON(w, r, Envelope, &req); p != nil {
		tdProblem(w, p)
		return
	}
	if p := tdTask(c, req.TaskIdentifier); p != nil {
		tdProblem(w, p)
		return
	}
	key := keyInput(r.PathValue("key"))
	k, err := idempotency.Resolve(key, "", idempotency.RunContext{})
	if err != nil {
		h.tdFail(w, err)
		return
	}
	if err := c.s.ResetKey(r.Context(), req.TaskIdentifier, k, starter.ResetOptions{}); err != nil {
		if errors.Is(err, starter.ErrResetRunning) {
			tdError(w, http.StatusConflict, "the key's run is still running: wait for it to finish, then reset the key")
			return
		}
		h.tdFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": string(k)})
}
