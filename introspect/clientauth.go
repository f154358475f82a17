package introspect

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"time"
)

// clientAssertionType is RFC 7523 section 2.2's assertion type.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// authenticate adds the client authentication to the form and request.
func (s *Source) authenticate(req *http.Request, form url.Values, endpoint string) error {
	a := &s.cfg.Auth
	switch a.Method {
	case AuthClientSecretBasic:
		req.SetBasicAuth(url.QueryEscape(a.ClientID), url.QueryEscape(a.ClientSecret))
	case AuthClientSecretPost:
		form.Set("client_id", a.ClientID)
		form.Set("client_secret", a.ClientSecret)
	case AuthPrivateKeyJWT:
		jwt, err := s.assertion(endpoint)
		if err != nil {
			return err
		}
		form.Set("client_id", a.ClientID)
		form.Set("client_assertion_type", clientAssertionType)
		form.Set("client_assertion", jwt)
	}
	return nil
}

// assertion signs an RFC 7523 client assertion for the endpoint.
func (s *Source) assertion(endpoint string) (string, error) {
	a := &s.cfg.Auth
	hdr := map[string]string{"alg": a.Alg, "typ": "JWT"}
	if a.KeyID != "" {
		hdr["kid"] = a.KeyID
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := s.cfg.Now().Unix()
	claims := map[string]any{
		"iss": a.ClientID, "sub": a.ClientID, "aud": endpoint,
		"jti": base64.RawURLEncoding.EncodeToString(jti), "iat": now, "exp": now + int64(assertionLifetime/time.Second),
	}
	h, _ := json.Marshal(hdr)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sig, err := signJWS(a.Key, a.Alg, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// assertionAlg checks that alg fits key, choosing a default when alg is "".
func assertionAlg(key crypto.Signer, alg string) (string, error) {
	switch pub := key.Public().(type) {
	case *ecdsa.PublicKey:
		want := map[elliptic.Curve]string{elliptic.P256(): "ES256", elliptic.P384(): "ES384", elliptic.P521(): "ES512"}[pub.Curve]
		if want == "" {
			return "", errors.New("unsupported curve")
		}
		if alg != "" && alg != want {
			return "", fmt.Errorf("alg %q does not fit the key (want %s)", alg, want)
		}
		return want, nil
	case *rsa.PublicKey:
		if pub.N.BitLen() < 2048 {
			return "", errors.New("RSA key shorter than 2048 bits")
		}
		switch alg {
		case "":
			return "RS256", nil
		case "RS256", "PS256":
			return alg, nil
		}
		return "", fmt.Errorf("alg %q does not fit an RSA key (RS256, PS256)", alg)
	case ed25519.PublicKey:
		if alg != "" && alg != "EdDSA" {
			return "", fmt.Errorf("alg %q does not fit an Ed25519 key", alg)
		}
		return "EdDSA", nil
	}
	return "", errors.New("unsupported key type")
}

// signJWS signs input for alg with the standard library (RFC 7518).
func signJWS(key crypto.Signer, alg string, input []byte) ([]byte, error) {
	var h crypto.Hash
	switch alg {
	case "EdDSA":
		return key.Sign(rand.Reader, input, crypto.Hash(0))
	case "ES256", "RS256", "PS256":
		h = crypto.SHA256
	case "ES384":
		h = crypto.SHA384
	case "ES512":
		h = crypto.SHA512
	default:
		return nil, fmt.Errorf("unsupported alg %q", alg)
	}
	d := h.New()
	d.Write(input)
	digest := d.Sum(nil)
	var opts crypto.SignerOpts = h
	if alg == "PS256" {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	sig, err := key.Sign(rand.Reader, digest, opts)
	if err != nil || alg[0] != 'E' {
		return sig, err
	}
	// ECDSA: ASN.1 (r, s) to the fixed-size r || s of RFC 7518 section 3.4.
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		return nil, err
	}
	size := (key.Public().(*ecdsa.PublicKey).Curve.Params().BitSize + 7) / 8
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}

// assertionLifetime is the lifetime of a client assertion.
const assertionLifetime = time.Minute
