package activities_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/once-run/once/activities"
	"github.com/once-run/once/idempotency"
)

func TestCreateKey(t *testing.T) {
	rc := idempotency.RunContext{RunID: "run_1", Attempt: 2}
	inTask := idempotency.WithRunContext(context.Background(), rc)
	outside := context.Background()

	k, err := activities.CreateKey(inTask, "a", "b")
	require.NoError(t, err)
	want, err := idempotency.Derive(rc, idempotency.ScopeRun, "a", "b")
	require.NoError(t, err)
	require.Equal(t, want, k)

	k, err = activities.CreateKey(outside, "a", "b")
	require.NoError(t, err)
	want, err = idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "a", "b")
	require.NoError(t, err)
	require.Equal(t, want, k)

	k, err = activities.CreateKeyWithScope(outside, idempotency.ScopeAttempt, "a", "b")
	require.NoError(t, err)
	require.Equal(t, want, k, "outside a task every scope is global")

	_, err = activities.CreateKey(inTask)
	require.ErrorIs(t, err, idempotency.ErrEmptyKey)
	_, err = activities.CreateKeyWithScope(inTask, "daily", "a")
	require.ErrorIs(t, err, idempotency.ErrInvalidScope)
}

var benchSink idempotency.Key

func BenchmarkCreateKey(b *testing.B) {
	rc := idempotency.RunContext{Environment: "prod", TaskID: "send-email", RunID: "0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10", Attempt: 3}
	ctx := idempotency.WithRunContext(context.Background(), rc)
	b.ReportAllocs()
	for b.Loop() {
		benchSink, _ = activities.CreateKey(ctx, "user-123", "welcome-email")
	}
}

// Outside any task a key depends on its parts only. Inside a task (here a
// context carrying the run, as an activity gets it from Once's worker) the
// default scope is the run: a retried activity makes the same key, another
// run a different one.
func ExampleCreateKey() {
	// sha256 of "user-123-welcome-email"
	outside, _ := activities.CreateKey(context.Background(), "user-123", "welcome-email")
	fmt.Println("outside a task:", outside)

	run := idempotency.RunContext{Environment: "dev", TaskID: "onboard", RunID: "run_1", Attempt: 1}
	ctx := idempotency.WithRunContext(context.Background(), run)
	// sha256 of "user-123-welcome-email-run_1"
	inRun, _ := activities.CreateKey(ctx, "user-123", "welcome-email")
	fmt.Println("inside run_1:  ", inRun)

	run.Attempt = 2 // a retry of the same run
	again, _ := activities.CreateKey(idempotency.WithRunContext(context.Background(), run), "user-123", "welcome-email")
	fmt.Println("same key on retry:", again == inRun)

	_, err := activities.CreateKey(ctx, "")
	fmt.Println(errors.Is(err, idempotency.ErrEmptyKey))
	// Output:
	// outside a task: 3ba378f69fb5e45c260fab368ef3ab21b819787210a7c4416691bc6bdae70ab7
	// inside run_1:   c12319737e03e89c1b19a8206239ff4029250cbf85d3fbd8e2624def85e8a828
	// same key on retry: true
	// true
}
