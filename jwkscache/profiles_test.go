package jwkscache_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

// fakeHostTLS serves h over TLS on loopback with a certificate for host and
// returns a client that reaches host there (its dialer always connects to
// the loopback listener; nothing leaves the machine).
func fakeHostTLS(t *testing.T, host string, h http.Handler) *http.Client {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host},
		DNSNames: []string{host}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: priv}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	addr := srv.Listener.Addr().String()
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// Entra v1 tokens name https://sts.windows.net/{tid}/ as issuer while the
// keys live on login.microsoftonline.com: the profile passes that fixed
// JWKSURL, which the URL policy's discovery host rule does not touch. The
// keys are fetched from the profile's URL (TLS, on a loopback stand-in
// for the host) and a v1 token verifies.
func TestEntraV1KeysOnAnotherHost(t *testing.T) {
	const tid = oauthtest.DefaultEntraTenantID
	is := oauthtest.NewT(t)
	target, _ := url.Parse(is.URL())
	var mu sync.Mutex
	var seen []string
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		mu.Lock()
		seen = append(seen, r.In.Host+r.In.URL.Path)
		mu.Unlock()
		r.SetURL(target)
		r.Out.URL.Path = "/jwks"
	}}
	client := fakeHostTLS(t, "login.microsoftonline.com", proxy)

	ps, err := profiles.EntraID(profiles.EntraOptions{TenantID: tid, ClientID: oauthtest.DefaultEntraAPIID,
		AppIDURI: oauthtest.DefaultEntraAppIDURI, ClientIDs: []string{oauthtest.DefaultEntraClientID}, Versions: profiles.EntraV1})
	if err != nil {
		t.Fatal(err)
	}
	p := &ps[0]
	cfg := p.CacheConfig(jwkscache.Config{HTTPClient: client})
	if cfg.Issuer != "" || cfg.JWKSURL != "https://login.microsoftonline.com/"+tid+"/discovery/keys" {
		t.Fatalf("CacheConfig = issuer %q, JWKS URL %q", cfg.Issuer, cfg.JWKSURL)
	}
	if u, _ := url.Parse(p.Issuer); u.Host != "sts.windows.net" {
		t.Fatalf("issuer %q", p.Issuer)
	}
	keys, err := p.StartKeys(context.Background(), jwkscache.Config{HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := keys.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != "login.microsoftonline.com/"+tid+"/discovery/keys" {
		t.Fatalf("requests = %q", seen)
	}
	mu.Unlock()
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(*p)})
	if err != nil {
		t.Fatal(err)
	}
	tok := is.MintProviderT(t, oauthtest.ProviderEntraV1, oauthtest.ProviderToken{
		Issuer: "https://sts.windows.net/" + tid + "/", Roles: []string{"Orders.Read"}})
	pr, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("v1 token refused: %v", err)
	}
	if pr.ClientID() != oauthtest.DefaultEntraClientID {
		t.Fatalf("client %q", pr.ClientID())
	}
}
