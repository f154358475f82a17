package echoauth_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"
	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	return e
}

// principal reads the Principal both ways and insists they agree.
func principal(c echo.Context) *jwtverify.Principal {
	p, ok := echoauth.Principal(c)
	q, ok2 := jwtverify.FromContext(c.Request().Context())
	if ok != ok2 || p != q {
		panic("echoauth.Principal and jwtverify.FromContext disagree")
	}
	return p
}

func echoRoutes(g interface {
	Add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}, auth *echoauth.Auth) {
	for _, rt := range authtest.Routes() {
		g.Add(rt.Method, strings.ReplaceAll(rt.Pattern, "{id}", ":id"), func(c echo.Context) error {
			authtest.RouteHandler(c.Response(), principal(c), c.Param("id"))
			return nil
		}, auth.Require(rt.Req))
	}
}

// TestRoutesGroup: an authenticated group with per-route requirements, and
// a public route outside it.
func TestRoutesGroup(t *testing.T) {
	env := authtest.NewEnv(t)
	auth, err := echoauth.New(env.Verifier, middleware.WithRealm(authtest.Realm))
	if err != nil {
		t.Fatal(err)
	}
	e := newEcho()
	e.GET("/public", func(c echo.Context) error { return c.String(200, "public") })
	api := e.Group("/api", auth.Authenticate)
	echoRoutes(api, auth)
	// A requirement for a whole group.
	admin := api.Group("/admin", auth.Require(jwtverify.RequireAllRoles("Admin")))
	admin.GET("/stats", func(c echo.Context) error { return c.String(200, "stats for "+principal(c).ClientID()) })
	ts := authtest.NewServer(t, e)
	authtest.RunRoutes(t, env, ts, "/api")
	t.Run("group_requirement", func(t *testing.T) {
		for _, tc := range []struct {
			claims map[string]any
			status int
		}{
			{map[string]any{"roles": []string{"Admin"}}, 200},
			{map[string]any{"scope": "Admin"}, 403}, // a delegated scope is not the role
			{nil, 403},
		} {
			req, _ := http.NewRequest("GET", ts.URL+"/api/admin/stats", nil)
			req.Header.Set("Authorization", "Bearer "+env.Token(t, tc.claims))
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || (tc.status == 200 && string(b) != "stats for "+authtest.ClientID) {
				t.Fatalf("%v: %d %q", tc.claims, resp.StatusCode, b)
			}
		}
	})
	resp, err := ts.Client().Get(ts.URL + "/public")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("public route: %d", resp.StatusCode)
	}
}

// TestRoutesRequireAlone: Require without Authenticate authenticates by
// itself.
func TestRoutesRequireAlone(t *testing.T) {
	env := authtest.NewEnv(t)
	auth, err := echoauth.New(env.Verifier, middleware.WithRealm(authtest.Realm))
	if err != nil {
		t.Fatal(err)
	}
	e := newEcho()
	echoRoutes(e.Group("/api"), auth)
	authtest.RunRoutes(t, env, authtest.NewServer(t, e), "/api")
}

// TestHTTPError: failures are *echo.HTTPError values with the challenge
// already on the response, the cause reachable for logs, and nothing of the
// cause in the body, even in debug mode.
func TestHTTPError(t *testing.T) {
	env := authtest.NewEnv(t)
	auth, err := echoauth.New(env.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	noScope := env.Token(t, map[string]any{"scope": "profile"})
	var mu sync.Mutex
	var seen []error
	e := newEcho()
	e.Debug = true
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		mu.Lock()
		seen = append(seen, err)
		mu.Unlock()
		e.DefaultHTTPErrorHandler(err, c)
	}
	e.Use(auth.Authenticate)
	e.GET("/orders", func(c echo.Context) error { return c.NoContent(204) }, auth.Require(jwtverify.RequireAll("orders.read")))
	ts := authtest.NewServer(t, e)
	for _, tc := range []struct {
		name, auth string
		status     int
		reason     jwtverify.Reason
		challenge  string
		body       string
	}{
		{"no_credentials", "", 401, "", `Bearer realm="api"`,
			`{"error":"unauthorized","error_description":"Bearer authentication is required"}`},
		{"bad_token", "Bearer abc.def.ghi", 401, jwtverify.ReasonMalformed,
			`Bearer realm="api", error="invalid_token", error_description="` + jwtverify.ReasonMalformed.Description() + `"`,
			`{"error":"invalid_token","error_description":"` + jwtverify.ReasonMalformed.Description() + `"}`},
		{"forbidden", "Bearer " + noScope, 403, jwtverify.ReasonInsufficientScope,
			`Bearer realm="api", error="insufficient_scope", error_description="` + jwtverify.ReasonInsufficientScope.Description() + `", scope="orders.read"`,
			`{"error":"insufficient_scope","error_description":"` + jwtverify.ReasonInsufficientScope.Description() + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			req, _ := http.NewRequest("GET", ts.URL+"/orders", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			// Debug mode indents the JSON; compare it compacted.
			var compact bytes.Buffer
			_ = json.Compact(&compact, b)
			if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge ||
				compact.String() != tc.body || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d %q %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
			}
			mu.Lock()
			defer mu.Unlock()
			var he *echo.HTTPError
			if len(seen) != 1 || !errors.As(seen[0], &he) || he.Code != tc.status {
				t.Fatalf("errors seen %v", seen)
			}
			if tc.reason != "" && jwtverify.ReasonOf(seen[0]) != tc.reason {
				t.Fatalf("reason of %v = %q, want %q", seen[0], jwtverify.ReasonOf(seen[0]), tc.reason)
			}
		})
	}
}

func TestErrorHandlerOption(t *testing.T) {
	env := authtest.NewEnv(t)
	auth, err := echoauth.New(env.Verifier, middleware.WithErrorHandler(middleware.ErrorHandlerFunc(
		func(w http.ResponseWriter, _ *http.Request, o middleware.Outcome) {
			for _, c := range o.Challenges {
				w.Header().Add("WWW-Authenticate", c)
			}
			w.WriteHeader(o.Status)
			_, _ = io.WriteString(w, "custom")
		})))
	if err != nil {
		t.Fatal(err)
	}
	e := newEcho()
	e.Use(auth.Authenticate)
	e.GET("/", func(c echo.Context) error { return c.NoContent(204) })
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 401 || w.Body.String() != "custom" || w.Header().Get("WWW-Authenticate") != `Bearer realm="api"` {
		t.Fatalf("got %d %q %q", w.Code, w.Body.String(), w.Header().Get("WWW-Authenticate"))
	}
}

func TestResourceMetadata(t *testing.T) {
	env := authtest.NewEnv(t)
	auth, err := echoauth.New(env.Verifier, middleware.WithResourceMetadata(middleware.ResourceMetadata{Resource: "https://orders.api.test"}))
	if err != nil {
		t.Fatal(err)
	}
	e := newEcho()
	e.Use(auth.Authenticate)
	e.GET(auth.MetadataPath(), auth.MetadataHandler())
	ts := authtest.NewServer(t, e)
	resp, err := ts.Client().Get(ts.URL + middleware.WellKnownPath)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `{"resource":"https://orders.api.test","authorization_servers":["` + env.Issuer.Issuer() + `"],"bearer_methods_supported":["header"]}`
	if resp.StatusCode != 200 || strings.TrimSpace(string(b)) != want {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
	resp, err = ts.Client().Get(ts.URL + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="api", resource_metadata="https://orders.api.test`+middleware.WellKnownPath+`"` {
		t.Fatalf("challenge %q", got)
	}
}

type recorder struct {
	mu  sync.Mutex
	evs []jwtverify.DecisionEvent
}

func (r *recorder) ObserveDecision(ev jwtverify.DecisionEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
}

// TestObserverTransport: decisions of this adapter are labelled "echo",
// and a request passing Authenticate and Require is counted once.
func TestObserverTransport(t *testing.T) {
	env := authtest.NewEnv(t)
	rec := &recorder{}
	auth, err := echoauth.New(env.Verifier, middleware.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	e := newEcho()
	e.Use(auth.Authenticate)
	e.GET("/orders", func(c echo.Context) error { return c.NoContent(204) }, auth.Require(jwtverify.RequireAll("orders.read")))
	for _, tc := range []struct {
		auth   string
		status int
		want   []string
	}{
		{"Bearer " + env.Token(t, map[string]any{"scope": "orders.read"}), 204, []string{jwtverify.DecisionAllowed}},
		{"Bearer " + env.Token(t, map[string]any{"scope": "x"}), 403, []string{jwtverify.DecisionAllowed, jwtverify.DecisionForbidden}},
		{"Basic abc", 401, []string{jwtverify.DecisionUnauthenticated}},
	} {
		rec.mu.Lock()
		rec.evs = nil
		rec.mu.Unlock()
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "/orders", nil)
		r.Header.Set("Authorization", tc.auth)
		e.ServeHTTP(w, r)
		rec.mu.Lock()
		var got []string
		for _, ev := range rec.evs {
			if ev.Transport != "echo" {
				t.Fatalf("transport %q", ev.Transport)
			}
			got = append(got, ev.Result)
		}
		rec.mu.Unlock()
		if w.Code != tc.status || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Fatalf("%d %v, want %d %v", w.Code, got, tc.status, tc.want)
		}
	}
}
