package httpapi

import (
	"encoding/base64"
	"errors"
	"strings"

	"github.com/once-run/once/idempotency"
)

// runIDPrefix starts every run id of this API.
const runIDPrefix = "run_"

// errBadRunID: a run id that this API did not make.
var errBadRunID = errors.New("httpapi: not a run id of this API")

// RunRef is what a run id says: the task, the workflow ID's suffix after
// "<env>/<task>/" (a key, or a UUID for an unkeyed run) and the first run ID
// of the run's chain. The environment is not in it: it is the token's.
type RunRef struct {
	Task       string
	Suffix     string
	FirstRunID string
}

// EncodeRunID returns the opaque, stateless id of a run:
// "run_" + base64url("<task>/<first run ID>/<suffix>").
func EncodeRunID(r RunRef) string {
	return runIDPrefix + base64.RawURLEncoding.EncodeToString([]byte(r.Task+"/"+r.FirstRunID+"/"+r.Suffix))
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
	return RunRef{Task: parts[0], FirstRunID: parts[1], Suffix: parts[2]}, nil
}

// WorkflowID is the workflow ID of the run in env.
func (r RunRef) WorkflowID(env string) string { return env + "/" + r.Task + "/" + r.Suffix }

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
