package runctx

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
)

// TestNextCallOrdinal: calls are counted per name in the context of one
// activity attempt; a new attempt (a new Extract) counts from 1 again;
// goroutines get distinct ordinals.
func TestNextCallOrdinal(t *testing.T) {
	_, ok := NextCallOrdinal(context.Background(), "t")
	require.False(t, ok, "outside an activity")

	attempt := func() context.Context {
		ctx, err := NewContextPropagator().Extract(context.Background(), headerMap{})
		require.NoError(t, err)
		return ctx
	}
	ctx := attempt()
	for want := 1; want <= 3; want++ {
		n, ok := NextCallOrdinal(ctx, "a")
		require.True(t, ok)
		require.Equal(t, want, n)
	}
	n, _ := NextCallOrdinal(ctx, "b")
	require.Equal(t, 1, n, "counted per name")
	n, _ = NextCallOrdinal(attempt(), "a")
	require.Equal(t, 1, n, "a new attempt counts from 1")

	ctx = attempt()
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, _ := NextCallOrdinal(ctx, "c")
			mu.Lock()
			defer mu.Unlock()
			seen[n] = true
		}()
	}
	wg.Wait()
	require.Len(t, seen, 50)
	require.True(t, seen[1] && seen[50])
}

// TestNextCallOrdinalWithoutPropagator: an activity whose context has no
// counter (no propagator, no Once worker) is counted per attempt in a table.
func TestNextCallOrdinalWithoutPropagator(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	run := func() []int {
		env := s.NewTestActivityEnvironment()
		env.RegisterActivityWithOptions(func(ctx context.Context) ([]int, error) {
			var out []int
			for _, name := range []string{"a", "a", "b", "a"} {
				n, ok := NextCallOrdinal(ctx, name)
				if !ok {
					return nil, errors.New("not counted")
				}
				out = append(out, n)
			}
			return out, nil
		}, activity.RegisterOptions{Name: "count"})
		v, err := env.ExecuteActivity("count")
		require.NoError(t, err)
		var out []int
		require.NoError(t, v.Get(&out))
		return out
	}
	require.Equal(t, []int{1, 2, 1, 3}, run())
}
