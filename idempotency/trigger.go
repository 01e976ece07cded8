package idempotency

import (
	"strconv"
	"strings"
)

// TriggerKey is the key of one trigger, resolved from what the caller
// passed: the same rules for the starter, for workflow code and for the CLI.
type TriggerKey struct {
	// Key is the key; "" for an unkeyed trigger outside any task.
	Key Key
	// Text is the human-readable key text for the run's memo (see Text).
	Text string
	// Scope is the scope the key was made with: ScopeGlobal outside a task.
	Scope Scope
	// Derived is true for a key derived from the call (an unkeyed trigger
	// in a task: see ResolveTrigger), whose text no caller gave.
	Derived bool
}

// A TriggerKey is an Input: passed on to another trigger, it is not resolved
// again (its Key is checked with ParseKey, never hashed) and keeps its text
// and scope.
func (TriggerKey) isInput() {}

// ResolveTrigger resolves the key of a trigger made on behalf of the run rc
// (zero outside any task).
//
//   - scope "" means the default: ScopeRun inside a task. Outside a task every
//     scope is ScopeGlobal (there is no run to scope to).
//   - A key (in non-nil) is resolved with Resolve; a TriggerKey is returned
//     as it is, once its Key is checked.
//   - Without a key, call names the call (the caller, the task and the
//     ordinal of the call, e.g. "once-ordinal", task, "2"), and the key is
//     derived from those parts with the scope: each unkeyed call is its own
//     run, and a retry that makes the same calls finds the same runs. call is
//     invoked only when the key is needed, after the scope has been checked,
//     so that a refused call takes no ordinal. With a nil call (a trigger
//     that is not counted, e.g. from a service) the result is unkeyed.
//
// Errors (wrapped): those of Resolve; ErrGlobalScopeNeedsKey for ScopeGlobal
// in a task without a key (a key derived from the call would let unrelated
// runs share one run); call's error; those of Derive.
func ResolveTrigger(in Input, scope Scope, rc RunContext, call func() ([]string, error)) (TriggerKey, error) {
	scope, err := ParseScope(string(scope))
	if err != nil {
		return TriggerKey{}, err
	}
	if scope == "" {
		scope = ScopeRun
	}
	if rc.IsZero() {
		scope = ScopeGlobal
	}
	if k, ok := in.(TriggerKey); ok {
		if _, err := ParseKey(string(k.Key)); err != nil {
			return TriggerKey{}, err
		}
		return k, nil
	}
	tk := TriggerKey{Scope: scope}
	switch {
	case in != nil:
		if tk.Key, err = resolve(in, scope, rc); err != nil {
			return TriggerKey{}, err
		}
		tk.Text = Text(in)
	case call != nil && !rc.IsZero():
		if scope == ScopeGlobal {
			return TriggerKey{}, ErrGlobalScopeNeedsKey
		}
		parts, err := call()
		if err != nil {
			return TriggerKey{}, err
		}
		if tk.Key, err = derive(rc, scope, parts); err != nil {
			return TriggerKey{}, err
		}
		tk.Text, tk.Derived = strings.Join(parts, "-"), true
	}
	return tk, nil
}

// BatchItemKey is the key of the item at index (0-based) of a batch with
// key batch, for an item without a key of its own: hash(batch, index), the
// same for the starter, workflow code and the CLI. Repeating a batch with
// the same batch key therefore finds the same runs.
//
// Errors: ErrInvalidKey when batch is not a valid Key.
func BatchItemKey(batch Key, index int) (Key, error) {
	if _, err := ParseKey(string(batch)); err != nil {
		return "", err
	}
	return derive(RunContext{}, ScopeGlobal, []string{string(batch), strconv.Itoa(index)})
}
