// Package plan plans a trigger, once: it is the one place where Once checks
// the environment and task of a trigger, resolves and hashes its key, and
// builds its workflow ID, memo and search attributes. The starter (and
// through it activities, the CLI and the HTTP API) and the workflow runtime
// (a task's children) trigger through it, so that every path applies the
// same rules, and each rule once.
//
// An Env is checked when it is made, a Task when it is made from an Env; a
// Trigger is the key of one trigger of a Task, resolved (and its parts
// hashed) once, with the run's workflow ID. Nothing here makes an RPC.
package plan

import (
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

// Env is an environment ("dev", "prod", …), checked once.
type Env struct{ name string }

// NewEnv checks name (idempotency.ValidateEnvironment).
//
// Errors: idempotency.ErrInvalidEnvironment (wrapped).
func NewEnv(name string) (Env, error) {
	if err := idempotency.ValidateEnvironment(name); err != nil {
		return Env{}, err
	}
	return Env{name: name}, nil
}

// Name is the environment's name.
func (e Env) Name() string { return e.name }

// Task checks id (idempotency.ValidateTaskID) and returns that task of e.
//
// Errors: idempotency.ErrInvalidTaskID (wrapped).
func (e Env) Task(id string) (Task, error) {
	if err := idempotency.ValidateTaskID(id); err != nil {
		return Task{}, err
	}
	return Task{env: e.name, id: id, prefix: idempotency.WorkflowIDPrefix(e.name, id)}, nil
}

// Task is a task of an environment: the workflow IDs of its runs are
// "<env>/<task>/<key>" (idempotency.WorkflowID), or "<env>/<task>/<uuid>"
// for a run without a key.
type Task struct{ env, id, prefix string }

// Env is the task's environment.
func (t Task) Env() string { return t.env }

// ID is the task's ID.
func (t Task) ID() string { return t.id }

// Trigger resolves the key of one trigger of t made on behalf of the run rc
// (zero outside any task) with idempotency.ResolveTrigger — the only call of
// it — and makes the run's workflow ID. A trigger that resolves to no key
// (none given, none derived from call) gets the workflow ID
// "<env>/<task>/<unkeyed()>", unkeyed making a fresh suffix such as a UUID;
// with a nil unkeyed, a key is required.
//
// Errors: those of idempotency.ResolveTrigger; idempotency.ErrEmptyKey when
// there is no key and unkeyed is nil.
func (t Task) Trigger(in idempotency.Input, scope idempotency.Scope, rc idempotency.RunContext, call func() ([]string, error), unkeyed func() string) (Trigger, error) {
	k, err := idempotency.ResolveTrigger(in, scope, rc, call)
	if err != nil {
		return Trigger{}, err
	}
	tr := Trigger{Task: t, Key: k}
	switch {
	case k.Key != "":
		tr.WorkflowID = t.prefix + string(k.Key)
	case unkeyed != nil:
		tr.WorkflowID = t.prefix + unkeyed()
	default:
		return Trigger{}, fmt.Errorf("task %s: no key: %w", t.id, idempotency.ErrEmptyKey)
	}
	return tr, nil
}

// Key resolves a key that must be there: a lookup's, a reset's, a batch's.
//
// Errors: those of Trigger.
func (t Task) Key(in idempotency.Input, scope idempotency.Scope, rc idempotency.RunContext) (Trigger, error) {
	return t.Trigger(in, scope, rc, nil, nil)
}

// Outside resolves a key outside any task (the CLI's keys): the global key
// of in, its text and scope, to pass on as an idempotency.Input that is not
// resolved again.
//
// Errors: those of idempotency.ResolveTrigger.
func Outside(in idempotency.Input) (idempotency.TriggerKey, error) {
	return idempotency.ResolveTrigger(in, "", idempotency.RunContext{}, nil)
}

// Trigger is one trigger of a task, planned: its key (Key.Key "" when it has
// none) and its run's workflow ID.
type Trigger struct {
	Task       Task
	Key        idempotency.TriggerKey
	WorkflowID string
}

// Memo is what the run's memo says of its key, for the Web UI: the key's
// text and scope; nothing for a trigger without a key, or whose key Once
// derived from the call (a task's unkeyed child, an activity's unkeyed
// trigger: Key.Derived), whose text no user gave.
func (tr Trigger) Memo() idempotency.Memo {
	if tr.Key.Key == "" || tr.Key.Derived {
		return idempotency.Memo{}
	}
	return idempotency.Memo{KeyText: tr.Key.Text, Scope: tr.Key.Scope}
}

// SearchAttributes are Once's custom search attributes of the run (see
// once.SearchAttributes): its task, environment and key.
func (tr Trigger) SearchAttributes() temporal.SearchAttributes {
	updates := []temporal.SearchAttributeUpdate{
		temporal.NewSearchAttributeKeyKeyword(once.SearchAttrTask).ValueSet(tr.Task.id),
		temporal.NewSearchAttributeKeyKeyword(once.SearchAttrEnvironment).ValueSet(tr.Task.env),
	}
	if tr.Key.Key != "" {
		updates = append(updates, temporal.NewSearchAttributeKeyKeyword(once.SearchAttrKey).ValueSet(string(tr.Key.Key)))
	}
	return temporal.NewSearchAttributes(updates...)
}
