package idempotency

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStoredRunContext(t *testing.T) {
	rc := RunContext{Environment: "dev", TaskID: "t", RunID: "r", Attempt: 2}
	tests := []struct {
		name       string
		ctx        context.Context
		want       RunContext
		wantStored bool
	}{
		{"background", context.Background(), RunContext{}, false},
		{"nil", nil, RunContext{}, false},
		{"stored", WithRunContext(context.Background(), rc), rc, true},
		{"stored zero counts", WithRunContext(context.Background(), RunContext{TaskID: "t"}), RunContext{TaskID: "t"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stored := StoredRunContext(tt.ctx)
			require.Equal(t, tt.wantStored, stored)
			require.Equal(t, tt.want, got)
		})
	}
}
