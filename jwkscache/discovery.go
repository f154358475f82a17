package jwkscache

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// ErrDiscovery means the issuer's metadata document was unusable: not a
// JSON object, its "issuer" differs from the configured issuer, or its
// "jwks_uri" is missing or not an acceptable URL.
var ErrDiscovery = errors.New("jwkscache: discovery")

// maxURLLength bounds URLs taken from configuration or metadata.
const maxURLLength = 2048

// discoveryURLs returns the metadata URLs tried for issuer, in order: the
// OpenID Connect form ({issuer}/.well-known/openid-configuration) and the
// RFC 8414 form ({origin}/.well-known/oauth-authorization-server{path}).
// For an issuer without a path both forms differ only in their suffix.
func discoveryURLs(issuer *url.URL) (openid, rfc8414 string) {
	path := strings.TrimSuffix(issuer.EscapedPath(), "/")
	origin := issuer.Scheme + "://" + issuer.Host
	return origin + path + "/.well-known/openid-configuration",
		origin + "/.well-known/oauth-authorization-server" + path
}

// parseDiscovery reads the authorization server metadata document doc and
// returns its jwks_uri. The document's "issuer" must equal issuer exactly
// (OpenID Connect Discovery section 4.3, RFC 8414 section 3.3): this binds
// the keys to the issuer the verifier trusts. Scheme policy is checked by
// the caller (it depends on configuration).
func parseDiscovery(doc []byte, issuer string) (string, error) {
	m, err := members(doc)
	if err != nil {
		return "", fmt.Errorf("%w: metadata: %w", ErrDiscovery, err)
	}
	got, ok, err := stringMember(m, "issuer")
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrDiscovery, err)
	}
	if !ok {
		return "", fmt.Errorf(`%w: metadata has no "issuer"`, ErrDiscovery)
	}
	if got != issuer {
		return "", fmt.Errorf("%w: metadata issuer %q is not the configured issuer %q", ErrDiscovery, truncate(got, 256), issuer)
	}
	jwksURI, ok, err := stringMember(m, "jwks_uri")
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrDiscovery, err)
	}
	if !ok || jwksURI == "" {
		return "", fmt.Errorf(`%w: metadata has no "jwks_uri"`, ErrDiscovery)
	}
	if _, err := parseFetchURL(jwksURI, true); err != nil {
		return "", fmt.Errorf("%w: jwks_uri: %w", ErrDiscovery, err)
	}
	return jwksURI, nil
}

// parseFetchURL parses an absolute http(s) URL without user info or
// fragment. allowQuery says whether a query is allowed (a JWKS URL may
// have one, an issuer may not).
func parseFetchURL(raw string, allowQuery bool) (*url.URL, error) {
	if len(raw) > maxURLLength {
		return nil, fmt.Errorf("URL longer than %d bytes", maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, errors.New("URL scheme must be https (or http on loopback)")
	case u.Host == "" || u.Opaque != "":
		return nil, errors.New("URL must be absolute with a host")
	case u.User != nil:
		return nil, errors.New("URL must not carry user info")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, errors.New("URL must not have a fragment")
	case !allowQuery && (u.RawQuery != "" || u.ForceQuery):
		return nil, errors.New("URL must not have a query")
	}
	return u, nil
}

// isLoopbackHost reports whether host (no port) is localhost or a loopback
// IP address (127.0.0.0/8, ::1).
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// urlPolicy is the one rule set every URL the cache fetches obeys,
// however it was learnt: the configured URL, a discovered jwks_uri, a
// redirect.
//
//   - https always; http only when the configured URL itself is http
//     (allowed there only for a loopback host or with InsecureAllowHTTP),
//     and then only to a loopback host unless InsecureAllowHTTP: once the
//     configured URL is https nothing is fetched over http (no downgrade),
//     whatever InsecureAllowHTTP says;
//   - a discovered jwks_uri must be on the metadata document's own host
//     and port, or on a host of Config.AllowedJWKSHosts;
//   - a redirect stays on its request's origin and never goes from https
//     to http (safeClient).
//
// A refused URL is never requested: the fetch fails with ClassInsecureURL
// or ClassForeignHost.
type urlPolicy struct {
	httpsOnly    bool // the configured URL is https
	insecureHTTP bool // Config.InsecureAllowHTTP
	allowedHosts []allowedHost
}

// allowedHost is an entry of Config.AllowedJWKSHosts: a lower-case host
// name or IP address and a port ("" for the scheme's default port).
type allowedHost struct{ host, port string }

// newURLPolicy builds the policy for a cache whose configured URL is u.
func newURLPolicy(u *url.URL, cfg *Config) (urlPolicy, error) {
	p := urlPolicy{httpsOnly: u.Scheme == "https", insecureHTTP: cfg.InsecureAllowHTTP}
	for i, h := range cfg.AllowedJWKSHosts {
		ah, err := parseAllowedHost(h)
		if err != nil {
			return p, fmt.Errorf("AllowedJWKSHosts[%d]: %w", i, err)
		}
		p.allowedHosts = append(p.allowedHosts, ah)
	}
	return p, nil
}

// parseAllowedHost parses "host" or "host:port" ("[::1]:8443" for IPv6).
func parseAllowedHost(raw string) (allowedHost, error) {
	if raw == "" || len(raw) > 255 || strings.ContainsAny(raw, "/?#@ \t") {
		return allowedHost{}, errors.New("want a host name or host:port, without scheme or path")
	}
	u, err := url.Parse("https://" + raw)
	if err != nil || u.Host != raw || u.Hostname() == "" {
		return allowedHost{}, errors.New("want a host name or host:port, without scheme or path")
	}
	return allowedHost{host: strings.ToLower(u.Hostname()), port: u.Port()}, nil
}

// checkScheme applies the scheme rules to u.
func (p urlPolicy) checkScheme(u *url.URL) error {
	switch {
	case u.Scheme == "https":
		return nil
	case p.httpsOnly:
		return fmt.Errorf("jwkscache: %s: http refused: the configured URL uses https (no downgrade)", redactURL(u))
	case p.insecureHTTP || isLoopbackHost(u.Hostname()):
		return nil
	}
	return fmt.Errorf("jwkscache: %s: http is refused for a non-loopback host (use https, or set InsecureAllowHTTP)", redactURL(u))
}

// checkJWKSURI applies the host rule to a jwks_uri discovered in the
// metadata document at meta: the same host and port, or an allowed host.
func (p urlPolicy) checkJWKSURI(meta, u *url.URL) error {
	if strings.EqualFold(hostPort(meta), hostPort(u)) {
		return nil
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	for _, ah := range p.allowedHosts {
		if ah.host != host {
			continue
		}
		if ah.port == port || ah.port == "" && (port == "" || port == defaultPort(u.Scheme)) {
			return nil
		}
	}
	return fmt.Errorf("jwkscache: jwks_uri host %s is not the metadata host %s (list it in AllowedJWKSHosts)", truncate(u.Host, 256), meta.Host)
}

// redactURL returns u's scheme, host and path: no user info, no query.
func redactURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}
