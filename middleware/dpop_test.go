package middleware_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/dpop"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
)

// handleDPoPMux is the net/http adapter for the DPoP harness: the mux
// behind mw.Handler, PathOrders also behind mw.Require.
func handleDPoPMux(t testing.TB, v *jwtverify.Verifier, opts ...middleware.Option) http.Handler {
	t.Helper()
	mw, err := middleware.New(v, append(authtest.BaseOptions(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	who := func(w http.ResponseWriter, r *http.Request) {
		p, _ := jwtverify.FromContext(r.Context())
		authtest.WhoAmI(w, r, p)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(authtest.PathWhoAmI, who)
	mux.Handle(authtest.PathOrders, mw.RequireFunc(jwtverify.RequireAll(authtest.OrdersScope), who))
	return mw.Handler(mux)
}

// TestDPoP: RFC 9449 through the net/http middleware (SECURITY.md K rows).
func TestDPoP(t *testing.T) {
	authtest.RunDPoP(t, authtest.NewDPoPEnv(t), handleDPoPMux)
}

// TestDPoPMetadata: RFC 9728 advertises the proof algorithms, and
// dpop_bound_access_tokens_required only when every issuer requires a
// DPoP-bound token.
func TestDPoPMetadata(t *testing.T) {
	env := authtest.NewDPoPEnv(t)
	c, err := dpop.New(dpop.Config{PublicOrigins: []string{"http://127.0.0.1"}, Algorithms: []string{"ES256", "EdDSA"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		policy   binding.Policy
		methods  binding.Methods
		required bool
	}{
		{binding.Optional, binding.DPoP, false},
		{binding.Required, binding.DPoP, true},
		{binding.Required, binding.DPoP | binding.Certificate, false},
	} {
		v := env.Verifier(t, tc.policy, tc.methods)
		a, err := middleware.NewAuthenticator(v, "http", middleware.WithDPoP(c),
			middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: "http://127.0.0.1/api"}))
		if err != nil {
			t.Fatal(err)
		}
		rr := httptest.NewRecorder()
		a.MetadataHandler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, a.MetadataURL(), nil))
		var doc struct {
			Algs     []string `json:"dpop_signing_alg_values_supported"`
			Required *bool    `json:"dpop_bound_access_tokens_required"`
		}
		if err := json.Unmarshal(rr.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		if strings.Join(doc.Algs, " ") != "ES256 EdDSA" || (doc.Required != nil) != tc.required {
			t.Errorf("%s %s: %s", tc.policy, tc.methods, rr.Body.String())
		}
		// The challenges name the metadata too.
		o := a.Authenticate(httptest.NewRequest(http.MethodGet, "/api", nil))
		if len(o.Challenges) != 2 || !strings.HasPrefix(o.Challenges[1], `DPoP algs="ES256 EdDSA", resource_metadata="`) {
			t.Errorf("challenges %q", o.Challenges)
		}
	}
	// Without WithDPoP: no DPoP member.
	v := env.Verifier(t, binding.Optional, binding.DPoP)
	a, err := middleware.NewAuthenticator(v, "http", middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: "http://127.0.0.1/api"}))
	if err != nil {
		t.Fatal(err)
	}
	rr := httptest.NewRecorder()
	a.MetadataHandler().ServeHTTP(rr, httptest.NewRequest(http.MethodGet, a.MetadataURL(), nil))
	if strings.Contains(rr.Body.String(), "dpop") {
		t.Errorf("metadata without WithDPoP: %s", rr.Body.String())
	}
}

// TestDPoPOption: misconfiguration fails at construction.
func TestDPoPOption(t *testing.T) {
	env := authtest.NewDPoPEnv(t)
	c, err := dpop.New(dpop.Config{PublicOrigins: []string{"http://127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := middleware.New(env.Verifier(t, binding.Optional, binding.DPoP), middleware.WithDPoP(nil)); err == nil {
		t.Error("WithDPoP(nil) accepted")
	}
	if _, err := middleware.New(env.Verifier(t, binding.Optional, binding.DPoP), middleware.WithDPoP(c),
		middleware.WithTokenExtractor(middleware.TokenExtractorFunc(func(*http.Request) (string, error) { return "", nil }))); err == nil {
		t.Error("WithDPoP with a custom extractor accepted")
	}
	for _, v := range []*jwtverify.Verifier{
		env.Verifier(t, binding.Off, 0),
		env.Verifier(t, binding.Required, binding.Certificate),
	} {
		if _, err := middleware.New(v, middleware.WithDPoP(c)); err == nil {
			t.Error("WithDPoP accepted for a verifier none of whose issuers accepts DPoP-bound tokens")
		}
	}
}

// TestDPoPAllowedPathAllocs: the Outcome of an allowed bearer request
// allocates nothing more with DPoP on (no challenge list, no nonce).
func TestDPoPAllowedPathAllocs(t *testing.T) {
	env := authtest.NewDPoPEnv(t)
	c, err := dpop.New(dpop.Config{PublicOrigins: []string{"http://127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	v := env.Verifier(t, binding.Optional, binding.DPoP)
	tok := env.Token(t, nil, authtest.OrdersScope)
	measure := func(opts ...middleware.Option) float64 {
		a, err := middleware.NewAuthenticator(v, "http", opts...)
		if err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest(http.MethodGet, "/api", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		if o := a.Authenticate(r); !o.Proceed() || o.Challenges != nil || o.DPoPNonce != "" {
			t.Fatalf("%+v", o)
		}
		return testing.AllocsPerRun(100, func() { a.Authenticate(r) })
	}
	if without, with := measure(), measure(middleware.WithDPoP(c)); with > without {
		t.Errorf("allowed bearer request: %v allocations with DPoP on, %v without", with, without)
	}
}
