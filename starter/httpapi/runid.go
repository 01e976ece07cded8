package httpapi

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/starter"
)

// runIDPrefix starts every run id of this API.
const runIDPrefix = "run_"

// errBadRunID: a run id that this API did not make.
var errBadRunID = errors.New("httpapi: not a run id of this API")

// debouncedMarker starts the middle part of a debounced run's id, in place
// of a first run ID (a UUID, which never starts so):
// "d.<debouncer suffix>.<debouncer run ID>".
const debouncedMarker = "d."

// RunRef is what a run id says: the task, the workflow ID's suffix after
// "<env>/<task>/" (a key, or a UUID for an unkeyed run) and the first run ID
// of the run's chain. The environment is not in it: it is the token's.
//
// A debounced trigger's run (starter.TriggerOptions.Debounce) has no run ID
// until its debouncer starts it: its RunRef names the debouncer run that
// took the trigger instead (Debouncer, DebouncerRunID), and FirstRunID is
// "". GET /v1/runs/{id} finds the run by its workflow ID once it exists.
type RunRef struct {
	Task       string
	Suffix     string
	FirstRunID string
	// Debouncer is the suffix of the debouncer's workflow ID after
	// "<env>/<task>/" ("debounce-<key>"); "" for a run that was not
	// debounced.
	Debouncer string
	// DebouncerRunID is the run ID of the debouncer run that took the
	// trigger, with Debouncer.
	DebouncerRunID string
}

// Debounced reports whether r names a debounced trigger's run.
func (r RunRef) Debounced() bool { return r.Debouncer != "" }

// EncodeRunID returns the opaque, stateless id of a run:
// "run_" + base64url("<task>/<first run ID>/<suffix>"), or for a debounced
// trigger's run "run_" + base64url("<task>/d.<debouncer>.<debouncer run
// ID>/<suffix>").
func EncodeRunID(r RunRef) string {
	mid := r.FirstRunID
	if r.Debounced() {
		mid = debouncedMarker + r.Debouncer + "." + r.DebouncerRunID
	}
	return runIDPrefix + base64.RawURLEncoding.EncodeToString([]byte(r.Task+"/"+mid+"/"+r.Suffix))
}

// DecodeRunID parses an id made by EncodeRunID.
//
// Errors: errBadRunID for anything else.
func DecodeRunID(id string) (RunRef, error) {
	rest, ok := strings.CutPrefix(id, runIDPrefix)
	if !ok {
		return RunRef{}, errBadRunID
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return RunRef{}, errBadRunID
	}
	parts := strings.SplitN(string(b), "/", 3)
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" || strings.Contains(parts[1], "/") {
		return RunRef{}, errBadRunID
	}
	if idempotency.ValidateTaskID(parts[0]) != nil {
		return RunRef{}, errBadRunID
	}
	if rest, ok := strings.CutPrefix(parts[1], debouncedMarker); ok {
		debouncer, runID, ok := strings.Cut(rest, ".")
		if !ok || debouncer == "" || runID == "" {
			return RunRef{}, errBadRunID
		}
		return RunRef{Task: parts[0], Suffix: parts[2], Debouncer: debouncer, DebouncerRunID: runID}, nil
	}
	return RunRef{Task: parts[0], FirstRunID: parts[1], Suffix: parts[2]}, nil
}

// WorkflowID is the workflow ID of the run in env.
func (r RunRef) WorkflowID(env string) string { return env + "/" + r.Task + "/" + r.Suffix }

// debouncerWorkflowID is the workflow ID of the debouncer of a debounced
// trigger's run in env.
func (r RunRef) debouncerWorkflowID(env string) string {
	return env + "/" + r.Task + "/" + r.Debouncer
}

// debouncedRefOf makes the RunRef of a debounced trigger's run (see
// starter.Run.Debouncer); ok is false for a run that was not debounced, or
// workflow IDs without Once's shape.
func debouncedRefOf(run *starter.Run) (RunRef, bool) {
	debID, debRunID, ok := run.Debouncer()
	if !ok || debRunID == "" {
		return RunRef{}, false
	}
	_, task, suffix, ok := idempotency.ParseWorkflowID(run.WorkflowID)
	if !ok {
		return RunRef{}, false
	}
	_, dtask, debouncer, ok := idempotency.ParseWorkflowID(debID)
	if !ok || dtask != task || strings.Contains(debouncer, ".") {
		return RunRef{}, false
	}
	return RunRef{Task: task, Suffix: suffix, Debouncer: debouncer, DebouncerRunID: debRunID}, true
}

// runRefOf makes the RunRef of a run from its workflow ID; ok is false when
// the ID does not have Once's shape "<env>/<task>/<suffix>" or the run ID is
// unknown.
func runRefOf(workflowID, firstRunID string) (RunRef, bool) {
	_, task, rest, ok := idempotency.ParseWorkflowID(workflowID)
	if !ok || firstRunID == "" {
		return RunRef{}, false
	}
	return RunRef{Task: task, Suffix: rest, FirstRunID: firstRunID}, true
}
