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

// handleEcho is the Echo adapter for the binding harness: the app behind
// auth.Authenticate (the binding runs in the shared Authenticator, which
// reads the request's TLS state through c.Request()).
func handleEcho(t testing.TB, v *jwtverify.Verifier, opts ...middleware.Option) http.Handler {
	t.Helper()
	auth, err := echoauth.New(v, append(authtest.BaseOptions(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e := newEcho()
	e.Use(auth.Authenticate)
	e.Any(authtest.PathWhoAmI, func(c echo.Context) error {
		authtest.WhoAmI(c.Response(), c.Request(), principal(c))
		return nil
	})
	return e
}

// TestCertificateBinding: RFC 8705 over real TLS through Echo, under every
// policy (SECURITY.md J1-J4).
func TestCertificateBinding(t *testing.T) {
	authtest.RunBinding(t, authtest.NewBindEnv(t), handleEcho)
}

// TestForwardedClientCert: each forwarded-certificate format through Echo
// (SECURITY.md J5).
func TestForwardedClientCert(t *testing.T) {
	authtest.RunForwarding(t, authtest.NewBindEnv(t), handleEcho)
}
