package middleware_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
	"github.com/m2mauth/m2mauth/middleware/internal/authtest"
)

// handleMux is the net/http adapter for the binding harness: PathWhoAmI
// behind mw.Handler.
func handleMux(t testing.TB, v *jwtverify.Verifier, opts ...middleware.Option) http.Handler {
	t.Helper()
	mw, err := middleware.New(v, append(authtest.BaseOptions(), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(authtest.PathWhoAmI, func(w http.ResponseWriter, r *http.Request) {
		p, _ := jwtverify.FromContext(r.Context())
		authtest.WhoAmI(w, r, p)
	})
	mux.HandleFunc(authtest.PathHealth, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	return mw.Handler(mux)
}

// TestCertificateBinding: RFC 8705 over real TLS through the net/http
// middleware, under every policy (SECURITY.md J1-J4).
func TestCertificateBinding(t *testing.T) {
	authtest.RunBinding(t, authtest.NewBindEnv(t), handleMux)
}

// TestForwardedClientCert: each forwarded-certificate format, strictly
// (SECURITY.md J5).
func TestForwardedClientCert(t *testing.T) {
	authtest.RunForwarding(t, authtest.NewBindEnv(t), handleMux)
}

func TestBindingMetadata(t *testing.T) {
	authtest.CheckBindingMetadata(t, authtest.NewBindEnv(t))
}

func TestCertSourceOptions(t *testing.T) {
	env := authtest.NewBindEnv(t)
	v := env.Verifier(t, binding.Optional, nil)
	if _, err := middleware.New(v, middleware.WithCertSource(nil)); err == nil {
		t.Error("WithCertSource(nil) accepted")
	}
	if _, err := middleware.New(v, middleware.WithForwardedClientCert(binding.Forwarding{})); err == nil {
		t.Error("a Forwarding without a format accepted")
	}
	if _, err := middleware.New(v, middleware.WithForwardedClientCert(binding.Forwarding{Format: binding.FormatClientCert, Header: "Authorization"})); err == nil {
		t.Error("forwarding in the Authorization header accepted")
	}
}
