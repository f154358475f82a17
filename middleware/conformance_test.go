package middleware_test

import (
	"net/http"
	"testing"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

// TestConformance runs the adapter conformance kit against the net/http
// middleware on a standard ServeMux.
func TestConformance(t *testing.T) {
	adaptertest.RunHTTP(t, adaptertest.HTTPAdapter{
		Transport: "http",
		Handler: func(t testing.TB, s adaptertest.HTTPSetup) http.Handler {
			mw, err := middleware.New(s.Verifier, s.Options()...)
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			for _, rt := range s.Routes {
				var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					p, _ := jwtverify.FromContext(r.Context())
					adaptertest.Respond(w, r, p)
				})
				if rt.Require {
					h = mw.Require(rt.Requirement)(h)
				}
				pattern := rt.Path
				if rt.Method != "" {
					pattern = rt.Method + " " + rt.Path
				}
				mux.Handle(pattern, h)
			}
			if s.Authenticate {
				return mw.Handler(mux)
			}
			return mux
		},
	})
}
