package idempotency

import (
	"encoding/json"
	"fmt"
	"testing"
)

var (
	benchRC   = RunContext{Environment: "prod", TaskID: "send-email", RunID: "0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10", Attempt: 3}
	benchSink Key
)

// BenchmarkDerive measures creating a run-scoped key from two parts
// (budget, issue 14: 250 ns/op, 1 alloc/op).
func BenchmarkDerive(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSink, _ = Derive(benchRC, ScopeRun, "user-123", "welcome-email")
	}
}

func BenchmarkDeriveScopes(b *testing.B) {
	for _, scope := range []Scope{ScopeGlobal, ScopeRun, ScopeAttempt} {
		b.Run(string(scope), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				benchSink, _ = Derive(benchRC, scope, "user-123", "welcome-email")
			}
		})
	}
}

type benchItem struct {
	SKU      string  `json:"sku"`
	Name     string  `json:"name"`
	Quantity int     `json:"quantity"`
	Price    float64 `json:"price"`
}

type benchOrder struct {
	OrderID  string            `json:"order_id"`
	Customer map[string]string `json:"customer"`
	Items    []benchItem       `json:"items"`
	Currency string            `json:"currency"`
	Total    float64           `json:"total"`
	Notes    string            `json:"notes"`
	Paid     bool              `json:"paid"`
}

func benchPayload() benchOrder {
	o := benchOrder{
		OrderID:  "ord_0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10",
		Customer: map[string]string{"id": "cus_123", "email": "zoe@example.com", "name": "Zoë Ünïcödé", "country": "DE"},
		Currency: "EUR",
		Total:    1234.56,
		Notes:    "Leave at the door <please> & ring twice.",
		Paid:     true,
	}
	for i := range 9 {
		o.Items = append(o.Items, benchItem{SKU: fmt.Sprintf("SKU-%04d", i), Name: fmt.Sprintf("Widget number %d, blue", i), Quantity: i + 1, Price: 9.99 + float64(i)})
	}
	return o
}

// BenchmarkKeyFromPayload measures a key from a ~1 KB JSON object
// (budget, issue 14: 5 µs/op for the struct).
func BenchmarkKeyFromPayload(b *testing.B) {
	payloads := map[string]any{"struct": benchPayload()}
	raw, err := json.Marshal(benchPayload())
	if err != nil {
		b.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		b.Fatal(err)
	}
	payloads["map"] = m
	payloads["raw"] = json.RawMessage(raw)
	for _, name := range []string{"struct", "map", "raw"} {
		v := payloads[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				benchSink, _ = KeyFromPayload(v)
			}
		})
	}
}

func TestBenchPayloadIsAboutOneKB(t *testing.T) {
	raw, err := json.Marshal(benchPayload())
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 900 || len(raw) > 1300 {
		t.Fatalf("bench payload is %d bytes, want about 1 KB", len(raw))
	}
}
