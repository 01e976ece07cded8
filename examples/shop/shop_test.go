package shop_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"

	"github.com/once-run/once/examples/shop"
	"github.com/once-run/once/oncetest"
)

// A declined card fails attempt 1; attempt 2 re-finds both children: one
// shipment and one notification in all, as on the server.
func TestPlaceOrderRetriesWithoutDuplicates(t *testing.T) {
	env := oncetest.NewEnv(t, oncetest.Options{Environment: "dev"}, shop.PlaceOrder, shop.Ship, shop.Notify)
	var a *shop.Activities
	env.OnActivity(a.Charge, mock.Anything, mock.Anything).Return(errors.New("card declined")).Once()
	env.OnActivity(a.Charge, mock.Anything, mock.Anything).Return(nil).Once()

	env.ExecuteTask(shop.PlaceOrder, shop.Order{ID: "42"})

	require.NoError(t, env.GetWorkflowError())
	var got string
	require.NoError(t, env.GetWorkflowResult(&got))
	require.Equal(t, "shipped 42", got)
	require.Equal(t, 2, env.TaskAttempts())
	require.Equal(t, 1, env.ChildStarts(shop.Ship.ID()))
	require.Equal(t, 1, env.ChildStarts(shop.Notify.ID()))
}

// Every recorded history of place-order (each attempt of a run, recorded
// with `starter history place-order --key … --out testdata/replay`)
// replays against the current code.
func TestPlaceOrderReplays(t *testing.T) {
	oncetest.ReplayDir(t, "testdata/replay", shop.PlaceOrder)
}
