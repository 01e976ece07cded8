package idempotency

import (
	"time"

	"github.com/once-run/once"
)

// Memo is what Once keeps in the memo of a keyed run: only what the run's
// workflow ID, type and start request ID cannot tell — for a new key's run,
// the key text and scope. The environment, the task and the key are in the
// workflow ID "<env>/<task>/<key>" and the workflow type, which every
// Temporal server lists without set-up (WorkflowType = 'T', WorkflowId
// STARTS_WITH 'prod/', WorkflowId = 'prod/T/<key>'); the TTL and payload
// hash of a new key in its start request ID (package starter).
//
// The starter writes it on the runs it starts and reads it back; the task
// runtime writes it on the children it starts. The names of the entries are
// those of package once (once.MemoKeyText, …), the one place that names
// them; Fields writes them, and the runtime's decoder (internal/runctx)
// reads them back.
type Memo struct {
	// KeyText is the key as the caller gave it (Text), for the Web UI: the
	// key itself is a hash.
	KeyText string
	// Scope the key was derived with.
	Scope Scope
	// ExpiresAt is when the key stops answering for a closed run; zero when
	// the memo does not say. The starter writes it only on a run that
	// replaced an expired or reset one: the request ID of that start is the
	// same for every caller and cannot carry the TTL, as a new key's does.
	// Runs of earlier versions have it on every keyed run; children of a
	// task never (their keys do not expire).
	ExpiresAt time.Time
	// PayloadHash is the hash of the canonical payload, on a run that
	// replaced another (for strict callers that find it; a new key's request
	// ID carries it in strict mode).
	PayloadHash string
	// Reset marks the marker run that starter.ResetKey puts in place.
	Reset bool
	// StartNonce is a random token of the start that made a run that
	// replaced another: every caller that replaces a run sends its own, and
	// the server keeps the one of the start it took, so that the caller
	// whose start made the run — and only that one — finds its own token
	// there (the server answers the others with the same run).
	StartNonce string
	// OnFailure is the failure policy of the run's task, which the task's
	// runtime writes on each run of a task that releases its key
	// (once.FailureRelease); FailureDefault (keep) when the memo does not
	// say.
	OnFailure once.FailurePolicy
}

// Fields returns the memo entries, by the names of package once
// (once.MemoKeyText, …), leaving zero fields out: what
// client.StartWorkflowOptions.Memo and workflow.ChildWorkflowOptions.Memo
// take.
func (m Memo) Fields() map[string]any {
	f := make(map[string]any, 4)
	if m.KeyText != "" {
		f[once.MemoKeyText] = m.KeyText
	}
	if m.Scope != "" {
		f[once.MemoKeyScope] = string(m.Scope)
	}
	if !m.ExpiresAt.IsZero() {
		f[once.MemoExpiresAt] = m.ExpiresAt.UTC().Format(time.RFC3339Nano)
	}
	if m.PayloadHash != "" {
		f[once.MemoPayloadHash] = m.PayloadHash
	}
	if m.Reset {
		f[once.MemoReset] = true
	}
	if m.StartNonce != "" {
		f[once.MemoStartNonce] = m.StartNonce
	}
	if m.OnFailure != once.FailureDefault {
		f[once.MemoOnFailure] = m.OnFailure.String()
	}
	return f
}
