package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestGoalMet(t *testing.T) {
	tests := []struct {
		name  string
		goal  Goal
		ratio float64
		want  bool
	}{
		{"at least, above", AtLeast(0.95), 1.02, true},
		{"at least, equal", AtLeast(0.95), 0.95, true},
		{"at least, below", AtLeast(0.95), 0.90, false},
		{"at most, below", AtMost(1.10), 1.05, true},
		{"at most, above", AtMost(1.10), 1.20, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.goal.Met(tt.ratio); got != tt.want {
				t.Fatalf("%s met by %v = %v, want %v", tt.goal, tt.ratio, got, tt.want)
			}
		})
	}
}

func TestNoGoalIsAlwaysMet(t *testing.T) {
	if !NoGoal.Met(0.1) || NoGoal.String() != "—" {
		t.Fatal("a diagnostic has no goal")
	}
}

// rounds of 10 items per side, in seconds per side.
func roundsOf(raw, once []float64) []pair {
	out := make([]pair, len(raw))
	for i := range raw {
		out[i] = pair{raw: time.Duration(raw[i] * float64(time.Second)), once: time.Duration(once[i] * float64(time.Second))}
	}
	return out
}

func TestSummaries(t *testing.T) {
	// Rates: a round's ratio is raw time / Once time.
	c := rates("rate", "starts/s", 10, roundsOf([]float64{1, 1, 1}, []float64{1, 2, 0.5}), AtLeast(0.95))
	if c.Ratio != 1 || c.Min != 0.5 || c.Max != 2 || !c.Met || c.RoundsMet != 2 {
		t.Fatalf("rates: %+v", c)
	}
	if c.Once != 30/3.5 || c.Baseline != 10 {
		t.Fatalf("rates pooled: once %v baseline %v", c.Once, c.Baseline)
	}
	// Durations: a round's ratio is Once time / raw time; even count: mean of the middle two.
	d := durations("time", "s/parent", roundsOf([]float64{1, 1, 1, 1}, []float64{1.0, 1.2, 1.4, 2.0}), AtMost(1.05))
	if math.Abs(d.Ratio-1.3) > 1e-9 || d.Met || d.RoundsMet != 1 || math.Abs(d.P25-1.15) > 1e-9 || math.Abs(d.P75-1.55) > 1e-9 {
		t.Fatalf("durations: %+v", d)
	}
	// Different work per side.
	n := ratesN("vs loop", "items/s", []pairN{{base: time.Second, baseN: 10, once: time.Second, onceN: 60}}, AtLeast(5))
	if n.Ratio != 6 || !n.Met {
		t.Fatalf("ratesN: %+v", n)
	}
}

func TestReportTableAndJSON(t *testing.T) {
	r := newReport(DefaultConfig())
	r.add(sectionStarts, rates("rate", "starts/s", 10, roundsOf([]float64{1, 1}, []float64{1, 1.1}), AtLeast(0.95)))
	r.add(sectionStarts, durations("time", "s/parent", roundsOf([]float64{1, 1}, []float64{1.5, 1.5}), AtMost(1.10)))
	r.add(sectionStarts, rates("diagnostic", "starts/s", 10, roundsOf([]float64{1}, []float64{3}), NoGoal))
	r.Micro = []Micro{{Name: "Derive", NsPerOp: 300, AllocsPerOp: 1, MaxNs: 250, MaxAllocs: 1}}
	r.Scale = []ScalePoint{
		{Runs: 1000, NewKey: rates("nk", "starts/s", 10, roundsOf([]float64{1, 1}, []float64{1, 1.1}), AtLeast(0.97))},
		{Runs: 50000, NewKey: rates("nk", "starts/s", 10, roundsOf([]float64{1, 1}, []float64{1.5, 1.5}), AtLeast(0.97))},
	}
	r.scaleTrends()
	if r.AllMet() {
		t.Fatal("AllMet with goals missed")
	}
	if r.ScaleTrends[0].Met {
		t.Fatalf("new-key ratio fell from 0.95 to 0.67: %+v", r.ScaleTrends[0])
	}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rate", "0.95", "≥ 0.95", "yes", "1.50", "≤ 1.1", "NO", "1/2", "0.91–1.00 (2)", "≤ 250 ns", "FELL", "all goals met: NO"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Comparisons) != 3 || back.Comparisons[1].Goal.Op != "<=" || len(back.Comparisons[0].Rounds) != 2 {
		t.Fatalf("JSON round trip: %+v", back.Comparisons)
	}
}
