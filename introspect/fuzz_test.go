package introspect

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParseAnswer: the response parser never panics, and whatever it
// accepts is a single JSON object whose "active" is the JSON true or false
// and whose dates are in range.
func FuzzParseAnswer(f *testing.F) {
	for _, s := range []string{
		`{"active":true,"exp":2000000000,"iss":"https://i","aud":["a"],"client_id":"c","scope":"a b"}`,
		`{"active":false}`,
		`{"active":"true"}`,
		`{"active":true,"active":false}`,
		`{"active":true,"ext":{"a":{"b":[1,{"c":1,"c":2}]}}}`,
		`{"active":true,"exp":1e400}`,
		`{"active":true,"aud":"x","cnf":{"x5t#S256":"y"}}`,
		`{"active":true} x`,
		"{\"active\":true,\"sub\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAnswer(b)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		act := string(bytes.TrimSpace(m["active"]))
		if act != "true" && act != "false" || a.active != (act == "true") {
			t.Fatalf("active %q parsed as %v", act, a.active)
		}
		for _, d := range []int64{a.exp, a.iat, a.nbf} {
			if d < 0 || d > maxDate {
				t.Fatalf("date %d out of range", d)
			}
		}
	})
}
