package canonical

import (
	"encoding/json"
	"fmt"
	"testing"
)

// benchJSON returns the ~1 KB order that idempotency's BenchmarkKeyFromPayload
// hashes, as the JSON text encoding/json makes of it.
func benchJSON(tb testing.TB) []byte {
	tb.Helper()
	type item struct {
		SKU      string  `json:"sku"`
		Name     string  `json:"name"`
		Quantity int     `json:"quantity"`
		Price    float64 `json:"price"`
	}
	o := struct {
		OrderID  string            `json:"order_id"`
		Customer map[string]string `json:"customer"`
		Items    []item            `json:"items"`
		Currency string            `json:"currency"`
		Total    float64           `json:"total"`
		Notes    string            `json:"notes"`
		Paid     bool              `json:"paid"`
	}{
		OrderID:  "ord_0195f3a2-7c1e-7d3a-9b1f-4c2d8e6a5b10",
		Customer: map[string]string{"id": "cus_123", "email": "zoe@example.com", "name": "Zoë Ünïcödé", "country": "DE"},
		Currency: "EUR",
		Total:    1234.56,
		Notes:    "Leave at the door <please> & ring twice.",
		Paid:     true,
	}
	for i := range 9 {
		o.Items = append(o.Items, item{SKU: fmt.Sprintf("SKU-%04d", i), Name: fmt.Sprintf("Widget number %d, blue", i), Quantity: i + 1, Price: 9.99 + float64(i)})
	}
	raw, err := json.Marshal(o)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func BenchmarkCanonicalize(b *testing.B) {
	raw := benchJSON(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := JSON(raw); err != nil {
			b.Fatal(err)
		}
	}
}
