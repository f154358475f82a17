package jwtverify

// Compact JWS parsing: strict base64url and the protected header.

import (
	"strings"
	"unsafe"

	"github.com/m2mauth/m2mauth/internal/strictjson"
)

// maxHeaderSize bounds the decoded protected header.
const maxHeaderSize = 8192

// maxKIDSize is the longest kid accepted (jwkscache.MaxKIDLength).
const maxKIDSize = 256

// splitCompact splits a compact JWS into its three non-empty segments.
func splitCompact(token string) (h, p, sig string, ok bool) {
	d1 := strings.IndexByte(token, '.')
	if d1 <= 0 {
		return "", "", "", false
	}
	rest := token[d1+1:]
	d2 := strings.IndexByte(rest, '.')
	if d2 <= 0 {
		return "", "", "", false
	}
	sig = rest[d2+1:]
	if sig == "" || strings.IndexByte(sig, '.') >= 0 {
		return "", "", "", false
	}
	return token[:d1], rest[:d2], sig, true
}

// stringBytes returns the bytes of s without copying. The result must
// never be modified: it is only passed to hash and verify functions that
// read their input.
func stringBytes(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// bytesString returns a string sharing b's memory. b must never be
// modified afterwards.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// algID identifies a supported signature algorithm.
type algID uint8

const (
	algUnknown algID = iota
	algRS256
	algRS384
	algRS512
	algPS256
	algPS384
	algPS512
	algES256
	algES384
	algES512
	algEdDSA
	algCount
)

var algNames = [algCount]string{"", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

func (a algID) String() string { return algNames[a] }

// parseAlg maps an exact, case-sensitive name to its algID.
func parseAlg(name string) algID {
	for i := algRS256; i < algCount; i++ {
		if algNames[i] == name {
			return i
		}
	}
	return algUnknown
}

// header is the decoded protected header.
type header struct {
	alg    algID
	algRaw strictjson.Value // for messages
	kid    strictjson.Value // kind 0 when absent
	typ    strictjson.Value // kind 0 when absent
}

// parseHeader reads the protected header strictly. It rejects crit, b64,
// cty and zip, requires alg to be a string naming a supported
// algorithm, and typ and kid to be strings. jwk, jku, x5u, x5c and x5t are
// never used.
func parseHeader(doc []byte) (header, *Error) {
	var h header
	s := strictjson.NewScanner(doc)
	if err := s.OpenObject(); err != nil {
		return h, &Error{Reason: ReasonMalformed, Detail: "header", Err: err}
	}
	var names strictjson.NameSet
	for n := 0; ; n++ {
		name, ok, err := s.Member(n)
		if err != nil {
			return h, &Error{Reason: ReasonMalformed, Detail: "header", Err: err}
		}
		if !ok {
			break
		}
		if !names.Add(doc, name) {
			return h, &Error{Reason: ReasonMalformed, Detail: "header", Err: strictjson.ErrDuplicate}
		}
		v, err := s.Value(2)
		if err != nil {
			return h, &Error{Reason: ReasonMalformed, Detail: "header", Err: err}
		}
		nm := doc[name.Start:name.End]
		if name.Esc {
			nm = strictjson.Unescape(nm)
		}
		switch string(nm) {
		case "alg":
			if v.Kind != strictjson.String {
				return h, newErr(ReasonMalformed, "header alg is not a string")
			}
			h.algRaw = v
		case "kid":
			if v.Kind != strictjson.String {
				return h, newErr(ReasonMalformed, "header kid is not a string")
			}
			if v.End-v.Start > maxKIDSize {
				return h, newErr(ReasonMalformed, "header kid too long")
			}
			h.kid = v
		case "typ":
			if v.Kind != strictjson.String {
				return h, newErr(ReasonType, "header typ is not a string")
			}
			h.typ = v
		case "crit":
			return h, newErr(ReasonMalformed, "header crit is not supported")
		case "b64":
			return h, newErr(ReasonMalformed, "header b64 is not supported")
		case "cty":
			return h, newErr(ReasonMalformed, "header cty (nested token) is not supported")
		case "zip", "enc":
			return h, newErr(ReasonMalformed, "header of an encrypted token")
		}
	}
	if err := s.End(); err != nil {
		return h, &Error{Reason: ReasonMalformed, Detail: "header", Err: err}
	}
	if h.algRaw.Kind == 0 {
		return h, newErr(ReasonMalformed, "header has no alg")
	}
	raw := doc[h.algRaw.Start:h.algRaw.End]
	if h.algRaw.Esc {
		raw = strictjson.Unescape(raw)
	}
	h.alg = parseAlg(string(raw))
	if h.alg == algUnknown {
		return h, newErr(ReasonUnsupportedAlg, "alg "+quoteBytes(raw))
	}
	return h, nil
}

// typOK applies the issuer's type policy to the header typ.
func typOK(doc []byte, t strictjson.Value, policy TypePolicy) bool {
	if t.Kind == 0 {
		return policy == TypeDefault
	}
	v := doc[t.Start:t.End]
	if t.Esc {
		v = strictjson.Unescape(v)
	}
	const app = "application/"
	if len(v) > len(app) && strings.EqualFold(string(v[:len(app)]), app) {
		v = v[len(app):]
	}
	if strings.EqualFold(string(v), "at+jwt") {
		return true
	}
	return policy == TypeDefault && strings.EqualFold(string(v), "jwt")
}
