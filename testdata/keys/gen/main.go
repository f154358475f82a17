// Command gen rebuilds the fixed test keys of testdata/keys: for each key a
// PKCS #8 private key PEM, a PKIX public key PEM and a public JWK (kid = RFC
// 7638 thumbprint), plus jwks.json with the keys of at least 2048 bits.
//
// Run it from the module root:
//
//	go run ./testdata/keys/gen
//
// Key generation is random: every run makes new keys, so tokens or
// fixtures built from the old ones stop verifying. Only rerun it on purpose.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// spec is one fixed key.
type spec struct {
	name string // file name stem
	alg  string // JWS algorithm of the JWK
	gen  func() (crypto.Signer, error)
	weak bool // left out of jwks.json
}

func rsaKey(bits int) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return rsa.GenerateKey(rand.Reader, bits) }
}

func ecKey(c elliptic.Curve) func() (crypto.Signer, error) {
	return func() (crypto.Signer, error) { return ecdsa.GenerateKey(c, rand.Reader) }
}

var specs = []spec{
	{name: "rsa2048", alg: "RS256", gen: rsaKey(2048)},
	{name: "rsa4096", alg: "RS256", gen: rsaKey(4096)},
	{name: "p256", alg: "ES256", gen: ecKey(elliptic.P256())},
	{name: "p384", alg: "ES384", gen: ecKey(elliptic.P384())},
	{name: "ed25519", alg: "EdDSA", gen: func() (crypto.Signer, error) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}},
	{name: "rsa1024", alg: "RS256", gen: rsaKey(1024), weak: true},
}

func main() {
	dir := flag.String("dir", filepath.Join("testdata", "keys"), "output directory")
	flag.Parse()
	if err := run(*dir); err != nil {
		log.Fatal(err)
	}
}

func run(dir string) error {
	var set []map[string]any
	for _, s := range specs {
		priv, err := s.gen()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		jwk, err := oauthtest.PublicJWK(priv.Public(), s.alg)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		jwkJSON, err := json.MarshalIndent(jwk, "", "  ")
		if err != nil {
			return err
		}
		files := map[string][]byte{
			s.name + ".pem":      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
			s.name + ".pub.pem":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
			s.name + ".jwk.json": append(jwkJSON, '\n'),
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				return err
			}
		}
		if !s.weak {
			set = append(set, jwk)
		}
	}
	b, err := json.MarshalIndent(map[string]any{"keys": set}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "jwks.json"), append(b, '\n'), 0o644)
}
