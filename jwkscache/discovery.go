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

// checkScheme applies the transport policy: https always, http only on
// loopback hosts or with InsecureAllowHTTP.
func checkScheme(u *url.URL, insecureAllowHTTP bool) error {
	if u.Scheme == "https" || insecureAllowHTTP || isLoopbackHost(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("jwkscache: %s: http is refused for a non-loopback host (use https, or set InsecureAllowHTTP)", u.Redacted())
}
