package oauthtest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// postToken posts a client credentials request with hc and returns the
// status and decoded answer.
func postToken(t *testing.T, hc *http.Client, tokenURL string, form url.Values, basic ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return resp.StatusCode, m
}

func closeIdle(t *testing.T, hc *http.Client) { t.Cleanup(hc.CloseIdleConnections) }

// cnfOf verifies token against the server's JWKS and returns its parsed
// confirmation (zero when it has no cnf).
func cnfOf(t *testing.T, is *oauthtest.Server, token string) binding.Confirmation {
	t.Helper()
	d, err := verify(t, servedKeys(t, is), token)
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := d.claims["cnf"]
	if !ok {
		return binding.Confirmation{}
	}
	b, _ := json.Marshal(raw)
	c, err := binding.ParseConfirmation(b)
	if err != nil {
		t.Fatalf("cnf %s: %v", b, err)
	}
	return c
}

func ccForm(id string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}}
}

func TestMTLSMetadata(t *testing.T) {
	is := oauthtest.NewT(t, oauthtest.WithMTLS())
	for _, u := range []string{is.DiscoveryURL(), is.MetadataURL()} {
		status, _, body := get(t, u)
		if status != 200 {
			t.Fatalf("%s: %d", u, status)
		}
		var doc struct {
			Bound   bool              `json:"tls_client_certificate_bound_access_tokens"`
			Aliases map[string]string `json:"mtls_endpoint_aliases"`
			Methods []string          `json:"token_endpoint_auth_methods_supported"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if !doc.Bound || doc.Aliases["token_endpoint"] != is.MTLSTokenURL() || !strings.HasPrefix(is.MTLSTokenURL(), "https://127.0.0.1:") {
			t.Fatalf("%s: %+v", u, doc)
		}
		if strings.Join(doc.Methods, " ") != "client_secret_basic client_secret_post tls_client_auth self_signed_tls_client_auth" {
			t.Fatalf("auth methods %v", doc.Methods)
		}
	}
	plain := oauthtest.NewT(t)
	_, _, body := get(t, plain.DiscoveryURL())
	if strings.Contains(string(body), "mtls") || plain.MTLSURL() != "" || plain.MTLSRootCAs() != nil {
		t.Fatalf("mTLS advertised without WithMTLS: %s", body)
	}
	if err := plain.RegisterCertClient(oauthtest.Client{ID: "x"}, oauthtest.CertAuth{Method: oauthtest.AuthSelfSignedTLSClient}); err == nil {
		t.Fatal("RegisterCertClient without WithMTLS")
	}
	if _, err := plain.IssueClientCert("x"); err == nil {
		t.Fatal("IssueClientCert without WithMTLS")
	}
}

func TestMTLSTokenEndpoint(t *testing.T) {
	is := oauthtest.NewT(t, oauthtest.WithMTLS())
	self := oauthtest.NewClientCertT(t, "self")
	other := oauthtest.NewClientCertT(t, "self") // same subject, other key
	pki, err := is.IssueClientCert("pki-worker")
	if err != nil {
		t.Fatal(err)
	}
	if err := is.RegisterCertClient(oauthtest.Client{ID: "self", Secret: "ignored", Scopes: []string{"read"}},
		oauthtest.CertAuth{Method: oauthtest.AuthSelfSignedTLSClient, Certificates: []*x509.Certificate{self.Certificate}}); err != nil {
		t.Fatal(err)
	}
	if err := is.RegisterCertClient(oauthtest.Client{ID: "pki", Scopes: []string{"read"}},
		oauthtest.CertAuth{Method: oauthtest.AuthTLSClient, SubjectDN: pki.Certificate.Subject.String()}); err != nil {
		t.Fatal(err)
	}
	is.RegisterClient(oauthtest.Client{ID: "secret", Secret: "s3cret", Scopes: []string{"read"}})
	roots := is.MTLSRootCAs()
	client := func(cc *oauthtest.ClientCert) *http.Client {
		hc := cc.HTTPClient(roots)
		closeIdle(t, hc)
		return hc
	}
	// A self-signed certificate claiming the PKI client's subject DN.
	fakePKI := oauthtest.NewClientCertT(t, "pki-worker")
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	closeIdle(t, noCert)

	for _, tc := range []struct {
		name string
		cc   *oauthtest.ClientCert
		id   string
	}{{"self_signed_tls_client_auth", self, "self"}, {"tls_client_auth", pki, "pki"}} {
		t.Run(tc.name, func(t *testing.T) {
			status, ans := postToken(t, client(tc.cc), is.MTLSTokenURL(), ccForm(tc.id))
			if status != 200 || ans["token_type"] != "Bearer" {
				t.Fatalf("%d %v", status, ans)
			}
			cnf := cnfOf(t, is, ans["access_token"].(string))
			if x, ok := cnf.X5tS256(); !ok || x != tc.cc.Thumbprint() || cnf.Methods() != binding.Certificate {
				t.Fatalf("cnf %+v, want x5t#S256 %s", cnf, tc.cc.X5tS256())
			}
		})
	}

	refusals := []struct {
		name   string
		hc     *http.Client
		url    string
		form   url.Values
		basic  []string
		status int
		code   string
	}{
		{"no certificate", noCert, is.MTLSTokenURL(), ccForm("self"), nil, 401, "invalid_client"},
		{"plain listener", http.DefaultClient, is.TokenURL(), ccForm("self"), nil, 401, "invalid_client"},
		{"another certificate", client(other), is.MTLSTokenURL(), ccForm("self"), nil, 401, "invalid_client"},
		{"tls_client_auth, self-signed with the right DN", client(fakePKI), is.MTLSTokenURL(), ccForm("pki"), nil, 401, "invalid_client"},
		{"tls_client_auth, CA cert with another DN", client(pki), is.MTLSTokenURL(), ccForm("self"), nil, 401, "invalid_client"},
		{"certificate plus secret", client(self), is.MTLSTokenURL(), url.Values{"grant_type": {"client_credentials"}, "client_id": {"self"}, "client_secret": {"ignored"}}, nil, 400, "invalid_request"},
		{"certificate plus basic", client(self), is.MTLSTokenURL(), url.Values{"grant_type": {"client_credentials"}}, []string{"self", "ignored"}, 400, "invalid_request"},
		{"secret of a certificate client, plain listener", http.DefaultClient, is.TokenURL(), url.Values{"grant_type": {"client_credentials"}}, []string{"self", "ignored"}, 400, "invalid_request"},
	}
	for _, tc := range refusals {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			status, ans := postToken(t, tc.hc, tc.url, tc.form, tc.basic...)
			if status != tc.status || ans["error"] != tc.code {
				t.Fatalf("%d %v, want %d %s", status, ans, tc.status, tc.code)
			}
		})
	}

	t.Run("secret client on the mTLS listener gets a bearer token", func(t *testing.T) {
		status, ans := postToken(t, client(self), is.MTLSTokenURL(), url.Values{"grant_type": {"client_credentials"}}, "secret", "s3cret")
		if status != 200 {
			t.Fatalf("%d %v", status, ans)
		}
		if cnf := cnfOf(t, is, ans["access_token"].(string)); cnf.Bound() {
			t.Fatal("a secret client got a bound token")
		}
	})

	t.Run("x/oauth2 clientcredentials", func(t *testing.T) {
		hc := client(self)
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
		cfg := clientcredentials.Config{ClientID: "self", TokenURL: is.MTLSTokenURL(), AuthStyle: oauth2.AuthStyleInParams}
		tok, err := cfg.Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if x, _ := cnfOf(t, is, tok.AccessToken).X5tS256(); x != self.Thumbprint() {
			t.Fatal("clientcredentials token not bound to the certificate")
		}
	})
}

func TestWithCertificateBindingEveryProvider(t *testing.T) {
	is := oauthtest.NewT(t)
	cc := oauthtest.NewClientCertT(t, "svc")
	for _, p := range oauthtest.Providers() {
		t.Run(string(p), func(t *testing.T) {
			tok := is.MintProviderT(t, p, oauthtest.ProviderToken{Scopes: []string{"read"}}, oauthtest.WithCertificateBinding(cc.Certificate))
			if x, ok := cnfOf(t, is, tok).X5tS256(); !ok || x != cc.Thumbprint() {
				t.Fatal("not bound to the certificate")
			}
			// The shape is otherwise unchanged: the same token without the
			// option has the same claim names but cnf.
			d, _ := verify(t, servedKeys(t, is), tok)
			plain, _ := verify(t, servedKeys(t, is), is.MintProviderT(t, p, oauthtest.ProviderToken{Scopes: []string{"read"}}))
			if len(d.claims) != len(plain.claims)+1 {
				t.Fatalf("claims %d, plain %d", len(d.claims), len(plain.claims))
			}
		})
	}
}
