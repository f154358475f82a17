package echoauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
)

// BenchmarkRequest: a whole request with a repeated token through Echo with
// and without the adapter (Authenticate on the app, Require on the route).
func BenchmarkRequest(b *testing.B) {
	env := authtest.NewEnv(b)
	tok := env.Token(b, map[string]any{"scope": "orders.read"})
	auth, err := echoauth.New(env.Verifier)
	if err != nil {
		b.Fatal(err)
	}
	h := func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }
	raw := newEcho()
	raw.GET("/orders", h)
	guarded := newEcho()
	guarded.Use(auth.Authenticate)
	guarded.GET("/orders", h, auth.Require(jwtverify.RequireAll("orders.read")))
	for _, bc := range []struct {
		name string
		e    *echo.Echo
	}{{"raw", raw}, {"Authenticate+Require", guarded}} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/orders", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			bc.e.ServeHTTP(w, r)
			if w.Code != http.StatusNoContent {
				b.Fatalf("status %d", w.Code)
			}
			b.ReportAllocs()
			for b.Loop() {
				bc.e.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
