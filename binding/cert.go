package binding

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"sync"
)

// Thumbprint returns the SHA-256 thumbprint of a DER certificate, the value
// of cnf "x5t#S256" (RFC 8705 section 3.1).
func Thumbprint(der []byte) [32]byte { return sha256.Sum256(der) }

// DefaultCacheEntries is the default size of a CertSource's thumbprint
// caches.
const DefaultCacheEntries = 1024

// thumbCache remembers the thumbprint of each certificate object net/http
// and gRPC hand out: both keep one tls.ConnectionState per connection, so
// every request of a connection carries the same *x509.Certificate, and a
// repeated bound token costs a map lookup instead of hashing the DER again.
// Keying by pointer is sound: the map keeps the certificate alive, so its
// address cannot be reused while the entry exists. Bounded: when full, an
// arbitrary entry is dropped.
type thumbCache struct {
	mu  sync.RWMutex
	m   map[*x509.Certificate]certEntry
	max int
}

// certEntry also records the DER's identity (first byte address and
// length), so a certificate whose Raw was replaced is hashed again.
type certEntry struct {
	raw   *byte
	n     int
	thumb [32]byte
}

func newThumbCache(max int) *thumbCache {
	return &thumbCache{m: make(map[*x509.Certificate]certEntry, min(max, 64)), max: max}
}

func (c *thumbCache) thumbprint(cert *x509.Certificate) [32]byte {
	var raw *byte
	if len(cert.Raw) > 0 {
		raw = &cert.Raw[0]
	}
	c.mu.RLock()
	e, ok := c.m[cert]
	c.mu.RUnlock()
	if ok && e.raw == raw && e.n == len(cert.Raw) {
		return e.thumb
	}
	t := Thumbprint(cert.Raw)
	c.mu.Lock()
	if len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[cert] = certEntry{raw: raw, n: len(cert.Raw), thumb: t}
	c.mu.Unlock()
	return t
}

func (c *thumbCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// CertSourceConfig configures a CertSource.
type CertSourceConfig struct {
	// Forwarding, when non-nil, takes the client certificate from a header
	// set by a TLS-terminating proxy instead of from the connection. Nil
	// (the default) uses only the connection's own TLS state, and every
	// forwarded-certificate header is ignored.
	Forwarding *Forwarding
	// CacheEntries bounds each thumbprint cache (per certificate object and
	// per forwarded header value). Default DefaultCacheEntries.
	CacheEntries int
}

// CertSource finds the client certificate of a request and its thumbprint,
// from the connection's TLS state or, when configured, from a trusted
// proxy's header; thumbprints are cached per certificate. It is safe for
// concurrent use; one CertSource serves every request of an API.
type CertSource struct {
	fwd     *Forwarding
	certs   *thumbCache
	headers *headerCache
}

// NewCertSource checks cfg (a Forwarding must name a known format and a
// valid header) and returns a CertSource.
func NewCertSource(cfg CertSourceConfig) (*CertSource, error) {
	n := cfg.CacheEntries
	if n <= 0 {
		n = DefaultCacheEntries
	}
	s := &CertSource{certs: newThumbCache(n)}
	if cfg.Forwarding != nil {
		f, err := cfg.Forwarding.normalize()
		if err != nil {
			return nil, err
		}
		s.fwd = &f
		s.headers = newHeaderCache(n)
	}
	return s, nil
}

// Forwarding returns a copy of the forwarding configuration in use (with
// defaults filled in), or nil when forwarding is off.
func (s *CertSource) Forwarding() *Forwarding {
	if s.fwd == nil {
		return nil
	}
	f := *s.fwd
	return &f
}

// FromTLS returns the thumbprint of the leaf client certificate of a TLS
// connection: ReasonNotTLS for a nil state, ReasonNoClientCertificate when
// the client sent none. The server must ask for certificates
// (tls.RequestClientCert or stronger); no chain verification is needed for
// binding, because the token's issuer vouched for the certificate when it
// bound the token to it. gRPC: pass &credentials.TLSInfo.State from
// peer.FromContext.
func (s *CertSource) FromTLS(cs *tls.ConnectionState) ([32]byte, Reason) {
	if cs == nil {
		return [32]byte{}, ReasonNotTLS
	}
	if len(cs.PeerCertificates) == 0 || cs.PeerCertificates[0] == nil || len(cs.PeerCertificates[0].Raw) == 0 {
		return [32]byte{}, ReasonNoClientCertificate
	}
	return s.certs.thumbprint(cs.PeerCertificates[0]), Accepted
}

// ProofFromTLS is FromTLS as a Proof.
func (s *CertSource) ProofFromTLS(cs *tls.ConnectionState) Proof {
	return proof(s.FromTLS(cs))
}

func proof(t [32]byte, why Reason) Proof {
	if why != Accepted {
		return NoCertificate(why)
	}
	return CertificateProof(t)
}
