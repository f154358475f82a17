package ginauth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/ginauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // no route listing on stdout
	goleak.VerifyTestMain(m)
}

// serve builds the Gin app of the conformance kit.
func serve(t testing.TB, s adaptertest.HTTPSetup) http.Handler {
	auth, err := ginauth.New(s.Verifier, s.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	if s.Authenticate {
		r.Use(auth.Authenticate)
	}
	for _, rt := range s.Routes {
		var hs []gin.HandlerFunc
		if rt.Require {
			hs = append(hs, auth.Require(rt.Requirement))
		}
		hs = append(hs, func(c *gin.Context) {
			p, _ := ginauth.Principal(c)
			adaptertest.Respond(c.Writer, c.Request, p)
		})
		if rt.Method == "" {
			r.Any(rt.Path, hs...)
		} else {
			r.Handle(rt.Method, rt.Path, hs...)
		}
	}
	return r
}

// TestConformance: the adapter conformance kit over httptest.
func TestConformance(t *testing.T) {
	adaptertest.RunHTTP(t, adaptertest.HTTPAdapter{Transport: ginauth.Transport, Handler: serve})
}

// TestAbortStopsTheChain: after a refusal no later handler runs, nothing
// is added to c.Errors (Gin's logger prints them, and the verification
// error can quote caller input), and the answer is the RFC 6750 one.
func TestAbortStopsTheChain(t *testing.T) {
	env := adaptertest.NewEnv(t)
	auth, err := ginauth.New(env.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	const evil = "https://evil.test/zzMARKERzz"
	untrusted := env.Token(t, map[string]any{"iss": evil})
	noScope := env.Token(t, map[string]any{"scope": "profile"})
	var reached, errs int
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Next()
		errs += len(c.Errors)
	})
	r.Use(auth.Authenticate)
	r.GET("/orders", auth.Require(jwtverify.RequireAll("orders.read")), func(c *gin.Context) { reached++ })
	for _, tc := range []struct {
		name, auth string
		status     int
		body       string
	}{
		{"no_credentials", "", 401, `{"error":"unauthorized","error_description":"Bearer authentication is required"}`},
		{"untrusted_issuer", "Bearer " + untrusted, 401,
			`{"error":"invalid_token","error_description":"` + jwtverify.ReasonIssuer.Description() + `"}`},
		{"forbidden", "Bearer " + noScope, 403,
			`{"error":"insufficient_scope","error_description":"` + jwtverify.ReasonInsufficientScope.Description() + `"}`},
	} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/orders", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		r.ServeHTTP(w, req)
		if w.Code != tc.status || strings.TrimSpace(w.Body.String()) != tc.body || strings.Contains(w.Body.String(), "zzMARKERzz") {
			t.Fatalf("%s: %d %q", tc.name, w.Code, w.Body.String())
		}
	}
	if reached != 0 || errs != 0 {
		t.Fatalf("handler reached %d times, %d errors in c.Errors", reached, errs)
	}
}

// TestPrincipalFromGinContext: the Principal is reachable through
// ginauth.Principal, the request context, and, with ContextWithFallback,
// the *gin.Context itself.
func TestPrincipalFromGinContext(t *testing.T) {
	env := adaptertest.NewEnv(t)
	auth, err := ginauth.New(env.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	for _, fallback := range []bool{false, true} {
		r := gin.New()
		r.ContextWithFallback = fallback
		r.Use(auth.Authenticate)
		var got string
		r.GET("/", func(c *gin.Context) {
			p, ok := ginauth.Principal(c)
			q, ok2 := jwtverify.FromContext(c.Request.Context())
			g, ok3 := jwtverify.FromContext(c)
			got = strings.Join([]string{
				p.ClientID(), boolStr(ok && ok2 && p == q), boolStr(ok3 && g == p),
			}, " ")
		})
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+env.Token(t, nil))
		r.ServeHTTP(httptest.NewRecorder(), req)
		want := adaptertest.ClientID + " true " + boolStr(fallback)
		if got != want {
			t.Fatalf("fallback %v: %q, want %q", fallback, got, want)
		}
	}
	if _, ok := ginauth.Principal(&gin.Context{}); ok {
		t.Fatal("a Principal from a context without a request")
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestErrorHandlerOption: with middleware.WithErrorHandler the handler
// answers and the chain stops.
func TestErrorHandlerOption(t *testing.T) {
	env := adaptertest.NewEnv(t)
	auth, err := ginauth.New(env.Verifier, middleware.WithErrorHandler(middleware.ErrorHandlerFunc(
		func(w http.ResponseWriter, _ *http.Request, o middleware.Outcome) {
			w.WriteHeader(o.Status)
			_, _ = io.WriteString(w, "custom "+o.Body().Error)
		})))
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.Use(auth.Authenticate)
	r.GET("/", func(c *gin.Context) { c.String(200, "reached") })
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	if w.Code != 401 || w.Body.String() != "custom unauthorized" {
		t.Fatalf("got %d %q", w.Code, w.Body.String())
	}
}

// TestMetadata: the RFC 9728 document is served and challenges point to it.
func TestMetadata(t *testing.T) {
	env := adaptertest.NewEnv(t)
	auth, err := ginauth.New(env.Verifier, middleware.WithResourceMetadata(middleware.ResourceMetadata{
		Resource: adaptertest.Audience,
	}))
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	r.Use(auth.Authenticate)
	r.GET(auth.MetadataPath(), auth.MetadataHandler())
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", auth.MetadataPath(), nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), adaptertest.Audience) {
		t.Fatalf("metadata: %d %q", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/other", nil))
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), "resource_metadata=") {
		t.Fatalf("challenge %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestNewRefusesNilVerifier(t *testing.T) {
	if _, err := ginauth.New(nil); err == nil {
		t.Fatal("nil verifier accepted")
	}
}
