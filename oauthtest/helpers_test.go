package oauthtest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// get fetches url and returns status, headers and body.
func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, resp.Header, b
}

// servedKeys fetches the JWKS through discovery and parses every key on its
// own with jwx, exporting it to a standard library public key.
func servedKeys(t *testing.T, s *oauthtest.Server) map[string]servedKey {
	t.Helper()
	status, _, body := get(t, s.DiscoveryURL())
	if status != http.StatusOK {
		t.Fatalf("discovery status %d", status)
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	status, _, body = get(t, doc.JWKSURI)
	if status != http.StatusOK {
		t.Fatalf("jwks status %d", status)
	}
	return parseJWKS(t, body)
}

type servedKey struct {
	alg    string
	use    string
	pub    crypto.PublicKey
	thumb  string
	fields map[string]any
}

func parseJWKS(t *testing.T, body []byte) map[string]servedKey {
	t.Helper()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("jwks: %v", err)
	}
	out := map[string]servedKey{}
	for _, raw := range set.Keys {
		k, err := jwk.ParseKey(raw)
		if err != nil {
			t.Fatalf("jwk.ParseKey(%s): %v", raw, err)
		}
		var pub any
		if err := jwk.Export(k, &pub); err != nil {
			t.Fatalf("jwk.Export: %v", err)
		}
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]any
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatal(err)
		}
		kid, _ := fields["kid"].(string)
		alg, _ := fields["alg"].(string)
		use, _ := fields["use"].(string)
		if _, dup := out[kid]; dup {
			t.Fatalf("duplicate kid %q in JWKS", kid)
		}
		out[kid] = servedKey{alg: alg, use: use, pub: pub, thumb: base64.RawURLEncoding.EncodeToString(tp), fields: fields}
	}
	return out
}

// decoded is a verified token.
type decoded struct {
	header map[string]any
	claims map[string]any
	alg    string
	kid    string
}

// verify checks token's signature with the standard library against the
// served key its kid names, using the header alg, and decodes it.
func verify(t *testing.T, keys map[string]servedKey, token string) (decoded, error) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return decoded{}, fmt.Errorf("%d segments", len(parts))
	}
	var d decoded
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(hb, &d.header); err != nil {
		return d, err
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(pb, &d.claims); err != nil {
		return d, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return d, err
	}
	d.alg, _ = d.header["alg"].(string)
	d.kid, _ = d.header["kid"].(string)
	k, ok := keys[d.kid]
	if !ok {
		return d, fmt.Errorf("kid %q not published", d.kid)
	}
	return d, verifySig(k.pub, d.alg, []byte(parts[0]+"."+parts[1]), sig)
}

var errBadSig = errors.New("bad signature")

func verifySig(pub crypto.PublicKey, alg string, input, sig []byte) error {
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	var h crypto.Hash
	if alg != "EdDSA" {
		h = hashes[alg[2:]]
		hh := h.New()
		hh.Write(input)
		input = hh.Sum(nil)
	}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		var err error
		switch alg[:2] {
		case "RS":
			err = rsa.VerifyPKCS1v15(p, h, input, sig)
		case "PS":
			err = rsa.VerifyPSS(p, h, input, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		default:
			return fmt.Errorf("alg %s with RSA key", alg)
		}
		if err != nil {
			return errBadSig
		}
		return nil
	case *ecdsa.PublicKey:
		size := (p.Curve.Params().BitSize + 7) / 8
		if alg[:2] != "ES" || len(sig) != 2*size {
			return fmt.Errorf("alg %s, %d-byte signature with %s key", alg, len(sig), p.Curve.Params().Name)
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(p, input, r, s) {
			return errBadSig
		}
		return nil
	case ed25519.PublicKey:
		if alg != "EdDSA" || !ed25519.Verify(p, input, sig) {
			return errBadSig
		}
		return nil
	}
	return fmt.Errorf("key type %T", pub)
}
