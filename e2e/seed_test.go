package e2e

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
)

// idTokenKeySet is Hydra's key set signing ID tokens (also published in its
// JWKS).
const idTokenKeySet = "hydra.openid.id-token"

// seedKeys installs fixed RSA keys from testdata/keys as Hydra's two
// published key sets, through the admin API (PUT /admin/keys/{set}), before
// any request makes Hydra generate them.
//
// Hydra otherwise generates RSA 4096 keys lazily, inside the first request
// that needs them (the first JWKS answer, the first token). On a loaded
// 2-core machine that takes longer than the 10 s its HTTP server gives a
// handler (not configurable), so the answer is lost (EOF), and a JWKS
// client's fetch timeout gives up even sooner. Hydra's own key generation
// is still exercised: key rotation (rotateKey) asks Hydra for a new key.
func (h *hydraProcess) seedKeys() error {
	for _, s := range seeds {
		priv, err := loadRSA(s.pemFile)
		if err != nil {
			return err
		}
		if err := h.adminCall(http.MethodPut, "/admin/keys/"+s.set,
			map[string]any{"keys": []any{privateJWK(priv, s.kid)}}, http.StatusOK, nil); err != nil {
			return err
		}
	}
	return nil
}

// seeds are the keys seedKeys installs.
var seeds = []struct{ set, pemFile, kid string }{
	{accessTokenKeySet, "rsa2048.pem", "e2e-seed-access-token"},
	{idTokenKeySet, "rsa4096.pem", "e2e-seed-id-token"},
}

// loadRSA reads a PKCS #8 RSA private key from ../testdata/keys.
func loadRSA(name string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "keys", name))
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: %T, want an RSA key", name, k)
	}
	return rk, nil
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
