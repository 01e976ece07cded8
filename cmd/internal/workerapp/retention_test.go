package workerapp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFormatRetention(t *testing.T) {
	for _, tt := range []struct {
		in   time.Duration
		want string
	}{
		{24 * time.Hour, "1d"},
		{30 * 24 * time.Hour, "30d"},
		{36 * time.Hour, "36h0m0s"},
		{90 * time.Minute, "1h30m0s"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			require.Equal(t, tt.want, formatRetention(tt.in))
		})
	}
}
