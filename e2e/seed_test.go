package e2e

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// idTokenKeySet is Hydra's key set signing ID tokens (also published in its
// JWKS).
const idTokenKeySet = "hydra.openid.id-token"

// seedKeys installs fixed RSA keys from testdata/keys as Hydra's two
// published key sets, through the admin API (PUT /admin/keys/{set}), so a
// private Hydra never generates RSA 4096 keys (seconds each on a loaded
// 2-core machine). The shared Hydra is not seeded: it covers Hydra's own
// lazily generated keys, and key rotation still uses Hydra's generator.
func (h *hydraProcess) seedKeys(t testing.TB) {
	t.Helper()
	for _, s := range []struct{ set, pemFile, kid string }{
		{accessTokenKeySet, "rsa2048.pem", "e2e-seed-access-token"},
		{idTokenKeySet, "rsa4096.pem", "e2e-seed-id-token"},
	} {
		priv := loadRSA(t, s.pemFile)
		h.admin(t, http.MethodPut, "/admin/keys/"+s.set,
			map[string]any{"keys": []any{privateJWK(priv, s.kid)}}, http.StatusOK, nil)
	}
}

// loadRSA reads a PKCS #8 RSA private key from ../testdata/keys.
func loadRSA(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "keys", name))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("%s: %T, want an RSA key", name, k)
	}
	return rk
}

// privateJWK is the RFC 7518 section 6.3 private JWK of k.
func privateJWK(k *rsa.PrivateKey, kid string) map[string]string {
	b64 := func(i *big.Int) string { return base64.RawURLEncoding.EncodeToString(i.Bytes()) }
	k.Precompute()
	return map[string]string{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(k.N), "e": b64(big.NewInt(int64(k.E))), "d": b64(k.D),
		"p": b64(k.Primes[0]), "q": b64(k.Primes[1]),
		"dp": b64(k.Precomputed.Dp), "dq": b64(k.Precomputed.Dq), "qi": b64(k.Precomputed.Qinv),
	}
}
