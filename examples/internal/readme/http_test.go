//lint:file-ignore SA4006 the README snippets leave out error checks between lines, as READMEs do

package readme

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/oauthtest"
	"github.com/m2mauth/m2mauth/profiles"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// providersSnippet is README "Providers" (Entra ID). It needs Entra, so it
// is compiled, not run.
func providersSnippet(ctx context.Context, tid, apiAppID, daemonAppID string) error {
	ps, err := profiles.EntraID(profiles.EntraOptions{TenantID: tid, ClientID: apiAppID, ClientIDs: []string{daemonAppID}})
	for i := range ps {
		keys, err := ps[i].StartKeys(ctx, jwkscache.Config{}) // sets ps[i].Keys; refreshes until ctx ends
		if err != nil {
			return err
		}
		defer keys.Close()
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(ps...)})
	// End of the snippet.
	_ = v
	return err
}

var _ = providersSnippet

// metricsSnippet is README "Metrics".
func metricsSnippet(ctx context.Context, p profiles.Profile, policy grpcauth.Policy, mux *http.ServeMux) error {
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, metrics.Options{}) // RuleLabel: true adds the rule (sub-reason) label
	keys, err := p.StartKeys(ctx, jwkscache.Config{Observer: m})
	err = m.WatchKeys(keys)
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p), Observer: m})
	err = m.WatchVerifier("", v)
	mw, err := middleware.New(v, middleware.WithObserver(m))        // net/http
	auth, err := echoauth.New(v, middleware.WithObserver(m))        // Echo
	gauth, err := grpcauth.New(v, policy, grpcauth.WithObserver(m)) // gRPC
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	// End of the snippet.
	_, _, _ = mw, auth, gauth
	if keys != nil {
		defer keys.Close()
	}
	return err
}

// loggingSnippet is README "Logging".
func loggingSnippet(logger *slog.Logger, v *jwtverify.Verifier, m *metrics.Metrics, policy grpcauth.Policy) error {
	lg := authlog.New(logger, authlog.Options{}) // rate limited per key: the first record per minute, then a count
	defer lg.Close()                             // writes the counts still pending
	mw, err := middleware.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
	auth, err := echoauth.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
	gauth, err := grpcauth.New(v, policy, grpcauth.WithObserver(m), grpcauth.WithObserver(lg))
	// End of the snippet.
	_, _, _ = mw, auth, gauth
	return err
}

// TestSnippetsRun runs the snippets that need no real provider against an
// in-process issuer.
func TestSnippetsRun(t *testing.T) {
	iss := oauthtest.NewT(t)
	p, err := profiles.RFC9068(profiles.RFC9068Options{Name: "oauthtest", Issuer: iss.Issuer(), JWKSURL: iss.JWKSURL(),
		Audience: oauthtest.DefaultAudience, ClientIDs: []string{oauthtest.DefaultClientID}})
	if err != nil {
		t.Fatal(err)
	}
	policy := grpcauth.Policy{Methods: map[string]jwtverify.Requirement{"/orders.v1.Orders/List": jwtverify.RequireAll("orders.read")}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := metricsSnippet(ctx, p, policy, http.NewServeMux()); err != nil {
		t.Fatalf("Metrics snippet: %v", err)
	}
	m, err := metrics.New(prometheus.NewRegistry(), metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.Keys = jwkscache.NewStatic("none")
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(p)})
	if err != nil {
		t.Fatal(err)
	}
	if err := loggingSnippet(slog.New(slog.NewTextHandler(io.Discard, nil)), v, m, policy); err != nil {
		t.Fatalf("Logging snippet: %v", err)
	}
}
