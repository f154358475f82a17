package jwtverify

// Compact JWS parsing: strict base64url and the protected header.

import (
	"encoding/binary"
	"strings"
	"unsafe"
)

// maxHeaderSize bounds the decoded protected header.
const maxHeaderSize = 8192

// maxKIDSize is the longest kid accepted (jwkscache.MaxKIDLength).
const maxKIDSize = 256

const b64Invalid = 0xFF

// b64URL maps base64url characters to their 6-bit values; every other byte
// (including '=', '+', '/', CR, LF and space) maps to b64Invalid.
var b64URL = func() (t [256]byte) {
	for i := range t {
		t[i] = b64Invalid
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// b64Len returns the decoded length of n unpadded base64url characters, or
// -1 when no canonical encoding has that length.
func b64Len(n int) int {
	switch n % 4 {
	case 1:
		return -1
	case 2:
		return n/4*3 + 1
	case 3:
		return n/4*3 + 2
	}
	return n / 4 * 3
}

// b64Decode decodes canonical unpadded base64url src into dst, which must
// have room for b64Len(len(src)) bytes. Every character is checked against
// the alphabet (Go's decoders skip CR and LF) and the unused bits of the
// last character must be zero, so each byte string has exactly one
// accepted encoding.
func b64Decode(dst []byte, src string) bool {
	n := len(src)
	di := 0
	i := 0
	// 8 characters to 6 bytes per step, one 8-byte store (the last two
	// bytes are overwritten by the next step or lie within dst).
	for ; i+8 <= n && di+8 <= len(dst); i += 8 {
		s := src[i : i+8]
		a, b, c, d := b64URL[s[0]], b64URL[s[1]], b64URL[s[2]], b64URL[s[3]]
		e, f, g, h := b64URL[s[4]], b64URL[s[5]], b64URL[s[6]], b64URL[s[7]]
		if (a|b|c|d|e|f|g|h)&0xC0 != 0 {
			return false
		}
		v := uint64(a)<<58 | uint64(b)<<52 | uint64(c)<<46 | uint64(d)<<40 |
			uint64(e)<<34 | uint64(f)<<28 | uint64(g)<<22 | uint64(h)<<16
		binary.BigEndian.PutUint64(dst[di:di+8:di+8], v)
		di += 6
	}
	for ; i+4 <= n; i += 4 {
		a, b, c, d := b64URL[src[i]], b64URL[src[i+1]], b64URL[src[i+2]], b64URL[src[i+3]]
		if (a|b|c|d)&0xC0 != 0 {
			return false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		dst[di], dst[di+1], dst[di+2] = byte(v>>16), byte(v>>8), byte(v)
		di += 3
	}
	switch n - i {
	case 0:
		return true
	case 2:
		a, b := b64URL[src[i]], b64URL[src[i+1]]
		if (a|b)&0xC0 != 0 || b&0x0F != 0 {
			return false
		}
		dst[di] = a<<2 | b>>4
		return true
	case 3:
		a, b, c := b64URL[src[i]], b64URL[src[i+1]], b64URL[src[i+2]]
		if (a|b|c)&0xC0 != 0 || c&0x03 != 0 {
			return false
		}
		v := uint32(a)<<12 | uint32(b)<<6 | uint32(c)
		dst[di], dst[di+1] = byte(v>>10), byte(v>>2)
		return true
	}
	return false
}

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
	algRaw jval // for messages
	kid    jval // kind 0 when absent
	typ    jval // kind 0 when absent
}

// parseHeader reads the protected header strictly. It rejects crit, b64,
// cty and zip, requires alg to be a string naming a supported
// algorithm, and typ and kid to be strings. jwk, jku, x5u, x5c and x5t are
// never used.
func parseHeader(doc []byte) (header, *Error) {
	var h header
	s := scanner{b: doc}
	if err := s.openObject(); err != nil {
		return h, &Error{Reason: ReasonMalformed, Detail: "header", Err: err}
	}
	var names nameSet
	for n := 0; ; n++ {
		name, ok, err := s.member(n)
		if err != nil {
			return h, &Error{Reason: ReasonMalformed, Detail: "header", Err: err}
		}
		if !ok {
			break
		}
		if !names.add(doc, name) {
			return h, &Error{Reason: ReasonMalformed, Detail: "header", Err: errJSONDuplicate}
		}
		v, err := s.value(2)
		if err != nil {
			return h, &Error{Reason: ReasonMalformed, Detail: "header", Err: err}
		}
		nm := doc[name.start:name.end]
		if name.esc {
			nm = unescape(nm)
		}
		switch string(nm) {
		case "alg":
			if v.kind != kindString {
				return h, newErr(ReasonMalformed, "header alg is not a string")
			}
			h.algRaw = v
		case "kid":
			if v.kind != kindString {
				return h, newErr(ReasonMalformed, "header kid is not a string")
			}
			if v.end-v.start > maxKIDSize {
				return h, newErr(ReasonMalformed, "header kid too long")
			}
			h.kid = v
		case "typ":
			if v.kind != kindString {
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
	if err := s.end(); err != nil {
		return h, &Error{Reason: ReasonMalformed, Detail: "header", Err: err}
	}
	if h.algRaw.kind == 0 {
		return h, newErr(ReasonMalformed, "header has no alg")
	}
	raw := doc[h.algRaw.start:h.algRaw.end]
	if h.algRaw.esc {
		raw = unescape(raw)
	}
	h.alg = parseAlg(string(raw))
	if h.alg == algUnknown {
		return h, newErr(ReasonUnsupportedAlg, "alg "+quoteBytes(raw))
	}
	return h, nil
}

// typOK applies the issuer's type policy to the header typ.
func typOK(doc []byte, t jval, policy TypePolicy) bool {
	if t.kind == 0 {
		return policy == TypeDefault
	}
	v := doc[t.start:t.end]
	if t.esc {
		v = unescape(v)
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
