package once

import (
	"fmt"
	"strconv"
)

// FailurePolicy says whether a key whose run closed without completing
// still answers for the key: the failure policy of a task
// (workflows.TaskOptions.OnFailure), which a trigger may override
// (starter.TriggerOptions.OnFailure, workflows.ChildOptions.OnFailure, the
// CLI's --on-failure, the HTTP API's onFailure).
//
// A trigger that finds the key's run closed failed, timed out or terminated
// (trigger.dev's FAILED, CRASHED, SYSTEM_FAILURE, TIMED_OUT, EXPIRED) uses
// the trigger's policy when it names one, else the policy the run carries in
// its memo (MemoOnFailure, written by the task's runtime), else FailureKeep.
// Under FailureRelease it starts exactly one new run, however many callers
// find the failed run at once. A completed or canceled run keeps its key
// under either policy, as in trigger.dev v4.
//
// The default is FailureKeep: the second trigger of a key never creates a
// second run, whatever became of the first — trigger.dev's seed behaviour,
// Temporal's REJECT_DUPLICATE, and Once's until the policy existed. A
// side effect that may have happened before the run failed (a charge, an
// e-mail) is not repeated unless the task says so.
type FailurePolicy int

const (
	// FailureDefault: a trigger's zero value — the task's policy, as its run
	// says (MemoOnFailure), else FailureKeep. As a task's own policy it is
	// FailureKeep.
	FailureDefault FailurePolicy = iota
	// FailureKeep: a failed, timed-out, canceled or terminated run answers
	// for its key like a completed one, until the key expires or is reset.
	FailureKeep
	// FailureRelease: trigger.dev v4's key lifecycle. A run that failed,
	// timed out or was terminated releases its key: the next trigger starts
	// exactly one new run. A completed or canceled run keeps it.
	FailureRelease
)

// String names the policy: "default", "keep" or "release".
func (f FailurePolicy) String() string {
	switch f {
	case FailureDefault:
		return "default"
	case FailureKeep:
		return "keep"
	case FailureRelease:
		return "release"
	}
	return "FailurePolicy(" + strconv.Itoa(int(f)) + ")"
}

// Valid reports whether f is one of FailureDefault, FailureKeep and
// FailureRelease.
func (f FailurePolicy) Valid() bool {
	return f == FailureDefault || f == FailureKeep || f == FailureRelease
}

// ErrInvalidFailurePolicy: a failure policy that is not "keep", "release"
// (or "default", or empty, where the task's applies).
var ErrInvalidFailurePolicy = InputError("once: invalid failure policy: use keep or release")

// ParseFailurePolicy parses "keep" or "release"; "" and "default" are
// FailureDefault. It is how the CLI, the HTTP API and the run's memo name a
// policy.
//
// Errors: ErrInvalidFailurePolicy (wrapped), an input error.
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch s {
	case "", "default":
		return FailureDefault, nil
	case "keep":
		return FailureKeep, nil
	case "release":
		return FailureRelease, nil
	}
	return FailureDefault, fmt.Errorf("%q: %w", s, ErrInvalidFailurePolicy)
}
