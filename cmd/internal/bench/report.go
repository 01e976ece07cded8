package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/once-run/once/idempotency"
)

// Goal is the bound a ratio (Once / baseline) must meet.
type Goal struct {
	// Op is ">=" or "<=".
	Op string `json:"op"`
	// Ratio is the bound.
	Ratio float64 `json:"ratio"`
}

// AtLeast is the goal ratio >= r (for rates: higher is better).
func AtLeast(r float64) Goal { return Goal{Op: ">=", Ratio: r} }

// AtMost is the goal ratio <= r (for times: lower is better).
func AtMost(r float64) Goal { return Goal{Op: "<=", Ratio: r} }

// Met reports whether ratio meets the goal.
func (g Goal) Met(ratio float64) bool {
	if g.Op == "<=" {
		return ratio <= g.Ratio
	}
	return ratio >= g.Ratio
}

// String is the goal as "≥ 0.95".
func (g Goal) String() string {
	op := "≥"
	if g.Op == "<=" {
		op = "≤"
	}
	return op + " " + strconv.FormatFloat(g.Ratio, 'f', -1, 64)
}

// Comparison is Once against a baseline doing the same work.
type Comparison struct {
	Name string `json:"name"`
	// Unit of Once and Baseline ("starts/s", "s/parent").
	Unit     string  `json:"unit"`
	Once     float64 `json:"once"`
	Baseline float64 `json:"baseline"`
	// Ratio is Once / Baseline.
	Ratio float64 `json:"ratio"`
	Goal  Goal    `json:"goal"`
	Met   bool    `json:"met"`
}

// Micro is an in-process benchmark (testing.Benchmark).
type Micro struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"nsPerOp"`
	AllocsPerOp int64   `json:"allocsPerOp"`
	BytesPerOp  int64   `json:"bytesPerOp"`
	// MBPerSec is throughput over the input size, when there is one.
	MBPerSec float64 `json:"mbPerSec,omitempty"`
}

// Machine describes where the figures come from.
type Machine struct {
	GoVersion  string `json:"goVersion"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	MemoryGiB  int    `json:"memoryGiB,omitempty"`
}

// Report is the outcome of Run.
type Report struct {
	Machine     Machine       `json:"machine"`
	Config      ConfigSummary `json:"config"`
	Comparisons []Comparison  `json:"comparisons"`
	Micro       []Micro       `json:"micro"`
	// Seconds the measurements took (setup excluded).
	Seconds float64 `json:"seconds"`
}

// ConfigSummary is the part of Config worth printing.
type ConfigSummary struct {
	Concurrency     int `json:"concurrency"`
	Rounds          int `json:"rounds"`
	NewKeyStarts    int `json:"newKeyStarts"`
	CachedHits      int `json:"cachedHits"`
	BatchItems      int `json:"batchItems"`
	BatchRounds     int `json:"batchRounds"`
	SequentialItems int `json:"sequentialItems"`
	Children        int `json:"children"`
	ParentRounds    int `json:"parentRounds"`
}

func newReport(c Config) *Report {
	return &Report{
		Machine: Machine{
			GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
			CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), MemoryGiB: memoryGiB(),
		},
		Config: ConfigSummary{
			Concurrency: c.Concurrency, Rounds: c.Rounds, NewKeyStarts: c.NewKeyStarts,
			CachedHits: c.CachedHits, BatchItems: c.BatchItems, BatchRounds: c.BatchRounds,
			SequentialItems: c.SequentialItems, Children: c.Children, ParentRounds: c.ParentRounds,
		},
	}
}

// add computes the ratio and whether the goal holds, and appends c.
func (r *Report) add(c Comparison) {
	if c.Baseline > 0 {
		c.Ratio = c.Once / c.Baseline
	}
	c.Met = c.Goal.Met(c.Ratio)
	r.Comparisons = append(r.Comparisons, c)
}

// AllMet reports whether every comparison meets its goal.
func (r *Report) AllMet() bool {
	for _, c := range r.Comparisons {
		if !c.Met {
			return false
		}
	}
	return true
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report as aligned text tables.
func (r *Report) WriteTable(w io.Writer) error {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs (GOMAXPROCS %d)", m.CPUs, m.GOMAXPROCS)
	if m.MemoryGiB > 0 {
		fmt.Fprintf(w, ", %d GiB", m.MemoryGiB)
	}
	fmt.Fprintf(w, ", %s %s/%s; embedded server, in-memory SQLite; %.0fs of measurements\n\n", m.GoVersion, m.OS, m.Arch, r.Seconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tOnce\tbaseline\tunit\tratio\tgoal\tmet")
	for _, c := range r.Comparisons {
		met := "yes"
		if !c.Met {
			met = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2f\t%s\t%s\n", c.Name, num(c.Once), num(c.Baseline), c.Unit, c.Ratio, c.Goal, met)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "in-process\tns/op\tB/op\tallocs/op\tMB/s")
	for _, b := range r.Micro {
		mbs := ""
		if b.MBPerSec > 0 {
			mbs = fmt.Sprintf("%.0f", b.MBPerSec)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%d\t%s\n", b.Name, b.NsPerOp, b.BytesPerOp, b.AllocsPerOp, mbs)
	}
	return tw.Flush()
}

func num(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// memoryGiB is the machine's memory from /proc/meminfo, 0 when unknown.
func memoryGiB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return int((kb + 512*1024) / (1024 * 1024))
		}
	}
	return 0
}

// order is the ~1 KB payload of the payload-key figure.
type order struct {
	OrderID  string            `json:"order_id"`
	Customer map[string]string `json:"customer"`
	Items    []orderItem       `json:"items"`
	Currency string            `json:"currency"`
	Total    float64           `json:"total"`
	Notes    string            `json:"notes"`
	Paid     bool              `json:"paid"`
}

type orderItem struct {
	SKU      string  `json:"sku"`
	Name     string  `json:"name"`
	Quantity int     `json:"quantity"`
	Price    float64 `json:"price"`
}

func payload() order {
	o := order{
		OrderID:  "ord_0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10",
		Customer: map[string]string{"id": "cus_123", "email": "zoe@example.com", "name": "Zoë Ünïcödé", "country": "DE"},
		Currency: "EUR", Total: 1234.56, Notes: "Leave at the door <please> & ring twice.", Paid: true,
	}
	for i := range 9 {
		o.Items = append(o.Items, orderItem{SKU: fmt.Sprintf("SKU-%04d", i), Name: fmt.Sprintf("Widget number %d, blue", i), Quantity: i + 1, Price: 9.99 + float64(i)})
	}
	return o
}

var sink idempotency.Key

// micro runs the in-process key benchmarks.
func micro() []Micro {
	rc := idempotency.RunContext{Environment: "prod", TaskID: "send-email", RunID: "0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10", Attempt: 3}
	p := payload()
	raw, _ := json.Marshal(p)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	cases := []struct {
		name  string
		bytes int
		fn    func()
	}{
		{"idempotency.Derive (run scope, 2 parts)", 0, func() { sink, _ = idempotency.Derive(rc, idempotency.ScopeRun, "user-123", "welcome-email") }},
		{"idempotency.Derive (global, 1 part)", 0, func() { sink, _ = idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "order-42") }},
		{fmt.Sprintf("idempotency.KeyFromPayload (%d B struct)", len(raw)), len(raw), func() { sink, _ = idempotency.KeyFromPayload(p) }},
		{fmt.Sprintf("idempotency.KeyFromPayload (%d B map)", len(raw)), len(raw), func() { sink, _ = idempotency.KeyFromPayload(m) }},
		{fmt.Sprintf("idempotency.KeyFromPayload (%d B json.RawMessage)", len(raw)), len(raw), func() { sink, _ = idempotency.KeyFromPayload(json.RawMessage(raw)) }},
	}
	out := make([]Micro, 0, len(cases))
	for _, c := range cases {
		res := testing.Benchmark(func(b *testing.B) {
			b.ReportAllocs()
			if c.bytes > 0 {
				b.SetBytes(int64(c.bytes))
			}
			for range b.N {
				c.fn()
			}
		})
		mc := Micro{
			Name:        c.name,
			NsPerOp:     float64(res.T.Nanoseconds()) / float64(res.N),
			AllocsPerOp: res.AllocsPerOp(),
			BytesPerOp:  res.AllocedBytesPerOp(),
		}
		if c.bytes > 0 && res.T > 0 {
			mc.MBPerSec = float64(c.bytes) * float64(res.N) / res.T.Seconds() / 1e6
		}
		out = append(out, mc)
	}
	return out
}
