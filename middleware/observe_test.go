package middleware_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
)

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

// TestObserversAddUp: two observers both see every decision, in the same
// order, on net/http.
func TestObserversAddUp(t *testing.T) {
	env := authtest.NewEnv(t)
	a, b := &authtest.Recorder{}, &authtest.Recorder{}
	mw, err := middleware.New(env.Verifier, middleware.WithObserver(a), middleware.WithObserver(b))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", mw.Require(jwtverify.RequireAll("orders.read"))(okHandler))
	ts := authtest.NewServer(t, mw.Handler(mux))
	authtest.CheckObserversAddUp(t, env, ts, a, b)
}

// TestMetricsAndLogsAsTwoObservers: the documented wiring with real
// collectors: metrics and an authlog.Logger as two observers of the
// middleware, each sees every decision.
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
	v := env.NewVerifier(t, func(c *jwtverify.Config) { c.Observer = m })
	mw, err := middleware.New(v, middleware.WithObserver(m), middleware.WithObserver(lg))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /orders", mw.Require(jwtverify.RequireAll("orders.read"))(okHandler))
	ts := authtest.NewServer(t, mw.Handler(mux))
	authtest.Get(t, ts, "/orders", "Bearer "+env.Token(t, map[string]any{"scope": "profile"}))
	authtest.Get(t, ts, "/orders", "Bearer abc")
	want := `
# HELP m2mauth_authorization_decisions_total Authorization decisions of the adapters by transport (http, echo, grpc) and result.
# TYPE m2mauth_authorization_decisions_total counter
m2mauth_authorization_decisions_total{result="allowed",transport="http"} 1
m2mauth_authorization_decisions_total{result="forbidden",transport="http"} 1
m2mauth_authorization_decisions_total{result="unauthenticated",transport="http"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "m2mauth_authorization_decisions_total"); err != nil {
		t.Fatal(err)
	}
	recs := logs.Take(t)
	if len(recs) != 2 || recs[0]["result"] != "forbidden" || recs[1]["reason"] != "malformed" {
		t.Fatalf("records %v", recs)
	}
}

// TestOneRecordPerRefusal: with the Logger observing the middleware, each
// refusal is one record, also when the same Logger (or the deprecated
// WithLogger next to one) is the Verifier's Observer too, as the README
// used to suggest. On the previous wiring a 503 was logged twice.
func TestOneRecordPerRefusal(t *testing.T) {
	env := authtest.NewEnv(t)
	read := env.Token(t, map[string]any{"scope": "orders.read"})
	none := env.Token(t, map[string]any{"scope": "profile"})
	for _, wiring := range []string{"observer", "deprecated_with_logger"} {
		t.Run(wiring, func(t *testing.T) {
			logs, logger := authtest.NewLogs()
			lg := authlog.New(logger, authlog.Options{})
			defer lg.Close()
			opt := middleware.WithObserver(lg)
			if wiring == "deprecated_with_logger" {
				opt = middleware.WithLogger(logger)
			}
			up := env.NewVerifier(t, func(c *jwtverify.Config) { c.Observer = lg })
			down := env.NewVerifier(t, func(c *jwtverify.Config) { c.Observer = lg; c.Issuers[0].Keys = authtest.DownKeys() })
			for _, tc := range []struct {
				v            *jwtverify.Verifier
				auth, result string
				reason       string
			}{
				{up, "Bearer " + none, "forbidden", "insufficient_scope"},
				{up, "Bearer abc.def.ghi", "unauthenticated", "malformed"},
				{up, "Bearer " + env.Token(t, map[string]any{"exp": 1, "iat": 0, "nbf": nil}), "unauthenticated", "expired"},
				{up, "Bearer", "invalid_request", "malformed"},
				{up, "", "unauthenticated", authlog.ReasonNoCredentials},
				{down, "Bearer " + read, "unavailable", "keys_unavailable"},
			} {
				mw, err := middleware.New(tc.v, opt)
				if err != nil {
					t.Fatal(err)
				}
				mux := http.NewServeMux()
				mux.Handle("GET /orders", mw.Require(jwtverify.RequireAll("orders.read"))(okHandler))
				ts := authtest.NewServer(t, mw.Handler(mux))
				authtest.Get(t, ts, "/orders?q=SECRET", tc.auth)
				recs := logs.Take(t)
				if len(recs) != 1 || recs[0]["msg"] != authlog.MsgRefused || recs[0]["result"] != tc.result ||
					recs[0]["reason"] != tc.reason || recs[0]["transport"] != "http" {
					t.Fatalf("%s: records %v, want one %s/%s", tc.auth, recs, tc.result, tc.reason)
				}
				if s := fmt.Sprint(recs); strings.Contains(s, "SECRET") || (len(tc.auth) > 10 && strings.Contains(s, tc.auth[7:])) {
					t.Fatalf("record carries client input: %s", s)
				}
			}
		})
	}
}

// TestDecisionRoute: the route of a decision comes from the router's
// configuration: the pattern the ServeMux (or chi) routed a Require wrapper
// under, the pattern WithServeMux's mux picks for Handler's decisions, else
// "unknown"; never the raw path or query.
func TestDecisionRoute(t *testing.T) {
	env := authtest.NewEnv(t)
	read := "Bearer " + env.Token(t, map[string]any{"scope": "orders.read"})
	none := "Bearer " + env.Token(t, map[string]any{"scope": "profile"})
	type ev struct{ result, route string }
	routes := func(mux *http.ServeMux, mw *middleware.Middleware) {
		mux.Handle("GET /orders/{id}", mw.Require(jwtverify.RequireAll("orders.read"))(okHandler))
		mux.Handle("GET /open/{name}/", okHandler)
	}
	for _, tc := range []struct {
		name     string
		withMux  bool
		target   string
		auth     string
		want     []ev
		wantCode int
	}{
		{"require_pattern", false, "/orders/SECRET?x=SECRET", none, []ev{{"allowed", "unknown"}, {"forbidden", "GET /orders/{id}"}}, 403},
		{"handler_unknown_without_mux", false, "/orders/SECRET", "Bearer SECRET", []ev{{"unauthenticated", "unknown"}}, 401},
		{"handler_with_mux", true, "/orders/SECRET?x=SECRET", "Bearer SECRET", []ev{{"unauthenticated", "GET /orders/{id}"}}, 401},
		{"handler_with_mux_allowed", true, "/orders/42", read, []ev{{"allowed", "GET /orders/{id}"}}, 204},
		{"handler_with_mux_no_route", true, "/SECRET/x", "", []ev{{"unauthenticated", "unknown"}}, 401},
		{"handler_with_mux_redirect", true, "/open/SECRET", "", []ev{{"unauthenticated", "GET /open/{name}/"}}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &authtest.Recorder{}
			mux := http.NewServeMux()
			opts := []middleware.Option{middleware.WithObserver(rec)}
			if tc.withMux {
				opts = append(opts, middleware.WithServeMux(mux))
			}
			mw, err := middleware.New(env.Verifier, opts...)
			if err != nil {
				t.Fatal(err)
			}
			routes(mux, mw)
			ts := authtest.NewServer(t, mw.Handler(mux))
			if code := authtest.Get(t, ts, tc.target, tc.auth); code != tc.wantCode {
				t.Fatalf("status %d, want %d", code, tc.wantCode)
			}
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

// TestDecisionRouteConnect: for a CONNECT request, ServeMux.Handler names
// the redirect target built from the request path where other methods get
// a pattern; the middleware never reports it.
func TestDecisionRouteConnect(t *testing.T) {
	env := authtest.NewEnv(t)
	rec := &authtest.Recorder{}
	mux := http.NewServeMux()
	mw, err := middleware.New(env.Verifier, middleware.WithObserver(rec), middleware.WithServeMux(mux))
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/open/{name}/", okHandler)
	r := httptest.NewRequest("CONNECT", "/open/SECRET", nil)
	if _, p := mux.Handler(r); !strings.Contains(p, "SECRET") {
		t.Logf("ServeMux.Handler no longer names the raw path for CONNECT (%q); the guard stays", p)
	}
	w := httptest.NewRecorder()
	mw.Handler(mux).ServeHTTP(w, r)
	evs := rec.Take()
	if w.Code != 401 || len(evs) != 1 || evs[0].Route != jwtverify.RouteUnknown {
		t.Fatalf("%d %+v", w.Code, evs)
	}
}

// TestDecisionRouteChi: chi sets Request.Pattern for the handlers and
// inline middlewares of a route.
func TestDecisionRouteChi(t *testing.T) {
	env := authtest.NewEnv(t)
	rec := &authtest.Recorder{}
	mw, err := middleware.New(env.Verifier, middleware.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	r.Route("/api", func(r chi.Router) {
		r.With(mw.Require(jwtverify.RequireAll("orders.read"))).Get("/orders/{id}", okHandler)
	})
	ts := authtest.NewServer(t, r)
	if code := authtest.Get(t, ts, "/api/orders/SECRET?q=SECRET", "Bearer "+env.Token(t, map[string]any{"scope": "x"})); code != 403 {
		t.Fatalf("status %d", code)
	}
	evs := rec.Take()
	if len(evs) != 1 || evs[0].Route != "/api/orders/{id}" || evs[0].Result != jwtverify.DecisionForbidden {
		t.Fatalf("%+v", evs)
	}
}

// TestDecisionRuleAndIssuer: events carry the sub-reason of the refusing
// rule (Error.Rule) and name no issuer "none" (jwtverify.NoIssuer).
func TestDecisionRuleAndIssuer(t *testing.T) {
	env := authtest.NewEnv(t)
	t.Run("no_issuer", func(t *testing.T) {
		rec := &authtest.Recorder{}
		mw, err := middleware.New(env.Verifier, middleware.WithObserver(rec))
		if err != nil {
			t.Fatal(err)
		}
		ts := authtest.NewServer(t, mw.Handler(okHandler))
		authtest.Get(t, ts, "/", "")
		authtest.Get(t, ts, "/", "Bearer abc")
		for _, e := range rec.Take() {
			if e.Issuer != jwtverify.NoIssuer || e.Rule != "" {
				t.Fatalf("%+v", e)
			}
		}
	})
	t.Run("rule_from_error", func(t *testing.T) {
		rec := &authtest.Recorder{}
		mw, err := middleware.New(env.Verifier, middleware.WithObserver(rec),
			middleware.WithTokenExtractor(middleware.TokenExtractorFunc(func(*http.Request) (string, error) {
				return "", fmt.Errorf("wrapped: %w", &jwtverify.Error{Reason: jwtverify.ReasonMalformed, Issuer: "test", Rule: "my_rule"})
			})))
		if err != nil {
			t.Fatal(err)
		}
		ts := authtest.NewServer(t, mw.Handler(okHandler))
		authtest.Get(t, ts, "/", "")
		evs := rec.Take()
		if len(evs) != 1 || evs[0].Rule != "my_rule" || evs[0].Issuer != "test" {
			t.Fatalf("%+v", evs)
		}
	})
	t.Run("rule_from_verifier", func(t *testing.T) {
		errDelegated := errors.New("delegated token")
		v := env.NewVerifier(t, func(c *jwtverify.Config) {
			c.Issuers[0].Validate = func(p *jwtverify.Principal) error {
				return fmt.Errorf("%w: %w", jwtverify.ErrType, errDelegated)
			}
		})
		tok := env.Token(t, map[string]any{"scope": "orders.read"})
		_, verr := v.Verify(t.Context(), tok)
		var ve *jwtverify.Error
		if !errors.As(verr, &ve) {
			t.Fatalf("Verify: %v", verr)
		}
		rec := &authtest.Recorder{}
		mw, err := middleware.New(v, middleware.WithObserver(rec))
		if err != nil {
			t.Fatal(err)
		}
		ts := authtest.NewServer(t, mw.Handler(okHandler))
		authtest.Get(t, ts, "/", "Bearer "+tok)
		evs := rec.Take()
		// The adapter reports the verifier's sub-reason as is.
		if len(evs) != 1 || evs[0].Rule != ve.Rule || evs[0].Issuer != authtest.IssuerName || evs[0].Reason != jwtverify.ReasonType {
			t.Fatalf("%+v, verifier rule %q", evs, ve.Rule)
		}
	})
}
