package echov5auth_test

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

	"github.com/labstack/echo/v5"
	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/echov5auth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve builds the Echo v5 app of the conformance kit.
func serve(t testing.TB, s adaptertest.HTTPSetup) http.Handler {
	auth, err := echov5auth.New(s.Verifier, s.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	if s.Authenticate {
		e.Use(auth.Authenticate)
	}
	for _, rt := range s.Routes {
		h := func(c *echo.Context) error {
			p, _ := echov5auth.Principal(c)
			adaptertest.Respond(c.Response(), c.Request(), p)
			return nil
		}
		var mw []echo.MiddlewareFunc
		if rt.Require {
			mw = append(mw, auth.Require(rt.Requirement))
		}
		if rt.Method == "" {
			e.Any(rt.Path, h, mw...)
		} else {
			e.Add(rt.Method, rt.Path, h, mw...)
		}
	}
	return e
}

// TestConformance: the adapter conformance kit over httptest, with Echo's
// default error handler.
func TestConformance(t *testing.T) {
	adaptertest.RunHTTP(t, adaptertest.HTTPAdapter{Transport: echov5auth.Transport, Handler: serve})
}

// TestErrorNeverShowsTheCause: with Echo's default error handler exposing
// errors, and with the RFC 9457 handler exposing them, a refusal's body
// holds the fixed texts only; the cause is reachable for logs through
// Error.Outcome, never through errors.Unwrap.
func TestErrorNeverShowsTheCause(t *testing.T) {
	env := adaptertest.NewEnv(t)
	noScope := env.Token(t, map[string]any{"scope": "profile"})
	// An untrusted issuer: jwtverify's detail quotes it, so the cause
	// holds caller input.
	const evil = "https://evil.test/zzMARKERzz"
	untrusted := env.Token(t, map[string]any{"iss": evil})
	type answer struct {
		status    int
		challenge string
		body      string
	}
	for _, h := range []struct {
		name    string
		handler echo.HTTPErrorHandler
		want    map[string]answer
	}{
		{"default_exposing_errors", echo.DefaultHTTPErrorHandler(true), map[string]answer{
			"no_credentials": {401, `Bearer realm="api"`, `{"error":"unauthorized","error_description":"Bearer authentication is required"}`},
			"untrusted_issuer": {401, `Bearer realm="api", error="invalid_token", error_description="` + jwtverify.ReasonIssuer.Description() + `"`,
				`{"error":"invalid_token","error_description":"` + jwtverify.ReasonIssuer.Description() + `"}`},
			"forbidden": {403, `Bearer realm="api", error="insufficient_scope", error_description="` + jwtverify.ReasonInsufficientScope.Description() + `", scope="orders.read"`,
				`{"error":"insufficient_scope","error_description":"` + jwtverify.ReasonInsufficientScope.Description() + `"}`},
		}},
		{"problem_details_exposing_errors", echo.ProblemDetailsHTTPErrorHandler(true), map[string]answer{
			"no_credentials": {401, `Bearer realm="api"`,
				`{"type":"about:blank","title":"Unauthorized","status":401,"detail":"Bearer authentication is required"}`},
			"untrusted_issuer": {401, `Bearer realm="api", error="invalid_token", error_description="` + jwtverify.ReasonIssuer.Description() + `"`,
				`{"type":"about:blank","title":"Unauthorized","status":401,"detail":"` + jwtverify.ReasonIssuer.Description() + `"}`},
			"forbidden": {403, `Bearer realm="api", error="insufficient_scope", error_description="` + jwtverify.ReasonInsufficientScope.Description() + `", scope="orders.read"`,
				`{"type":"about:blank","title":"Forbidden","status":403,"detail":"` + jwtverify.ReasonInsufficientScope.Description() + `"}`},
		}},
	} {
		t.Run(h.name, func(t *testing.T) {
			auth, err := echov5auth.New(env.Verifier)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var seen []error
			e := echo.New()
			e.HTTPErrorHandler = func(c *echo.Context, err error) {
				mu.Lock()
				seen = append(seen, err)
				mu.Unlock()
				h.handler(c, err)
			}
			e.Use(auth.Authenticate)
			e.GET("/orders", func(c *echo.Context) error { return c.NoContent(204) }, auth.Require(jwtverify.RequireAll("orders.read")))
			ts := httptest.NewServer(e)
			defer ts.Close()
			for name, auth := range map[string]string{"no_credentials": "", "untrusted_issuer": "Bearer " + untrusted, "forbidden": "Bearer " + noScope} {
				want := h.want[name]
				mu.Lock()
				seen = nil
				mu.Unlock()
				req, _ := http.NewRequest("GET", ts.URL+"/orders", nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := ts.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var compact bytes.Buffer
				_ = json.Compact(&compact, b)
				if resp.StatusCode != want.status || resp.Header.Get("WWW-Authenticate") != want.challenge ||
					compact.String() != want.body || resp.Header.Get("Cache-Control") != "no-store" {
					t.Fatalf("%s: got %d %q %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
				}
				mu.Lock()
				errs := seen
				mu.Unlock()
				if len(errs) != 1 {
					t.Fatalf("%s: error handler saw %v", name, errs)
				}
				var ae *echov5auth.Error
				if !errors.As(errs[0], &ae) || ae.StatusCode() != want.status {
					t.Fatalf("%s: error %T %v", name, errs[0], errs[0])
				}
				if errors.Unwrap(errs[0]) != nil || strings.Contains(errs[0].Error(), "zzMARKERzz") {
					t.Fatalf("%s: the error wraps or prints its cause: %q", name, errs[0])
				}
				if name == "untrusted_issuer" {
					if ae.Outcome().Err == nil || !strings.Contains(ae.Outcome().Err.Error(), "zzMARKERzz") {
						t.Fatalf("the cause does not reach logs through Outcome: %v", ae.Outcome().Err)
					}
				}
			}
		})
	}
}

// TestErrorText: the text is fixed per answer.
func TestErrorText(t *testing.T) {
	env := adaptertest.NewEnv(t)
	auth, err := echov5auth.New(env.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	e := echo.New()
	e.HTTPErrorHandler = func(c *echo.Context, err error) { got = append(got, err.Error()) }
	e.Use(auth.Authenticate)
	e.GET("/", func(c *echo.Context) error { return nil })
	for _, a := range []string{"", "Bearer", "Bearer zzMARKERzz"} {
		r := httptest.NewRequest("GET", "/", nil)
		if a != "" {
			r.Header.Set("Authorization", a)
		}
		e.ServeHTTP(httptest.NewRecorder(), r)
	}
	want := []string{"echov5auth: 401 unauthorized", "echov5auth: 400 invalid_request", "echov5auth: 401 invalid_token"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("errors %q, want %q", got, want)
	}
}

// TestHEAD: a refused HEAD gets the status and headers without a body.
func TestHEAD(t *testing.T) {
	env := adaptertest.NewEnv(t)
	auth, err := echov5auth.New(env.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(auth.Authenticate)
	e.HEAD("/", func(c *echo.Context) error { return c.NoContent(204) })
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("HEAD", "/", nil))
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") != `Bearer realm="api"` || w.Body.Len() != 0 {
		t.Fatalf("got %d %q %q", w.Code, w.Header().Get("WWW-Authenticate"), w.Body.String())
	}
}

// TestErrorHandlerOption: with middleware.WithErrorHandler the handler
// answers and Echo's error handler is not called.
func TestErrorHandlerOption(t *testing.T) {
	env := adaptertest.NewEnv(t)
	auth, err := echov5auth.New(env.Verifier, middleware.WithErrorHandler(middleware.ErrorHandlerFunc(
		func(w http.ResponseWriter, _ *http.Request, o middleware.Outcome) {
			w.WriteHeader(o.Status)
			_, _ = io.WriteString(w, "custom "+o.Body().Error)
		})))
	if err != nil {
		t.Fatal(err)
	}
	called := false
	e := echo.New()
	e.HTTPErrorHandler = func(*echo.Context, error) { called = true }
	e.Use(auth.Authenticate)
	e.GET("/", func(c *echo.Context) error { return nil })
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 401 || w.Body.String() != "custom unauthorized" || called {
		t.Fatalf("got %d %q, echo handler called %v", w.Code, w.Body.String(), called)
	}
}

// TestMetadata: the RFC 9728 document is served and challenges point to it.
func TestMetadata(t *testing.T) {
	env := adaptertest.NewEnv(t)
	auth, err := echov5auth.New(env.Verifier, middleware.WithResourceMetadata(middleware.ResourceMetadata{
		Resource: adaptertest.Audience,
	}))
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.Use(auth.Authenticate)
	e.GET(auth.MetadataPath(), auth.MetadataHandler())
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("GET", auth.MetadataPath(), nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), adaptertest.Audience) {
		t.Fatalf("metadata: %d %q", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("GET", "/other", nil))
	if !strings.Contains(w.Header().Get("WWW-Authenticate"), "resource_metadata=") {
		t.Fatalf("challenge %q", w.Header().Get("WWW-Authenticate"))
	}
}

func TestNewRefusesNilVerifier(t *testing.T) {
	if _, err := echov5auth.New(nil); err == nil {
		t.Fatal("nil verifier accepted")
	}
}
