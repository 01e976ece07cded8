// Package metrics is a Temporal SDK metrics handler (client.MetricsHandler)
// that keeps counters, gauges and timers in memory and serves them in the
// Prometheus text exposition format. It lets the worker expose the SDK's
// metrics and Once's trigger counters on --metrics-addr without a metrics
// library beyond the standard one.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
)

// timerBuckets are the histogram upper bounds of timers, in seconds.
var timerBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

type kind int

const (
	kindCounter kind = iota
	kindGauge
	kindTimer
)

type series struct {
	labels string // rendered {k="v",…}, sorted by key
	value  float64
	count  uint64   // timers
	bucket []uint64 // timers, cumulative at render time
}

type family struct {
	kind   kind
	series map[string]*series
}

// Registry holds every metric recorded through its handlers.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]*family{}} }

// Handler returns the root SDK metrics handler of r.
func (r *Registry) Handler() client.MetricsHandler { return handler{r: r} }

// ServeHTTP writes every metric in the Prometheus text format.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = r.Write(w)
}

// Write writes every metric in the Prometheus text format.
func (r *Registry) Write(w io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.families))
	for name := range r.families {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		f := r.families[name]
		keys := make([]string, 0, len(f.series))
		for k := range f.series {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		switch f.kind {
		case kindCounter:
			fmt.Fprintf(&b, "# TYPE %s counter\n", name)
		case kindGauge:
			fmt.Fprintf(&b, "# TYPE %s gauge\n", name)
		case kindTimer:
			fmt.Fprintf(&b, "# TYPE %s histogram\n", name)
		}
		for _, k := range keys {
			s := f.series[k]
			if f.kind != kindTimer {
				fmt.Fprintf(&b, "%s%s %s\n", name, s.labels, formatFloat(s.value))
				continue
			}
			for i, le := range timerBuckets {
				fmt.Fprintf(&b, "%s_bucket%s %d\n", name, withLabel(s.labels, "le", formatFloat(le)), s.bucket[i])
			}
			fmt.Fprintf(&b, "%s_bucket%s %d\n", name, withLabel(s.labels, "le", "+Inf"), s.count)
			fmt.Fprintf(&b, "%s_sum%s %s\n", name, s.labels, formatFloat(s.value))
			fmt.Fprintf(&b, "%s_count%s %d\n", name, s.labels, s.count)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// get returns the series of name and labels, creating it.
func (r *Registry) get(k kind, name string, tags map[string]string) *series {
	name = sanitize(name)
	labels := renderLabels(tags)
	f := r.families[name]
	if f == nil {
		f = &family{kind: k, series: map[string]*series{}}
		r.families[name] = f
	}
	s := f.series[labels]
	if s == nil {
		s = &series{labels: labels}
		if k == kindTimer {
			s.bucket = make([]uint64, len(timerBuckets))
		}
		f.series[labels] = s
	}
	return s
}

type handler struct {
	r    *Registry
	tags map[string]string
}

func (h handler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[k] = v
	}
	return handler{r: h.r, tags: merged}
}

func (h handler) Counter(name string) client.MetricsCounter {
	return counterFunc(func(d int64) {
		h.r.mu.Lock()
		defer h.r.mu.Unlock()
		h.r.get(kindCounter, name, h.tags).value += float64(d)
	})
}

func (h handler) Gauge(name string) client.MetricsGauge {
	return gaugeFunc(func(v float64) {
		h.r.mu.Lock()
		defer h.r.mu.Unlock()
		h.r.get(kindGauge, name, h.tags).value = v
	})
}

func (h handler) Timer(name string) client.MetricsTimer {
	return timerFunc(func(d time.Duration) {
		h.r.mu.Lock()
		defer h.r.mu.Unlock()
		s := h.r.get(kindTimer, name, h.tags)
		sec := d.Seconds()
		s.value += sec
		s.count++
		for i, le := range timerBuckets {
			if sec <= le {
				s.bucket[i]++
			}
		}
	})
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

func renderLabels(tags map[string]string) string {
	if len(tags) == 0 {
		return ""
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(sanitize(k))
		b.WriteString(`="`)
		b.WriteString(escape(tags[k]))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func withLabel(labels, k, v string) string {
	pair := k + `="` + v + `"`
	if labels == "" {
		return "{" + pair + "}"
	}
	return labels[:len(labels)-1] + "," + pair + "}"
}

// sanitize maps a name to [a-zA-Z_:][a-zA-Z0-9_:]*.
func sanitize(name string) string {
	b := []byte(name)
	for i, c := range b {
		ok := c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

func escape(v string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(v)
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
