package securitysuite

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/metadata"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestMetricLabelsCarryNoAttackerText: hostile tokens with a marker in every
// field an attacker controls, through the net/http and gRPC adapters and a
// key cache, all observed by a real Prometheus registry (client ID label
// on): no label value ever holds the marker, and the label sets stay small.
func TestMetricLabelsCarryNoAttackerText(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{ClientIDLabel: true})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := jwkscache.New(context.Background(), jwkscache.Config{Name: "oauthtest", Issuer: f.iss.Issuer(), HTTPClient: f.hc,
		Now: f.clk.Now, NewTimer: f.clk.NewTimer, Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	if err := keys.Ready(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.WatchKeys(keys); err != nil {
		t.Fatal(err)
	}
	v := newVerifier(t, f, func(c *jwtverify.Config) {
		c.Observer = m
		c.Issuers[0].Keys = keys
		c.Issuers[0].ClientIDs, c.Issuers[0].AllowAnyClient = nil, true
	})
	if err := m.WatchVerifier("api", v); err != nil {
		t.Fatal(err)
	}
	mw, err := middleware.New(v, middleware.WithObserver(m))
	if err != nil {
		t.Fatal(err)
	}
	gic, err := grpcauth.New(v, grpcauth.Policy{Methods: map[string]jwtverify.Requirement{grpcRead: reqRead}}, grpcauth.WithObserver(m))
	if err != nil {
		t.Fatal(err)
	}
	f.clk.Advance(2 * time.Second)
	toks := []string{
		f.mint(t, oauthtest.WithHeader(map[string]any{"kid": marker + "kid"})),
		f.mint(t, oauthtest.WithClaims(map[string]any{"iss": marker + "iss"})),
		f.mint(t, oauthtest.WithClaims(map[string]any{"aud": marker + "aud"})),
		f.mint(t, oauthtest.WithHeader(map[string]any{"typ": marker + "typ"})),
		f.mint(t, oauthtest.WithHeader(map[string]any{"alg": marker + "alg"})),
		f.mint(t, oauthtest.WithClaims(map[string]any{"scope": marker + "scope", "sub": marker + "sub"})),
		marker + ".x.y",
	}
	for i := 0; i < 300; i++ { // many distinct verified client IDs: capped
		toks = append(toks, f.mint(t, oauthtest.WithKeyID(f.kid["ES256"]), oauthtest.WithClaims(map[string]any{"client_id": marker + "client" + string(rune('a'+i%26)) + strings.Repeat("x", i)})))
	}
	for _, tok := range toks {
		r := httptest.NewRequest(http.MethodGet, "/api/read", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		mw.Authenticator().Authorize(r, reqRead)
		_, _ = gic.Authorize(metadata.NewIncomingContext(context.Background(), metadata.MD{"authorization": {"Bearer " + tok}}), grpcRead)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			series++
			for _, lp := range mt.GetLabel() {
				if strings.Contains(lp.GetValue(), marker) && !(mf.GetName() == "m2mauth_token_validations_by_client_total" && lp.GetName() == "client_id") {
					t.Errorf("%s{%s=%q}: attacker text in a label", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	t.Logf("%d series after %d hostile and verified requests", series, len(toks))
	if series > 300 {
		t.Fatalf("%d series: labels are not bounded", series)
	}
}
