package oauthtest_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// The fixed keys of testdata/keys are consistent: the private PEM, the public
// PEM and the JWK describe one key, the kid is its thumbprint, and a server
// that publishes the private key serves that very JWK.
func TestFixedKeys(t *testing.T) {
	dir := filepath.Join("..", "testdata", "keys")
	s := oauthtest.NewT(t, oauthtest.WithKeyAlgs("EdDSA"))
	jwksBody, err := os.ReadFile(filepath.Join(dir, "jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	set := parseJWKS(t, jwksBody)
	for _, tc := range []struct {
		name, alg string
		bits      int
		inSet     bool
	}{
		{"rsa2048", "RS256", 2048, true}, {"rsa4096", "RS256", 4096, true}, {"p256", "ES256", 256, true},
		{"p384", "ES384", 384, true}, {"ed25519", "EdDSA", 0, true}, {"rsa1024", "RS256", 1024, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := func(suffix string) []byte {
				b, err := os.ReadFile(filepath.Join(dir, tc.name+suffix))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			blk, _ := pem.Decode(read(".pem"))
			if blk == nil || blk.Type != "PRIVATE KEY" {
				t.Fatal("private PEM is not PKCS #8")
			}
			k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			priv := k.(crypto.Signer)
			blk, _ = pem.Decode(read(".pub.pem"))
			if blk == nil || blk.Type != "PUBLIC KEY" {
				t.Fatal("public PEM")
			}
			pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !priv.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Fatal("public PEM does not match the private key")
			}
			if r, ok := pub.(*rsa.PublicKey); ok && r.N.BitLen() != tc.bits {
				t.Fatalf("%d bits", r.N.BitLen())
			}
			var file map[string]any
			if err := json.Unmarshal(read(".jwk.json"), &file); err != nil {
				t.Fatal(err)
			}
			want, err := oauthtest.PublicJWK(pub, tc.alg)
			if err != nil {
				t.Fatal(err)
			}
			for name, v := range want {
				if file[name] != v {
					t.Errorf("JWK %s = %v, want %v", name, file[name], v)
				}
			}
			kid := file["kid"].(string)
			if got, ok := set[kid]; ok != tc.inSet || (ok && got.thumb != kid) {
				t.Errorf("jwks.json has %s: %v (want %v), thumbprint %q", kid, ok, tc.inSet, got.thumb)
			}
			served, err := s.AddPrivateKey(tc.alg, priv)
			if err != nil || served != kid {
				t.Fatalf("AddPrivateKey kid %q err %v, want %q", served, err, kid)
			}
			// A server started with the key and a fresh one.
			fixed := oauthtest.NewT(t, oauthtest.WithPrivateKey(tc.alg, priv), oauthtest.WithKeyAlgs("EdDSA"))
			if ids := fixed.KeyIDs(); len(ids) != 2 || ids[0] != kid || fixed.SigningKeyID() != kid {
				t.Fatalf("kids %v signer %q, want %q first", ids, fixed.SigningKeyID(), kid)
			}
		})
	}
}
