package m2mauth

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestReadmeDPoPClient runs the README's DPoP test snippet: a DPoP-bound
// token and the prover's RoundTripper against a DPoP-protected API on
// loopback; the same token without the key is refused.
func TestReadmeDPoPClient(t *testing.T) {
	issuer := oauthtest.NewT(t)
	kid := issuer.SigningKeyID()
	pub, _ := issuer.PublicKey(kid)
	key, err := jwkscache.NewKey(kid, "RS256", pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{{
		Name: "test", Issuer: issuer.Issuer(), Keys: jwkscache.NewStatic("test", key),
		Audiences: []string{oauthtest.DefaultAudience}, ClientIDs: []string{oauthtest.DefaultClientID}, Algorithms: []string{"RS256"},
		Binding: binding.Config{Policy: binding.Required, Methods: binding.DPoP},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewUnstartedServer(nil)
	api.Listener.Close()
	api.Listener = l
	checker, err := dpop.New(dpop.Config{PublicOrigins: []string{"http://" + l.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := middleware.New(v, middleware.WithDPoP(checker))
	if err != nil {
		t.Fatal(err)
	}
	api.Config.Handler = mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	api.Start()
	defer api.Close()

	prover, err := oauthtest.NewDPoPProver("ES256")
	tok := issuer.MintT(t, oauthtest.WithDPoPBinding(prover.Thumbprint()))
	client := &http.Client{Transport: prover.Transport(nil)} // adds a proof to each request, retries once on use_dpop_nonce
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseIdleConnections()
	for _, c := range []struct {
		hc   *http.Client
		want int
	}{{client, http.StatusNoContent}, {http.DefaultClient, http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, api.URL+"/orders", nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("status %d, want %d", resp.StatusCode, c.want)
		}
	}
}
