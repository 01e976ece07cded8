package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	return rec.Body.String()
}

func TestCountersGaugesTimers(t *testing.T) {
	r := NewRegistry()
	h := r.Handler().WithTags(map[string]string{"task": "hello"})
	h.WithTags(map[string]string{"outcome": "started"}).Counter("once_triggers").Inc(1)
	h.WithTags(map[string]string{"outcome": "started"}).Counter("once_triggers").Inc(2)
	h.WithTags(map[string]string{"outcome": "cached"}).Counter("once_triggers").Inc(1)
	r.Handler().Gauge("temporal.sticky-cache").Update(7)
	r.Handler().Timer("latency").Record(30 * time.Millisecond)

	out := scrape(t, r)
	for _, want := range []string{
		"# TYPE once_triggers counter\n",
		`once_triggers{outcome="started",task="hello"} 3` + "\n",
		`once_triggers{outcome="cached",task="hello"} 1` + "\n",
		"# TYPE temporal_sticky_cache gauge\ntemporal_sticky_cache 7\n",
		`latency_bucket{le="0.025"} 0` + "\n",
		`latency_bucket{le="0.05"} 1` + "\n",
		`latency_bucket{le="+Inf"} 1` + "\n",
		"latency_count 1\n",
	} {
		require.True(t, strings.Contains(out, want), "missing %q in\n%s", want, out)
	}
}

func TestLabelValuesAreEscaped(t *testing.T) {
	r := NewRegistry()
	r.Handler().WithTags(map[string]string{"bad key": "a\"b\\c\nd"}).Counter("c").Inc(1)
	require.Contains(t, scrape(t, r), `c{bad_key="a\"b\\c\nd"} 1`)
}
