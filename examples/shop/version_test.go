package shop_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/examples/shop"
	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/oncetest"
	"github.com/once-run/once/workflows"
)

// A change of place-order: charge the card before shipping. The runs in
// flight have histories where shipping came first.

// chargeFirst is the change made naively.
var chargeFirst = workflows.NewTask("place-order", func(ctx workflow.Context, o shop.Order) (string, error) {
	if err := charge(ctx, o); err != nil {
		return "", err
	}
	return shipAndNotify(ctx, o)
}, shop.PlaceOrder.Options())

// chargeFirstVersioned is the change behind workflow.GetVersion, as in the
// README.
var chargeFirstVersioned = workflows.NewTask("place-order", func(ctx workflow.Context, o shop.Order) (string, error) {
	v := workflow.GetVersion(ctx, "charge-first", workflow.DefaultVersion, 1)
	if v == 1 { // runs started after the change
		if err := charge(ctx, o); err != nil {
			return "", err
		}
	}
	shipped, err := shipAndNotify(ctx, o)
	if err != nil {
		return "", err
	}
	if v == workflow.DefaultVersion { // runs started before it: as they did
		if err := charge(ctx, o); err != nil {
			return "", err
		}
	}
	return shipped, nil
}, shop.PlaceOrder.Options())

func shipAndNotify(ctx workflow.Context, o shop.Order) (string, error) {
	shipped, err := shop.Ship.TriggerAndWait(ctx, o, workflows.ChildOptions{Key: idempotency.Parts{"ship", o.ID}})
	if err != nil {
		return "", err
	}
	_, err = shop.Notify.Trigger(ctx, o, workflows.ChildOptions{})
	return shipped, err
}

func charge(ctx workflow.Context, o shop.Order) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var a *shop.Activities
	return workflow.ExecuteActivity(ctx, a.Charge, o).Get(ctx, nil)
}

func recordedHistories(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "replay", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths)
	return paths
}

// TestIncompatibleChangeFailsReplay: charging first schedules an activity
// where the recorded attempts started a child: the replay reports
// non-determinism, the sign that the change would break the runs in flight.
func TestIncompatibleChangeFailsReplay(t *testing.T) {
	for _, path := range recordedHistories(t) {
		err := oncetest.ReplayFile(path, chargeFirst)
		require.ErrorContains(t, err, "nondeterministic", path)
	}
}

// TestVersionedChangeReplays: behind workflow.GetVersion the same change
// replays every recorded attempt (their histories have no version marker:
// they take the DefaultVersion branch, as they ran) ...
func TestVersionedChangeReplays(t *testing.T) {
	for _, path := range recordedHistories(t) {
		require.NoError(t, oncetest.ReplayFile(path, chargeFirstVersioned), path)
	}
}

// ... while new runs record version 1 and charge before shipping.
func TestVersionedChangeChargesFirstInNewRuns(t *testing.T) {
	env := oncetest.NewEnv(t, oncetest.Options{}, chargeFirstVersioned, shop.Ship, shop.Notify)
	var a *shop.Activities
	var shipsBeforeCharge int
	env.OnActivity(a.Charge, mock.Anything, mock.Anything).Run(func(mock.Arguments) {
		shipsBeforeCharge = env.ChildStarts(shop.Ship.ID())
	}).Return(nil).Once()
	env.ExecuteTask(chargeFirstVersioned, shop.Order{ID: "42"})
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, 0, shipsBeforeCharge)
	require.Equal(t, 1, env.ChildStarts(shop.Ship.ID()))
}
