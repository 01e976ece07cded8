package workflows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/once-run/once/workflows"
)

// TestAttachRunMisconfigured: AttachRun without its client fails for good.
func TestAttachRunMisconfigured(t *testing.T) {
	var a *workflows.RuntimeActivities
	_, err := a.AttachRun(context.Background(), workflows.AttachInput{WorkflowID: "dev/t/x"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	require.Equal(t, workflows.ErrTypeMisconfigured, appErr.Type())
	require.True(t, appErr.NonRetryable())
}
