package canonical

import (
	"encoding/json"
	"math"
	"unicode/utf8"
)

// maxDirectDepth is how deep appendPayload encodes directly before handing
// a subtree to encoding/json, which also detects cycles.
const maxDirectDepth = 100

// appendPayload appends JSON(json.Marshal(v)) to dst. The types of
// decoded JSON are encoded directly; anything else (and anything unusual,
// such as NaN or invalid UTF-8 in a map key) goes through marshal, the
// reference path, so results and errors are those of encoding/json.
func (c *canonicalizer) appendPayload(dst []byte, v any, depth int) ([]byte, error) {
	if depth > maxDirectDepth {
		return c.marshal(dst, v)
	}
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		if x {
			return append(dst, "true"...), nil
		}
		return append(dst, "false"...), nil
	case string:
		return appendGoString(dst, x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return c.marshal(dst, v)
		}
		return appendNumber(dst, x), nil
	case int:
		return appendNumber(dst, float64(x)), nil
	case int64:
		return appendNumber(dst, float64(x)), nil
	case int32:
		return appendNumber(dst, float64(x)), nil
	case uint64:
		return appendNumber(dst, float64(x)), nil
	case uint32:
		return appendNumber(dst, float64(x)), nil
	case json.RawMessage:
		if x == nil {
			return append(dst, "null"...), nil
		}
		return c.canonicalize(x, dst)
	case []any:
		return appendArray(dst, x, func(dst []byte, e any) ([]byte, error) { return c.appendPayload(dst, e, depth+1) })
	case []string:
		return appendArray(dst, x, appendStringValue)
	case map[string]any:
		return appendObject(c, dst, x, func(dst []byte, e any) ([]byte, error) { return c.appendPayload(dst, e, depth+1) })
	case map[string]string:
		return appendObject(c, dst, x, appendStringValue)
	}
	return c.appendValue(dst, v, depth)
}

// appendStringValue appends s as a JSON string: the value appender of
// []string and map[string]string.
func appendStringValue(dst []byte, s string) ([]byte, error) { return appendGoString(dst, s), nil }

// appendArray appends a as a JSON array, each element appended by
// appendElement.
func appendArray[V any](dst []byte, a []V, appendElement func(dst []byte, v V) ([]byte, error)) ([]byte, error) {
	if a == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '[')
	for i, e := range a {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendElement(dst, e); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}

// appendObject appends m as a JSON object, its members sorted and each value
// appended by appendMember; a map with a key that is not valid UTF-8 goes
// through marshal (see appendPayload).
func appendObject[V any](c *canonicalizer, dst []byte, m map[string]V, appendMember func(dst []byte, v V) ([]byte, error)) ([]byte, error) {
	if m == nil {
		return append(dst, "null"...), nil
	}
	base, ok := sortedKeys(c, m)
	if !ok {
		return c.marshal(dst, m)
	}
	dst = append(dst, '{')
	for i, k := range c.keys[base:] {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendGoString(dst, k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendMember(dst, m[k]); err != nil {
			return nil, err
		}
	}
	c.keys = c.keys[:base]
	return append(dst, '}'), nil
}

// sortedKeys pushes the keys of m on c.keys, sorted as RFC 8785 sorts
// member names, and returns where they start. ok is false (and nothing is
// pushed) when a key is not valid UTF-8: encoding/json would replace its
// bad bytes, which may make two keys equal, so marshal handles that map.
func sortedKeys[V any](c *canonicalizer, m map[string]V) (base int, ok bool) {
	base = len(c.keys)
	for k := range m {
		if !utf8.ValidString(k) {
			c.keys = c.keys[:base]
			return base, false
		}
		c.keys = append(c.keys, k)
	}
	keys := c.keys[base:]
	for i := 1; i < len(keys); i++ { // insertion sort: maps in payloads are small
		x := keys[i]
		j := i
		for ; j > 0 && compareUTF16(keys[j-1], x) > 0; j-- {
			keys[j] = keys[j-1]
		}
		keys[j] = x
	}
	return base, true
}

// marshal appends JSON(json.Marshal(v)) to dst: the reference path.
func (c *canonicalizer) marshal(dst []byte, v any) ([]byte, error) {
	// json.Encoder into a reused buffer gives the same JSON as json.Marshal
	// (validated, compact) without its final copy. HTML escaping is off
	// because canonicalisation undoes it anyway.
	c.js.Reset()
	if c.enc == nil {
		c.enc = json.NewEncoder(&c.js)
		c.enc.SetEscapeHTML(false)
	}
	if err := c.enc.Encode(v); err != nil {
		return nil, err
	}
	return c.canonicalize(c.js.Bytes(), dst)
}

// appendGoString appends s as encoding/json would write it (invalid UTF-8
// bytes become U+FFFD), in RFC 8785 form.
func appendGoString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time (see allPlain), then byte by byte.
		for i+8 <= len(s) && allPlain(load64(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		ch := s[i]
		if plainByte[ch] {
			i++
			continue
		}
		if ch >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscape(dst, ch)
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// load64 reads 8 bytes of s from i, little-endian (one load on amd64 and
// arm64).
func load64(s string, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
