package binding

import (
	"crypto/subtle"
	"encoding/base64"

	"github.com/m2mauth/m2mauth/internal/jose"
	"github.com/m2mauth/m2mauth/internal/strictjson"
)

// MaxConfirmationBytes bounds the cnf claim ParseConfirmation reads: both
// members with their names, quotes and generous whitespace fit in far less.
const MaxConfirmationBytes = 1024

// Confirmation is a token's parsed "cnf" claim (RFC 7800 section 3.1): the
// thumbprints the token is bound to. The zero value is an unbound token.
// It is a small value type, comparable, safe to copy and share.
type Confirmation struct {
	x5t     [32]byte
	jkt     [32]byte
	methods Methods
}

// Methods returns the confirmation methods the token is bound with (empty
// for an unbound token).
func (c Confirmation) Methods() Methods { return c.methods }

// Bound reports whether the token is bound to anything.
func (c Confirmation) Bound() bool { return c.methods != 0 }

// X5tS256 returns the SHA-256 thumbprint of the certificate the token is
// bound to (cnf "x5t#S256", RFC 8705 section 3.1), if any.
func (c Confirmation) X5tS256() ([32]byte, bool) { return c.x5t, c.methods&Certificate != 0 }

// JKT returns the RFC 7638 SHA-256 thumbprint of the DPoP key the token is
// bound to (cnf "jkt", RFC 9449 section 6.1), if any.
func (c Confirmation) JKT() ([32]byte, bool) { return c.jkt, c.methods&DPoP != 0 }

// CertificateConfirmation returns the confirmation of a token bound to the
// certificate with this SHA-256 thumbprint (for tests and token issuers).
func CertificateConfirmation(x5tS256 [32]byte) Confirmation {
	return Confirmation{x5t: x5tS256, methods: Certificate}
}

// DPoPConfirmation returns the confirmation of a token bound to the DPoP key
// with this RFC 7638 thumbprint.
func DPoPConfirmation(jkt [32]byte) Confirmation {
	return Confirmation{jkt: jkt, methods: DPoP}
}

// Equal reports whether two confirmations name the same methods and
// thumbprints, in constant time for equal method sets.
func (c Confirmation) Equal(o Confirmation) bool {
	return c.methods == o.methods &&
		subtle.ConstantTimeCompare(c.x5t[:], o.x5t[:])&subtle.ConstantTimeCompare(c.jkt[:], o.jkt[:]) == 1
}

// ParseConfirmation reads a cnf claim value strictly: a JSON object whose
// members are "x5t#S256" and/or "jkt", each a string of exactly 43
// canonical base64url characters (32 bytes, no padding), each at most once.
// Anything else refuses: an empty object, an unknown member (a "jwk", "kid"
// or "jku" confirmation m2mauth cannot check), a duplicate, another JSON
// type, a JSON escape in a name or value (no issuer writes one), bytes after
// the object, more than MaxConfirmationBytes. The error is an *Error with
// ReasonMalformedConfirmation and a fixed detail.
func ParseConfirmation(raw []byte) (Confirmation, error) {
	c, err := parseConfirmation(raw)
	if err != nil {
		return Confirmation{}, err
	}
	return c, nil
}

func parseConfirmation(raw []byte) (Confirmation, error) {
	var c Confirmation
	if len(raw) > MaxConfirmationBytes {
		return c, malformed("cnf too large")
	}
	// The project's strict JSON reader (internal/strictjson, shared with
	// jwtverify and dpop) walks the object; the rules above come on top.
	s := strictjson.NewScanner(raw)
	if s.OpenObject() != nil {
		return c, malformed("cnf is not an object")
	}
	for n := 0; ; n++ {
		name, more, err := s.Member(n)
		if err != nil {
			return c, malformed("cnf is not an object of plain strings")
		}
		if !more {
			break
		}
		if name.Esc {
			return c, malformed("cnf member name is not a plain string")
		}
		var m Methods
		var dst *[32]byte
		switch string(raw[name.Start:name.End]) {
		case "x5t#S256":
			m, dst = Certificate, &c.x5t
		case "jkt":
			m, dst = DPoP, &c.jkt
		default:
			return c, malformed("cnf has an unknown member")
		}
		if c.methods&m != 0 {
			return c, malformed("cnf has a duplicate member")
		}
		v, err := s.Value(2)
		if err != nil || v.Kind != strictjson.String || v.Esc {
			return c, malformed("cnf member value is not a plain string")
		}
		if !decodeThumbprint(raw[v.Start:v.End], dst) {
			return c, malformed("cnf thumbprint is not 32 bytes of canonical base64url")
		}
		c.methods |= m
	}
	if c.methods == 0 {
		return c, malformed("cnf is empty")
	}
	if s.End() != nil {
		return Confirmation{}, malformed("bytes after the cnf object")
	}
	return c, nil
}

func malformed(detail string) error {
	return &Error{Reason: ReasonMalformedConfirmation, Detail: detail}
}

// thumbprintLen is the base64url length of 32 bytes without padding.
const thumbprintLen = 43

// decodeThumbprint decodes exactly 43 characters of canonical base64url
// (the alphabet only, no stray bits in the last character) into dst.
func decodeThumbprint(s []byte, dst *[32]byte) bool {
	return len(s) == thumbprintLen && jose.DecodeBase64URLBytesExact(dst[:], s)
}

// EncodeThumbprint returns the canonical base64url form of a thumbprint, as
// it appears in cnf.
func EncodeThumbprint(t [32]byte) string { return base64.RawURLEncoding.EncodeToString(t[:]) }
