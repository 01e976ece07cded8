package idempotency_test

import (
	"errors"
	"fmt"

	"github.com/once-run/once/idempotency"
)

// Derive is the pure core: the parts, then the scope parts, joined with "-"
// and hashed with SHA-256.
func ExampleDerive() {
	rc := idempotency.RunContext{RunID: "run_1", Attempt: 2}
	for _, scope := range []idempotency.Scope{idempotency.ScopeGlobal, idempotency.ScopeRun, idempotency.ScopeAttempt} {
		k, _ := idempotency.Derive(rc, scope, "a", "b")
		fmt.Printf("%-7s %s\n", scope, k)
	}
	// Output:
	// global  d44362d67d921091c7b9674d752e9e23c1f9ec8a4f0b82741bf01364eb97c830
	// run     ab91dd458ffb3d2abef424fa722205a9883ea5361855cbf839c897aa6f6fb5e2
	// attempt 3abd025dd1b987593a6e2c558bdf1072be6a446cb2db3a071dedbee3b18a77a7
}

// A Key is final: Resolve returns it as is, while Parts are hashed.
func ExampleResolve() {
	rc := idempotency.RunContext{RunID: "run_1", Attempt: 1}
	k, _ := idempotency.Resolve(idempotency.Parts{"a", "b"}, idempotency.ScopeRun, rc)
	same, _ := idempotency.Resolve(k, idempotency.ScopeAttempt, rc)
	fmt.Println(k == same)
	fmt.Println(idempotency.Text(idempotency.Parts{"a", "b"}))
	// Output:
	// true
	// a-b
}

// Equal payloads give equal keys whatever their field order or number
// spelling.
func ExampleKeyFromPayload() {
	type order struct {
		ID    string  `json:"id"`
		Total float64 `json:"total"`
	}
	a, _ := idempotency.KeyFromPayload(order{ID: "o-42", Total: 4.50})
	b, _ := idempotency.KeyFromPayload(map[string]any{"total": 4.5, "id": "o-42"})
	fmt.Println(a == b)
	fmt.Println(a) // sha256 of {"id":"o-42","total":4.5}

	_, err := idempotency.KeyFromPayload(make(chan int))
	fmt.Println(errors.Is(err, idempotency.ErrPayloadNotSerializable))
	// Output:
	// true
	// 89a487330278f96f9d054b9e65258027bb10a2fc630a8aef13d791a0dc9b94f8
	// true
}

func ExampleParseTTL() {
	for _, s := range []string{"30d", "12h", "90m", "1h30m", "0s", "3w"} {
		d, err := idempotency.ParseTTL(s)
		fmt.Println(s, d, errors.Is(err, idempotency.ErrInvalidTTL))
	}
	// Output:
	// 30d 720h0m0s false
	// 12h 12h0m0s false
	// 90m 1h30m0s false
	// 1h30m 1h30m0s false
	// 0s 0s true
	// 3w 0s true
}

func ExampleWorkflowID() {
	key, _ := idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "a", "b")
	id, _ := idempotency.WorkflowID("dev", "my-task", key)
	fmt.Println(id)

	env, task, rest, ok := idempotency.ParseWorkflowID(id)
	fmt.Println(env, task, rest == key.String(), ok)

	_, err := idempotency.WorkflowID("Dev", "my-task", key)
	fmt.Println(err)
	// Output:
	// dev/my-task/d44362d67d921091c7b9674d752e9e23c1f9ec8a4f0b82741bf01364eb97c830
	// dev my-task true true
	// workflow ID: environment "Dev": byte 0 is 'D': idempotency: invalid environment: use 1 to 32 characters of a-z 0-9 - starting with a letter or digit
}

func ExampleParseKey() {
	_, err := idempotency.ParseKey("order-42")
	fmt.Println(errors.Is(err, idempotency.ErrInvalidKey))
	// Output:
	// true
}
