package canonical

import (
	"encoding"
	"encoding/base64"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Payloads of other types than those appendPayload switches on (structs,
// named types, typed slices and maps) are encoded from their reflect.Type
// with a plan built once per type: the canonical form straight away, with
// struct fields already in RFC 8785 order, instead of encoding/json followed
// by JSON. The plan covers what encoding/json does for these types
// without surprises; for the rest (a type with a MarshalJSON or MarshalText
// method, embedded struct fields, the ",string" and ",omitzero" options,
// duplicate names, map keys that are not strings, channels, functions) it
// hands the value (or the whole payload) to the reference path, so results
// and errors stay those of json.Marshal + JSON. The payload tests
// compare both paths.

// encodeFunc appends the canonical JSON of v to dst.
type encodeFunc func(c *canonicalizer, dst []byte, v reflect.Value, depth int) ([]byte, error)

// plans caches the encodeFunc of each type; a nil entry means: the
// reference path for the whole payload.
var plans sync.Map // reflect.Type → encodeFunc

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// appendValue appends the canonical JSON of v, whose type appendPayload
// does not switch on.
func (c *canonicalizer) appendValue(dst []byte, v any, depth int) ([]byte, error) {
	rv := reflect.ValueOf(v)
	enc := planFor(rv.Type())
	if enc == nil {
		return c.marshal(dst, v)
	}
	return enc(c, dst, rv, depth)
}

// planFor returns the encodeFunc of t, nil for the reference path.
func planFor(t reflect.Type) encodeFunc {
	if f, ok := plans.Load(t); ok {
		return f.(encodeFunc)
	}
	b := &planBuilder{building: map[reflect.Type]*encodeFunc{}}
	f := b.build(t)
	if b.unsupported {
		f = nil
	}
	plans.Store(t, f)
	return f
}

// planBuilder builds the plan of one type and the types it contains.
type planBuilder struct {
	building    map[reflect.Type]*encodeFunc // recursive types: filled in when done
	unsupported bool                         // the reference path for the whole payload
}

func (b *planBuilder) build(t reflect.Type) encodeFunc {
	if f, ok := plans.Load(t); ok {
		if f.(encodeFunc) == nil {
			b.unsupported = true
		}
		return f.(encodeFunc)
	}
	if p, ok := b.building[t]; ok {
		// A recursive type: call through the pointer filled in below.
		return func(c *canonicalizer, dst []byte, v reflect.Value, depth int) ([]byte, error) {
			return (*p)(c, dst, v, depth)
		}
	}
	p := new(encodeFunc)
	b.building[t] = p
	*p = b.newPlan(t)
	delete(b.building, t)
	return *p
}

func (b *planBuilder) newPlan(t reflect.Type) encodeFunc {
	if t == reflect.TypeFor[json.RawMessage]() {
		return encodeAny // canonicalized as is, as at the top level
	}
	if t.Implements(jsonMarshalerType) || t.Implements(textMarshalerType) {
		if t.Kind() == reflect.Interface {
			// encoding/json calls the method even on a nil pointer in the
			// interface; the reference path would write null.
			b.unsupported = true
			return nil
		}
		// A value method: encoding/json calls it on this value, whatever its
		// addressability, and so does the reference path.
		return marshalValue
	}
	if t.Kind() != reflect.Pointer && (reflect.PointerTo(t).Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType)) {
		// A pointer method: encoding/json calls it only on addressable
		// values (slice elements, fields of pointed-to structs), which the
		// reference path cannot tell from here.
		b.unsupported = true
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return encodeBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return encodeInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return encodeUint
	case reflect.Float64:
		return encodeFloat64
	case reflect.Float32:
		return encodeFloat32
	case reflect.String:
		if t == reflect.TypeFor[json.Number]() {
			return marshalValue
		}
		return encodeString
	case reflect.Interface:
		return encodeInterface
	case reflect.Pointer:
		return b.pointerPlan(t)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			pe := reflect.PointerTo(t.Elem())
			if !pe.Implements(jsonMarshalerType) && !pe.Implements(textMarshalerType) {
				return encodeBytes
			}
		}
		return b.arrayPlan(t, true)
	case reflect.Array:
		return b.arrayPlan(t, false)
	case reflect.Map:
		return b.mapPlan(t)
	case reflect.Struct:
		return b.structPlan(t)
	}
	// Channels, functions, complex numbers, unsafe pointers: encoding/json
	// fails on them; the reference path gives its error.
	return marshalValue
}

// marshalValue hands one value to the reference path.
func marshalValue(c *canonicalizer, dst []byte, v reflect.Value, _ int) ([]byte, error) {
	return c.marshal(dst, v.Interface())
}

func encodeBool(_ *canonicalizer, dst []byte, v reflect.Value, _ int) ([]byte, error) {
	if v.Bool() {
		return append(dst, "true"...), nil
	}
	return append(dst, "false"...), nil
}

// maxExactInt bounds the integers written as decimal text directly: below
// 1e15 the decimal is what ECMAScript writes for the same double.
const maxExactInt = 1e15

func encodeInt(_ *canonicalizer, dst []byte, v reflect.Value, _ int) ([]byte, error) {
	n := v.Int()
	if n > -maxExactInt && n < maxExactInt {
		return strconv.AppendInt(dst, n, 10), nil
	}
	return appendNumber(dst, float64(n)), nil
}

func encodeUint(_ *canonicalizer, dst []byte, v reflect.Value, _ int) ([]byte, error) {
	n := v.Uint()
	if n < maxExactInt {
		return strconv.AppendUint(dst, n, 10), nil
	}
	return appendNumber(dst, float64(n)), nil
}

func encodeFloat64(c *canonicalizer, dst []byte, v reflect.Value, _ int) ([]byte, error) {
	f := v.Float()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return c.marshal(dst, v.Interface()) // encoding/json's error
	}
	return appendNumber(dst, f), nil
}

// encodeFloat32 writes what JSON makes of encoding/json's float32
// text: the shortest decimal of the float32, read back as a float64.
func encodeFloat32(c *canonicalizer, dst []byte, v reflect.Value, _ int) ([]byte, error) {
	f := v.Float()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return c.marshal(dst, v.Interface())
	}
	var buf [32]byte
	g, err := strconv.ParseFloat(string(strconv.AppendFloat(buf[:0], f, 'e', -1, 32)), 64)
	if err != nil {
		return c.marshal(dst, v.Interface())
	}
	return appendNumber(dst, g), nil
}

func encodeString(_ *canonicalizer, dst []byte, v reflect.Value, _ int) ([]byte, error) {
	return appendGoString(dst, v.String()), nil
}

// encodeBytes writes a []byte as encoding/json does: a base64 string (its
// alphabet needs no escape).
func encodeBytes(_ *canonicalizer, dst []byte, v reflect.Value, _ int) ([]byte, error) {
	if v.IsNil() {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, v.Bytes())
	return append(dst, '"'), nil
}

func encodeInterface(c *canonicalizer, dst []byte, v reflect.Value, depth int) ([]byte, error) {
	if v.IsNil() {
		return append(dst, "null"...), nil
	}
	return c.appendPayload(dst, v.Elem().Interface(), depth+1)
}

// encodeAny encodes v as appendPayload does: for the types it switches on.
func encodeAny(c *canonicalizer, dst []byte, v reflect.Value, depth int) ([]byte, error) {
	return c.appendPayload(dst, v.Interface(), depth)
}

func (b *planBuilder) pointerPlan(t reflect.Type) encodeFunc {
	elem := b.build(t.Elem())
	return func(c *canonicalizer, dst []byte, v reflect.Value, depth int) ([]byte, error) {
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		if depth > maxDirectDepth { // a cycle, maybe: encoding/json tells
			return c.marshal(dst, v.Interface())
		}
		return elem(c, dst, v.Elem(), depth+1)
	}
}

func (b *planBuilder) arrayPlan(t reflect.Type, isSlice bool) encodeFunc {
	elem := b.build(t.Elem())
	return func(c *canonicalizer, dst []byte, v reflect.Value, depth int) ([]byte, error) {
		if isSlice && v.IsNil() {
			return append(dst, "null"...), nil
		}
		if depth > maxDirectDepth {
			return c.marshal(dst, v.Interface())
		}
		dst = append(dst, '[')
		for i := range v.Len() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = elem(c, dst, v.Index(i), depth+1); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	}
}

func (b *planBuilder) mapPlan(t reflect.Type) encodeFunc {
	if t == reflect.TypeFor[map[string]any]() || t == reflect.TypeFor[map[string]string]() {
		return encodeAny
	}
	kt := t.Key()
	if kt.Kind() != reflect.String || kt.Implements(textMarshalerType) || reflect.PointerTo(kt).Implements(textMarshalerType) {
		return marshalValue // encoding/json's key rules: its path
	}
	elem := b.build(t.Elem())
	return func(c *canonicalizer, dst []byte, v reflect.Value, depth int) ([]byte, error) {
		if v.IsNil() {
			return append(dst, "null"...), nil
		}
		if depth > maxDirectDepth {
			return c.marshal(dst, v.Interface())
		}
		base := len(c.entries)
		for it := v.MapRange(); it.Next(); {
			name := it.Key().String()
			if !utf8.ValidString(name) {
				// encoding/json would replace the bad bytes, which may make
				// two names equal: its path decides.
				clear(c.entries[base:])
				c.entries = c.entries[:base]
				return c.marshal(dst, v.Interface())
			}
			c.entries = append(c.entries, mapEntry{name, it.Value()})
		}
		entries := c.entries[base:]
		slices.SortFunc(entries, func(a, b mapEntry) int { return compareUTF16(a.name, b.name) })
		dst = append(dst, '{')
		var err error
		for i, e := range entries {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendGoString(dst, e.name)
			dst = append(dst, ':')
			if dst, err = elem(c, dst, e.value, depth+1); err != nil {
				break
			}
		}
		clear(c.entries[base:])
		c.entries = c.entries[:base]
		if err != nil {
			return nil, err
		}
		return append(dst, '}'), nil
	}
}

// mapEntry is one member of a map being encoded (canonicalizer.entries).
type mapEntry struct {
	name  string
	value reflect.Value
}

// field is one encoded struct field.
type field struct {
	index     int
	sortName  string // the JSON name
	name      []byte // `"name":` in canonical form
	omitEmpty bool
	enc       encodeFunc
}

func (b *planBuilder) structPlan(t reflect.Type) encodeFunc {
	var fields []field
	names := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			b.unsupported = true // embedding: encoding/json's promotion rules
			return nil
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if !isValidTag(name) {
			name = sf.Name
		}
		omitEmpty := false
		for opts != "" {
			var o string
			o, opts, _ = strings.Cut(opts, ",")
			switch o {
			case "omitempty":
				omitEmpty = true
			case "string", "omitzero":
				b.unsupported = true
				return nil
			}
		}
		if names[name] {
			b.unsupported = true // encoding/json drops or picks by tag
			return nil
		}
		names[name] = true
		enc := b.build(sf.Type)
		if b.unsupported {
			return nil
		}
		fields = append(fields, field{
			index:     i,
			sortName:  name,
			name:      append(appendGoString(nil, name), ':'),
			omitEmpty: omitEmpty,
			enc:       enc,
		})
	}
	slices.SortFunc(fields, func(a, b field) int { return compareUTF16(a.sortName, b.sortName) })
	return func(c *canonicalizer, dst []byte, v reflect.Value, depth int) ([]byte, error) {
		dst = append(dst, '{')
		first := true
		for i := range fields {
			f := &fields[i]
			fv := v.Field(f.index)
			if f.omitEmpty && isEmptyValue(fv) {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, f.name...)
			var err error
			if dst, err = f.enc(c, dst, fv, depth+1); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
}

// isEmptyValue is encoding/json's test for omitempty.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64,
		reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isValidTag is encoding/json's test of a tag name.
func isValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
			// Backslash and quote chars are reserved, but otherwise any
			// punctuation chars are allowed in a tag name.
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}
