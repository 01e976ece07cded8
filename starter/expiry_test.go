package starter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/once-run/once"
	"github.com/once-run/once/idempotency"
)

func TestEffectiveExpiry(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	closed := start.Add(time.Hour)
	const day = 24 * time.Hour
	tests := []struct {
		name      string
		ttlExpiry time.Time
		closeTime time.Time
		retention time.Duration
		want      time.Time
		bound     ExpiryBound
	}{
		{"closed, TTL first", start.Add(2 * time.Hour), closed, day, start.Add(2 * time.Hour), ExpiryTTL},
		{"closed, retention first", start.Add(30 * day), closed, day, closed.Add(day), ExpiryRetention},
		{"closed, both at once: the TTL", closed.Add(day), closed, day, closed.Add(day), ExpiryTTL},
		{"running: the TTL", start.Add(30 * day), time.Time{}, day, start.Add(30 * day), ExpiryTTL},
		{"retention unknown: the TTL", start.Add(30 * day), closed, 0, start.Add(30 * day), ExpiryTTL},
		{"no TTL, closed: the retention", time.Time{}, closed, day, closed.Add(day), ExpiryRetention},
		{"no TTL, running: unknown", time.Time{}, time.Time{}, day, time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bound := effectiveExpiry(tt.ttlExpiry, tt.closeTime, tt.retention)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.bound, bound)
		})
	}
}

// TestTriggerExpiry: a trigger reports the key's effective expiry from what
// it has read, with no RPC for it. A run it started is running: the TTL's.
// A cached hit that the duplicate start names (state unknown) has the TTL's
// when the retention cannot come first, else none; a run the trigger read
// (a seen key, FailureRelease) has its close time: the retention's when
// that comes first.
func TestTriggerExpiry(t *testing.T) {
	const day = 24 * time.Hour
	t.Run("started", func(t *testing.T) {
		for _, ttl := range []time.Duration{time.Hour, 30 * day} {
			f := newFakeServer()
			f.retention = day
			c := newFakeClient(t, f, Options{SeenKeys: -1})
			run, err := trigger(t, c, "p", TriggerOptions{TTL: ttl})
			require.NoError(t, err)
			require.False(t, run.Cached)
			created, ok := runIDTime(run.RunID)
			require.True(t, ok)
			require.Equal(t, created.Add(ttl), run.ExpiresAt, "TTL %v", ttl)
			require.Equal(t, ExpiryTTL, run.ExpiryBound, "running: the TTL's, TTL %v", ttl)
			require.Equal(t, []string{"Start"}, f.methods())
		}
	})
	t.Run("unkeyed", func(t *testing.T) {
		f := newFakeServer()
		c := newFakeClient(t, f, Options{SeenKeys: -1})
		run, err := c.Trigger(context.Background(), fakeTask, "p", TriggerOptions{})
		require.NoError(t, err)
		require.True(t, run.ExpiresAt.IsZero())
		require.Empty(t, run.ExpiryBound)
	})

	closedRun := func(f *fakeServer, ttl time.Duration) *fakeRun {
		old := newRunID()
		started, _ := runIDTime(old)
		r := &fakeRun{runID: old, requestID: newKeyRequestID(ttl, ""), status: enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, closed: started.Add(time.Minute)}
		f.put(r)
		return r
	}
	t.Run("cached, state not read", func(t *testing.T) {
		for _, tc := range []struct {
			ttl   time.Duration
			bound ExpiryBound
		}{
			{time.Hour, ExpiryTTL}, // the TTL ends before start + retention
			{30 * day, ""},         // the retention may come first: unknown
		} {
			f := newFakeServer()
			f.retention = day
			old := closedRun(f, tc.ttl)
			c := newFakeClient(t, f, Options{SeenKeys: -1})
			run, err := trigger(t, c, "p", TriggerOptions{TTL: time.Hour})
			require.NoError(t, err)
			require.True(t, run.Cached)
			require.Equal(t, tc.bound, run.ExpiryBound, "TTL %v", tc.ttl)
			if tc.bound == "" {
				require.True(t, run.ExpiresAt.IsZero())
			} else {
				require.True(t, old.started.Add(tc.ttl).Equal(run.ExpiresAt), "want %v, got %v", old.started.Add(tc.ttl), run.ExpiresAt)
			}
			require.Equal(t, []string{"Start"}, f.methods(), "no read for the expiry")
		}
	})
	t.Run("cached, read", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			opts    Options
			topt    TriggerOptions
			methods []string
		}{
			{"seen key", Options{}, TriggerOptions{TTL: 30 * day}, []string{"Describe"}},
			{"FailureRelease", Options{SeenKeys: -1}, TriggerOptions{TTL: 30 * day, OnFailure: FailureRelease}, []string{"Start", "Describe"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFakeServer()
				f.retention = day
				old := closedRun(f, 30*day)
				c := newFakeClient(t, f, tc.opts)
				if tc.opts.SeenKeys == 0 {
					p, err := c.prepare(context.Background(), fakeTask, "p", TriggerOptions{Key: fakeKey}, nil)
					require.NoError(t, err)
					c.seen.put(p.workflowID())
				}
				run, err := trigger(t, c, "p", tc.topt)
				require.NoError(t, err)
				require.True(t, run.Cached)
				require.True(t, old.closed.Add(day).Equal(run.ExpiresAt), "want %v, got %v", old.closed.Add(day), run.ExpiresAt)
				require.Equal(t, ExpiryRetention, run.ExpiryBound)
				require.Equal(t, tc.methods, f.methods(), "the read that judged the run, nothing more")
			})
		}
	})
	t.Run("replacement", func(t *testing.T) {
		f := newFakeServer()
		f.retention = day
		closedRun(f, time.Hour)
		now := time.Now().Add(2 * time.Hour)
		c := newFakeClient(t, f, Options{SeenKeys: -1, Now: func() time.Time { return now }})
		run, err := trigger(t, c, "p", TriggerOptions{TTL: 30 * day})
		require.NoError(t, err)
		require.False(t, run.Cached)
		require.Equal(t, now.Add(30*day).UTC().Truncate(time.Millisecond), run.ExpiresAt.UTC().Truncate(time.Millisecond))
		require.Equal(t, ExpiryTTL, run.ExpiryBound, "just made: running, the TTL's")
	})
}

// TestLookupExpiry: Lookup reports the effective expiry and its bound, and
// Expired follows it.
func TestLookupExpiry(t *testing.T) {
	const day = 24 * time.Hour
	start := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name      string
		ttl       time.Duration // 0: a run Once did not start
		closed    bool
		now       time.Duration // after start
		want      time.Time
		bound     ExpiryBound
		expired   bool
		retention time.Duration
	}{
		{name: "closed, TTL 30d: the retention", ttl: 30 * day, closed: true, retention: day,
			want: start.Add(time.Minute + day), bound: ExpiryRetention},
		{name: "closed, TTL 1h: the TTL", ttl: time.Hour, closed: true, retention: day,
			want: start.Add(time.Hour), bound: ExpiryTTL},
		{name: "running, TTL 30d: the TTL", ttl: 30 * day, retention: day,
			want: start.Add(30 * day), bound: ExpiryTTL},
		{name: "closed, past the retention: expired", ttl: 30 * day, closed: true, retention: day, now: 2 * day,
			want: start.Add(time.Minute + day), bound: ExpiryRetention, expired: true},
		{name: "closed run Once did not start: the retention", closed: true, retention: day,
			want: start.Add(time.Minute + day), bound: ExpiryRetention},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer()
			f.retention = tc.retention
			r := &fakeRun{runID: newRunID(), requestID: "foreign", status: enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, started: start}
			if tc.ttl > 0 {
				r.requestID = newKeyRequestID(tc.ttl, "")
			}
			if tc.closed {
				r.status, r.closed = enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, start.Add(time.Minute)
			}
			f.put(r)
			now := tc.now
			if now == 0 {
				now = 30 * time.Minute
			}
			c := newFakeClient(t, f, Options{Now: clockAt(start, now)})
			info, err := c.Lookup(context.Background(), fakeTask, fakeKey, LookupOptions{})
			require.NoError(t, err)
			require.True(t, tc.want.Equal(info.ExpiresAt), "want %v, got %v", tc.want, info.ExpiresAt)
			require.Equal(t, tc.bound, info.ExpiryBound)
			require.Equal(t, tc.expired, info.Expired)
		})
	}
}

// TestRefuseTTLBeyondRetention: with the option, a keyed trigger whose TTL
// is longer than the namespace's retention is an input error with nothing
// started; without it, the run starts (and the client warns).
func TestRefuseTTLBeyondRetention(t *testing.T) {
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name   string
		refuse bool
		key    idempotency.Input
		ttl    time.Duration
		err    bool
	}{
		{"refused", true, fakeKey, 30 * day, true},
		{"within the retention", true, fakeKey, day, false},
		{"unkeyed: no key to forget", true, nil, 30 * day, false},
		{"default: a warning", false, fakeKey, 30 * day, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeServer()
			f.retention = day
			c := newFakeClient(t, f, Options{SeenKeys: -1, RefuseTTLBeyondRetention: tc.refuse})
			run, err := c.Trigger(context.Background(), fakeTask, "p", TriggerOptions{Key: tc.key, TTL: tc.ttl})
			if !tc.err {
				require.NoError(t, err)
				require.NotNil(t, run)
				require.Equal(t, []string{"Start"}, f.methods())
				return
			}
			require.Nil(t, run)
			require.ErrorIs(t, err, ErrTTLBeyondRetention)
			require.ErrorIs(t, err, once.ErrInvalidInput)
			require.Contains(t, err.Error(), "720h0m0s")
			require.Contains(t, err.Error(), "retention 24h0m0s")
			require.Empty(t, f.methods(), "nothing started")
		})
	}
}

// TestRetention: the namespace's retention, read once.
func TestRetention(t *testing.T) {
	f := newFakeServer()
	f.retention = 72 * time.Hour
	c := newFakeClient(t, f, Options{})
	got, err := c.Retention(context.Background())
	require.NoError(t, err)
	require.Equal(t, 72*time.Hour, got)
}
