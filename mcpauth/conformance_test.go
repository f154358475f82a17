package mcpauth_test

import (
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/m2mauth/m2mauth/adaptertest"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/mcpauth"
	"github.com/m2mauth/m2mauth/middleware"
)

// TestConformance: the adapter conformance kit over httptest, with
// mcpauth.Handler (and so the SDK's bearer middleware behind it) on every
// route that has a requirement. The kit's "authenticating middleware in
// front" is built from the adapter's Authenticator, as the doc tells users
// to protect the routes around the MCP endpoint.
func TestConformance(t *testing.T) {
	adaptertest.RunHTTP(t, adaptertest.HTTPAdapter{Transport: mcpauth.Transport, Handler: serveKit})
}

func serveKit(t testing.TB, s adaptertest.HTTPSetup) http.Handler {
	ma, err := mcpauth.New(s.Verifier, s.Options()...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range s.Routes {
		var h http.Handler = http.HandlerFunc(kitRespond)
		if rt.Require {
			h = ma.Handler(rt.Requirement, h)
		}
		pattern := rt.Path
		if rt.Method != "" {
			pattern = rt.Method + " " + rt.Path
		}
		mux.Handle(pattern, h)
	}
	if !s.Authenticate {
		return mux
	}
	a := ma.Authenticator()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := a.Authenticate(r)
		if !o.Proceed() {
			a.ServeError(w, r, o)
			return
		}
		mux.ServeHTTP(w, middleware.WithPrincipal(r, o))
	})
}

// kitRespond reads the Principal with mcpauth's accessor (the TokenInfo
// that the SDK's middleware stored) where mcpauth.Handler ran, and from the
// context elsewhere. mcpauth.Handler deliberately puts no Principal under
// jwtverify's context key (see TestToolSeesTheCallsToken), so the kit's
// "both ways agree" check is given the accessor's: there it only proves
// that the accessor names the verified caller.
func kitRespond(w http.ResponseWriter, r *http.Request) {
	p, ok := mcpauth.PrincipalFromTokenInfo(auth.TokenInfoFromContext(r.Context()))
	if !ok {
		p, _ = jwtverify.FromContext(r.Context())
	} else if _, in := jwtverify.FromContext(r.Context()); !in {
		r = r.WithContext(jwtverify.NewContext(r.Context(), p))
	}
	adaptertest.Respond(w, r, p)
}
