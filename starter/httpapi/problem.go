package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/once-run/once"
	"github.com/once-run/once/starter"
)

// Problem is an RFC 9457 problem details object, the body of every error
// answer (Content-Type application/problem+json) and of a batch item that
// failed.
type Problem struct {
	// Type is "urn:once:problem:<name>", one per kind of error (the
	// ProblemXxx constants).
	Type string `json:"type"`
	// Title is the same for every problem of a Type.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail says what happened to this request and what to change.
	Detail string `json:"detail,omitempty"`
	// Line and Column locate malformed JSON in the body (1-based).
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`

	// retryAfter is the Retry-After of a 429 or 503.
	retryAfter time.Duration
}

// The problem types of the API: "urn:once:problem:" and the name.
const (
	ProblemInvalidJSON          = "urn:once:problem:invalid-json"           // 400
	ProblemInvalidInput         = "urn:once:problem:invalid-input"          // 400
	ProblemUnauthorized         = "urn:once:problem:unauthorized"           // 401
	ProblemNotFound             = "urn:once:problem:not-found"              // 404: no such route
	ProblemUnknownTask          = "urn:once:problem:unknown-task"           // 404
	ProblemRunNotFound          = "urn:once:problem:run-not-found"          // 404
	ProblemKeyNotFound          = "urn:once:problem:key-not-found"          // 404
	ProblemMethodNotAllowed     = "urn:once:problem:method-not-allowed"     // 405
	ProblemRunRunning           = "urn:once:problem:run-running"            // 409
	ProblemPayloadTooLarge      = "urn:once:problem:payload-too-large"      // 413
	ProblemUnsupportedMediaType = "urn:once:problem:unsupported-media-type" // 415
	ProblemKeyReused            = "urn:once:problem:key-reused"             // 422
	ProblemRateLimited          = "urn:once:problem:rate-limited"           // 429
	ProblemInternal             = "urn:once:problem:internal"               // 500
	ProblemUnavailable          = "urn:once:problem:unavailable"            // 503
)

var problemTitles = map[string]string{
	ProblemInvalidJSON:          "Malformed JSON",
	ProblemInvalidInput:         "Invalid input",
	ProblemUnauthorized:         "Missing or invalid bearer token",
	ProblemNotFound:             "No such route",
	ProblemUnknownTask:          "Unknown task",
	ProblemRunNotFound:          "Run not found",
	ProblemKeyNotFound:          "No run for that key",
	ProblemMethodNotAllowed:     "Method not allowed",
	ProblemRunRunning:           "The key's run is still running",
	ProblemPayloadTooLarge:      "Payload too large",
	ProblemUnsupportedMediaType: "Unsupported media type",
	ProblemKeyReused:            "Idempotency key reused with a different payload",
	ProblemRateLimited:          "Temporal is shedding load",
	ProblemInternal:             "Internal error",
	ProblemUnavailable:          "Temporal unavailable",
}

var problemStatus = map[string]int{
	ProblemInvalidJSON:          http.StatusBadRequest,
	ProblemInvalidInput:         http.StatusBadRequest,
	ProblemUnauthorized:         http.StatusUnauthorized,
	ProblemNotFound:             http.StatusNotFound,
	ProblemUnknownTask:          http.StatusNotFound,
	ProblemRunNotFound:          http.StatusNotFound,
	ProblemKeyNotFound:          http.StatusNotFound,
	ProblemMethodNotAllowed:     http.StatusMethodNotAllowed,
	ProblemRunRunning:           http.StatusConflict,
	ProblemPayloadTooLarge:      http.StatusRequestEntityTooLarge,
	ProblemUnsupportedMediaType: http.StatusUnsupportedMediaType,
	ProblemKeyReused:            http.StatusUnprocessableEntity,
	ProblemRateLimited:          http.StatusTooManyRequests,
	ProblemInternal:             http.StatusInternalServerError,
	ProblemUnavailable:          http.StatusServiceUnavailable,
}

// retryAfter is the Retry-After of the 429 and 503 answers.
const retryAfter = time.Second

// newProblem makes a problem of type typ with detail.
func newProblem(typ, detail string) *Problem {
	p := &Problem{Type: typ, Title: problemTitles[typ], Status: problemStatus[typ], Detail: detail}
	if p.Status == http.StatusTooManyRequests || p.Status == http.StatusServiceUnavailable {
		p.retryAfter = retryAfter
	}
	return p
}

// Error makes a Problem an error.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// ProblemFor maps an error of the starter (or of this package) to its
// problem: an input error (or a body cut short, or too slow to arrive) is
// 400, an unknown task 404, a key's missing run 404, a reset of a running
// run 409, a payload over the limit 413, a key
// reused with another payload in strict mode 422, a server that sheds load
// 429, one that cannot be reached (or a deadline that passed while waiting
// for it) 503; anything else 500. A start that the server turned away until
// the deadline is 503: the SDK client, which makes Once's starts, asks again
// while the deadline allows and then answers the deadline; Once's reads
// answer the server's last ResourceExhausted, 429.
func ProblemFor(err error) *Problem {
	var p *Problem
	var tooLarge *http.MaxBytesError
	var exhausted *serviceerror.ResourceExhausted
	var unavailable *serviceerror.Unavailable
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &tooLarge):
		return newProblem(ProblemPayloadTooLarge, fmt.Sprintf("the body is larger than %d bytes: send a reference to large data instead of the data", tooLarge.Limit))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newProblem(ProblemInvalidJSON, "the body ended before its Content-Length or last chunk: send the whole body")
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The server's read deadline: a client that sends its body too slowly.
		return newProblem(ProblemInvalidJSON, "the body did not arrive within the server's read timeout: send it at once")
	case errors.Is(err, starter.ErrPayloadTooLarge):
		return newProblem(ProblemPayloadTooLarge, err.Error())
	case errors.Is(err, starter.ErrUnknownTask):
		return newProblem(ProblemUnknownTask, err.Error())
	case errors.Is(err, starter.ErrKeyReusedWithDifferentPayload):
		return newProblem(ProblemKeyReused, err.Error())
	case errors.Is(err, starter.ErrResetRunning):
		return newProblem(ProblemRunRunning, `the key's run is still running: wait for it to close, or reset with {"terminate": true}`)
	case errors.Is(err, starter.ErrNotFound):
		return newProblem(ProblemKeyNotFound, "no run holds that key in this environment")
	case errors.Is(err, once.ErrInvalidInput):
		return newProblem(ProblemInvalidInput, err.Error())
	case errors.As(err, &exhausted):
		return newProblem(ProblemRateLimited, "Temporal turned the call away ("+exhausted.Message+"): retry after a moment")
	case errors.As(err, &notFound):
		return newProblem(ProblemRunNotFound, "no such run in this environment")
	case errors.Is(err, starter.ErrServerUnreachable), errors.As(err, &unavailable),
		errors.Is(err, context.DeadlineExceeded):
		return newProblem(ProblemUnavailable, "Temporal did not answer in time: retry after a moment")
	case errors.Is(err, context.Canceled):
		return newProblem(ProblemUnavailable, "the request was canceled")
	}
	return newProblem(ProblemInternal, "the request failed; the server's log has the error")
}

// writeProblem writes p as the answer.
func writeProblem(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="once"`)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
