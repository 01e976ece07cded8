package bench

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/once-run/once/idempotency"
)

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

// Budgets of the in-process figures (issue 14).
const (
	deriveMaxNs         = 250
	deriveMaxAllocs     = 1
	keyFromPayloadMaxNs = 5000
)

// micro runs the in-process key benchmarks.
func micro() []Micro {
	rc := idempotency.RunContext{Environment: "prod", TaskID: "send-email", RunID: "0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10", Attempt: 3}
	p := payload()
	raw, _ := json.Marshal(p)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	cases := []struct {
		name      string
		bytes     int
		maxNs     float64
		maxAllocs int64
		fn        func()
	}{
		{"idempotency.Derive (run scope, 2 parts)", 0, deriveMaxNs, deriveMaxAllocs, func() { sink, _ = idempotency.Derive(rc, idempotency.ScopeRun, "user-123", "welcome-email") }},
		{"idempotency.Derive (global, 1 part)", 0, deriveMaxNs, deriveMaxAllocs, func() { sink, _ = idempotency.Derive(idempotency.RunContext{}, idempotency.ScopeGlobal, "order-42") }},
		{fmt.Sprintf("idempotency.KeyFromPayload (%d B struct)", len(raw)), len(raw), keyFromPayloadMaxNs, 0, func() { sink, _ = idempotency.KeyFromPayload(p) }},
		{fmt.Sprintf("idempotency.KeyFromPayload (%d B map)", len(raw)), len(raw), 0, 0, func() { sink, _ = idempotency.KeyFromPayload(m) }},
		{fmt.Sprintf("idempotency.KeyFromPayload (%d B json.RawMessage)", len(raw)), len(raw), 0, 0, func() { sink, _ = idempotency.KeyFromPayload(json.RawMessage(raw)) }},
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
			MaxNs:       c.maxNs,
			MaxAllocs:   c.maxAllocs,
		}
		if c.bytes > 0 && res.T > 0 {
			mc.MBPerSec = float64(c.bytes) * float64(res.N) / res.T.Seconds() / 1e6
		}
		mc.Met = (c.maxNs == 0 || mc.NsPerOp <= c.maxNs) && (c.maxAllocs == 0 || mc.AllocsPerOp <= c.maxAllocs)
		out = append(out, mc)
	}
	return out
}
