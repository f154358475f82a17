package ginauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/ginauth"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// benchApps returns the same Gin route without and with the adapter
// (Authenticate on the engine, Require on the route), and a request to it
// carrying a valid token.
func benchApps(b *testing.B) (raw, guarded *gin.Engine, r *http.Request) {
	env := adaptertest.NewEnv(b)
	tok := env.Token(b, map[string]any{"scope": "orders.read"})
	auth, err := ginauth.New(env.Verifier)
	if err != nil {
		b.Fatal(err)
	}
	h := func(c *gin.Context) { c.Status(http.StatusNoContent) }
	raw = gin.New()
	raw.GET("/orders", h)
	guarded = gin.New()
	guarded.Use(auth.Authenticate)
	guarded.GET("/orders", auth.Require(jwtverify.RequireAll("orders.read")), h)
	r = httptest.NewRequest(http.MethodGet, "/orders", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return raw, guarded, r
}

// BenchmarkRequest: a whole request with a repeated token through Gin,
// with and without the adapter. The difference between the two is what
// the adapter adds.
func BenchmarkRequest(b *testing.B) {
	raw, guarded, r := benchApps(b)
	for _, bc := range []struct {
		name string
		e    *gin.Engine
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

// BenchmarkOverhead: what the adapter adds to the same Gin route, with
// both measured in interleaved blocks (adaptertest.Overhead).
func BenchmarkOverhead(b *testing.B) {
	raw, guarded, r := benchApps(b)
	adaptertest.Overhead(b, raw, guarded, r)
}
