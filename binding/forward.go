package binding

import (
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Format is the encoding of a forwarded client certificate header. Each has
// its own strict parser; a deployment configures exactly one.
type Format uint8

// The forwarded certificate formats.
const (
	// FormatClientCert is RFC 9440's Client-Cert header: the DER
	// certificate as a Structured Field byte sequence, ":" standard
	// base64 with padding ":", without parameters. Default header
	// "Client-Cert".
	FormatClientCert Format = iota + 1
	// FormatXFCC is Envoy's x-forwarded-client-cert with exactly one
	// element: semicolon-separated Key=Value pairs whose Hash is the
	// lowercase hex SHA-256 of the DER certificate; a Cert (URL-encoded
	// PEM), when present, must hash to Hash. Configure Envoy with
	// forward_client_cert_details: SANITIZE_SET (it replaces any header
	// the client sent with the current client's details) and
	// set_current_client_cert_details as needed; APPEND_FORWARD or
	// FORWARD_ONLY pass client-supplied elements along, which this parser
	// refuses (a second element). Default header "X-Forwarded-Client-Cert".
	FormatXFCC
	// FormatEscapedPEM is a URL-escaped PEM certificate (one CERTIFICATE
	// block), as nginx's $ssl_client_escaped_cert produces
	// (proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert). No
	// default header: Forwarding.Header is required.
	FormatEscapedPEM
	// FormatBase64DER is the DER certificate in standard base64 with
	// padding, optionally URL-escaped: Traefik's passTLSClientCert with
	// pem: true (the PEM body without delimiters and newlines, URL-escaped;
	// a second certificate after a comma is refused), Caddy's
	// {http.request.tls.client.certificate_der_base64} placeholder.
	// Default header "X-Forwarded-Tls-Client-Cert" (Traefik's).
	FormatBase64DER
)

// String names the format: "client-cert", "xfcc", "escaped-pem" or
// "base64-der".
func (f Format) String() string {
	switch f {
	case FormatClientCert:
		return "client-cert"
	case FormatXFCC:
		return "xfcc"
	case FormatEscapedPEM:
		return "escaped-pem"
	case FormatBase64DER:
		return "base64-der"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// ParseFormat reads a Format name as String writes it.
func ParseFormat(s string) (Format, error) {
	for f := FormatClientCert; f <= FormatBase64DER; f++ {
		if s == f.String() {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown forwarded certificate format %q", ErrConfig, truncate(s))
}

// DefaultForwardedMaxBytes bounds a forwarded certificate header: a leaf
// certificate with a 4096-bit RSA key is about 2 KB as PEM, 3 KB
// URL-escaped.
const DefaultForwardedMaxBytes = 8 << 10

// Forwarding trusts a TLS-terminating proxy in front of the API to pass the
// client certificate of its TLS connection in one header.
//
// SECURITY: the proxy MUST remove every copy of this header that a client
// sends and set it only from the client certificate of the connection it
// terminated; otherwise any client can claim any certificate and use a
// stolen certificate-bound token. The API MUST NOT be reachable except
// through that proxy. RFC 8705 leaves this deployment out of scope, so this
// package is strict: one configured header and format, exactly one value,
// bounded size, a malformed value refused (never treated as absent).
type Forwarding struct {
	// Format is the header's encoding. Required.
	Format Format
	// Header is the header name. Default per format (see Format);
	// required for FormatEscapedPEM.
	Header string
	// MaxBytes bounds the header value. Default DefaultForwardedMaxBytes.
	MaxBytes int
}

func (f Forwarding) normalize() (Forwarding, error) {
	if f.Format < FormatClientCert || f.Format > FormatBase64DER {
		return f, fmt.Errorf("%w: Forwarding needs a Format", ErrConfig)
	}
	if f.Header == "" {
		switch f.Format {
		case FormatClientCert:
			f.Header = "Client-Cert"
		case FormatXFCC:
			f.Header = "X-Forwarded-Client-Cert"
		case FormatBase64DER:
			f.Header = "X-Forwarded-Tls-Client-Cert"
		default:
			return f, fmt.Errorf("%w: Forwarding with format %s needs a Header", ErrConfig, f.Format)
		}
	}
	if !validHeaderName(f.Header) {
		return f, fmt.Errorf("%w: invalid forwarded certificate header name %q", ErrConfig, truncate(f.Header))
	}
	switch http.CanonicalHeaderKey(f.Header) {
	case "Authorization", "Dpop", "Cookie", "Host", "Content-Length", "Transfer-Encoding":
		return f, fmt.Errorf("%w: header %q cannot carry a forwarded certificate", ErrConfig, f.Header)
	}
	f.Header = http.CanonicalHeaderKey(f.Header)
	if f.MaxBytes == 0 {
		f.MaxBytes = DefaultForwardedMaxBytes
	}
	if f.MaxBytes < 0 {
		return f, fmt.Errorf("%w: Forwarding.MaxBytes is negative", ErrConfig)
	}
	return f, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// parseForwarded parses one header value in format f.
func parseForwarded(f Format, v string) ([32]byte, Reason) {
	switch f {
	case FormatClientCert:
		return parseClientCert(v)
	case FormatXFCC:
		return parseXFCC(v)
	case FormatEscapedPEM:
		return parseEscapedPEM(v)
	case FormatBase64DER:
		return parseBase64DER(v)
	}
	return [32]byte{}, ReasonForwardedMalformed
}

// certThumbprint parses der as exactly one X.509 certificate and returns its
// thumbprint.
func certThumbprint(der []byte) ([32]byte, Reason) {
	if _, err := x509.ParseCertificate(der); err != nil {
		return [32]byte{}, ReasonForwardedMalformed
	}
	return Thumbprint(der), Accepted
}

// isStdBase64 reports whether s uses only the standard base64 alphabet and
// padding (Go's decoders skip CR and LF, so check first).
func isStdBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// decodeStdBase64 decodes canonical padded standard base64.
func decodeStdBase64(s string) ([]byte, bool) {
	if s == "" || !isStdBase64(s) {
		return nil, false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	return b, err == nil
}

// parseClientCert reads RFC 9440 Client-Cert: ":" base64 ":" (an RFC 8941
// byte sequence; parameters are refused).
func parseClientCert(v string) ([32]byte, Reason) {
	if len(v) < 2 || v[0] != ':' || v[len(v)-1] != ':' {
		return [32]byte{}, ReasonForwardedMalformed
	}
	der, ok := decodeStdBase64(v[1 : len(v)-1])
	if !ok {
		return [32]byte{}, ReasonForwardedMalformed
	}
	return certThumbprint(der)
}

// parseBase64DER reads base64 DER, URL-escaped or not (Traefik, Caddy).
func parseBase64DER(v string) ([32]byte, Reason) {
	s, err := url.PathUnescape(v)
	if err != nil {
		return [32]byte{}, ReasonForwardedMalformed
	}
	der, ok := decodeStdBase64(s)
	if !ok {
		return [32]byte{}, ReasonForwardedMalformed
	}
	return certThumbprint(der)
}

// pemBegin starts the one PEM block an escaped PEM header may hold.
const pemBegin = "-----BEGIN CERTIFICATE-----"

// parseEscapedPEM reads a URL-escaped PEM certificate: exactly one
// CERTIFICATE block without headers, nothing before it, only line breaks
// after it.
func parseEscapedPEM(v string) ([32]byte, Reason) {
	s, err := url.PathUnescape(v)
	if err != nil {
		return [32]byte{}, ReasonForwardedMalformed
	}
	return parsePEM([]byte(s))
}

func parsePEM(b []byte) ([32]byte, Reason) {
	if !bytes.HasPrefix(b, []byte(pemBegin)) {
		return [32]byte{}, ReasonForwardedMalformed
	}
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" || len(block.Headers) != 0 ||
		len(bytes.Trim(rest, "\r\n")) != 0 {
		return [32]byte{}, ReasonForwardedMalformed
	}
	return certThumbprint(block.Bytes)
}

// parseXFCC reads one Envoy x-forwarded-client-cert element.
func parseXFCC(v string) ([32]byte, Reason) {
	var hash, cert string
	var haveHash, haveCert, haveChain, haveSubject bool
	i := 0
	for {
		// Key.
		eq := strings.IndexByte(v[i:], '=')
		if eq <= 0 {
			return [32]byte{}, ReasonForwardedMalformed
		}
		key := v[i : i+eq]
		i += eq + 1
		// Value: quoted (with \" escapes) or bare.
		var val string
		if i < len(v) && v[i] == '"' {
			var b strings.Builder
			i++
			closed := false
			for i < len(v) {
				c := v[i]
				if c == '\\' {
					if i+1 >= len(v) {
						return [32]byte{}, ReasonForwardedMalformed
					}
					b.WriteByte(v[i+1])
					i += 2
					continue
				}
				if c == '"' {
					i++
					closed = true
					break
				}
				b.WriteByte(c)
				i++
			}
			if !closed {
				return [32]byte{}, ReasonForwardedMalformed
			}
			val = b.String()
		} else {
			end := i
			for end < len(v) && v[end] != ';' && v[end] != ',' {
				if v[end] == '"' || v[end] == '=' {
					return [32]byte{}, ReasonForwardedMalformed
				}
				end++
			}
			val = v[i:end]
			i = end
		}
		switch {
		case strings.EqualFold(key, "Hash"):
			if haveHash {
				return [32]byte{}, ReasonForwardedMalformed
			}
			hash, haveHash = val, true
		case strings.EqualFold(key, "Cert"):
			if haveCert {
				return [32]byte{}, ReasonForwardedMalformed
			}
			cert, haveCert = val, true
		case strings.EqualFold(key, "Chain"):
			if haveChain {
				return [32]byte{}, ReasonForwardedMalformed
			}
			haveChain = true
		case strings.EqualFold(key, "Subject"):
			if haveSubject {
				return [32]byte{}, ReasonForwardedMalformed
			}
			haveSubject = true
		case strings.EqualFold(key, "By"), strings.EqualFold(key, "URI"), strings.EqualFold(key, "DNS"):
			// May repeat (one per SAN).
		default:
			return [32]byte{}, ReasonForwardedMalformed
		}
		if i == len(v) {
			break
		}
		switch v[i] {
		case ';':
			i++
			continue
		case ',':
			// A second element: the header holds more than the client of
			// the proxy's own connection.
			return [32]byte{}, ReasonForwardedRepeated
		}
		return [32]byte{}, ReasonForwardedMalformed
	}
	if !haveHash || len(hash) != 2*len([32]byte{}) || strings.ToLower(hash) != hash {
		return [32]byte{}, ReasonForwardedMalformed
	}
	var t [32]byte
	if _, err := hex.Decode(t[:], []byte(hash)); err != nil {
		return [32]byte{}, ReasonForwardedMalformed
	}
	if haveCert {
		ct, why := parseEscapedPEM(cert)
		if why != Accepted {
			return [32]byte{}, why
		}
		if subtle.ConstantTimeCompare(ct[:], t[:]) != 1 {
			return [32]byte{}, ReasonForwardedMalformed
		}
	}
	return t, Accepted
}

// headerCache remembers the thumbprints of forwarded header values that
// parsed: a repeated caller sends the same value, and parsing a certificate
// costs tens of microseconds. Bounded in entries; each key is at most
// Forwarding.MaxBytes long.
type headerCache struct {
	mu  sync.RWMutex
	m   map[string][32]byte
	max int
}

func newHeaderCache(max int) *headerCache {
	return &headerCache{m: make(map[string][32]byte, min(max, 64)), max: max}
}

func (c *headerCache) get(v string) ([32]byte, bool) {
	c.mu.RLock()
	t, ok := c.m[v]
	c.mu.RUnlock()
	return t, ok
}

func (c *headerCache) put(v string, t [32]byte) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[v] = t
	c.mu.Unlock()
}

// FromRequest returns the thumbprint of the request's client certificate,
// or why there is none. Without Forwarding it reads the connection's TLS
// state (see FromTLS) and ignores every header. With Forwarding it reads
// only the configured header: absent or empty is ReasonNoClientCertificate,
// two values ReasonForwardedRepeated (so are two XFCC elements), a value
// over MaxBytes ReasonForwardedTooLarge, anything that does not parse
// ReasonForwardedMalformed.
func (s *CertSource) FromRequest(r *http.Request) ([32]byte, Reason) {
	if s.fwd == nil {
		return s.FromTLS(r.TLS)
	}
	return s.From(r.TLS, r.Header[s.fwd.Header])
}

// From is FromRequest for transports that are not net/http: cs is the
// connection's TLS state (nil without TLS) and forwarded the values of the
// configured Forwarding header (for gRPC, metadata values under the lower
// case header name). Without Forwarding, forwarded is ignored; with it, cs
// is.
func (s *CertSource) From(cs *tls.ConnectionState, forwarded []string) ([32]byte, Reason) {
	if s.fwd == nil {
		return s.FromTLS(cs)
	}
	switch {
	case len(forwarded) == 0 || len(forwarded) == 1 && forwarded[0] == "":
		return [32]byte{}, ReasonNoClientCertificate
	case len(forwarded) > 1:
		return [32]byte{}, ReasonForwardedRepeated
	}
	v := forwarded[0]
	if len(v) > s.fwd.MaxBytes {
		return [32]byte{}, ReasonForwardedTooLarge
	}
	if t, ok := s.headers.get(v); ok {
		return t, Accepted
	}
	t, why := parseForwarded(s.fwd.Format, v)
	if why == Accepted {
		s.headers.put(v, t)
	}
	return t, why
}

// Proof is From as a Proof.
func (s *CertSource) Proof(cs *tls.ConnectionState, forwarded []string) Proof {
	return proof(s.From(cs, forwarded))
}

// ProofFromRequest is FromRequest as a Proof.
func (s *CertSource) ProofFromRequest(r *http.Request) Proof {
	return proof(s.FromRequest(r))
}
