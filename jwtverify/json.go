package jwtverify

// A strict, allocation-light JSON reader for JOSE headers and JWT claims.
//
// It accepts exactly RFC 8259 JSON with these extra rules: strings must be
// valid UTF-8 without lone surrogate escapes, objects must not repeat a
// member name (compared after unescaping), nesting is bounded by maxDepth,
// and nothing but whitespace may follow the top-level value. It never
// builds a generic tree: callers walk objects member by member and get the
// byte spans of values.

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and objects (the top-level object
// is depth 1).
const maxDepth = 16

// Value kinds.
const (
	kindString byte = 's'
	kindNumber byte = 'n'
	kindObject byte = 'o'
	kindArray  byte = 'a'
	kindTrue   byte = 't'
	kindFalse  byte = 'f'
	kindNull   byte = 'z'
)

// jval is one value inside the document: for strings, start:end is the
// content between the quotes; for other kinds, the whole value.
type jval struct {
	start, end int
	kind       byte
	esc        bool // string contains escapes
}

var (
	errJSONSyntax    = errors.New("invalid JSON")
	errJSONDepth     = errors.New("JSON nested too deeply")
	errJSONDuplicate = errors.New("duplicate JSON member name")
	errJSONUTF8      = errors.New("invalid UTF-8 in JSON string")
	errJSONTrailing  = errors.New("data after the JSON value")
	errJSONNotObject = errors.New("JSON value is not an object")
)

// plainASCII marks the bytes a string may hold as they are: printable
// ASCII except '"' and '\\'.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

type scanner struct {
	b []byte
	i int
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *scanner) ws() {
	for s.i < len(s.b) && isWS(s.b[s.i]) {
		s.i++
	}
}

// end checks that only whitespace remains.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return errJSONTrailing
	}
	return nil
}

// openObject consumes optional whitespace and '{'.
func (s *scanner) openObject() error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		return errJSONNotObject
	}
	s.i++
	return nil
}

// member reads the next member name of the object being walked (n is the
// number of members read so far) and the ':' after it. ok is false at the
// closing '}', which is consumed.
func (s *scanner) member(n int) (name jval, ok bool, err error) {
	s.ws()
	if s.i >= len(s.b) {
		return jval{}, false, errJSONSyntax
	}
	c := s.b[s.i]
	if c == '}' {
		s.i++
		return jval{}, false, nil
	}
	if n > 0 {
		if c != ',' {
			return jval{}, false, errJSONSyntax
		}
		s.i++
		s.ws()
		if s.i >= len(s.b) {
			return jval{}, false, errJSONSyntax
		}
	}
	if s.b[s.i] != '"' {
		return jval{}, false, errJSONSyntax
	}
	name, err = s.str()
	if err != nil {
		return jval{}, false, err
	}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return jval{}, false, errJSONSyntax
	}
	s.i++
	return name, true, nil
}

// str reads a string starting at the opening quote.
func (s *scanner) str() (jval, error) {
	s.i++ // opening quote
	v := jval{start: s.i, kind: kindString}
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
			v.end = i
			s.i = i + 1
			return v, nil
		case c == '\\':
			v.esc = true
			n, err := escapeLen(b[i:])
			if err != nil {
				return jval{}, err
			}
			i += n
		case c < 0x20:
			return jval{}, errJSONSyntax
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				return jval{}, errJSONUTF8
			}
			i += n
		}
	}
	return jval{}, errJSONSyntax
}

func hexVal(c byte) rune {
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
		h := hexVal(c)
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
		return 0, errJSONSyntax
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
		r := hex4(b[2:])
		switch {
		case r < 0:
			return 0, errJSONSyntax
		case isLowSurrogate(r):
			return 0, errJSONUTF8
		case isHighSurrogate(r):
			if len(b) < 12 || b[6] != '\\' || b[7] != 'u' {
				return 0, errJSONUTF8
			}
			if r2 := hex4(b[8:]); !isLowSurrogate(r2) {
				return 0, errJSONUTF8
			}
			return 12, nil
		}
		return 6, nil
	}
	return 0, errJSONSyntax
}

// unescape decodes string content that was validated by str.
func unescape(b []byte) []byte {
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
func (s *scanner) num() (jval, error) {
	b := s.b
	i := s.i
	v := jval{start: i, kind: kindNumber}
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
		return jval{}, errJSONSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return jval{}, errJSONSyntax
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
			return jval{}, errJSONSyntax
		}
	}
	v.end = i
	s.i = i
	return v, nil
}

func (s *scanner) lit(word string, kind byte) (jval, error) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return jval{}, errJSONSyntax
	}
	v := jval{start: s.i, end: s.i + len(word), kind: kind}
	s.i += len(word)
	return v, nil
}

// value reads any value. depth is the nesting level of the value itself
// (a member of the top-level object has depth 2).
func (s *scanner) value(depth int) (jval, error) {
	s.ws()
	if s.i >= len(s.b) {
		return jval{}, errJSONSyntax
	}
	switch c := s.b[s.i]; c {
	case '"':
		return s.str()
	case '{':
		if depth > maxDepth {
			return jval{}, errJSONDepth
		}
		start := s.i
		s.i++
		if err := s.skipObject(depth); err != nil {
			return jval{}, err
		}
		return jval{start: start, end: s.i, kind: kindObject}, nil
	case '[':
		if depth > maxDepth {
			return jval{}, errJSONDepth
		}
		start := s.i
		s.i++
		if err := s.skipArray(depth); err != nil {
			return jval{}, err
		}
		return jval{start: start, end: s.i, kind: kindArray}, nil
	case 't':
		return s.lit("true", kindTrue)
	case 'f':
		return s.lit("false", kindFalse)
	case 'n':
		return s.lit("null", kindNull)
	default:
		if c == '-' || ('0' <= c && c <= '9') {
			return s.num()
		}
		return jval{}, errJSONSyntax
	}
}

// skipObject validates the rest of an object after its '{'.
func (s *scanner) skipObject(depth int) error {
	var names nameSet
	for n := 0; ; n++ {
		name, ok, err := s.member(n)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if !names.add(s.b, name) {
			return errJSONDuplicate
		}
		if _, err := s.value(depth + 1); err != nil {
			return err
		}
	}
}

// skipArray validates the rest of an array after its '['.
func (s *scanner) skipArray(depth int) error {
	for n := 0; ; n++ {
		s.ws()
		if s.i >= len(s.b) {
			return errJSONSyntax
		}
		if s.b[s.i] == ']' {
			s.i++
			return nil
		}
		if n > 0 {
			if s.b[s.i] != ',' {
				return errJSONSyntax
			}
			s.i++
		}
		if _, err := s.value(depth + 1); err != nil {
			return err
		}
	}
}

// nameSet detects duplicate member names. It lives on the stack: names
// without escapes are kept as offsets into the document, the rare escaped
// ones as unescaped strings; objects with many members spill to the heap.
type nameSet struct {
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

func (ns *nameSet) add(doc []byte, name jval) bool {
	r := nameRef{start: int32(name.start), end: int32(name.end), esc: name.esc}
	if name.esc {
		r.s = string(unescape(doc[name.start:name.end]))
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

// nameIs reports whether the (unescaped) name of a member equals want.
func nameIs(doc []byte, name jval, want string) bool {
	if !name.esc {
		return string(doc[name.start:name.end]) == want
	}
	return string(unescape(doc[name.start:name.end])) == want
}

// validateObject checks that doc is one strict JSON object.
func validateObject(doc []byte) error {
	s := scanner{b: doc}
	if err := s.openObject(); err != nil {
		return err
	}
	if err := s.skipObject(1); err != nil {
		return err
	}
	return s.end()
}

// lookupMember finds the member named name in the validated object at
// doc[v.start:v.end].
func lookupMember(doc []byte, obj jval, name string) (jval, bool) {
	if obj.kind != kindObject {
		return jval{}, false
	}
	s := scanner{b: doc[:obj.end], i: obj.start}
	if s.openObject() != nil {
		return jval{}, false
	}
	for n := 0; ; n++ {
		nm, ok, err := s.member(n)
		if err != nil || !ok {
			return jval{}, false
		}
		v, err := s.value(2)
		if err != nil {
			return jval{}, false
		}
		if nameIs(doc, nm, name) {
			return v, true
		}
	}
}

// lookupPath follows path from the validated object obj.
func lookupPath(doc []byte, obj jval, path []string) (jval, bool) {
	v := obj
	for _, p := range path {
		var ok bool
		if v, ok = lookupMember(doc, v, p); !ok {
			return jval{}, false
		}
	}
	return v, true
}

// arrayElems calls fn for each element of the validated array arr.
func arrayElems(doc []byte, arr jval, fn func(v jval) bool) {
	s := scanner{b: doc[:arr.end], i: arr.start + 1}
	for n := 0; ; n++ {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] == ']' {
			return
		}
		if n > 0 {
			s.i++ // ','
		}
		v, err := s.value(2)
		if err != nil || !fn(v) {
			return
		}
	}
}

// stringOf returns the decoded content of a string value.
func stringOf(doc string, v jval) string {
	if !v.esc {
		return doc[v.start:v.end]
	}
	return string(unescape([]byte(doc[v.start:v.end])))
}
