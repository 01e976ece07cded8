package canonical

import (
	"encoding/json"
	"math"
	"net"
	"strconv"
	"testing"
	"time"
)

// Types that exercise the typed plans (payloadtype.go) against the
// reference path (json.Marshal + JSON).

type tagged struct {
	Zeta     string            `json:"zeta"`
	Alpha    int               `json:"alpha,omitempty"`
	Dash     string            `json:"-"`
	DashName string            `json:"-,"`
	Untagged float64           // no tag: the field name is the JSON name
	Invalid  bool              `json:"a\\b"` // invalid tag name: the field name
	OnlyOpts []string          `json:",omitempty"`
	Space    string            `json:"a b"`
	Bang     string            `json:"a!"`
	Short    string            `json:"a"`
	Unicode  string            `json:"é"`
	Astral   string            `json:"😀"`
	Private  string            `json:"דּ"`
	hidden   string            // unexported: skipped
	Ptr      *tagged           `json:"ptr,omitempty"`
	Map      map[string]tagged `json:"map,omitempty"`
	Any      any               `json:"any"`
	Bytes    []byte            `json:"bytes"`
	Array    [3]uint8          `json:"array"`
	F32      float32           `json:"f32"`
	Big      int64             `json:"big"`
	BigU     uint64            `json:"bigU"`
	Raw      json.RawMessage   `json:"raw,omitempty"`
	Num      json.Number       `json:"num,omitempty"`
	Named    namedMap          `json:"named"`
	Labels   map[string]string `json:"labels"`
	Strings  namedStrings      `json:"strings"`
}

type namedMap map[string]float64

type namedStrings []string

type withTime struct {
	At   time.Time  `json:"at"`
	Ptr  *time.Time `json:"ptr"`
	IP   net.IP     `json:"ip"`
	Name string     `json:"name"`
}

type ptrMarshaler struct{ N int }

func (p *ptrMarshaler) MarshalJSON() ([]byte, error) { return []byte(strconv.Itoa(p.N * 10)), nil }

type valueMarshaler struct{ N int }

func (v valueMarshaler) MarshalJSON() ([]byte, error) { return []byte(strconv.Itoa(v.N * 10)), nil }

type textKey string

func (k textKey) MarshalText() ([]byte, error) { return []byte("k-" + string(k)), nil }

type Embedded struct{ A, B int }

type embedding struct {
	Embedded
	B string
}

// dupNames has two fields named "A" in JSON: the tagged one wins.
type dupNames struct {
	A string
	B string `json:"A"`
}

type stringOpt struct {
	N int `json:"n,string"`
}

type omitZero struct {
	T time.Time `json:"t,omitzero"`
}

type recursive struct {
	Name     string       `json:"name"`
	Children []*recursive `json:"children"`
	Next     *recursive   `json:"next"`
}

type withChan struct {
	C chan int `json:"c"`
}

type withMarshalerIface struct {
	M json.Marshaler `json:"m"`
}

func TestSum256TypedMatchesReference(t *testing.T) {
	full := tagged{
		Zeta: "z\u2028<&>", Alpha: 3, Dash: "skip", DashName: "dash", Untagged: 1.5e-7, Invalid: true,
		OnlyOpts: []string{"a"}, Space: "s", Bang: "b", Short: "sh", Unicode: "é", Astral: "😀", Private: "p",
		hidden: "h", Ptr: &tagged{Zeta: "inner"}, Map: map[string]tagged{"b": {Alpha: 1}, "a": {}},
		Any: map[string]any{"x": []any{1.0, "y"}}, Bytes: []byte("bytes\x00"), Array: [3]uint8{1, 2, 3},
		F32: 0.1, Big: 1<<62 + 1, BigU: math.MaxUint64, Raw: json.RawMessage(` {"b":1.50,"a":[]} `),
		Num: "1.50", Named: namedMap{"€": 1, "\r": 2, "1": 3}, Labels: map[string]string{"b": "2", "a": "1"},
		Strings: namedStrings{"x"},
	}
	cycle := &recursive{Name: "a"}
	cycle.Next = cycle
	deep := &recursive{Name: "leaf"}
	for range 300 {
		deep = &recursive{Name: "n", Children: []*recursive{deep}}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	tests := []struct {
		name string
		v    any
	}{
		{"zero struct", tagged{}},
		{"full struct", full},
		{"pointer to struct", &full},
		{"nil pointer", (*tagged)(nil)},
		{"struct in slice", []tagged{full, {}}},
		{"struct in map", map[string]any{"s": full}},
		{"bad utf-8", tagged{Zeta: "bad \xff", Named: namedMap{"ok": 1}, Labels: map[string]string{"\xff": "x"}}},
		{"bad utf-8 key in named map", namedMap{"\xff": 1, "\xfe": 2}},
		{"NaN field", tagged{Untagged: math.NaN()}},
		{"Inf float32", tagged{F32: float32(math.Inf(1))}},
		{"NaN in named map", namedMap{"x": math.Inf(-1)}},
		{"float32 values", []float32{0.1, 3.4e38, 1e-7, -0, 16777217}},
		{"ints", []int64{0, -1, 999999999999999, 1000000000000000, -1000000000000001, math.MaxInt64, math.MinInt64}},
		{"uints", []uint{0, 999999999999999, 1000000000000000, math.MaxUint}},
		{"small ints", []int8{-128, 127}},
		{"bytes", []byte("hello")},
		{"nil bytes", []byte(nil)},
		{"byte array", [4]byte{0, 1, 2, 255}},
		{"named bytes", json.RawMessage(`[1, 2.0]`)},
		{"time", withTime{At: now, Ptr: &now, IP: net.IPv4(10, 0, 0, 1), Name: "t"}},
		{"nil time pointer", withTime{}},
		{"pointer marshaler in slice", []ptrMarshaler{{1}, {2}}},
		{"pointer marshaler in struct pointer", &struct{ P ptrMarshaler }{ptrMarshaler{3}}},
		{"pointer marshaler by value", struct{ P ptrMarshaler }{ptrMarshaler{3}}},
		{"value marshaler", []valueMarshaler{{1}, {2}}},
		{"text key map", map[textKey]int{"a": 1}},
		{"int key map", map[int]string{2: "b", 10: "a"}},
		{"embedding", embedding{Embedded: Embedded{A: 1, B: 2}, B: "outer"}},
		{"duplicate names", dupNames{A: "a", B: "b"}},
		{"string option", stringOpt{N: 5}},
		{"omitzero", omitZero{}},
		{"recursive", &recursive{Name: "r", Children: []*recursive{{Name: "c"}}, Next: &recursive{Name: "n"}}},
		{"cycle", cycle},
		{"deep", deep},
		{"channel", withChan{C: make(chan int)}},
		{"nil channel", withChan{}},
		{"marshaler interface", withMarshalerIface{M: valueMarshaler{4}}},
		{"nil marshaler interface", withMarshalerIface{}},
		{"anonymous struct", struct {
			B int `json:"b"`
			A int `json:"a"`
		}{2, 1}},
		{"map of slices", map[string][]int{"z": {1}, "a": nil}},
		{"complex", complex(1, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireSameAsReference(t, tt.v)
			requireSameAsReference(t, tt.v) // the plan, cached
		})
	}
}

// FuzzSum256Struct: any value of a struct type that json.Unmarshal can fill
// gives the sum of the reference path.
func FuzzSum256Struct(f *testing.F) {
	for _, s := range []string{
		`{"zeta":"a","alpha":1,"Untagged":1e-7,"ptr":{"zeta":"b"},"map":{"x":{}},"any":[1,"2",{"b":null}],"bytes":"AAE=","array":[1,2,3],"f32":0.1,"big":9007199254740993,"bigU":18446744073709551615,"raw":{"b":1},"num":1.50,"named":{"\u20ac":1},"labels":{"b":"1"},"strings":["s"]}`,
		`{"a\\b":true,"a b":"\ud83d\ude00","é":"\u0000","-":"d"}`,
		`{"any":{"deep":[[[{"x":1e300}]]]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var v tagged
		if err := json.Unmarshal(in, &v); err != nil {
			return
		}
		want, wantErr := referenceSum(v)
		got, err := Sum256(v)
		if (wantErr != nil) != (err != nil) || got != want {
			t.Fatalf("Sum256(%s) = %x, %v; reference %x, %v", in, got, err, want, wantErr)
		}
	})
}
