package echoauth_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
)

func noContent(c echo.Context) error { return c.NoContent(http.StatusNoContent) }

// TestObserversAddUp: two observers both see every decision, in the same
// order, on Echo.
func TestObserversAddUp(t *testing.T) {
	env := authtest.NewEnv(t)
	a, b := &authtest.Recorder{}, &authtest.Recorder{}
	auth, err := echoauth.New(env.Verifier, middleware.WithObserver(a), middleware.WithObserver(b))
	if err != nil {
		t.Fatal(err)
	}
	e := newEcho()
	e.Use(auth.Authenticate)
	e.GET("/orders", noContent, auth.Require(jwtverify.RequireAll("orders.read")))
	ts := authtest.NewServer(t, e)
	authtest.CheckObserversAddUp(t, env, ts, a, b)
}

// TestMetricsAndLogsAsTwoObservers: the documented wiring with real
// collectors on Echo; the log records are those of net/http but for the
// transport.
func TestMetricsAndLogsAsTwoObservers(t *testing.T) {
	env := authtest.NewEnv(t)
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs, logger := authtest.NewLogs()
	lg := authlog.New(logger, authlog.Options{})
	defer lg.Close()
	// The Logger on the Verifier too: still one record per refusal.
	v := env.NewVerifier(t, func(c *jwtverify.Config) { c.Observer = jwtverify.MultiObserver(m, lg) })
	auth, err := echoauth.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
	if err != nil {
		t.Fatal(err)
	}
	e := newEcho()
	e.Use(auth.Authenticate)
	e.GET("/orders/:id", noContent, auth.Require(jwtverify.RequireAll("orders.read")))
	ts := authtest.NewServer(t, e)
	none := env.Token(t, map[string]any{"scope": "profile"})
	authtest.Get(t, ts, "/orders/SECRET?q=SECRET", "Bearer "+none)
	authtest.Get(t, ts, "/orders/SECRET", "Bearer abc")
	authtest.Get(t, ts, "/orders/SECRET", "")
	want := `
# HELP m2mauth_authorization_decisions_total Authorization decisions of the adapters by transport (http, echo, grpc) and result.
# TYPE m2mauth_authorization_decisions_total counter
m2mauth_authorization_decisions_total{result="allowed",transport="echo"} 1
m2mauth_authorization_decisions_total{result="forbidden",transport="echo"} 1
m2mauth_authorization_decisions_total{result="unauthenticated",transport="echo"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "m2mauth_authorization_decisions_total"); err != nil {
		t.Fatal(err)
	}
	recs := logs.Take(t)
	wantRecs := []map[string]any{
		{"level": "INFO", "msg": authlog.MsgRefused, "transport": "echo", "result": "forbidden", "reason": "insufficient_scope",
			"issuer": authtest.IssuerName, "route": "/orders/:id", "client_id": authtest.ClientID, "missing": []any{"orders.read"}},
		{"level": "INFO", "msg": authlog.MsgRefused, "transport": "echo", "result": "unauthenticated", "reason": "malformed",
			"issuer": jwtverify.NoIssuer, "route": "/orders/:id"},
		{"level": "INFO", "msg": authlog.MsgRefused, "transport": "echo", "result": "unauthenticated", "reason": authlog.ReasonNoCredentials,
			"issuer": jwtverify.NoIssuer, "route": "/orders/:id"},
	}
	if fmt.Sprint(recs) != fmt.Sprint(wantRecs) {
		t.Fatalf("records\n%v\nwant\n%v", recs, wantRecs)
	}
	if s := fmt.Sprint(recs); strings.Contains(s, "SECRET") || strings.Contains(s, none) {
		t.Fatalf("records carry client input: %s", s)
	}
}

// TestDecisionRoute: Echo's matched route path (c.Path()), for both
// Authenticate and Require; "unknown" before routing (e.Pre) and when no
// route matched; never the raw path.
func TestDecisionRoute(t *testing.T) {
	env := authtest.NewEnv(t)
	none := "Bearer " + env.Token(t, map[string]any{"scope": "profile"})
	type ev struct{ result, route string }
	for _, tc := range []struct {
		name   string
		pre    bool
		target string
		auth   string
		want   []ev
	}{
		{"require", false, "/api/orders/SECRET?q=SECRET", none, []ev{{"allowed", "/api/orders/:id"}, {"forbidden", "/api/orders/:id"}}},
		{"authenticate", false, "/api/orders/SECRET", "Bearer SECRET", []ev{{"unauthenticated", "/api/orders/:id"}}},
		{"group_catch_all", false, "/api/SECRET", "", []ev{{"unauthenticated", "/api/*"}}},
		{"pre", true, "/api/orders/SECRET", "", []ev{{"unauthenticated", "unknown"}}},
		{"pre_no_route", true, "/SECRET", "", []ev{{"unauthenticated", "unknown"}}},
		{"use_no_route", false, "/SECRET/x?q=SECRET", "", []ev{{"unauthenticated", "unknown"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &authtest.Recorder{}
			auth, err := echoauth.New(env.Verifier, middleware.WithObserver(rec))
			if err != nil {
				t.Fatal(err)
			}
			e := newEcho()
			var api *echo.Group
			switch {
			case tc.pre:
				e.Pre(auth.Authenticate)
				api = e.Group("/api")
			case strings.HasPrefix(tc.name, "use_"):
				e.Use(auth.Authenticate)
				api = e.Group("/api")
			default:
				api = e.Group("/api", auth.Authenticate)
			}
			api.GET("/orders/:id", noContent, auth.Require(jwtverify.RequireAll("orders.read")))
			ts := authtest.NewServer(t, e)
			authtest.Get(t, ts, tc.target, tc.auth)
			var got []ev
			for _, e := range rec.Take() {
				got = append(got, ev{e.Result, e.Route})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("events %v, want %v", got, tc.want)
			}
		})
	}
}
