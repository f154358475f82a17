package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateObject(t *testing.T) {
	deep := func(n int) string { return `{"a":` + strings.Repeat("[", n-1) + strings.Repeat("]", n-1) + `}` }
	for _, c := range []struct {
		doc  string
		want error
	}{
		{`{}`, nil},
		{` {"a":1,"b":[true,false,null,"x",-0.5e+3,{}]} `, nil},
		{`{"a":"\ud83d\ude00\/\"\\\b\f\n\r\t\u00e9"}`, nil},
		{`{"\u0061":1,"b":{"a":1}}`, nil},
		{deep(16), nil},
		{deep(17), ErrDepth},
		{`{"a":1,"a":2}`, ErrDuplicate},
		{`{"a":1,"\u0061":2}`, ErrDuplicate},
		{`{"x":[{"k":1,"k":2}]}`, ErrDuplicate},
		{`{"a":"\udc00"}`, ErrUTF8},
		{`{"a":"\ud83d"}`, ErrUTF8},
		{`{"a":"` + "\xff" + `"}`, ErrUTF8},
		{`{"a":"` + "\x01" + `"}`, ErrSyntax},
		{`{"a":01}`, ErrSyntax},
		{`{"a":1.}`, ErrSyntax},
		{`{"a":1e}`, ErrSyntax},
		{`{"a":+1}`, ErrSyntax},
		{`{"a":"\x"}`, ErrSyntax},
		{`{"a":1,}`, ErrSyntax},
		{`{"a":[1,]}`, ErrSyntax},
		{`{"a":tru}`, ErrSyntax},
		{`{"a":1} x`, ErrTrailing},
		{`[1]`, ErrNotObject},
		{``, ErrNotObject},
	} {
		if got := ValidateObject([]byte(c.doc)); !errors.Is(got, c.want) {
			t.Errorf("%q: %v, want %v", c.doc, got, c.want)
		}
	}
}

// TestNameSetSpills checks duplicate detection past the 32 names kept on
// the stack and past the switch to a map at 64.
func TestNameSetSpills(t *testing.T) {
	for _, n := range []int{31, 33, 65, 200} {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(`"n` + strings.Repeat("x", i%7) + string(rune('A'+i%26)) + string(rune('a'+i/26)) + `":0`)
		}
		ok := b.String() + "}"
		if err := ValidateObject([]byte(ok)); err != nil {
			t.Fatalf("%d distinct names: %v", n, err)
		}
		dup := b.String() + `,"n\u0041a":1}` // the first name, escaped
		if err := ValidateObject([]byte(dup)); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("%d names and a duplicate: %v", n, err)
		}
	}
}

// FuzzScanner checks the reader against encoding/json: whatever it
// accepts is valid UTF-8 JSON that encoding/json reads with the same
// members (so no duplicates) and the same decoded strings, and walking the
// top-level object member by member agrees with ValidateObject. The
// converse (everything strict JSON accepts, we accept) is jwtverify's
// FuzzJSONv2 oracle against encoding/json/v2.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":"\u00e9\ud83d\ude00","b":[1,{"c":null}]}`, `{"a":1,"\u0061":2}`,
		`{"a":"\udc00"}`, `{"x":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}`, `{"a":-0.5E+3,"b":true,"c":false}`, `{"a":1} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		err := ValidateObject(doc)
		if walkErr := walk(doc); (err == nil) != (walkErr == nil) {
			t.Fatalf("%q: ValidateObject %v, member walk %v", doc, err, walkErr)
		}
		if err != nil {
			return
		}
		if !utf8.Valid(doc) || !json.Valid(doc) {
			t.Fatalf("%q: accepted, encoding/json refuses it", doc)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(doc, &m); err != nil {
			t.Fatalf("%q: accepted, encoding/json: %v", doc, err)
		}
		s := NewScanner(doc)
		if s.OpenObject() != nil {
			t.Fatalf("%q: OpenObject", doc)
		}
		n := 0
		for ; ; n++ {
			name, ok, err := s.Member(n)
			if err != nil {
				t.Fatalf("%q: member %d: %v", doc, n, err)
			}
			if !ok {
				break
			}
			v, err := s.Value(2)
			if err != nil {
				t.Fatalf("%q: value %d: %v", doc, n, err)
			}
			key := StringOf(string(doc), name)
			raw, ok := m[key]
			if !ok {
				t.Fatalf("%q: member %q unknown to encoding/json", doc, key)
			}
			if !NameIs(doc, name, key) {
				t.Fatalf("%q: NameIs(%q) false", doc, key)
			}
			if v.Kind == String {
				var want string
				if err := json.Unmarshal(raw, &want); err != nil || StringOf(string(doc), v) != want {
					t.Fatalf("%q: member %q reads %q, encoding/json %q (%v)", doc, key, StringOf(string(doc), v), want, err)
				}
			} else if !bytes.Equal(bytes.TrimSpace(raw), doc[v.Start:v.End]) {
				t.Fatalf("%q: member %q spans %q, encoding/json %q", doc, key, doc[v.Start:v.End], raw)
			}
			if got, ok := LookupMember(doc, Value{Start: bytes.IndexByte(doc, '{'), End: len(doc), Kind: Object}, key); !ok || got != v {
				t.Fatalf("%q: LookupMember(%q) = %+v %v, walk %+v", doc, key, got, ok, v)
			}
		}
		if n != len(m) {
			t.Fatalf("%q: %d members, encoding/json %d (a duplicate passed)", doc, n, len(m))
		}
	})
}

// walk reads the top-level object as callers do: Member, NameSet.Add,
// Value, then End.
func walk(doc []byte) error {
	s := NewScanner(doc)
	if err := s.OpenObject(); err != nil {
		return err
	}
	var names NameSet
	for n := 0; ; n++ {
		name, ok, err := s.Member(n)
		if err != nil {
			return err
		}
		if !ok {
			return s.End()
		}
		if !names.Add(doc, name) {
			return ErrDuplicate
		}
		if _, err := s.Value(2); err != nil {
			return err
		}
	}
}
