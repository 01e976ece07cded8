package idempotency

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

type payloadA struct {
	Name  string  `json:"name"`
	Count int     `json:"count"`
	Price float64 `json:"price"`
	Tags  []string
}

type payloadB struct {
	Tags  []string
	Price float64 `json:"price"`
	Count int     `json:"count"`
	Name  string  `json:"name"`
}

func TestKeyFromPayload(t *testing.T) {
	a := payloadA{Name: "Zoë <ceo>", Count: 3, Price: 4.50, Tags: []string{"x"}}
	b := payloadB{Name: "Zoë <ceo>", Count: 3, Price: 4.5, Tags: []string{"x"}}
	m := map[string]any{"Tags": []any{"x"}, "price": 4.5, "name": "Zoë <ceo>", "count": 3}
	raw := json.RawMessage(`{ "count": 3.0, "name": "Zo\u00eb \u003cceo>", "price": 45e-1, "Tags": ["x"] }`)

	ka, err := KeyFromPayload(a)
	require.NoError(t, err)
	for name, v := range map[string]any{"other field order": b, "map": m, "raw JSON": raw} {
		t.Run(name, func(t *testing.T) {
			k, err := KeyFromPayload(v)
			require.NoError(t, err)
			require.Equal(t, ka, k)
		})
	}
	t.Run("different payload", func(t *testing.T) {
		k, err := KeyFromPayload(payloadA{Name: "Zoë <ceo>", Count: 4, Price: 4.5, Tags: []string{"x"}})
		require.NoError(t, err)
		require.NotEqual(t, ka, k)
	})
	t.Run("hash of the canonical text", func(t *testing.T) {
		want := hashKey([]byte(`{"Tags":["x"],"count":3,"name":"Zoë <ceo>","price":4.5}`))
		require.Equal(t, want, ka)
		h, err := PayloadHash(a)
		require.NoError(t, err)
		require.Equal(t, ka, h)
	})
}

type badJSON struct{}

func (badJSON) MarshalJSON() ([]byte, error) { return []byte(`{"a":1,"a":2}`), nil }

func TestKeyFromPayloadErrors(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"channel", make(chan int)},
		{"func", func() {}},
		{"NaN", math.NaN()},
		{"Inf in struct", struct{ F float64 }{math.Inf(1)}},
		{"complex", complex(1, 2)},
		{"duplicate names from MarshalJSON", badJSON{}},
		{"invalid raw message", json.RawMessage(`{`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := KeyFromPayload(tt.v)
			require.ErrorIs(t, err, ErrPayloadNotSerializable)
			require.Empty(t, k)
		})
	}
	var ute *json.UnsupportedTypeError
	_, err := KeyFromPayload(make(chan int))
	require.ErrorAs(t, err, &ute, "the encoding/json error stays reachable")
}
