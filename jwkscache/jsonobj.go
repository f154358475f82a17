package jwkscache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// members decodes a JSON object into its raw members. Unlike
// encoding/json's map decoding it refuses duplicate member names (a parser
// differential between us and jwx must never decide which "kty" or "n"
// counts), anything but an object, and bytes after the object.
func members(doc []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	m := make(map[string]json.RawMessage)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, errors.New("member name is not a string")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("duplicate member %q", truncate(name, 32))
		}
		m[name] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return m, nil
}

// stringMember returns the string value of member name. present is false
// when the member is absent; a member that is present but not a JSON string
// (null included) is an error.
func stringMember(m map[string]json.RawMessage, name string) (val string, present bool, err error) {
	raw, ok := m[name]
	if !ok {
		return "", false, nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", true, fmt.Errorf("member %q is not a string", name)
	}
	if err := json.Unmarshal(raw, &val); err != nil {
		return "", true, fmt.Errorf("member %q: %w", name, err)
	}
	return val, true, nil
}

// truncate shortens s for error messages (document content never lands in
// an error unbounded).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
