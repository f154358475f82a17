package echoauth_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
)

// TestConformance runs the adapter conformance kit against the Echo v4
// adapter: Authenticate with e.Use, Require per route.
func TestConformance(t *testing.T) {
	adaptertest.RunHTTP(t, adaptertest.HTTPAdapter{
		Transport: "echo",
		Handler: func(t testing.TB, s adaptertest.HTTPSetup) http.Handler {
			auth, err := echoauth.New(s.Verifier, s.Options()...)
			if err != nil {
				t.Fatal(err)
			}
			e := newEcho()
			if s.Authenticate {
				e.Use(auth.Authenticate)
			}
			for _, rt := range s.Routes {
				h := func(c echo.Context) error {
					p, _ := echoauth.Principal(c)
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
		},
	})
}
