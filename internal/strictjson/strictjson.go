// Package strictjson is the project's one strict, allocation-light JSON
// reader for hostile input: JOSE headers, JWT claims (jwtverify) and DPoP
// proofs (dpop). One reader means one attack surface and one fuzz oracle
// (jwtverify's FuzzJSONv2 against encoding/json/v2, and this package's
// FuzzScanner).
//
// It accepts exactly RFC 8259 JSON with these extra rules: strings must be
// valid UTF-8 without lone surrogate escapes, objects must not repeat a
// member name (compared after unescaping, at every depth), nesting is
// bounded by MaxDepth, and nothing but whitespace may follow the top-level
// value. It never builds a generic tree: callers walk objects member by
// member with a Scanner and get the byte spans of values, and decode a
// string only when it holds escapes.
package strictjson

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of arrays and objects (the top-level object
// is depth 1).
const MaxDepth = 16

// Value kinds.
const (
	String byte = 's'
	Number byte = 'n'
	Object byte = 'o'
	Array  byte = 'a'
	True   byte = 't'
	False  byte = 'f'
	Null   byte = 'z'
)

// Value is one value inside the document: for strings, Start:End is the
// content between the quotes; for other kinds, the whole value. The zero
// Value (Kind 0) stands for an absent one.
type Value struct {
	Start, End int
	Kind       byte // String, Number, Object, Array, True, False or Null
	Esc        bool // a string that contains escapes (decode with Unescape)
}

// The reader's errors. They name the rule broken, never the input.
var (
	ErrSyntax    = errors.New("invalid JSON")
	ErrDepth     = errors.New("JSON nested too deeply")
	ErrDuplicate = errors.New("duplicate JSON member name")
	ErrUTF8      = errors.New("invalid UTF-8 in JSON string")
	ErrTrailing  = errors.New("data after the JSON value")
	ErrNotObject = errors.New("JSON value is not an object")
)

// plainASCII marks the bytes a string may hold as they are: printable
// ASCII except '"' and '\\'.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Scanner walks one document. Its zero value is not useful: start one with
// NewScanner.
type Scanner struct {
	b []byte
	i int
}

// NewScanner returns a Scanner at the start of doc.
func NewScanner(doc []byte) Scanner { return Scanner{b: doc} }

// Peek skips whitespace and returns the next byte, or 0 at the end.
func (s *Scanner) Peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *Scanner) ws() {
	for s.i < len(s.b) && isWS(s.b[s.i]) {
		s.i++
	}
}

// End checks that only whitespace remains.
func (s *Scanner) End() error {
	s.ws()
	if s.i != len(s.b) {
		return ErrTrailing
	}
	return nil
}

// OpenObject consumes optional whitespace and '{'.
func (s *Scanner) OpenObject() error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return ErrNotObject
	}
	s.i++
	return nil
}

// Member reads the next member name of the object being walked (n is the
// number of members read so far) and the ':' after it. ok is false at the
// closing '}', which is consumed.
func (s *Scanner) Member(n int) (name Value, ok bool, err error) {
	s.ws()
	if s.i >= len(s.b) {
		return Value{}, false, ErrSyntax
	}
	c := s.b[s.i]
	if c == '}' {
		s.i++
		return Value{}, false, nil
	}
	if n > 0 {
		if c != ',' {
			return Value{}, false, ErrSyntax
		}
		s.i++
		s.ws()
		if s.i >= len(s.b) {
			return Value{}, false, ErrSyntax
		}
	}
	if s.b[s.i] != '"' {
		return Value{}, false, ErrSyntax
	}
	name, err = s.str()
	if err != nil {
		return Value{}, false, err
	}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return Value{}, false, ErrSyntax
	}
	s.i++
	return name, true, nil
}

// str reads a string starting at the opening quote.
func (s *Scanner) str() (Value, error) {
	s.i++ // opening quote
	v := Value{Start: s.i, Kind: String}
	b := s.b
	for i := s.i; i < len(b); {
		for i < len(b) && plainASCII[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			v.End = i
			s.i = i + 1
			return v, nil
		case c == '\\':
			v.Esc = true
			n, err := escapeLen(b[i:])
			if err != nil {
				return Value{}, err
			}
			i += n
		case c < 0x20:
			return Value{}, ErrSyntax
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				return Value{}, ErrUTF8
			}
			i += n
		}
	}
	return Value{}, ErrSyntax
}

// HexVal returns the value of the hex digit c, or -1.
func HexVal(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// hex4 decodes the four hex digits of a \u escape at b[0:4].
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		h := HexVal(c)
		if h < 0 {
			return -1
		}
		r = r<<4 | h
	}
	return r
}

func isHighSurrogate(r rune) bool { return 0xD800 <= r && r < 0xDC00 }
func isLowSurrogate(r rune) bool  { return 0xDC00 <= r && r < 0xE000 }

// escapeLen validates the escape sequence at b[0] == '\\' and returns its
// length (a surrogate pair counts as one 12-byte sequence).
func escapeLen(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, ErrSyntax
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		r := hex4(b[2:])
		switch {
		case r < 0:
			return 0, ErrSyntax
		case isLowSurrogate(r):
			return 0, ErrUTF8
		case isHighSurrogate(r):
			if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
				return 0, ErrUTF8
			}
			if r2 := hex4(b[8:]); !isLowSurrogate(r2) {
				return 0, ErrUTF8
			}
			return 12, nil
		}
		return 6, nil
	}
	return 0, ErrSyntax
}

// Unescape decodes string content that the Scanner validated (a string
// Value with Esc); it allocates the result.
func Unescape(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		switch b[i+1] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(b[i+2:])
			if isHighSurrogate(r) {
				r2 := hex4(b[i+8:])
				r = (r-0xD800)<<10 | (r2 - 0xDC00) + 0x10000
				out = utf8.AppendRune(out, r)
				i += 12
				continue
			}
			out = utf8.AppendRune(out, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			out = append(out, b[i+1])
		}
		i += 2
	}
	return out
}

// num reads a number (RFC 8259 grammar).
func (s *Scanner) num() (Value, error) {
	b := s.b
	i := s.i
	v := Value{Start: i, Kind: Number}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return Value{}, ErrSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return Value{}, ErrSyntax
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return Value{}, ErrSyntax
		}
	}
	v.End = i
	s.i = i
	return v, nil
}

func (s *Scanner) lit(word string, kind byte) (Value, error) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return Value{}, ErrSyntax
	}
	v := Value{Start: s.i, End: s.i + len(word), Kind: kind}
	s.i += len(word)
	return v, nil
}

// Value reads any value and validates it whole. depth is the nesting level of the value itself
// (a member of the top-level object has depth 2).
func (s *Scanner) Value(depth int) (Value, error) {
	s.ws()
	if s.i >= len(s.b) {
		return Value{}, ErrSyntax
	}
	switch c := s.b[s.i]; c {
	case '"':
		return s.str()
	case '{':
		if depth > MaxDepth {
			return Value{}, ErrDepth
		}
		start := s.i
		s.i++
		if err := s.skipObject(depth); err != nil {
			return Value{}, err
		}
		return Value{Start: start, End: s.i, Kind: Object}, nil
	case '[':
		if depth > MaxDepth {
			return Value{}, ErrDepth
		}
		start := s.i
		s.i++
		if err := s.skipArray(depth); err != nil {
			return Value{}, err
		}
		return Value{Start: start, End: s.i, Kind: Array}, nil
	case 't':
		return s.lit("true", True)
	case 'f':
		return s.lit("false", False)
	case 'n':
		return s.lit("null", Null)
	default:
		if c == '-' || ('0' <= c && c <= '9') {
			return s.num()
		}
		return Value{}, ErrSyntax
	}
}

// skipObject validates the rest of an object after its '{'.
func (s *Scanner) skipObject(depth int) error {
	var names NameSet
	for n := 0; ; n++ {
		name, ok, err := s.Member(n)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if !names.Add(s.b, name) {
			return ErrDuplicate
		}
		if _, err := s.Value(depth + 1); err != nil {
			return err
		}
	}
}

// skipArray validates the rest of an array after its '['.
func (s *Scanner) skipArray(depth int) error {
	for n := 0; ; n++ {
		s.ws()
		if s.i >= len(s.b) {
			return ErrSyntax
		}
		if s.b[s.i] == ']' {
			s.i++
			return nil
		}
		if n > 0 {
			if s.b[s.i] != ',' {
				return ErrSyntax
			}
			s.i++
		}
		if _, err := s.Value(depth + 1); err != nil {
			return err
		}
	}
}

// NameSet detects duplicate member names of one object (Add each name
// Member returns; the zero value is empty). It lives on the stack: names
// without escapes are kept as offsets into the document, the rare escaped
// ones as unescaped strings; objects with many members spill to the heap.
type NameSet struct {
	n     int
	bloom uint64 // one bit per name, from nameBit
	small [32]nameRef
	more  []nameRef
	big   map[string]struct{}
}

type nameRef struct {
	start, end int32
	esc        bool
	s          string // unescaped name when esc
}

func (r *nameRef) equal(doc []byte, o *nameRef) bool {
	switch {
	case !r.esc && !o.esc:
		return r.end-r.start == o.end-o.start && string(doc[r.start:r.end]) == string(doc[o.start:o.end])
	case r.esc && o.esc:
		return r.s == o.s
	case r.esc:
		return r.s == string(doc[o.start:o.end])
	}
	return o.s == string(doc[r.start:r.end])
}

// Add records the member name (a Value from Member on doc, which must be
// shorter than 2 GiB) and reports false when the object already has a
// member of that name, compared after unescaping.
func (ns *NameSet) Add(doc []byte, name Value) bool {
	r := nameRef{start: int32(name.Start), end: int32(name.End), esc: name.Esc}
	if name.Esc {
		r.s = string(Unescape(doc[name.Start:name.End]))
	}
	if ns.big != nil {
		k := r.s
		if !r.esc {
			k = string(doc[r.start:r.end])
		}
		if _, dup := ns.big[k]; dup {
			return false
		}
		ns.big[k] = struct{}{}
		return true
	}
	var bit uint64
	if r.esc {
		bit = nameBit(r.s)
	} else {
		bit = nameBit(string(doc[r.start:r.end]))
	}
	if ns.bloom&bit != 0 { // possibly seen: compare
		for i := 0; i < ns.n && i < len(ns.small); i++ {
			if ns.small[i].equal(doc, &r) {
				return false
			}
		}
		for i := range ns.more {
			if ns.more[i].equal(doc, &r) {
				return false
			}
		}
	}
	ns.bloom |= bit
	if ns.n < len(ns.small) {
		ns.small[ns.n] = r
	} else {
		ns.more = append(ns.more, r)
	}
	ns.n++
	if ns.n > 64 {
		ns.big = make(map[string]struct{}, 2*ns.n)
		add := func(r *nameRef) {
			if r.esc {
				ns.big[r.s] = struct{}{}
			} else {
				ns.big[string(doc[r.start:r.end])] = struct{}{}
			}
		}
		for i := range ns.small {
			add(&ns.small[i])
		}
		for i := range ns.more {
			add(&ns.more[i])
		}
		ns.more = nil
	}
	return true
}

// nameBit maps a name to one of 64 bits (length and two bytes), so most
// new names skip the comparisons.
func nameBit(s string) uint64 {
	h := uint(len(s)) * 0x9E
	if len(s) > 0 {
		h += uint(s[0])*31 + uint(s[len(s)-1])*7
	}
	return 1 << ((h ^ h>>6) & 63)
}

// NameIs reports whether the (unescaped) name of a member equals want.
func NameIs(doc []byte, name Value, want string) bool {
	if !name.Esc {
		return string(doc[name.Start:name.End]) == want
	}
	return string(Unescape(doc[name.Start:name.End])) == want
}

// ValidateObject checks that doc is one strict JSON object.
func ValidateObject(doc []byte) error {
	s := Scanner{b: doc}
	if err := s.OpenObject(); err != nil {
		return err
	}
	if err := s.skipObject(1); err != nil {
		return err
	}
	return s.End()
}

// LookupMember finds the member named name in the validated object at
// doc[v.Start:v.End].
func LookupMember(doc []byte, obj Value, name string) (Value, bool) {
	if obj.Kind != Object {
		return Value{}, false
	}
	s := Scanner{b: doc[:obj.End], i: obj.Start}
	if s.OpenObject() != nil {
		return Value{}, false
	}
	for n := 0; ; n++ {
		nm, ok, err := s.Member(n)
		if err != nil || !ok {
			return Value{}, false
		}
		v, err := s.Value(2)
		if err != nil {
			return Value{}, false
		}
		if NameIs(doc, nm, name) {
			return v, true
		}
	}
}

// LookupPath follows path from the validated object obj.
func LookupPath(doc []byte, obj Value, path []string) (Value, bool) {
	v := obj
	for _, p := range path {
		var ok bool
		if v, ok = LookupMember(doc, v, p); !ok {
			return Value{}, false
		}
	}
	return v, true
}

// ArrayElems calls fn for each element of the validated array arr.
func ArrayElems(doc []byte, arr Value, fn func(v Value) bool) {
	s := Scanner{b: doc[:arr.End], i: arr.Start + 1}
	for n := 0; ; n++ {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] == ']' {
			return
		}
		if n > 0 {
			s.i++ // ','
		}
		v, err := s.Value(2)
		if err != nil || !fn(v) {
			return
		}
	}
}

// StringOf returns the decoded content of a string value.
func StringOf(doc string, v Value) string {
	if !v.Esc {
		return doc[v.Start:v.End]
	}
	return string(Unescape([]byte(doc[v.Start:v.End])))
}
