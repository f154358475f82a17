package benchmarks

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/m2mauth/m2mauth/benchmarks/internal/apps"
	"github.com/m2mauth/m2mauth/benchmarks/internal/fixture"
)

// HTTPAlg is the algorithm of the token sent in the HTTP benchmarks and the
// load test: RS256, what most issuers sign with.
const HTTPAlg = "RS256"

// BenchmarkHTTP serves one whole request per operation (a fresh
// httptest.ResponseRecorder and ServeHTTP) with a repeated token, per middleware variant (mw=none is the
// handler alone).
func BenchmarkHTTP(b *testing.B) { benchHTTP(b, false) }

// BenchmarkHTTPParallel is BenchmarkHTTP under b.RunParallel.
func BenchmarkHTTPParallel(b *testing.B) { benchHTTP(b, true) }

func benchHTTP(b *testing.B, parallel bool) {
	f := fixture.Get(HTTPAlg)
	authz := "Bearer " + f.Token
	for _, variant := range apps.Variants {
		b.Run("alg="+HTTPAlg+"/mw="+variant, func(b *testing.B) {
			h, err := apps.Handler(variant, f)
			if err != nil {
				b.Skip(err)
			}
			// One request, built once and only read by the handlers (m2mauth
			// derives a new one with the Principal in its context), so the
			// time per operation is the recorder, the middleware and App.
			req := httptest.NewRequest(http.MethodGet, "/orders", nil)
			req.Header.Set("Authorization", authz)
			serve := func() bool {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec.Code == http.StatusOK
			}
			if !serve() {
				b.Fatal("request refused")
			}
			loop(b, parallel, serve)
		})
	}
}

// TestHTTPRefuses checks that every authenticating variant refuses a
// request without a token and one with a tampered token, so the HTTP
// benchmarks measure real checks.
func TestHTTPRefuses(t *testing.T) {
	f := fixture.Get(HTTPAlg)
	bad := f.Token[:len(f.Token)-8] + "AAAAAAAA"
	for _, variant := range apps.Variants[1:] {
		h, err := apps.Handler(variant, f)
		if err != nil {
			t.Logf("%s: skipped: %v", variant, err)
			continue
		}
		for name, authz := range map[string]string{"no token": "", "tampered": "Bearer " + bad, "valid": "Bearer " + f.Token} {
			req := httptest.NewRequest(http.MethodGet, "/orders", nil)
			if authz != "" {
				req.Header.Set("Authorization", authz)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if want := name == "valid"; (rec.Code == http.StatusOK) != want {
				t.Errorf("%s, %s: status %d", variant, name, rec.Code)
			}
		}
	}
}
