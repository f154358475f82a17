// Package grpccreds gives gRPC clients the client certificates oauthtest
// makes, for tests of certificate-bound access tokens (RFC 8705) over gRPC.
// It lives apart from oauthtest so that tests which use no gRPC do not
// compile it.
//
//	cc := oauthtest.NewClientCertT(t, "orders-worker")
//	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(grpccreds.Credentials(cc, roots)))
package grpccreds

import (
	"crypto/x509"

	"google.golang.org/grpc/credentials"

	"github.com/m2mauth/m2mauth/oauthtest"
)

// Credentials returns transport credentials that present cc in the TLS
// handshake and trust roots (the API's test server certificate, for
// example oauthtest.RootCAs of an httptest server).
func Credentials(cc *oauthtest.ClientCert, roots *x509.CertPool) credentials.TransportCredentials {
	return credentials.NewTLS(cc.TLSConfig(roots))
}
