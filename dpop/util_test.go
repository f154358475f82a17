package dpop_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func ath(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// jwkOf returns the prover's public jwk as JSON, read from one of its proofs.
func jwkOf(t testing.TB, p *oauthtest.DPoPProver) string {
	t.Helper()
	var h struct {
		JWK json.RawMessage `json:"jwk"`
	}
	decodeSegment(t, mustProof(t, p, "GET", apiURL, "", ""), 0, &h)
	return string(h.JWK)
}

func jtiOf(t testing.TB, proof string) string {
	t.Helper()
	var c struct {
		JTI string `json:"jti"`
	}
	decodeSegment(t, proof, 1, &c)
	return c.JTI
}

func decodeSegment(t testing.TB, proof string, i int, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(proof, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// rawProof signs exact header and claims bytes with the prover's key.
func rawProof(t testing.TB, p *oauthtest.DPoPProver, header, claims string) string {
	t.Helper()
	return mustProof(t, p, "GET", apiURL, "", "", oauthtest.WithRawProofHeader([]byte(header)), oauthtest.WithRawProofClaims([]byte(claims)))
}

func rsaKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// flipB64 returns another base64url character than c.
func flipB64(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}
