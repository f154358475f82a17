package echoauth_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/echoauth"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
)

// handleDPoPEcho is the Echo adapter for the DPoP harness: the app behind
// auth.Authenticate, PathOrders also behind auth.Require.
func handleDPoPEcho(t testing.TB, v *jwtverify.Verifier, opts ...middleware.Option) http.Handler {
	t.Helper()
	auth, err := echoauth.New(v, append(authtest.BaseOptions(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e := newEcho()
	e.Use(auth.Authenticate)
	who := func(c echo.Context) error {
		authtest.WhoAmI(c.Response(), c.Request(), principal(c))
		return nil
	}
	e.Any(authtest.PathWhoAmI, who)
	e.Any(authtest.PathOrders, who, auth.Require(jwtverify.RequireAll(authtest.OrdersScope)))
	return e
}

// TestDPoP: RFC 9449 through Echo (SECURITY.md K rows).
func TestDPoP(t *testing.T) {
	authtest.RunDPoP(t, authtest.NewDPoPEnv(t), handleDPoPEcho)
}
