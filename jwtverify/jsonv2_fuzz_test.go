//go:build goexperiment.jsonv2

package jwtverify

// A strict oracle for the JSON reader: encoding/json/v2's jsontext, which
// follows RFC 8259 with RFC 7493 (I-JSON) strictness by default (valid
// UTF-8, no lone surrogate escapes, no duplicate member names compared
// after unescaping). encoding/json v1 (FuzzJSON) is looser than our reader,
// so it can only catch our reader accepting too much; this oracle catches
// both directions. Built only with GOEXPERIMENT=jsonv2, so the root module
// gains no dependency:
//
//	GOEXPERIMENT=jsonv2 go test -run '^$' -fuzz FuzzJSONv2 ./jwtverify
//
// Deliberate differences, excluded from the comparison:
//   - nesting: our reader refuses more than strictjson.MaxDepth (16) levels, jsontext
//     allows 10000;
//   - the top-level value: ours must be an object (a JWS header or claims
//     set), jsontext takes any value.

import (
	"bytes"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"io"
	"testing"

	"github.com/m2mauth/m2mauth/internal/strictjson"
)

// v2Read reads doc with jsontext: whether it is exactly one valid JSON
// value (whitespace around it allowed), whether that value is an object,
// and its nesting depth.
func v2Read(doc []byte) (valid, object bool, depth int) {
	if !jsontext.Value(bytes.Clone(doc)).IsValid() {
		return false, false, 0
	}
	dec := jsontext.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			return true, object, depth
		}
		if err != nil {
			return false, false, 0
		}
		if depth == 0 {
			object = tok.Kind() == '{'
		}
		if d := dec.StackDepth(); d > depth {
			depth = d
		}
	}
}

// v2Members returns the top-level members of the valid object doc: the
// unescaped names and the raw values.
func v2Members(t *testing.T, doc []byte) ([]string, []jsontext.Value) {
	dec := jsontext.NewDecoder(bytes.NewReader(doc))
	if _, err := dec.ReadToken(); err != nil {
		t.Fatal(err)
	}
	var names []string
	var vals []jsontext.Value
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, tok.String()) // valid only until the next read
		v, err := dec.ReadValue()
		if err != nil {
			t.Fatal(err)
		}
		vals = append(vals, bytes.Clone(v))
	}
	return names, vals
}

func FuzzJSONv2(f *testing.F) {
	for _, s := range []string{
		`{}`, ` {"a":1} `, `{"a":"b","c":[1,2,{"d":null}],"e":true,"f":false}`, `{"a":"\u00e9\ud83d\ude00\n\"\\\/"}`,
		`{"a":1,"a":2}`, `{"a":"\ud800"}`, `{"a":"\udc00\ud800"}`, `{"a":"\ud800\u0041"}`, `[1]`, `{"a":1}x`, "\xef\xbb\xbf{}",
		`{"a":-0.5e+10}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":1E+2}`, `{"a":-0}`,
		`{"a" : { "b" : [ ] } }`, `{"\u0061":1,"a":2}`, `{"a":{"b":1,"b":2}}`, `{"a":[{"b":1},{"b":2}]}`,
		"{\"a\":\"\x7f\"}", "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":1}\x00",
		`{"a":tru}`, `{"a":nul}`, `{"a":true,}`, `{,}`, `{"a"}`, `{"a":[1,]}`, "{\"a\":1\u00a0}",
		`{"d":` + nested(15) + `}`, `{"d":` + nested(16) + `}`,
		string(mustJSON(baseClaims())), string(mustJSON(benchClaims())),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		ours := strictjson.ValidateObject(doc) == nil
		valid, object, depth := v2Read(doc)
		comparable := object && depth <= strictjson.MaxDepth
		switch {
		case ours && !valid:
			t.Fatalf("our reader accepts what jsontext refuses: %q", doc)
		case ours && !comparable:
			t.Fatalf("our reader accepts a non-object or %d levels: %q", depth, doc)
		case !ours && valid && comparable:
			t.Fatalf("our reader refuses a valid object jsontext accepts: %q (%v)", doc, strictjson.ValidateObject(doc))
		}
		if !ours {
			return
		}
		// Both accept: they must read the same members.
		names, vals := v2Members(t, doc)
		start := bytes.IndexByte(doc, '{')
		for i, name := range names {
			v, ok := strictjson.LookupMember(doc, strictjson.Value{Start: start, End: len(doc), Kind: strictjson.Object}, name)
			if !ok {
				t.Fatalf("member %q not found in %q", name, doc)
			}
			raw := vals[i]
			if raw.Kind() == '"' {
				var s string
				if err := jsonv2.Unmarshal(raw, &s); err != nil {
					t.Fatal(err)
				}
				if v.Kind != strictjson.String || strictjson.StringOf(string(doc), v) != s {
					t.Fatalf("member %q: we read %q, jsontext %q", name, strictjson.StringOf(string(doc), v), s)
				}
				continue
			}
			if got := doc[v.Start:v.End]; !bytes.Equal(got, raw) {
				t.Fatalf("member %q: we read %q, jsontext %q", name, got, raw)
			}
		}
	})
}
