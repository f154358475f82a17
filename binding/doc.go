// Package binding is the sender-constrained token model m2mauth shares
// between certificate binding (mutual TLS, RFC 8705) and DPoP (RFC 9449): a
// bound token carries a confirmation claim ("cnf", RFC 7800) naming a
// certificate or key, and is accepted only when the request proves
// possession of it.
//
// The pieces, each usable alone:
//
//   - Config: an issuer's Policy (Off, Optional, Required) and the
//     confirmation Methods its tokens may use (Certificate, DPoP).
//   - ParseConfirmation: the strict parser of a cnf claim into a
//     Confirmation (x5t#S256 and jkt thumbprints; anything unknown or
//     malformed refuses).
//   - CertSource: the thumbprint of a request's client certificate, from
//     the TLS connection (cached per certificate, so a repeated bound token
//     costs a map lookup) or, opt-in, from one header set by a trusted
//     TLS-terminating proxy (Forwarding: RFC 9440 Client-Cert, Envoy XFCC,
//     URL-escaped PEM, base64 DER), each format with its own strict parser.
//   - Proof and Check: what the request proved and the decision, Accepted
//     or a Reason from a closed set, safe for logs and metric labels.
//
// A typical adapter step, after the token verified:
//
//	src, err := binding.NewCertSource(binding.CertSourceConfig{})
//	cfg := binding.Config{Policy: binding.Optional, Methods: binding.Certificate}
//	check := func(r *http.Request, rawCnf []byte) binding.Reason { // rawCnf: the token's "cnf" claim, when it has one
//		cnf, err := binding.ParseConfirmation(rawCnf) // once per token (cache it)
//		if err != nil {
//			return binding.ReasonMalformedConfirmation
//		}
//		// not Accepted: 401 invalid_token with a fixed description; the reason goes to logs and metrics
//		return binding.Check(cfg, cnf, src.ProofFromRequest(r))
//	}
//
// # Servers
//
// Certificate binding needs the client certificate of the connection the
// token arrived on: configure the TLS server with tls.RequestClientCert (or
// stronger). No chain verification is needed for binding, since the
// token's issuer vouched for the certificate when it bound the token to its
// thumbprint; tls.RequireAnyClientCert refuses clients without a
// certificate at the handshake, tls.VerifyClientCertIfGiven and
// RequireAndVerifyClientCert add the API's own CA check on top. gRPC: the
// certificate is in credentials.TLSInfo from peer.FromContext; pass
// &info.State to CertSource.FromTLS. Connect interceptors cannot see TLS
// state: run the binding check in the HTTP middleware in front of them.
//
// # Behind a TLS-terminating proxy
//
// Forwarding reads one configured header instead of the connection. The
// proxy MUST strip client-supplied copies of that header, and the API MUST
// be reachable only through it; without Forwarding every such header is
// ignored, never trusted. The proxy terminates TLS, so it also asks for the
// client certificate (optional verification is enough, as above). Proxy
// settings that fit each format:
//
//   - FormatClientCert: a proxy implementing RFC 9440 ("Client-Cert").
//   - FormatXFCC: Envoy with forward_client_cert_details: SANITIZE_SET
//     (replaces any client-sent header) and set_current_client_cert_details
//     as you like (Hash is always sent; a Cert must match it).
//   - FormatEscapedPEM: nginx,
//     proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
//     (proxy_set_header replaces a client-sent copy; an empty value, no
//     certificate, sends no header).
//   - FormatBase64DER: Traefik's passTLSClientCert with pem: true
//     (X-Forwarded-Tls-Client-Cert), Caddy's
//     header_up X-Client-Cert {http.request.tls.client.certificate_der_base64}
//     (Caddy's certificate_pem placeholder holds raw line breaks, which are
//     not a valid header value), HAProxy's %[ssl_c_der,base64].
//
// Check for your proxy version that a client-sent copy of the header is
// removed: a test request carrying the header through the proxy must
// arrive without it, or with the proxy's own value.
package binding
