package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// triggerRequest is the body of POST /v1/tasks/{task}/trigger.
type triggerRequest struct {
	Payload     json.RawMessage  `json:"payload"`
	TTL         string           `json:"ttl"`
	Strict      bool             `json:"strict"`
	RetryFailed bool             `json:"retryFailed"`
	OnFailure   string           `json:"onFailure"`
	Debounce    *debounceRequest `json:"debounce"`
	Wait        string           `json:"wait"`
}

// debounceRequest is a trigger's "debounce": once.Debounce, its durations
// Go durations ("500ms", "5s"), as "wait" takes them.
type debounceRequest struct {
	Key      string `json:"key"`
	Delay    string `json:"delay"`
	MaxDelay string `json:"maxDelay"`
	Mode     string `json:"mode"`
}

// options is d as the starter takes it.
//
// Errors: once.ErrInvalidDebounce (wrapped) for a duration that does not
// parse; the starter checks the rest.
func (d *debounceRequest) options() (*starter.Debounce, error) {
	return debounceOptions(d.Key, d.Mode, d.Delay, d.MaxDelay, func(text string) (time.Duration, error) {
		v, err := time.ParseDuration(text)
		if err != nil {
			return 0, errors.New(`want a Go duration such as "500ms"`)
		}
		return v, nil
	})
}

// debounceOptions is a debounce option as the starter takes it, its
// durations read with parse (Once's routes: Go durations; trigger.dev's:
// its syntax).
//
// Errors: once.ErrInvalidDebounce (wrapped) for a duration that does not
// parse; the starter checks the rest.
func debounceOptions(key, mode, delay, maxDelay string, parse func(string) (time.Duration, error)) (*starter.Debounce, error) {
	out := &starter.Debounce{Key: key, Mode: once.DebounceMode(mode)}
	for _, f := range []struct {
		name, text string
		dst        *time.Duration
	}{{"delay", delay, &out.Delay}, {"maxDelay", maxDelay, &out.MaxDelay}} {
		if f.text == "" {
			continue
		}
		v, err := parse(f.text)
		if err != nil {
			return nil, fmt.Errorf("debounce %s %q: %v: %w", f.name, f.text, err, once.ErrInvalidDebounce)
		}
		*f.dst = v
	}
	return out, nil
}

// batchItemRequest is one item of POST /v1/tasks/{task}/batch.
type batchItemRequest struct {
	Payload     json.RawMessage `json:"payload"`
	Key         string          `json:"key"`
	TTL         string          `json:"ttl"`
	Strict      bool            `json:"strict"`
	RetryFailed bool            `json:"retryFailed"`
	OnFailure   string          `json:"onFailure"`
}

// batchItemResult is one item of a batch's answer, at its index.
type batchItemResult struct {
	Index  int `json:"index"`
	Status int `json:"status"`
	*runBody
	Error *Problem `json:"error,omitempty"`
}

// payloadOf is the payload to trigger with: the JSON as it came (the data
// converter writes it as is), null when absent.
func payloadOf(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// triggerKey is the key of a trigger: the Idempotency-Key header, else the
// key derived from the request ID (strict: a retry of a request carries the
// same body); nil without either.
func triggerKey(r *http.Request) (key idempotency.Input, strict bool, p *Problem) {
	text, p := headerKey(r)
	if p != nil {
		return nil, false, p
	}
	if text != "" {
		return keyInput(text), false, nil
	}
	k, ok, err := requestKey(r)
	if err != nil {
		return nil, false, ProblemFor(err)
	}
	if ok {
		return k, true, nil
	}
	return nil, false, nil
}

func (h *handler) trigger(w http.ResponseWriter, r *http.Request, c *caller) {
	task, p := c.task(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	var req triggerRequest
	if p := readJSON(w, r, c.bodyLimit, &req, true); p != nil {
		writeProblem(w, p)
		return
	}
	key, forceStrict, p := triggerKey(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	if req.Debounce != nil && forceStrict {
		// The request ID's key: a debounced trigger has none (its burst's
		// run's key comes from the debouncer), and a retry joins the burst.
		key, forceStrict = nil, false
	}
	opts, err := req.options(key, forceStrict)
	if err != nil {
		writeProblem(w, ProblemFor(err))
		return
	}
	wait, p := parseWait(req.Wait, h.opts.MaxWait)
	if p != nil {
		writeProblem(w, p)
		return
	}
	ctx := r.Context()
	run, err := c.s.Trigger(ctx, task, payloadOf(req.Payload), opts)
	if err != nil {
		h.fail(w, err)
		return
	}
	if ref, ok := debouncedRefOf(run); ok {
		h.answerDebounced(w, r, c, ref, wait)
		return
	}
	body := newRunBody(run.Task, run.WorkflowID, run.RunID)
	body.Cached = &run.Cached
	if run.Key != "" {
		body.Key = string(run.Key)
		body.expiry(run.ExpiresAt, run.ExpiryBound)
		if body.ExpiresAt == nil {
			// A cached hit whose state the trigger did not read: the
			// key's lookup tells its effective expiry. One that fails
			// leaves it out: the trigger happened.
			if info, err := c.s.Lookup(ctx, task, run.Key, starter.LookupOptions{}); err == nil && info.RunID == run.RunID {
				describeInfo(body, info)
			}
		}
	}
	if wait > 0 {
		if err := h.wait(ctx, c.s, body, run.WorkflowID, run.RunID, wait); err != nil {
			// The trigger happened: answer its run (as far as it is known)
			// rather than an error that a client would retry, unkeyed,
			// into a second run. GET /v1/runs/{id} reads the rest.
			h.opts.Logger.Warn("http api: waiting for a run failed; answering without its result", "workflowId", run.WorkflowID, "error", err)
		} else if run.Key != "" && body.Status != "running" {
			// Closed while it waited: its close time, and the expiry that
			// retention now bounds.
			if info, err := c.s.Lookup(ctx, task, run.Key, starter.LookupOptions{}); err == nil && info.RunID == run.RunID {
				describeInfo(body, info)
			}
		}
	}
	status := http.StatusCreated
	if run.Cached {
		status = http.StatusOK
	}
	writeJSON(w, status, body)
}

// options are the starter's options of req, with the trigger's key.
//
// Errors: idempotency.ErrInvalidTTL, once.ErrInvalidFailurePolicy,
// once.ErrInvalidDebounce (wrapped).
func (req *triggerRequest) options(key idempotency.Input, forceStrict bool) (starter.TriggerOptions, error) {
	opts := starter.TriggerOptions{Key: key, Strict: req.Strict || forceStrict, RetryFailed: req.RetryFailed}
	var err error
	if req.TTL != "" {
		if opts.TTL, err = idempotency.ParseTTL(req.TTL); err != nil {
			return opts, err
		}
	}
	if opts.OnFailure, err = parseOnFailure(req.OnFailure); err != nil {
		return opts, err
	}
	if req.Debounce != nil {
		if opts.Debounce, err = req.Debounce.options(); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

// parseOnFailure reads "onFailure": "keep", "release", or absent (the
// task's policy).
//
// Errors: once.ErrInvalidFailurePolicy (wrapped).
func parseOnFailure(s string) (starter.FailurePolicy, error) {
	f, err := once.ParseFailurePolicy(s)
	if err != nil {
		return f, fmt.Errorf("onFailure: %w", err)
	}
	return f, nil
}

// answerDebounced answers a debounced trigger: 202 Accepted, with the id of
// the burst's run, pending until its debouncer starts it, or (asked to
// wait) as readRun finds it.
func (h *handler) answerDebounced(w http.ResponseWriter, r *http.Request, c *caller, ref RunRef, wait time.Duration) {
	body := pendingRun(c.s.Environment(), ref)
	if wait > 0 {
		b, err := h.readRun(r.Context(), c.s, ref, wait)
		if err == nil {
			body = b
		} else {
			// The trigger happened: answer its run as far as it is known.
			h.opts.Logger.Warn("http api: waiting for a debounced run failed; answering it pending", "workflowId", body.WorkflowID, "error", err)
		}
	}
	writeJSON(w, http.StatusAccepted, body)
}

// fail answers err as a problem, logging what is not the caller's doing.
func (h *handler) fail(w http.ResponseWriter, err error) {
	p := ProblemFor(err)
	if p.Status == http.StatusInternalServerError {
		h.opts.Logger.Error("http api", "error", err)
	}
	writeProblem(w, p)
}

// batchKey is a batch's batch key: the Idempotency-Key header, else derived
// from the request ID (its items strict); "" without either.
func batchKey(r *http.Request) (idempotency.Key, bool, *Problem) {
	text, p := headerKey(r)
	if p != nil {
		return "", false, p
	}
	if text != "" {
		k, err := idempotency.Resolve(keyInput(text), "", idempotency.RunContext{})
		if err != nil {
			return "", false, ProblemFor(err)
		}
		return k, false, nil
	}
	k, ok, err := requestKey(r)
	if err != nil {
		return "", false, ProblemFor(err)
	}
	return k, ok, nil
}

// itemOptions are the trigger options of the batch item at index; the
// item's key, else hash(batch key, index) (idempotency.BatchItemKey).
func itemOptions(it *batchItemRequest, index int, bk idempotency.Key, forceStrict bool) (starter.TriggerOptions, error) {
	opts := starter.TriggerOptions{Strict: it.Strict || forceStrict, RetryFailed: it.RetryFailed}
	var err error
	if opts.OnFailure, err = parseOnFailure(it.OnFailure); err != nil {
		return opts, err
	}
	switch {
	case it.Key != "":
		opts.Key = keyInput(it.Key)
	case bk != "":
		k, err := idempotency.BatchItemKey(bk, index)
		if err != nil {
			return opts, err
		}
		opts.Key = k
	}
	if it.TTL != "" {
		ttl, err := idempotency.ParseTTL(it.TTL)
		if err != nil {
			return opts, err
		}
		opts.TTL = ttl
	}
	return opts, nil
}

// itemResult is the answer of one item.
func itemResult(index int, run *starter.Run, err error) batchItemResult {
	if err != nil {
		p := ProblemFor(err)
		return batchItemResult{Index: index, Status: p.Status, Error: p}
	}
	body := newRunBody(run.Task, run.WorkflowID, run.RunID)
	body.Cached = &run.Cached
	body.Key = string(run.Key)
	status := http.StatusCreated
	if run.Cached {
		status = http.StatusOK
	}
	return batchItemResult{Index: index, Status: status, runBody: body}
}

func (h *handler) batch(w http.ResponseWriter, r *http.Request, c *caller) {
	task, p := c.task(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	if p := checkMediaType(r, "application/json", "application/x-ndjson"); p != nil || r.ContentLength == 0 {
		if p == nil {
			p = newProblem(ProblemInvalidJSON, "the body is empty: send a JSON array of items, or NDJSON")
		}
		writeProblem(w, p)
		return
	}
	bk, forceStrict, p := batchKey(r)
	if p != nil {
		writeProblem(w, p)
		return
	}
	// The batch as a whole (the task) is checked before any item, so that
	// a stream is refused with a status instead of a line per item.
	if _, err := c.s.BatchTrigger(r.Context(), task, nil, starter.BatchOptions{}); err != nil {
		h.fail(w, err)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/x-ndjson" {
		h.batchStream(w, r, c, task, bk, forceStrict)
		return
	}
	var raw []json.RawMessage
	if p := readJSON(w, r, h.opts.MaxBatchBytes, &raw, false); p != nil {
		writeProblem(w, p)
		return
	}
	if len(raw) > h.opts.MaxBatchItems {
		writeProblem(w, newProblem(ProblemPayloadTooLarge, "too many items: at most "+itoa(h.opts.MaxBatchItems)+" a batch"))
		return
	}
	out := make([]batchItemResult, len(raw))
	var items []starter.BatchItem
	var at []int // the index of each of items
	for i, b := range raw {
		var it batchItemRequest
		if p := decodeJSON(b, &it); p != nil {
			out[i] = batchItemResult{Index: i, Status: p.Status, Error: p}
			continue
		}
		opts, err := itemOptions(&it, i, bk, forceStrict)
		if err != nil {
			out[i] = itemResult(i, nil, err)
			continue
		}
		items = append(items, starter.BatchItem{Payload: payloadOf(it.Payload), Options: opts})
		at = append(at, i)
	}
	results, err := c.s.BatchTrigger(r.Context(), task, items, starter.BatchOptions{})
	if err != nil {
		h.fail(w, err)
		return
	}
	for j, res := range results {
		out[at[j]] = itemResult(at[j], res.Run, res.Err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": out})
}

// lineDeadline is how long a streamed batch waits for its next line, and
// for each answer line to be written.
const lineDeadline = time.Minute

// batchStream triggers NDJSON items as they arrive, with the starter's
// batch parallelism, and streams one answer line per item in input order as
// soon as it and those before it are done.
func (h *handler) batchStream(w http.ResponseWriter, r *http.Request, c *caller, task string, bk idempotency.Key, forceStrict bool) {
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex() // read items while answering (HTTP/1.1)
	body := http.MaxBytesReader(w, r.Body, h.opts.MaxBatchBytes)
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), int(c.bodyLimit))

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	parallel := c.parallelism
	b := &streamedBatch{
		ctx: ctx, cancel: cancel, rc: rc, sc: sc,
		s: c.s, task: task, bk: bk, forceStrict: forceStrict, maxItems: h.opts.MaxBatchItems,
		slots: make(chan chan batchItemResult, parallel),
		sem:   make(chan struct{}, parallel),
	}
	go b.read()
	b.answer(w)
}

// streamedBatch is one NDJSON batch request under way: read reads and
// triggers its items, answer writes their answer lines.
type streamedBatch struct {
	ctx    context.Context // the request's; cancel ends the batch
	cancel context.CancelFunc
	rc     *http.ResponseController
	sc     *bufio.Scanner // the request body's lines

	s           *starter.Client
	task        string
	bk          idempotency.Key // the batch key, for items without their own
	forceStrict bool
	maxItems    int

	slots chan chan batchItemResult // answers, in input order
	sem   chan struct{}             // the triggers under way, at most the batch parallelism
	wg    sync.WaitGroup            // the triggers under way
}

// read reads the items and triggers each (item), giving every line its
// slot among the answers, in input order. It closes slots at the end of
// the stream, after a line too many or a read error (answered in the last
// slot), or when the request is over.
func (b *streamedBatch) read() {
	defer close(b.slots)
	index := 0
	for {
		_ = b.rc.SetReadDeadline(time.Now().Add(lineDeadline))
		if !b.sc.Scan() {
			break
		}
		line := b.sc.Bytes()
		if len(trimSpace(line)) == 0 {
			continue
		}
		i := index
		index++
		if i >= b.maxItems {
			b.push(batchItemResult{Index: i, Status: http.StatusRequestEntityTooLarge,
				Error: newProblem(ProblemPayloadTooLarge, "too many items: at most "+itoa(b.maxItems)+" a batch; the rest of the stream was not read")})
			return
		}
		if !b.item(i, line) {
			return
		}
	}
	if err := b.sc.Err(); err != nil {
		p := ProblemFor(err)
		if errors.Is(err, bufio.ErrTooLong) {
			p = newProblem(ProblemPayloadTooLarge, "an item's line is longer than the payload limit: the rest of the stream was not read")
		}
		b.push(batchItemResult{Index: index, Status: p.Status, Error: p})
	}
}

// item takes line, the item of index i: a line refused is answered in its
// slot at once; else its trigger starts in the background once there is a
// free slot and it is within the batch parallelism, and answers in its slot
// when done. It returns false when the request is over.
func (b *streamedBatch) item(i int, line []byte) bool {
	var it batchItemRequest
	if p := decodeJSON(line, &it); p != nil {
		return b.push(batchItemResult{Index: i, Status: p.Status, Error: p})
	}
	opts, err := itemOptions(&it, i, b.bk, b.forceStrict)
	if err != nil {
		return b.push(itemResult(i, nil, err))
	}
	ch := make(chan batchItemResult, 1)
	select {
	case b.slots <- ch:
	case <-b.ctx.Done():
		return false
	}
	select {
	case b.sem <- struct{}{}:
	case <-b.ctx.Done():
		return false
	}
	b.wg.Add(1)
	go func(payload json.RawMessage) {
		defer b.wg.Done()
		defer func() { <-b.sem }()
		run, err := b.s.Trigger(b.ctx, b.task, payload, opts)
		ch <- itemResult(i, run, err)
	}(payloadOf(it.Payload))
	return true
}

// push puts res, an answer known already, in the next slot. It returns
// false when the request is over.
func (b *streamedBatch) push(res batchItemResult) bool {
	ch := make(chan batchItemResult, 1)
	ch <- res
	select {
	case b.slots <- ch:
		return true
	case <-b.ctx.Done():
		return false
	}
}

// answer writes one answer line per slot, in input order, each once its
// item is done, until the slots are closed, the request is over or a line
// cannot be written; then it waits for the triggers under way.
func (b *streamedBatch) answer(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	_ = b.rc.Flush()
	enc := json.NewEncoder(w)
	for ch := range b.slots {
		var res batchItemResult
		select {
		case res = <-ch:
		case <-b.ctx.Done():
			b.wg.Wait()
			return
		}
		_ = b.rc.SetWriteDeadline(time.Now().Add(lineDeadline))
		if err := enc.Encode(res); err != nil {
			b.cancel()
			break
		}
		_ = b.rc.Flush()
	}
	b.cancel()
	b.wg.Wait()
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
