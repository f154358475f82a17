package binding

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net/url"
	"testing"
	"time"
)

// testCert makes a fresh self-signed client certificate.
func testCert(t testing.TB, cn string) (*x509.Certificate, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}
}

func pemOf(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// encodings of a DER certificate in each forwarded format.
func encClientCert(der []byte) string { return ":" + base64.StdEncoding.EncodeToString(der) + ":" }
func encEscapedPEM(der []byte) string { return url.PathEscape(pemOf(der)) }
func encBase64DER(der []byte) string {
	return url.QueryEscape(base64.StdEncoding.EncodeToString(der))
}
func encXFCC(der []byte) string {
	t := Thumbprint(der)
	return `By=spiffe://cluster.local/ns/default/sa/api;Hash=` + hexOf(t[:]) +
		`;Cert="` + url.PathEscape(pemOf(der)) + `";Subject="CN=svc,O=Acme\"Inc";URI=spiffe://x/y;DNS=a.example;DNS=b.example`
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}
