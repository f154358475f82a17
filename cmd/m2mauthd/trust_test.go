package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Forwarded attributes are believed, so the authorizer can listen where
// only the proxy reaches it: a Unix socket.
func TestListenOnUnixSocket(t *testing.T) {
	is := newIssuer(t)
	sock := filepath.Join(t.TempDir(), "m2mauthd.sock")
	d := startDaemon(t, policyDoc(issuerBlock("main", is)), 0, func(c *config) { c.httpAddr = "unix:" + sock })
	if d.httpAddr != sock {
		t.Fatalf("listening on %s", d.httpAddr)
	}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer client.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "http://m2mauthd"+ForwardAuthPath, nil)
	req.Header.Set("X-Original-Method", "GET")
	req.Header.Set("X-Original-URI", "/orders/1")
	req.Header.Set("X-Forwarded-Host", "api.example.test")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert, key}
}

// issue returns PEM certificate and key for a server (127.0.0.1) or client.
func (ca *testCA) issue(t *testing.T, server bool) (certPEM, keyPEM []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "proxy"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if server {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

// With -tls-client-ca only a client holding a certificate of that CA (the
// proxy) gets an answer.
func TestMutualTLSRequiredWithClientCA(t *testing.T) {
	is := newIssuer(t)
	ca := newCA(t)
	dir := t.TempDir()
	sc, sk := ca.issue(t, true)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
	d := startDaemon(t, policyDoc(issuerBlock("main", is)), 0, func(c *config) {
		c.tlsCert, c.tlsKey, c.clientCA = write("s.crt", sc), write("s.key", sk), write("ca.crt", caPEM)
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	ask := func(certs []tls.Certificate) (int, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest("GET", "https://"+d.httpAddr+ForwardAuthPath, nil)
		req.Header.Set("X-Forwarded-Method", "GET")
		req.Header.Set("X-Forwarded-Uri", "/orders/1")
		req.Header.Set("X-Forwarded-Host", "api.example.test")
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if _, err := ask(nil); err == nil {
		t.Fatal("answered a client without a certificate")
	}
	other := newCA(t)
	oc, ok := other.issue(t, false)
	if cert, err := tls.X509KeyPair(oc, ok); err != nil {
		t.Fatal(err)
	} else if _, err := ask([]tls.Certificate{cert}); err == nil {
		t.Fatal("answered a client with a certificate of another CA")
	}
	cc, ck := ca.issue(t, false)
	cert, err := tls.X509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := ask([]tls.Certificate{cert}); err != nil || s != 401 {
		t.Fatalf("the proxy's certificate: %d %v", s, err)
	}
}
