package idempotency

import (
	"fmt"
	"strings"
)

// MaxWorkflowIDBytes is the longest workflow ID WorkflowID makes: a 32-byte
// environment, a 128-byte task ID, a 64-byte key and two slashes. It fits
// the workflow_id VARCHAR(255) of Temporal's SQL persistence.
const MaxWorkflowIDBytes = 226

// Length limits of environments and task IDs.
const (
	MaxEnvironmentBytes = 32
	MaxTaskIDBytes      = 128
)

// WorkflowID returns the workflow ID of the run of task in env for key:
// "<env>/<task>/<key>", at most MaxWorkflowIDBytes long.
//
// Errors (wrapped): ErrInvalidEnvironment, ErrInvalidTaskID, ErrInvalidKey.
func WorkflowID(env, task string, key Key) (string, error) {
	if err := ValidateEnvironment(env); err != nil {
		return "", fmt.Errorf("workflow ID: %w", err)
	}
	if err := ValidateTaskID(task); err != nil {
		return "", fmt.Errorf("workflow ID: %w", err)
	}
	if _, err := ParseKey(string(key)); err != nil {
		return "", fmt.Errorf("workflow ID: %w", err)
	}
	return WorkflowIDPrefix(env, task) + string(key), nil
}

// WorkflowIDPrefix is "<env>/<task>/": the start of the workflow ID of every
// run of task in env, to which WorkflowID appends the key (and the starter
// a UUID for a run without one). It is the one place that lays out a
// workflow ID. It checks neither env nor task: check them first, with
// ValidateEnvironment and ValidateTaskID, as WorkflowID does.
func WorkflowIDPrefix(env, task string) string { return env + "/" + task + "/" }

// ParseWorkflowID splits a workflow ID of the shape "<env>/<task>/<rest>"
// made by this project. ok is false when id has another shape: fewer than
// two slashes, an invalid environment or task ID, or an empty rest. rest is
// everything after the second slash (a Key, a UUID for unkeyed triggers, or
// another deterministic suffix) and is not checked further.
func ParseWorkflowID(id string) (env, task, rest string, ok bool) {
	env, after, found := strings.Cut(id, "/")
	if !found {
		return "", "", "", false
	}
	task, rest, found = strings.Cut(after, "/")
	if !found || rest == "" || ValidateEnvironment(env) != nil || ValidateTaskID(task) != nil {
		return "", "", "", false
	}
	return env, task, rest, true
}

// ValidateEnvironment checks that env is an environment name matching
// ^[a-z0-9][a-z0-9-]{0,31}$, e.g. "dev", "staging", "prod", "eu-1".
//
// Errors: ErrInvalidEnvironment (wrapped, with the offending value).
func ValidateEnvironment(env string) error {
	if env == "" || len(env) > MaxEnvironmentBytes {
		return fmt.Errorf("environment %s: %d bytes, want 1 to %d: %w", quoteShort(env), len(env), MaxEnvironmentBytes, ErrInvalidEnvironment)
	}
	for i := 0; i < len(env); i++ {
		c := env[i]
		if isLowerAlnum(c) || (c == '-' && i > 0) {
			continue
		}
		return fmt.Errorf("environment %s: byte %d is %q: %w", quoteShort(env), i, c, ErrInvalidEnvironment)
	}
	return nil
}

// ValidateTaskID checks that task is a task ID matching
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$, e.g. "send-email" or "billing.v2".
//
// Errors: ErrInvalidTaskID (wrapped, with the offending value).
func ValidateTaskID(task string) error {
	if task == "" || len(task) > MaxTaskIDBytes {
		return fmt.Errorf("task ID %s: %d bytes, want 1 to %d: %w", quoteShort(task), len(task), MaxTaskIDBytes, ErrInvalidTaskID)
	}
	for i := 0; i < len(task); i++ {
		c := task[i]
		if isLowerAlnum(c) || (c >= 'A' && c <= 'Z') || (i > 0 && (c == '.' || c == '_' || c == '-')) {
			continue
		}
		return fmt.Errorf("task ID %s: byte %d is %q: %w", quoteShort(task), i, c, ErrInvalidTaskID)
	}
	return nil
}

func isLowerAlnum(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') }
