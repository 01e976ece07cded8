package examples_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/once-run/once/examples"
	"github.com/once-run/once/workflows"
)

// TestTriggerChildTaskMisconfigured: the example activity without its
// starter fails for good.
func TestTriggerChildTaskMisconfigured(t *testing.T) {
	_, err := (&examples.Activities{}).TriggerChildTask(context.Background(), examples.TriggerChildInput{})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.Equal(t, workflows.ErrTypeMisconfigured, appErr.Type())
	require.True(t, appErr.NonRetryable())
}
