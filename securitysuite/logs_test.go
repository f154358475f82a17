package securitysuite

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// TestLogsCarryNoAttackerText: SECURITY.md says nothing attacker-controlled
// reaches the logs, and grpcauth.WithLogger and authlog document the same
// ("never ... anything else the caller chose", "never ... an unverified
// claim"). Unverified kid and iss values are sent with a marker (and an
// ANSI escape, the log-injection classic) and the logs searched for it.
//
// Regression test: both loggers wrote jwtverify.Error's Detail, which
// quotes (and truncates to 64 bytes) the unverified kid, iss, aud, typ or
// client ID. authlog now writes it only with Options.Details (opt-in), and
// grpcauth never logs a *jwtverify.Error's text.
func TestLogsCarryNoAttackerText(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	toks := map[string]string{
		"kid": f.mint(t, oauthtest.WithHeader(map[string]any{"kid": marker + "kid\x1b[31m"})),
		"iss": f.mint(t, oauthtest.WithClaims(map[string]any{"iss": marker + "iss"})),
		"aud": f.mint(t, oauthtest.WithClaims(map[string]any{"aud": marker + "aud"})),
		"typ": f.mint(t, oauthtest.WithHeader(map[string]any{"typ": marker + "typ"})),
	}
	t.Run("middleware_WithLogger", func(t *testing.T) {
		for _, tok := range toks {
			f.send(t, trHTTP, bearer(tok))
			f.send(t, trEcho, bearer(tok))
		}
		if l := httpLogLines(f.logs.String()); strings.Contains(l, marker) {
			t.Fatalf("marker in the logs:\n%s", l)
		}
	})
	t.Run("grpcauth_WithLogger", func(t *testing.T) {
		for _, tok := range toks {
			f.send(t, trGRPC, bearer(tok))
		}
		for _, l := range strings.Split(f.logs.String(), "\n") {
			if strings.Contains(l, "transport=grpc") && strings.Contains(l, marker) {
				t.Errorf("attacker text in a grpcauth record: %s", l)
			}
		}
	})
	t.Run("authlog_as_verifier_observer", func(t *testing.T) {
		var buf syncBuffer
		lg := authlog.New(slog.New(slog.NewTextHandler(&buf, nil)), authlog.Options{VerifyEvents: true}) // verify records are opt-in since wave 2
		v, err := jwtverify.New(jwtverify.Config{Now: f.clk.Now, Observer: lg, Issuers: []jwtverify.IssuerConfig{{
			Name: "oauthtest", Issuer: f.iss.Issuer(), Keys: f.keys, Audiences: []string{oauthtest.DefaultAudience},
			ClientIDs: []string{oauthtest.DefaultClientID}, Algorithms: algs}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range toks {
			_, _ = v.Verify(context.Background(), tok)
		}
		for _, l := range strings.Split(buf.String(), "\n") {
			if strings.Contains(l, marker) {
				t.Errorf("attacker text in an authlog record: %s", l)
			}
		}
	})
}
