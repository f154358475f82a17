package dpop

import (
	"github.com/m2mauth/m2mauth/internal/strictjson"
)

// The proof's header and payload are read by the project's one strict JSON
// reader, internal/strictjson (shared with jwtverify): RFC 8259 exactly,
// valid UTF-8 without lone surrogates, no duplicate member names at any
// depth, nesting bounded by strictjson.MaxDepth, nothing after the object.
// On top of it, the objects whose members this package interprets (the
// header, the jwk and the claims) must have plain member names (no
// escapes: no client writes one) and at most maxMembers members. String
// values may hold escapes (some encoders write "\/"), decoded exactly.

// maxMembers bounds the members of an object the parser interprets.
const maxMembers = 64

// jsonReader walks one decoded header or payload.
type jsonReader struct {
	s   strictjson.Scanner
	doc []byte
}

func newJSONReader(doc []byte) jsonReader {
	return jsonReader{s: strictjson.NewScanner(doc), doc: doc}
}

func (r *jsonReader) peek() byte { return r.s.Peek() }

// members calls f for each member of the object at the reader's position,
// which lies at nesting depth (the top-level object is depth 1), with the
// member's name; f reads the value (at depth+1). Escaped or duplicate
// names and more than maxMembers members refuse. It returns false on any
// syntax error or when f returns false.
func (r *jsonReader) members(depth int, f func(name []byte) bool) bool {
	if depth > strictjson.MaxDepth || r.s.OpenObject() != nil {
		return false
	}
	var names strictjson.NameSet
	for n := 0; ; n++ {
		name, ok, err := r.s.Member(n)
		if err != nil {
			return false
		}
		if !ok {
			return true
		}
		if name.Esc || n == maxMembers || !names.Add(r.doc, name) {
			return false
		}
		if !f(r.doc[name.Start:name.End]) {
			return false
		}
	}
}

// str reads a string value: its bytes in the document, or a new buffer
// when it holds escapes.
func (r *jsonReader) str() ([]byte, bool) {
	if r.s.Peek() != '"' {
		return nil, false
	}
	v, err := r.s.Value(0) // a string has no depth
	if err != nil {
		return nil, false
	}
	if v.Esc {
		return strictjson.Unescape(r.doc[v.Start:v.End]), true
	}
	return r.doc[v.Start:v.End], true
}

// number reads a JSON number and returns its text.
func (r *jsonReader) number() ([]byte, bool) {
	c := r.s.Peek()
	if c != '-' && (c < '0' || c > '9') {
		return nil, false
	}
	v, err := r.s.Value(0) // a number has no depth
	if err != nil {
		return nil, false
	}
	return r.doc[v.Start:v.End], true
}

// skip reads and validates any value at nesting depth depth, without
// interpreting it.
func (r *jsonReader) skip(depth int) bool {
	_, err := r.s.Value(depth)
	return err == nil
}

// end reports whether only white space follows.
func (r *jsonReader) end() bool { return r.s.End() == nil }
