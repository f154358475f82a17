package oauthtest_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// A client authenticates with its certificate on the mutual TLS token
// endpoint (RFC 8705 self_signed_tls_client_auth) and gets a token bound to
// that certificate, then calls an API that asks for client certificates.
func ExampleWithMTLS() {
	is, err := oauthtest.New(oauthtest.WithMTLS())
	if err != nil {
		panic(err)
	}
	defer is.Close()
	cc, err := oauthtest.NewClientCert("billing-daemon")
	if err != nil {
		panic(err)
	}
	err = is.RegisterCertClient(oauthtest.Client{ID: "billing-daemon", Scopes: []string{"invoices.read"}},
		oauthtest.CertAuth{Method: oauthtest.AuthSelfSignedTLSClient, Certificates: []*x509.Certificate{cc.Certificate}})
	if err != nil {
		panic(err)
	}

	// The token: x/oauth2 over an HTTP client presenting the certificate.
	hc := cc.HTTPClient(is.MTLSRootCAs())
	defer hc.CloseIdleConnections()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	cfg := clientcredentials.Config{ClientID: "billing-daemon", TokenURL: is.MTLSTokenURL(), AuthStyle: oauth2.AuthStyleInParams}
	tok, err := cfg.Token(ctx)
	if err != nil {
		panic(err)
	}
	_, claims := decode(tok.AccessToken)
	cnf := claims["cnf"].(map[string]any)
	fmt.Println("bound to the certificate:", cnf["x5t#S256"] == cc.X5tS256())

	// The API side: a TLS server that asks for client certificates.
	api := oauthtest.NewMTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.TLS.PeerCertificates[0]
		fmt.Fprint(w, got.Equal(cc.Certificate))
	}))
	defer api.Close()
	apiClient := cc.HTTPClient(oauthtest.RootCAs(api))
	defer apiClient.CloseIdleConnections()
	resp, err := apiClient.Get(api.URL)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println("API saw the certificate:", string(b))
	// Output:
	// bound to the certificate: true
	// API saw the certificate: true
}
