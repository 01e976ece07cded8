// Package canonical encodes JSON in the form of RFC 8785 (JSON
// Canonicalization Scheme): the encoder behind idempotency.KeyFromPayload
// and idempotency.PayloadHash. It is internal so that its API can follow the
// needs of package idempotency; callers outside it hash payloads with
// KeyFromPayload.
package canonical

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/once-run/once"
)

// MaxDepth is the deepest nesting of arrays and objects JSON accepts (the
// same limit as encoding/json).
const MaxDepth = 10000

// ErrInvalidJSON means JSON was given text that is not I-JSON (RFC 7493):
// malformed JSON, duplicate object member names, invalid UTF-8 or lone
// surrogates, numbers outside the IEEE 754 double range, or nesting deeper
// than MaxDepth. Package idempotency exports it as idempotency.ErrInvalidJSON.
var ErrInvalidJSON = once.InputError("idempotency: invalid JSON for canonicalisation: want I-JSON (RFC 7493)")

// JSON returns the RFC 8785 (JSON Canonicalization Scheme) form of the JSON
// text in: no whitespace, object members sorted by the UTF-16 code units of
// their names, strings with only the escapes RFC 8785 prescribes (\" \\ \b
// \f \n \r \t and \u00xx for other control characters; everything else, "/"
// and non-ASCII included, written as is), and numbers written as ECMAScript
// writes IEEE 754 doubles (4.50 -> 4.5, 1E30 -> 1e+30, -0 -> 0).
// JSON(JSON(x)) equals JSON(x).
//
// Errors: ErrInvalidJSON (wrapped, with the byte offset) when in is not
// I-JSON: malformed JSON, a duplicate member name, invalid UTF-8 or a lone
// surrogate, a number beyond the float64 range, or nesting deeper than
// MaxDepth.
func JSON(in []byte) ([]byte, error) {
	c := canonPool.Get().(*canonicalizer)
	defer c.release()
	return c.canonicalize(in, make([]byte, 0, len(in)))
}

// Sum256 returns the SHA-256 of the canonical JSON of v, that is of
// JSON(json.Marshal(v)). The types of decoded JSON (payload.go) and those a
// type plan covers (payloadtype.go) are encoded straight to canonical form,
// with the same result.
//
// Errors: those of encoding/json when v cannot be marshalled, and
// ErrInvalidJSON (wrapped) when it marshals to JSON that is not I-JSON.
func Sum256(v any) ([sha256.Size]byte, error) {
	c := canonPool.Get().(*canonicalizer)
	defer c.release()
	out, err := c.appendPayload(c.out[:0], v, 0)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	c.out = out
	return sha256.Sum256(out), nil
}

// canonicalize appends the canonical form of in to dst.
func (c *canonicalizer) canonicalize(in, dst []byte) ([]byte, error) {
	c.in, c.pos, c.depth = in, 0, 0
	c.skipSpace()
	out, err := c.value(dst)
	if err != nil {
		return nil, err
	}
	c.skipSpace()
	if c.pos < len(c.in) {
		return nil, c.errorf("unexpected %q after the top-level value", c.in[c.pos])
	}
	return out, nil
}

type member struct {
	name       []byte // decoded member name
	start, end int    // its canonical `"name":value` in the output
}

type canonicalizer struct {
	in      []byte
	pos     int
	depth   int
	members []member      // a stack shared by the objects being parsed
	tmp     []byte        // scratch for reordering members
	js      bytes.Buffer  // Sum256: encoding/json output
	enc     *json.Encoder // Sum256: writes to js
	out     []byte        // Sum256: canonical output
	keys    []string      // Sum256: a stack of sorted map keys
	entries []mapEntry    // Sum256: a stack of members of typed maps
}

var canonPool = sync.Pool{New: func() any { return new(canonicalizer) }}

// release returns c to the pool unless it grew too big to keep.
func (c *canonicalizer) release() {
	const keep = 64 << 10
	if cap(c.tmp) > keep || cap(c.out) > keep || c.js.Cap() > keep || cap(c.members) > 1024 || cap(c.keys) > 1024 || cap(c.entries) > 1024 {
		return
	}
	c.in = nil
	clear(c.members[:cap(c.members)]) // drop references to old input
	c.members = c.members[:0]
	clear(c.keys[:cap(c.keys)])
	c.keys = c.keys[:0]
	clear(c.entries[:cap(c.entries)])
	c.entries = c.entries[:0]
	canonPool.Put(c)
}

func (c *canonicalizer) errorf(format string, args ...any) error {
	return fmt.Errorf("canonicalize JSON: offset %d: %s: %w", c.pos, fmt.Sprintf(format, args...), ErrInvalidJSON)
}

func (c *canonicalizer) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

// value appends the canonical form of the value at c.pos to dst.
func (c *canonicalizer) value(dst []byte) ([]byte, error) {
	if c.pos >= len(c.in) {
		return nil, c.errorf("unexpected end of input, want a value")
	}
	switch ch := c.in[c.pos]; {
	case ch == '{':
		return c.object(dst)
	case ch == '[':
		return c.array(dst)
	case ch == '"':
		start := c.pos
		s, plain, err := c.str()
		if err != nil {
			return nil, err
		}
		if plain {
			return append(dst, c.in[start:c.pos]...), nil
		}
		return appendString(dst, s), nil
	case ch == '-' || (ch >= '0' && ch <= '9'):
		return c.number(dst)
	case ch == 't':
		return c.literal(dst, "true")
	case ch == 'f':
		return c.literal(dst, "false")
	case ch == 'n':
		return c.literal(dst, "null")
	default:
		return nil, c.errorf("unexpected %q, want a value", ch)
	}
}

func (c *canonicalizer) literal(dst []byte, lit string) ([]byte, error) {
	if len(c.in)-c.pos < len(lit) || string(c.in[c.pos:c.pos+len(lit)]) != lit {
		return nil, c.errorf("invalid literal, want %s", lit)
	}
	c.pos += len(lit)
	return append(dst, lit...), nil
}

func (c *canonicalizer) enter() error {
	c.depth++
	if c.depth > MaxDepth {
		return c.errorf("nested deeper than %d", MaxDepth)
	}
	return nil
}

func (c *canonicalizer) array(dst []byte) ([]byte, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	c.pos++ // '['
	dst = append(dst, '[')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
		c.depth--
		return append(dst, ']'), nil
	}
	for {
		var err error
		if dst, err = c.value(dst); err != nil {
			return nil, err
		}
		c.skipSpace()
		if c.pos >= len(c.in) {
			return nil, c.errorf("unexpected end of input in array")
		}
		switch c.in[c.pos] {
		case ',':
			c.pos++
			c.skipSpace()
			dst = append(dst, ',')
		case ']':
			c.pos++
			c.depth--
			return append(dst, ']'), nil
		default:
			return nil, c.errorf("unexpected %q in array, want ',' or ']'", c.in[c.pos])
		}
	}
}

// object appends the canonical form of the object at c.pos to dst: its
// members (c.member), then sorted by name (c.sortObject).
func (c *canonicalizer) object(dst []byte) ([]byte, error) {
	if err := c.enter(); err != nil {
		return nil, err
	}
	c.pos++ // '{'
	objStart := len(dst)
	dst = append(dst, '{')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
		c.depth--
		return append(dst, '}'), nil
	}
	base := len(c.members)
	for {
		var err error
		if dst, err = c.member(dst, len(c.members) > base); err != nil {
			return nil, err
		}
		c.skipSpace()
		if c.pos >= len(c.in) {
			return nil, c.errorf("unexpected end of input in object")
		}
		if c.in[c.pos] == ',' {
			c.pos++
			c.skipSpace()
			continue
		}
		if c.in[c.pos] != '}' {
			return nil, c.errorf("unexpected %q in object, want ',' or '}'", c.in[c.pos])
		}
		c.pos++
		break
	}
	c.depth--
	return c.sortObject(dst, objStart, base)
}

// member appends the member at c.pos, `"name":value` in canonical form
// (after a ',' when it is not the first), to dst and pushes it on c.members.
func (c *canonicalizer) member(dst []byte, notFirst bool) ([]byte, error) {
	if c.pos >= len(c.in) || c.in[c.pos] != '"' {
		return nil, c.errorf("want a member name in double quotes")
	}
	nameStart := c.pos
	name, plain, err := c.str()
	if err != nil {
		return nil, err
	}
	nameEnd := c.pos
	c.skipSpace()
	if c.pos >= len(c.in) || c.in[c.pos] != ':' {
		return nil, c.errorf("want ':' after member name")
	}
	c.pos++
	if notFirst {
		dst = append(dst, ',')
	}
	start := len(dst)
	switch {
	case plain && c.pos == nameEnd+1: // `"name":` as is (compact input)
		dst = append(dst, c.in[nameStart:c.pos]...)
	case plain:
		dst = append(dst, c.in[nameStart:nameEnd]...)
		dst = append(dst, ':')
	default:
		dst = appendString(dst, name)
		dst = append(dst, ':')
	}
	c.skipSpace()
	if dst, err = c.value(dst); err != nil {
		return nil, err
	}
	c.members = append(c.members, member{name: name, start: start, end: len(dst)})
	return dst, nil
}

// sortObject closes the object that starts at dst[objStart] and whose
// members are c.members[base:]: it pops them, rewrites them in dst sorted by
// name when they are not in order, and appends the '}'.
func (c *canonicalizer) sortObject(dst []byte, objStart, base int) ([]byte, error) {
	ms := c.members[base:]
	c.members = c.members[:base] // ms stays valid: nothing appends until we return
	moved, dup := sortMembers(ms)
	if dup >= 0 {
		return nil, c.errorf("duplicate member name %q", ms[dup].name)
	}
	if moved {
		c.tmp = append(c.tmp[:0], dst[objStart:]...)
		dst = append(dst[:objStart], '{')
		for i, m := range ms {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, c.tmp[m.start-objStart:m.end-objStart]...)
		}
	}
	return append(dst, '}'), nil
}

// compareUTF16 orders two valid UTF-8 strings by their UTF-16 code units,
// as RFC 8785 sorts member names.
//
// UTF-8 byte order is code point order, and that is UTF-16 order except
// between a supplementary code point (lead byte 0xF0-0xF4, a surrogate pair
// D800-DFFF in UTF-16) and one in U+E000-U+FFFF (lead byte 0xEE or 0xEF),
// where UTF-16 puts the supplementary one first. A first differing byte that
// is a continuation byte (below 0xC0) means both runes have the same lead
// byte, hence the same length, and byte order holds.
func compareUTF16[T string | []byte](a, b T) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	if i == n {
		return cmp.Compare(len(a), len(b))
	}
	x, y := a[i], b[i]
	if x >= 0xEE && y >= 0xEE && (x >= 0xF0) != (y >= 0xF0) {
		if x >= 0xF0 {
			return -1
		}
		return 1
	}
	if x < y {
		return -1
	}
	return 1
}

// sortMembers sorts ms by name: an insertion sort for the usual few
// members, which costs n-1 comparisons when they are in order already. moved
// reports whether the order changed; dup is the index of a member whose name
// equals another's after sorting, or -1.
func sortMembers(ms []member) (moved bool, dup int) {
	if len(ms) > 16 {
		if !slices.IsSortedFunc(ms, compareMembers) {
			slices.SortFunc(ms, compareMembers)
			moved = true
		}
		for i := 1; i < len(ms); i++ {
			if compareMembers(ms[i-1], ms[i]) == 0 {
				return moved, i
			}
		}
		return moved, -1
	}
	for i := 1; i < len(ms); i++ {
		x := ms[i]
		j := i
		for ; j > 0; j-- {
			c := compareUTF16(ms[j-1].name, x.name)
			if c == 0 {
				return moved, j - 1
			}
			if c < 0 {
				break
			}
			ms[j] = ms[j-1]
		}
		if j != i {
			ms[j] = x
			moved = true
		}
	}
	return moved, -1
}

func compareMembers(a, b member) int { return compareUTF16(a.name, b.name) }

// plainByte marks the bytes a string may hold as they are in both JSON text
// and canonical output: printable ASCII other than '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for b := 0x20; b < 0x80; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// allPlain reports whether the 8 bytes in x are all plainByte (SWAR: no
// byte below 0x20, none equal to '"' or '\\', none with the high bit set).
func allPlain(x uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	hasZero := func(v uint64) uint64 { return (v - lsb) & ^v & msb }
	below20 := (x - lsb*0x20) & ^x & msb
	return (below20 | hasZero(x^(lsb*'"')) | hasZero(x^(lsb*'\\')) | x&msb) == 0
}

// str reads the string at c.pos (which is '"') and returns its decoded
// UTF-8 content. Without escapes, the content is a slice of the input and
// plain is true: the input text, quotes included, is already canonical.
func (c *canonicalizer) str() (s []byte, plain bool, err error) {
	c.pos++ // '"'
	start := c.pos
	for {
		// Eight plain bytes at a time, then byte by byte.
		for c.pos+8 <= len(c.in) && allPlain(binary.LittleEndian.Uint64(c.in[c.pos:])) {
			c.pos += 8
		}
		for c.pos < len(c.in) && plainByte[c.in[c.pos]] {
			c.pos++
		}
		if c.pos >= len(c.in) {
			return nil, false, c.errorf("unexpected end of input in string")
		}
		switch ch := c.in[c.pos]; {
		case ch == '"':
			s := c.in[start:c.pos]
			c.pos++
			return s, true, nil
		case ch == '\\':
			s, err := c.strSlow(append([]byte(nil), c.in[start:c.pos]...))
			return s, false, err
		case ch < 0x20:
			return nil, false, c.errorf("control character %q in string, escape it", ch)
		default:
			r, size := utf8.DecodeRune(c.in[c.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, c.errorf("invalid UTF-8 in string")
			}
			c.pos += size
		}
	}
}

// strSlow decodes the rest of a string with escapes, appending to buf.
func (c *canonicalizer) strSlow(buf []byte) ([]byte, error) {
	for c.pos < len(c.in) {
		ch := c.in[c.pos]
		switch {
		case ch == '"':
			c.pos++
			return buf, nil
		case ch == '\\':
			if c.pos+1 >= len(c.in) {
				return nil, c.errorf("unexpected end of input in escape")
			}
			esc := c.in[c.pos+1]
			c.pos += 2
			switch esc {
			case '"', '\\', '/':
				buf = append(buf, esc)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, err := c.unicodeEscape()
				if err != nil {
					return nil, err
				}
				buf = utf8.AppendRune(buf, r)
			default:
				c.pos--
				return nil, c.errorf("invalid escape \\%c", esc)
			}
		case ch < 0x20:
			return nil, c.errorf("control character %q in string, escape it", ch)
		case ch < utf8.RuneSelf:
			buf = append(buf, ch)
			c.pos++
		default:
			r, size := utf8.DecodeRune(c.in[c.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, c.errorf("invalid UTF-8 in string")
			}
			buf = append(buf, c.in[c.pos:c.pos+size]...)
			c.pos += size
		}
	}
	return nil, c.errorf("unexpected end of input in string")
}

// unicodeEscape reads the XXXX of \uXXXX (c.pos is after the 'u'), and a
// following \uXXXX low surrogate when the first is a high one.
func (c *canonicalizer) unicodeEscape() (rune, error) {
	r, ok := c.hex4()
	if !ok {
		return 0, c.errorf(`invalid \u escape, want 4 hex digits`)
	}
	switch {
	case r >= 0xDC00 && r <= 0xDFFF:
		return 0, c.errorf(`lone low surrogate \u%04x`, r)
	case r >= 0xD800 && r <= 0xDBFF:
		if c.pos+1 >= len(c.in) || c.in[c.pos] != '\\' || c.in[c.pos+1] != 'u' {
			return 0, c.errorf(`lone high surrogate \u%04x`, r)
		}
		c.pos += 2
		lo, ok := c.hex4()
		if !ok {
			return 0, c.errorf(`invalid \u escape, want 4 hex digits`)
		}
		if lo < 0xDC00 || lo > 0xDFFF {
			return 0, c.errorf(`high surrogate \u%04x followed by \u%04x, want a low surrogate`, r, lo)
		}
		return utf16.DecodeRune(r, lo), nil
	}
	return r, nil
}

func (c *canonicalizer) hex4() (rune, bool) {
	if len(c.in)-c.pos < 4 {
		return 0, false
	}
	var r rune
	for _, h := range c.in[c.pos : c.pos+4] {
		var d byte
		switch {
		case h >= '0' && h <= '9':
			d = h - '0'
		case h >= 'a' && h <= 'f':
			d = h - 'a' + 10
		case h >= 'A' && h <= 'F':
			d = h - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	c.pos += 4
	return r, true
}

// appendString appends s (valid UTF-8) as an RFC 8785 JSON string.
func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i, ch := range s {
		if ch >= 0x20 && ch != '"' && ch != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = appendEscape(dst, ch)
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendEscape appends the RFC 8785 escape of ch: a control character, '"'
// or '\\'.
func appendEscape(dst []byte, ch byte) []byte {
	const hexDigits = "0123456789abcdef"
	switch ch {
	case '"', '\\':
		return append(dst, '\\', ch)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[ch>>4], hexDigits[ch&0xF])
}

// number appends the canonical form of the number at c.pos.
func (c *canonicalizer) number(dst []byte) ([]byte, error) {
	start := c.pos
	if c.in[c.pos] == '-' {
		c.pos++
	}
	intStart := c.pos
	switch {
	case c.pos < len(c.in) && c.in[c.pos] == '0':
		c.pos++
	case c.pos < len(c.in) && c.in[c.pos] >= '1' && c.in[c.pos] <= '9':
		c.digits()
	default:
		return nil, c.errorf("invalid number, want a digit")
	}
	intLen := c.pos - intStart
	fracStart, fracLen := 0, 0
	if c.pos < len(c.in) && c.in[c.pos] == '.' {
		c.pos++
		fracStart = c.pos
		if fracLen = c.digits(); fracLen == 0 {
			return nil, c.errorf("invalid number, want a digit after '.'")
		}
	}
	hasExp := false
	if c.pos < len(c.in) && (c.in[c.pos] == 'e' || c.in[c.pos] == 'E') {
		c.pos++
		if c.pos < len(c.in) && (c.in[c.pos] == '+' || c.in[c.pos] == '-') {
			c.pos++
		}
		if c.digits() == 0 {
			return nil, c.errorf("invalid number, want a digit in the exponent")
		}
		hasExp = true
	}
	text := c.in[start:c.pos]
	if !hasExp && isCanonicalDecimal(text, c.in[intStart:intStart+intLen], c.in[fracStart:fracStart+fracLen]) {
		return append(dst, text...), nil
	}
	if string(text) == "-0" {
		return append(dst, '0'), nil
	}
	f, err := strconv.ParseFloat(string(text), 64)
	if err != nil {
		return nil, c.errorf("number %s is outside the IEEE 754 double range", text)
	}
	return appendNumber(dst, f), nil
}

// isCanonicalDecimal reports whether a number without exponent, with
// integer digits intPart and fraction digits frac, is already written as
// ECMAScript writes its double: at most 15 significant digits (so it is the
// shortest text that round-trips), no trailing zero in the fraction, not
// zero, and at least 1e-6 in magnitude (smaller values use an exponent).
func isCanonicalDecimal(text, intPart, frac []byte) bool {
	if len(frac) > 0 && frac[len(frac)-1] == '0' {
		return false
	}
	if len(intPart) == 1 && intPart[0] == '0' {
		if len(frac) == 0 {
			return len(text) == 1 // "0", not "-0"
		}
		zeros := 0
		for zeros < len(frac) && frac[zeros] == '0' {
			zeros++
		}
		return zeros < 6 && len(frac)-zeros <= 15
	}
	return len(intPart)+len(frac) <= 15
}

func (c *canonicalizer) digits() int {
	n := 0
	for c.pos < len(c.in) && c.in[c.pos] >= '0' && c.in[c.pos] <= '9' {
		c.pos++
		n++
	}
	return n
}

// appendNumber appends f as ECMAScript's Number.prototype.toString writes
// it (RFC 8785 section 3.2.2.3). f must be finite.
func appendNumber(dst []byte, f float64) []byte {
	if f == 0 {
		return append(dst, '0') // both 0 and -0
	}
	format := byte('f')
	if abs := math.Abs(f); abs < 1e-6 || abs >= 1e21 {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Go writes "1e-07"; ECMAScript writes "1e-7".
		n := len(dst)
		if dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
