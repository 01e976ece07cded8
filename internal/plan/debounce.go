package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// debounceKeyPrefix starts the key text of a debouncer and of the runs it
// starts: ("once-debounce", debounce key) and ("once-debounce", debouncer
// key, debouncer run ID).
const debounceKeyPrefix = "once-debounce"

// debouncerIDMarker starts the last part of a debouncer's workflow ID,
// "<env>/<task>/debounce-<key>": a task run's ends in a key or a UUID
// (hexadecimal digits and dashes), never in a word, so no run of the task
// can hold a debouncer's workflow ID.
const debouncerIDMarker = "debounce-"

// Debouncer is the debouncer of one debounce key of a task: the workflow
// (type once.DebounceWorkflow) that the triggers of a burst signal, and that
// starts the burst's run.
type Debouncer struct {
	// Task whose runs the debouncer starts.
	Task Task
	// Settings of the trigger, checked, the mode filled in.
	Settings once.Debounce
	// Key is the debouncer's key: hash("once-debounce", Settings.Key),
	// global to the task and environment.
	Key idempotency.Key
	// WorkflowID is "<env>/<task>/debounce-<Key>".
	WorkflowID string
}

// DebounceInput is the input of the debouncer workflow: the settings of the
// burst's first trigger.
type DebounceInput struct {
	Mode     once.DebounceMode `json:"mode"`
	Delay    time.Duration     `json:"delay"`
	MaxDelay time.Duration     `json:"maxDelay,omitempty"`
}

// Debouncer checks d and plans the debouncer of its key.
//
// Errors: once.ErrInvalidDebounce (wrapped) for a missing key, a delay that
// is not positive, a MaxDelay below Delay, an unknown mode; those of
// idempotency.Derive (a key too long).
func (t Task) Debouncer(d once.Debounce) (Debouncer, error) {
	switch {
	case strings.TrimSpace(d.Key) == "":
		return Debouncer{}, fmt.Errorf("debounce: no key: %w", once.ErrInvalidDebounce)
	case d.Delay <= 0:
		return Debouncer{}, fmt.Errorf("debounce: delay %v: %w", d.Delay, once.ErrInvalidDebounce)
	case d.MaxDelay < 0 || (d.MaxDelay != 0 && d.MaxDelay < d.Delay):
		return Debouncer{}, fmt.Errorf("debounce: maxDelay %v below delay %v: %w", d.MaxDelay, d.Delay, once.ErrInvalidDebounce)
	}
	switch d.Mode {
	case "":
		d.Mode = once.DebounceLeading
	case once.DebounceLeading, once.DebounceTrailing:
	default:
		return Debouncer{}, fmt.Errorf("debounce: mode %q: %w", d.Mode, once.ErrInvalidDebounce)
	}
	k, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, debounceKeyPrefix, d.Key)
	if err != nil {
		return Debouncer{}, fmt.Errorf("debounce key: %w", err)
	}
	return Debouncer{Task: t, Settings: d, Key: k, WorkflowID: t.prefix + debouncerIDMarker + string(k)}, nil
}

// Input is the debouncer's input.
func (d Debouncer) Input() DebounceInput {
	return DebounceInput{Mode: d.Settings.Mode, Delay: d.Settings.Delay, MaxDelay: d.Settings.MaxDelay}
}

// Memo is the debouncer's memo: the debounce key's text, for the Web UI.
func (d Debouncer) Memo() idempotency.Memo {
	return idempotency.Memo{KeyText: d.Settings.Key, Scope: idempotency.ScopeGlobal}
}

// Run plans the run that the debouncer's run debouncerRunID starts (see
// Task.DebouncedRun).
//
// Errors: those of Task.DebouncedRun.
func (d Debouncer) Run(debouncerRunID string) (Trigger, error) {
	return d.Task.DebouncedRun(d.Key, debouncerRunID)
}

// DebouncedRun plans the run of t that the run debouncerRunID of the
// debouncer with key debouncer starts: an ordinary keyed run of the task,
// with the key hash("once-debounce", debouncer, debouncerRunID) — one run
// per burst, known to a trigger as soon as the debouncer's run ID is, and
// the same in every replay and retry of the debouncer.
//
// Errors: idempotency.ErrEmptyKey for an empty run ID; those of
// idempotency.Derive.
func (t Task) DebouncedRun(debouncer idempotency.Key, debouncerRunID string) (Trigger, error) {
	if debouncerRunID == "" {
		return Trigger{}, fmt.Errorf("debounced run of %s: no debouncer run ID: %w", t.id, idempotency.ErrEmptyKey)
	}
	parts := []string{debounceKeyPrefix, string(debouncer), debouncerRunID}
	k, err := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, parts...)
	if err != nil {
		return Trigger{}, err
	}
	tk := idempotency.TriggerKey{Key: k, Text: strings.Join(parts, "-"), Scope: idempotency.ScopeGlobal, Derived: true}
	return t.Trigger(tk, "", idempotency.RunContext{}, nil, nil)
}

// ParseDebouncer reads a debouncer's workflow ID, as the debouncer reads its
// own: the task (in its environment) and the debouncer's key. ok is false
// when workflowID is not a debouncer's.
func ParseDebouncer(workflowID string) (t Task, key idempotency.Key, ok bool) {
	env, task, rest, ok := idempotency.ParseWorkflowID(workflowID)
	if !ok {
		return Task{}, "", false
	}
	k, found := strings.CutPrefix(rest, debouncerIDMarker)
	if !found {
		return Task{}, "", false
	}
	if _, err := idempotency.ParseKey(k); err != nil {
		return Task{}, "", false
	}
	e, err := NewEnv(env)
	if err != nil {
		return Task{}, "", false
	}
	if t, err = e.Task(task); err != nil {
		return Task{}, "", false
	}
	return t, idempotency.Key(k), true
}
