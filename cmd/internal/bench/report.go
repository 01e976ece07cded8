package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Sections of the report, printed in this order.
const (
	sectionStarts  = "starts"
	sectionRTT     = "round trip:"
	sectionStorage = "storage of the embedded server"
)

// Goal is the bound a ratio (Once / baseline) must meet.
type Goal struct {
	// Op is ">=", "<=" or "" (no goal: a figure that explains others).
	Op string `json:"op,omitempty"`
	// Ratio is the bound.
	Ratio float64 `json:"ratio,omitempty"`
}

// AtLeast is the goal ratio >= r (for rates: higher is better).
func AtLeast(r float64) Goal { return Goal{Op: ">=", Ratio: r} }

// AtMost is the goal ratio <= r (for times: lower is better).
func AtMost(r float64) Goal { return Goal{Op: "<=", Ratio: r} }

// NoGoal marks a diagnostic figure.
var NoGoal = Goal{}

// Met reports whether ratio meets the goal; always true without one.
func (g Goal) Met(ratio float64) bool {
	switch g.Op {
	case "<=":
		return ratio <= g.Ratio
	case ">=":
		return ratio >= g.Ratio
	}
	return true
}

// String is the goal as "≥ 0.95", or "—" without one.
func (g Goal) String() string {
	switch g.Op {
	case "<=":
		return "≤ " + strconv.FormatFloat(g.Ratio, 'f', -1, 64)
	case ">=":
		return "≥ " + strconv.FormatFloat(g.Ratio, 'f', -1, 64)
	}
	return "—"
}

// Comparison is Once against a baseline doing the same work, measured in
// alternating rounds.
type Comparison struct {
	Section string `json:"section"`
	Name    string `json:"name"`
	// Unit of Once and Baseline ("starts/s", "s/parent").
	Unit string `json:"unit"`
	// Once and Baseline are over all rounds (total work / total time, or the
	// mean time).
	Once     float64 `json:"once"`
	Baseline float64 `json:"baseline"`
	// OnceLabel and BaselineLabel name the sides when they are not Once and
	// the raw SDK.
	OnceLabel     string `json:"onceLabel,omitempty"`
	BaselineLabel string `json:"baselineLabel,omitempty"`
	// Rounds are the ratios Once / baseline of each round (of times for a
	// time unit, of rates otherwise); Ratio is their median, P25 and P75
	// bound the middle half of them, Min and Max all of them.
	Rounds []float64 `json:"rounds"`
	Ratio  float64   `json:"ratio"`
	P25    float64   `json:"p25"`
	P75    float64   `json:"p75"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Goal   Goal      `json:"goal"`
	// Met: the median meets the goal. RoundsMet: how many rounds do.
	Met       bool `json:"met"`
	RoundsMet int  `json:"roundsMet"`
}

// CurvePoint is BatchTrigger's rate at one parallelism, at the round-trip
// time of the report, beside raw starts at the same parallelism.
type CurvePoint struct {
	Parallelism int     `json:"parallelism"`
	Once        float64 `json:"once"` // items/s
	Raw         float64 `json:"raw"`  // starts/s
	Ratio       float64 `json:"ratio"`
	VsLoop      float64 `json:"vsLoop"` // Once / the sequential loop's rate
	Default     bool    `json:"default"`
}

// ScalePoint is the new-key and cached-hit pairs with Runs runs in the
// namespace: CachedHit of keys new to the client (a duplicate start each),
// CachedHitSeen of keys it has seen answered (a read each).
type ScalePoint struct {
	Runs          int64      `json:"runs"`
	FillSeconds   float64    `json:"fillSeconds"`
	NewKey        Comparison `json:"newKey"`
	CachedHit     Comparison `json:"cachedHit"`
	CachedHitSeen Comparison `json:"cachedHitSeen"`
}

// ScaleTrend says whether a ratio held as the namespace grew: met when the
// median at the most runs is at least the lowest round at the fewest (a
// fall larger than the rounds' own spread).
type ScaleTrend struct {
	Name  string  `json:"name"`
	First float64 `json:"first"` // median ratio at the fewest runs
	Floor float64 `json:"floor"` // its lowest round
	Last  float64 `json:"last"`  // median ratio at the most runs
	Met   bool    `json:"met"`
}

// Micro is an in-process benchmark (testing.Benchmark) with its budget.
type Micro struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"nsPerOp"`
	AllocsPerOp int64   `json:"allocsPerOp"`
	BytesPerOp  int64   `json:"bytesPerOp"`
	// MBPerSec is throughput over the input size, when there is one.
	MBPerSec float64 `json:"mbPerSec,omitempty"`
	// MaxNs and MaxAllocs are the budget (0: none); Met says whether it holds.
	MaxNs     float64 `json:"maxNs,omitempty"`
	MaxAllocs int64   `json:"maxAllocs,omitempty"`
	Met       bool    `json:"met"`
}

// Machine describes where the figures come from.
type Machine struct {
	GoVersion  string    `json:"goVersion"`
	OS         string    `json:"os"`
	Arch       string    `json:"arch"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	MemoryGiB  int       `json:"memoryGiB,omitempty"`
	LoadAvg    []float64 `json:"loadAvg,omitempty"` // 1, 5, 15 min, at the start
}

// Report is the outcome of Run.
type Report struct {
	Machine     Machine       `json:"machine"`
	Server      string        `json:"server"`
	Config      ConfigSummary `json:"config"`
	Comparisons []Comparison  `json:"comparisons"`
	// RTTMillis is the round-trip time of the curve; LoopRate the sequential
	// Trigger loop's rate there (items/s).
	RTTMillis   float64      `json:"rttMillis,omitempty"`
	LoopRate    float64      `json:"loopRate,omitempty"`
	Curve       []CurvePoint `json:"curve,omitempty"`
	Scale       []ScalePoint `json:"scale,omitempty"`
	ScaleTrends []ScaleTrend `json:"scaleTrends,omitempty"`
	Micro       []Micro      `json:"micro,omitempty"`
	// SetupSeconds and Seconds: server start and warm-up; measurements.
	SetupSeconds float64 `json:"setupSeconds"`
	Seconds      float64 `json:"seconds"`
}

// ConfigSummary is the part of Config worth printing.
type ConfigSummary struct {
	Concurrency     int    `json:"concurrency"`
	Rounds          int    `json:"rounds"`
	NewKeyStarts    int    `json:"newKeyStarts"`
	CachedHits      int    `json:"cachedHits"`
	BatchItems      int    `json:"batchItems"`
	BatchRounds     int    `json:"batchRounds"`
	Children        int    `json:"children"`
	ParentRounds    int    `json:"parentRounds"`
	ParentsPerRound int    `json:"parentsPerRound"`
	RTT             string `json:"rtt"`
	RTTItems        int    `json:"rttItems"`
	RTTRounds       int    `json:"rttRounds"`
	SequentialItems int    `json:"sequentialItems"`
	CurveItems      int    `json:"curveItems"`
	StorageStarts   int    `json:"storageStarts"`
	StorageRounds   int    `json:"storageRounds"`
	ScaleRounds     int    `json:"scaleRounds,omitempty"`
}

func newReport(c Config) *Report {
	r := &Report{
		Machine: Machine{
			GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
			CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), MemoryGiB: memoryGiB(), LoadAvg: loadAvg(),
		},
		Config: ConfigSummary{
			Concurrency: c.Concurrency, Rounds: c.Rounds, NewKeyStarts: c.NewKeyStarts, CachedHits: c.CachedHits,
			BatchItems: c.BatchItems, BatchRounds: c.BatchRounds, Children: c.Children, ParentRounds: c.ParentRounds, ParentsPerRound: c.ParentsPerRound,
			RTT: c.RTT.String(), RTTItems: c.RTTItems, RTTRounds: c.RTTRounds, SequentialItems: c.SequentialItems,
			CurveItems: c.CurveItems, StorageStarts: c.StorageStarts, StorageRounds: c.StorageRounds,
		},
	}
	if c.Scale {
		r.Config.ScaleRounds = c.ScaleRounds
	}
	return r
}

// add files c under section.
func (r *Report) add(section string, c Comparison) {
	c.Section = section
	r.Comparisons = append(r.Comparisons, c)
}

// summarize fills in the median, extremes and goal of c from its rounds.
func summarize(c Comparison) Comparison {
	if len(c.Rounds) == 0 {
		return c
	}
	s := slices.Clone(c.Rounds)
	slices.Sort(s)
	c.Min, c.Max = s[0], s[len(s)-1]
	c.Ratio, c.P25, c.P75 = quantile(s, 0.5), quantile(s, 0.25), quantile(s, 0.75)
	c.Met = c.Goal.Met(c.Ratio)
	for _, v := range c.Rounds {
		if c.Goal.Met(v) {
			c.RoundsMet++
		}
	}
	return c
}

// quantile is the q-quantile of sorted values, interpolated between the
// two nearest (the median of an even count is the mean of the middle two).
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

// rates compares rates: each round does n items per side; a round's ratio
// is the baseline's time over Once's.
func rates(name, unit string, n int, rounds []pair, goal Goal) Comparison {
	c := Comparison{Name: name, Unit: unit, Goal: goal}
	var raw, once time.Duration
	for _, p := range rounds {
		raw, once = raw+p.raw, once+p.once
		c.Rounds = append(c.Rounds, p.raw.Seconds()/p.once.Seconds())
	}
	c.Once = float64(n*len(rounds)) / once.Seconds()
	c.Baseline = float64(n*len(rounds)) / raw.Seconds()
	return summarize(c)
}

// pairN is a round whose sides do different amounts of work.
type pairN struct {
	base, once   time.Duration
	baseN, onceN int
}

// ratesN compares rates of sides that do different amounts of work.
func ratesN(name, unit string, rounds []pairN, goal Goal) Comparison {
	c := Comparison{Name: name, Unit: unit, Goal: goal}
	var base, once time.Duration
	var baseN, onceN int
	for _, p := range rounds {
		base, once, baseN, onceN = base+p.base, once+p.once, baseN+p.baseN, onceN+p.onceN
		c.Rounds = append(c.Rounds, (float64(p.onceN)/p.once.Seconds())/(float64(p.baseN)/p.base.Seconds()))
	}
	c.Once = float64(onceN) / once.Seconds()
	c.Baseline = float64(baseN) / base.Seconds()
	return summarize(c)
}

// durations compares times: a round's ratio is Once's time over the
// baseline's.
func durations(name, unit string, rounds []pair, goal Goal) Comparison {
	c := Comparison{Name: name, Unit: unit, Goal: goal}
	var raw, once time.Duration
	for _, p := range rounds {
		raw, once = raw+p.raw, once+p.once
		c.Rounds = append(c.Rounds, p.once.Seconds()/p.raw.Seconds())
	}
	c.Once = once.Seconds() / float64(len(rounds))
	c.Baseline = raw.Seconds() / float64(len(rounds))
	return summarize(c)
}

// scaleTrends compares the first and last scale points.
func (r *Report) scaleTrends() {
	if len(r.Scale) < 2 {
		return
	}
	first, last := r.Scale[0], r.Scale[len(r.Scale)-1]
	trend := func(name string, a, b Comparison) ScaleTrend {
		return ScaleTrend{
			Name:  fmt.Sprintf("%s ratio, %d → %d runs", name, first.Runs, last.Runs),
			First: a.Ratio, Floor: a.Min, Last: b.Ratio, Met: b.Ratio >= a.Min,
		}
	}
	r.ScaleTrends = []ScaleTrend{
		trend("new-key", first.NewKey, last.NewKey),
		trend("cached-hit", first.CachedHit, last.CachedHit),
		trend("cached-hit (seen)", first.CachedHitSeen, last.CachedHitSeen),
	}
}

// AllMet reports whether every goal holds.
func (r *Report) AllMet() bool {
	for _, c := range r.Comparisons {
		if !c.Met {
			return false
		}
	}
	for _, p := range r.Scale {
		if !p.NewKey.Met || !p.CachedHit.Met || !p.CachedHitSeen.Met {
			return false
		}
	}
	for _, t := range r.ScaleTrends {
		if !t.Met {
			return false
		}
	}
	for _, m := range r.Micro {
		if !m.Met {
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
	r.writeHeader(w)
	for _, write := range []func(io.Writer) error{r.writeComparisons, r.writeCurve, r.writeScale, r.writeMicro} {
		if err := write(w); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nall goals met: %s\n", yesNo(r.AllMet(), "yes", "NO"))
	return nil
}

// writeHeader writes the machine, the server and how to read the ratios.
func (r *Report) writeHeader(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs (GOMAXPROCS %d)", m.CPUs, m.GOMAXPROCS)
	if m.MemoryGiB > 0 {
		fmt.Fprintf(w, ", %d GiB", m.MemoryGiB)
	}
	fmt.Fprintf(w, ", %s %s/%s", m.GoVersion, m.OS, m.Arch)
	if len(m.LoadAvg) == 3 {
		fmt.Fprintf(w, ", load %.2f %.2f %.2f at start", m.LoadAvg[0], m.LoadAvg[1], m.LoadAvg[2])
	}
	fmt.Fprintf(w, "\n%s; %.0fs of measurements (setup %.0fs)\n", r.Server, r.Seconds, r.SetupSeconds)
	fmt.Fprintln(w, "ratio: the median of the rounds' Once/baseline ratios, with the middle half and all of them; met: the median meets the goal")
}

// writeComparisons writes a table of comparisons per section: starts first,
// then the round-trip sections, then the others.
func (r *Report) writeComparisons(w io.Writer) error {
	for _, s := range r.sections() {
		fmt.Fprintf(w, "\n%s\n", s)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "benchmark\tOnce\tbaseline\tunit\tratio\tmiddle half\tmin–max (rounds)\tgoal\tmet\trounds met")
		for _, c := range r.Comparisons {
			if c.Section == s {
				writeComparison(tw, c)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// sections lists the sections of the comparisons in the order they are
// printed.
func (r *Report) sections() []string {
	var sections []string
	for _, c := range r.Comparisons {
		if !slices.Contains(sections, c.Section) {
			sections = append(sections, c.Section)
		}
	}
	rank := func(s string) int {
		switch {
		case s == sectionStarts:
			return 0
		case strings.HasPrefix(s, sectionRTT):
			return 1
		}
		return 2
	}
	slices.SortStableFunc(sections, func(a, b string) int { return rank(a) - rank(b) })
	return sections
}

// writeCurve writes BatchTrigger's rate by parallelism, when measured.
func (r *Report) writeCurve(w io.Writer) error {
	if len(r.Curve) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nBatchTrigger by parallelism at %.0f ms round trip (sequential Trigger loop: %.1f items/s)\n", r.RTTMillis, r.LoopRate)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "parallelism\tBatchTrigger items/s\traw starts/s\tOnce/raw\tvs loop\t")
	for _, p := range r.Curve {
		def := ""
		if p.Default {
			def = "(default)"
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.2f\t%.1fx\t%s\n", p.Parallelism, p.Once, p.Raw, p.Ratio, p.VsLoop, def)
	}
	return tw.Flush()
}

// writeScale writes the scale points and trends, when measured.
func (r *Report) writeScale(w io.Writer) error {
	if len(r.Scale) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nscale: the same pairs with more runs in the namespace")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "runs\tfill\tbenchmark\tOnce\tbaseline\tunit\tratio\tmiddle half\tmin–max (rounds)\tgoal\tmet\trounds met")
	for _, p := range r.Scale {
		for _, c := range []Comparison{p.NewKey, p.CachedHit, p.CachedHitSeen} {
			fmt.Fprintf(tw, "%d\t%.0fs\t", p.Runs, p.FillSeconds)
			writeComparison(tw, c)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range r.ScaleTrends {
		fmt.Fprintf(w, "%s: %.2f (lowest round %.2f) → %.2f: %s\n", t.Name, t.First, t.Floor, t.Last, yesNo(t.Met, "held", "FELL"))
	}
	return nil
}

// writeMicro writes the in-process benchmarks and their budgets, when
// measured.
func (r *Report) writeMicro(w io.Writer) error {
	if len(r.Micro) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "in-process\tns/op\tB/op\tallocs/op\tMB/s\tgoal\tmet")
	for _, b := range r.Micro {
		mbs := ""
		if b.MBPerSec > 0 {
			mbs = fmt.Sprintf("%.0f", b.MBPerSec)
		}
		var goal []string
		if b.MaxNs > 0 {
			goal = append(goal, fmt.Sprintf("≤ %.0f ns", b.MaxNs))
		}
		if b.MaxAllocs > 0 {
			goal = append(goal, fmt.Sprintf("≤ %d alloc", b.MaxAllocs))
		}
		met := "—"
		if len(goal) > 0 {
			met = yesNo(b.Met, "yes", "NO")
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%d\t%s\t%s\t%s\n", b.Name, b.NsPerOp, b.BytesPerOp, b.AllocsPerOp, mbs, orDash(strings.Join(goal, ", ")), met)
	}
	return tw.Flush()
}

func writeComparison(w io.Writer, c Comparison) {
	met := "—"
	roundsMet := ""
	if c.Goal.Op != "" {
		met = yesNo(c.Met, "yes", "NO")
		roundsMet = fmt.Sprintf("%d/%d", c.RoundsMet, len(c.Rounds))
	}
	name := c.Name
	if c.OnceLabel != "" {
		name += fmt.Sprintf(" [Once: %s, baseline: %s]", c.OnceLabel, c.BaselineLabel)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%.2f\t%.2f–%.2f\t%.2f–%.2f (%d)\t%s\t%s\t%s\n",
		name, num(c.Once), num(c.Baseline), c.Unit, c.Ratio, c.P25, c.P75, c.Min, c.Max, len(c.Rounds), c.Goal, met, roundsMet)
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
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

// loadAvg is the load average from /proc/loadavg, nil when unknown.
func loadAvg() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return nil
	}
	out := make([]float64, 3)
	for i := range out {
		out[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return out
}
