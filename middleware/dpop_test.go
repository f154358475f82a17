package middleware_test

import (
	"net/http"
	"testing"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
)

// handleDPoPMux is the net/http adapter for the DPoP harness: the mux
// behind mw.Handler, PathOrders also behind mw.Require.
func handleDPoPMux(t testing.TB, v *jwtverify.Verifier, opts ...middleware.Option) http.Handler {
	t.Helper()
	mw, err := middleware.New(v, append(authtest.BaseOptions(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	who := func(w http.ResponseWriter, r *http.Request) {
		p, _ := jwtverify.FromContext(r.Context())
		authtest.WhoAmI(w, r, p)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(authtest.PathWhoAmI, who)
	mux.Handle(authtest.PathOrders, mw.RequireFunc(jwtverify.RequireAll(authtest.OrdersScope), who))
	return mw.Handler(mux)
}

// TestDPoP: RFC 9449 through the net/http middleware (SECURITY.md K rows).
func TestDPoP(t *testing.T) {
	authtest.RunDPoP(t, authtest.NewDPoPEnv(t), handleDPoPMux)
}
