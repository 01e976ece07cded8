package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
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

func TestReportTableAndJSON(t *testing.T) {
	r := newReport(DefaultConfig())
	r.add(Comparison{Name: "rate", Unit: "starts/s", Once: 190, Baseline: 200, Goal: AtLeast(0.95)})
	r.add(Comparison{Name: "time", Unit: "s/parent", Once: 1.5, Baseline: 1.0, Goal: AtMost(1.10)})
	if c := r.Comparisons[0]; c.Ratio != 0.95 || !c.Met {
		t.Fatalf("rate: ratio %v met %v, want 0.95 true", c.Ratio, c.Met)
	}
	if c := r.Comparisons[1]; c.Ratio != 1.5 || c.Met {
		t.Fatalf("time: ratio %v met %v, want 1.5 false", c.Ratio, c.Met)
	}
	if r.AllMet() {
		t.Fatal("AllMet with a goal missed")
	}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rate", "0.95", "≥ 0.95", "yes", "1.50", "≤ 1.1", "NO"} {
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
	if len(back.Comparisons) != 2 || back.Comparisons[1].Goal.Op != "<=" {
		t.Fatalf("JSON round trip: %+v", back.Comparisons)
	}
}
