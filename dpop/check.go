package dpop

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"time"
)

// check runs the checks of RFC 9449 section 4.3 (and section 9) in an
// order that refuses junk cheaply: syntax and header first, the claims
// next, the signature last.
func (c *Checker) check(r *http.Request, accessToken string, rs bool) (Verified, error) {
	vals := r.Header.Values("DPoP")
	switch {
	case len(vals) == 0:
		return Verified{}, refuse(ReasonMissing, "no DPoP header")
	case len(vals) > 1:
		return Verified{}, refuse(ReasonMultiple, "more than one DPoP header")
	case len(vals[0]) > c.maxSize:
		return Verified{}, refuse(ReasonTooLarge, "DPoP header larger than MaxProofSize")
	}
	var p proof
	if err := parseProof(vals[0], &p); err != nil {
		return Verified{}, err
	}
	if string(p.typ) != "dpop+jwt" {
		return Verified{}, refuse(ReasonType, `typ is not "dpop+jwt"`)
	}
	alg, ok := algOfBytes(p.alg)
	if !ok || c.algMask&(1<<alg) == 0 {
		return Verified{}, refuse(ReasonAlg, "alg is not an accepted algorithm")
	}
	if !p.hasJWK {
		return Verified{}, refuse(ReasonJWK, "no jwk header member")
	}
	var key pubKey
	if err := p.jwk.publicKey(alg, &key, &c.ecKeys); err != nil {
		return Verified{}, err
	}
	if err := c.checkClaims(r, &p, accessToken, rs); err != nil {
		return Verified{}, err
	}
	if !verify(alg, &key, p.input, p.sig) {
		return Verified{}, refuse(ReasonSignature, "signature does not verify with the jwk")
	}
	v := Verified{jkt: p.jwk.thumbprint(), until: time.Unix(p.iat, 0).Add(c.window), ok: true}
	v.key = replayKey(v.jkt, p.htu, p.jti)
	return v, nil
}

func (c *Checker) checkClaims(r *http.Request, p *proof, accessToken string, rs bool) *Error {
	if len(p.htm) == 0 || string(p.htm) != r.Method {
		return refuse(ReasonHTM, "htm is not the request method")
	}
	if r.URL == nil {
		return refuse(ReasonHTU, "request without a URL")
	}
	path, ok := requestPath(r.URL.EscapedPath())
	if !ok || !matchHTU(c.origins, p.htu, path) {
		return refuse(ReasonHTU, "htu is not a public origin plus the request path")
	}
	if !p.hasIAT {
		return refuse(ReasonIAT, "no iat")
	}
	now := c.now()
	if d := now.Sub(time.Unix(p.iat, 0)); d > c.window || -d > c.window {
		return refuse(ReasonIAT, "iat outside the accepted window")
	}
	if !p.hasJTI || len(p.jti) == 0 || len(p.jti) > MaxJTILength {
		return refuse(ReasonJTI, "jti missing, empty or too long")
	}
	if rs {
		if !p.hasATH || !athMatches(p.ath, accessToken) {
			return refuse(ReasonATH, "ath is not the hash of the access token")
		}
	} else if p.hasATH {
		return refuse(ReasonATH, "ath on a token request")
	}
	if c.nonces != nil && (!p.hasNonce || !c.nonces.valid(string(p.nonce), now)) {
		return refuse(ReasonNonce, "no current server nonce")
	}
	return nil
}

// athMatches compares ath with base64url(SHA-256(token)).
func athMatches(ath []byte, token string) bool {
	if token == "" || len(ath) != 43 {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	var want [43]byte
	base64.RawURLEncoding.Encode(want[:], sum[:])
	return subtle.ConstantTimeCompare(ath, want[:]) == 1
}

// replayKey hashes what makes a proof unique for the replay store: the key
// thumbprint, the htu (section 11.1: jti values are stored in the context
// of the target URI) and the jti, each length-prefixed.
func replayKey(jkt [32]byte, htu, jti []byte) [32]byte {
	b := make([]byte, 0, 512) // on the stack unless htu and jti are long
	b = append(b, "m2mauth dpop jti v1\x00"...)
	b = append(b, jkt[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(htu)))
	b = append(b, htu...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(jti)))
	b = append(b, jti...)
	return sha256.Sum256(b)
}
