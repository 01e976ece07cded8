// Package shop is the user task of the README's "Testing your tasks": an
// order that ships once per order (a keyed child), notifies the customer (an
// unkeyed child) and charges the card; a declined card fails the attempt and
// the task retries. Its tests (shop_test.go) are the README's unit and
// replay tests; version_test.go shows what workflow.GetVersion does for a
// changed task.
package shop

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/once-run/once/idempotency"
	"github.com/once-run/once/workflows"
)

// Order is the payload of the shop's tasks.
type Order struct {
	ID string `json:"id"`
}

var (
	// Ship ships an order.
	Ship = workflows.NewTask("ship", func(_ workflow.Context, o Order) (string, error) {
		return "shipped " + o.ID, nil
	}, workflows.TaskOptions{})

	// Notify tells the customer.
	Notify = workflows.NewTask("notify", func(_ workflow.Context, o Order) (string, error) {
		return "notified " + o.ID, nil
	}, workflows.TaskOptions{})
)

// PlaceOrder ships, notifies and charges, in up to 3 attempts.
var PlaceOrder = workflows.NewTask("place-order", placeOrder, workflows.TaskOptions{
	RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3, InitialInterval: time.Second},
})

func placeOrder(ctx workflow.Context, o Order) (string, error) {
	// Keyed: one shipment per order in this run, whatever the attempt.
	shipped, err := Ship.TriggerAndWait(ctx, o, workflows.ChildOptions{Key: idempotency.Parts{"ship", o.ID}})
	if err != nil {
		return "", err
	}
	// Unkeyed: the ordinal key (1st trigger of notify), the same in every attempt.
	if _, err := Notify.Trigger(ctx, o, workflows.ChildOptions{}); err != nil {
		return "", err
	}
	// One try per attempt: a declined card fails the attempt.
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var a *Activities
	if err := workflow.ExecuteActivity(ctx, a.Charge, o).Get(ctx, nil); err != nil {
		return "", err
	}
	return shipped, nil
}

// Activities are the shop's activities.
type Activities struct {
	// Pay charges an order's card. Required.
	Pay func(ctx context.Context, orderID string) error
}

// Charge charges the order's card.
func (a *Activities) Charge(ctx context.Context, o Order) error {
	return a.Pay(ctx, o.ID)
}
