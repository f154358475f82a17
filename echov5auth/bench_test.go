package echov5auth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v5"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/echov5auth"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// benchApps returns the same Echo v5 route without and with the adapter
// (Authenticate on the app, Require on the route), and a request to it
// carrying a valid token.
func benchApps(b *testing.B) (raw, guarded *echo.Echo, r *http.Request) {
	env := adaptertest.NewEnv(b)
	tok := env.Token(b, map[string]any{"scope": "orders.read"})
	auth, err := echov5auth.New(env.Verifier)
	if err != nil {
		b.Fatal(err)
	}
	h := func(c *echo.Context) error { return c.NoContent(http.StatusNoContent) }
	raw = echo.New()
	raw.GET("/orders", h)
	guarded = echo.New()
	guarded.Use(auth.Authenticate)
	guarded.GET("/orders", h, auth.Require(jwtverify.RequireAll("orders.read")))
	r = httptest.NewRequest(http.MethodGet, "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return raw, guarded, r
}

// BenchmarkRequest: a whole request with a repeated token through Echo v5,
// with and without the adapter. The difference between the two is what
// the adapter adds.
func BenchmarkRequest(b *testing.B) {
	raw, guarded, r := benchApps(b)
	for _, bc := range []struct {
		name string
		e    *echo.Echo
	}{{"raw", raw}, {"Authenticate+Require", guarded}} {
		b.Run(bc.name, func(b *testing.B) {
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

// BenchmarkOverhead: what the adapter adds to the same Echo v5 route, with
// both measured in interleaved blocks (adaptertest.Overhead).
func BenchmarkOverhead(b *testing.B) {
	raw, guarded, r := benchApps(b)
	adaptertest.Overhead(b, raw, guarded, r)
}
