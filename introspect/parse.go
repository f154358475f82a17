package introspect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds the nesting of a response.
const maxDepth = 32

// maxDate is 9999-12-31T23:59:59Z: NumericDates beyond it are refused.
const maxDate = 253402300799

// object is a strictly parsed JSON object: its raw members by name.
type object map[string]json.RawMessage

// parseObject parses b as one UTF-8 JSON object with no duplicate member
// names at any depth, a bounded depth, and nothing after it.
func parseObject(b []byte) (object, error) {
	if !utf8.Valid(b) {
		return nil, errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, errors.New("not JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	o := object{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("not JSON")
		}
		name, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, errors.New("not JSON")
		}
		if _, dup := o[name]; dup {
			return nil, fmt.Errorf("duplicate member %s", truncate(name, 32))
		}
		if err := checkNested(raw, 1); err != nil {
			return nil, err
		}
		o[name] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("not JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return o, nil
}

// checkNested refuses duplicate member names and excessive depth inside a
// member value.
func checkNested(raw json.RawMessage, depth int) error {
	if len(raw) == 0 || raw[0] != '{' && raw[0] != '[' {
		return nil
	}
	if depth >= maxDepth {
		return errors.New("nested too deeply")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return errors.New("not JSON")
	}
	isObj := tok == json.Delim('{')
	seen := map[string]struct{}{}
	for dec.More() {
		if isObj {
			tok, err := dec.Token()
			if err != nil {
				return errors.New("not JSON")
			}
			name, _ := tok.(string)
			if _, dup := seen[name]; dup {
				return fmt.Errorf("duplicate member %s", truncate(name, 32))
			}
			seen[name] = struct{}{}
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return errors.New("not JSON")
		}
		if err := checkNested(v, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// str returns a string member; a present member of another type (null
// included) is an error.
func (o object) str(name string) (string, bool, error) {
	raw, ok := o[name]
	if !ok {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", true, fmt.Errorf("%q is not a string", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, fmt.Errorf("%q is not a string", name)
	}
	return s, true, nil
}

// date returns a NumericDate member in whole seconds: a JSON number in
// [0, 9999-12-31].
func (o object) date(name string) (int64, bool, error) {
	raw, ok := o[name]
	if !ok {
		return 0, false, nil
	}
	if len(raw) == 0 || (raw[0] < '0' || raw[0] > '9') && raw[0] != '-' {
		return 0, true, fmt.Errorf("%q is not a number", name)
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxDate {
		return 0, true, fmt.Errorf("%q is not a date in range", name)
	}
	return int64(f), true, nil
}

// strs returns a member that is a string or an array of strings.
func (o object) strs(name string) ([]string, bool, error) {
	raw, ok := o[name]
	if !ok {
		return nil, false, nil
	}
	if len(raw) > 0 && raw[0] == '"' {
		s, _, err := o.str(name)
		return []string{s}, true, err
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, true, fmt.Errorf("%q is not a string or an array of strings", name)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, true, fmt.Errorf("%q is not an array", name)
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		var s string
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &s) != nil {
			return nil, true, fmt.Errorf("%q has a member that is not a string", name)
		}
		out = append(out, s)
	}
	return out, true, nil
}

// answer is a parsed RFC 7662 response.
type answer struct {
	active                            bool
	exp, iat, nbf                     int64
	hasExp, hasIat, hasNbf            bool
	iss, sub, clientID, scope         string
	hasIss, hasClient                 bool
	tokenType, tokenUse, typ          string
	hasTokenType, hasTokenUse, hasTyp bool
	aud                               []string
	hasCnf                            bool
}

// parseAnswer parses an introspection response strictly: "active" must be
// the JSON true or false, dates numbers in range, the string members
// strings, "aud" a string or an array of strings. Any violation makes the
// whole answer unusable (never a refusal, never an accept).
func parseAnswer(b []byte) (*answer, error) {
	o, err := parseObject(b)
	if err != nil {
		return nil, err
	}
	var a answer
	switch string(o["active"]) {
	case "true":
		a.active = true
	case "false":
	case "":
		return nil, errors.New(`no "active"`)
	default:
		return nil, errors.New(`"active" is not a JSON boolean`)
	}
	for _, d := range []struct {
		name string
		v    *int64
		has  *bool
	}{{"exp", &a.exp, &a.hasExp}, {"iat", &a.iat, &a.hasIat}, {"nbf", &a.nbf, &a.hasNbf}} {
		if *d.v, *d.has, err = o.date(d.name); err != nil {
			return nil, err
		}
	}
	for _, s := range []struct {
		name string
		v    *string
		has  *bool
	}{
		{"iss", &a.iss, &a.hasIss}, {"sub", &a.sub, nil}, {"client_id", &a.clientID, &a.hasClient},
		{"scope", &a.scope, nil}, {"token_type", &a.tokenType, &a.hasTokenType},
		{"token_use", &a.tokenUse, &a.hasTokenUse}, {"typ", &a.typ, &a.hasTyp},
		{"username", new(string), nil}, {"jti", new(string), nil},
	} {
		v, has, err := o.str(s.name)
		if err != nil {
			return nil, err
		}
		*s.v = v
		if s.has != nil {
			*s.has = has
		}
	}
	if a.aud, _, err = o.strs("aud"); err != nil {
		return nil, err
	}
	_, a.hasCnf = o["cnf"]
	return &a, nil
}
