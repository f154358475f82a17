package dpop

import (
	"github.com/m2mauth/m2mauth/internal/jose"
)

// proof is a parsed DPoP proof. Its byte slices point into one buffer
// (or, for strings with JSON escapes, their own).
type proof struct {
	input []byte // signing input: base64url(header) "." base64url(payload)
	sig   []byte

	// header
	typ, alg []byte
	hasJWK   bool
	jwk      jwkMembers

	// claims
	jti, htm, htu, ath, nonce []byte
	hasJTI, hasATH, hasNonce  bool
	iat                       int64
	hasIAT                    bool
}

// jwkMembers are the raw (base64url) members of the proof's jwk.
type jwkMembers struct {
	kty, crv, x, y, n, e []byte
}

// parseProof reads a compact JWS proof strictly into p: three segments
// of canonical base64url, a header and a payload that are each one strict
// JSON object. It checks syntax and JSON types only; Check does the rest.
func parseProof(s string, p *proof) *Error {
	d1, d2 := -1, -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.':
			if d1 < 0 {
				d1 = i
			} else if d2 < 0 {
				d2 = i
			} else {
				return refuse(ReasonMalformed, "not a compact JWS: more than three segments")
			}
		default:
			return refuse(ReasonMalformed, "not a compact JWS: a character outside base64url")
		}
	}
	if d2 < 0 || d1 == 0 || d2 == d1+1 || d2 == len(s)-1 {
		return refuse(ReasonMalformed, "not a compact JWS of three non-empty segments")
	}
	// Base64URLLen is -1 for a length no canonical encoding has; the
	// segment is then refused below, in segment order.
	hn, pn, sn := max(jose.Base64URLLen(d1), 0), max(jose.Base64URLLen(d2-d1-1), 0), max(jose.Base64URLLen(len(s)-d2-1), 0)
	// One allocation: the proof's bytes (the signing input) and the decoded
	// header, payload and signature.
	buf := make([]byte, len(s)+hn+pn+sn)
	raw := buf[:len(s):len(s)]
	copy(raw, s)
	p.input = raw[:d2:d2]
	rest := buf[len(s):]
	hdr, pay := rest[:hn:hn], rest[hn:hn+pn:hn+pn]
	p.sig = rest[hn+pn:]
	if !jose.DecodeBase64URLExact(hdr, s[:d1]) {
		return refuse(ReasonMalformed, "header is not canonical base64url")
	}
	if !jose.DecodeBase64URLExact(pay, s[d1+1:d2]) {
		return refuse(ReasonMalformed, "payload is not canonical base64url")
	}
	if !jose.DecodeBase64URLExact(p.sig, s[d2+1:]) {
		return refuse(ReasonMalformed, "signature is not canonical base64url")
	}
	if err := p.parseHeader(hdr); err != nil {
		return err
	}
	return p.parseClaims(pay)
}

func (p *proof) parseHeader(b []byte) *Error {
	r := newJSONReader(b)
	var why *Error
	ok := r.members(1, func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "typ":
			p.typ, ok = r.str()
		case "alg":
			p.alg, ok = r.str()
		case "jwk":
			p.hasJWK = true
			if r.peek() != '{' {
				why = refuse(ReasonJWK, "jwk is not an object")
				return false
			}
			if why = p.jwk.parse(&r); why != nil {
				return false
			}
			ok = true
		case "crit":
			why = refuse(ReasonHeader, "crit header: no extension is understood")
			return false
		case "jku", "x5u", "x5c", "x5t", "x5t#S256":
			why = refuse(ReasonHeader, "key reference header: the key must be the jwk member")
			return false
		default:
			ok = r.skip(2)
		}
		return ok
	})
	if why != nil {
		return why
	}
	if !ok || !r.end() {
		return refuse(ReasonMalformed, "header is not one strict JSON object of the expected member types")
	}
	return nil
}

func (k *jwkMembers) parse(r *jsonReader) *Error {
	var why *Error
	ok := r.members(2, func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "kty":
			k.kty, ok = r.str()
		case "crv":
			k.crv, ok = r.str()
		case "x":
			k.x, ok = r.str()
		case "y":
			k.y, ok = r.str()
		case "n":
			k.n, ok = r.str()
		case "e":
			k.e, ok = r.str()
		case "d", "p", "q", "dp", "dq", "qi", "oth", "k":
			why = refuse(ReasonJWKPrivate, "jwk holds a private key member")
			return false
		default:
			ok = r.skip(3)
		}
		return ok
	})
	if why != nil {
		return why
	}
	if !ok {
		return refuse(ReasonMalformed, "jwk is not a strict JSON object of the expected member types")
	}
	return nil
}

func (p *proof) parseClaims(b []byte) *Error {
	r := newJSONReader(b)
	ok := r.members(1, func(name []byte) bool {
		var ok bool
		switch string(name) {
		case "jti":
			p.jti, ok = r.str()
			p.hasJTI = true
		case "htm":
			p.htm, ok = r.str()
		case "htu":
			p.htu, ok = r.str()
		case "ath":
			p.ath, ok = r.str()
			p.hasATH = true
		case "nonce":
			p.nonce, ok = r.str()
			p.hasNonce = true
		case "iat":
			p.iat, ok = r.numericDate()
			p.hasIAT = true
		default:
			ok = r.skip(2)
		}
		return ok
	})
	if !ok || !r.end() {
		return refuse(ReasonMalformed, "claims are not one strict JSON object of the expected member types")
	}
	return nil
}

// numericDate reads a non-negative JSON number without exponent, of at
// most 12 integer digits, and returns its integer part.
func (r *jsonReader) numericDate() (int64, bool) {
	num, ok := r.number()
	if !ok || len(num) == 0 || num[0] == '-' || indexAny(num, 'e', 'E') >= 0 {
		return 0, false
	}
	var v int64
	for i, c := range num {
		if c == '.' {
			return v, true
		}
		if c < '0' || c > '9' || i >= 12 {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}
