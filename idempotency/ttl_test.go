package idempotency

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseTTL(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"seconds", "45s", 45 * time.Second, false},
		{"minutes", "90m", 90 * time.Minute, false},
		{"hours", "12h", 12 * time.Hour, false},
		{"days", "30d", 30 * day, false},
		{"default equals 30d", "30d", DefaultTTL, false},
		{"leading zeros", "007d", 7 * day, false},
		{"go duration", "1h30m", 90 * time.Minute, false},
		{"go fraction", "1.5h", 90 * time.Minute, false},
		{"go milliseconds", "500ms", 500 * time.Millisecond, false},
		{"go explicit plus", "+5m", 5 * time.Minute, false},
		{"largest days", "106751d", 106751 * day, false},
		{"empty", "", 0, true},
		{"zero", "0s", 0, true},
		{"zero days", "0d", 0, true},
		{"zero go", "0", 0, true},
		{"negative", "-5m", 0, true},
		{"negative days", "-1d", 0, true},
		{"no unit", "30", 0, true},
		{"unit only", "d", 0, true},
		{"unknown unit", "3w", 0, true},
		{"uppercase unit", "30D", 0, true},
		{"spaces", " 30d", 0, true},
		{"trailing space", "30d ", 0, true},
		{"days mixed with hours", "1d12h", 0, true},
		{"fractional days", "1.5d", 0, true},
		{"overflow days", "106752d", 0, true},
		{"overflow digits", "99999999999999999999999s", 0, true},
		{"overflow go", "9999999999h", 0, true},
		{"text", "forever", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTTL(tt.in)
			if tt.wantErr {
				require.ErrorIs(t, err, ErrInvalidTTL)
				require.Zero(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	require.Less(t, time.Duration(106751)*day, time.Duration(math.MaxInt64))
}
