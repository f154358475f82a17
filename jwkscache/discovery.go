package jwkscache

import (
	"errors"
	"fmt"
	"github.com/m2mauth/m2mauth/internal/urlpolicy"
	"net/url"
	"strings"
)

// ErrDiscovery means the issuer's metadata document was unusable: not a
// JSON object, its "issuer" differs from the configured issuer, or its
// "jwks_uri" is missing or not an acceptable URL.
var ErrDiscovery = errors.New("jwkscache: discovery")

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
// fragment (internal/urlpolicy). allowQuery says whether a query is allowed
// (a JWKS URL may have one, an issuer may not).
func parseFetchURL(raw string, allowQuery bool) (*url.URL, error) {
	return urlpolicy.Parse(raw, allowQuery)
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
type urlPolicy struct{ p urlpolicy.Policy }

// newURLPolicy builds the policy for a cache whose configured URL is u.
func newURLPolicy(u *url.URL, cfg *Config) (urlPolicy, error) {
	p, err := urlpolicy.New(u, cfg.InsecureAllowHTTP, cfg.AllowedJWKSHosts, "AllowedJWKSHosts")
	return urlPolicy{p}, err
}

// checkScheme applies the scheme rules to u.
func (p urlPolicy) checkScheme(u *url.URL) error {
	if err := p.p.CheckScheme(u); err != nil {
		return fmt.Errorf("jwkscache: %w", err)
	}
	return nil
}

// checkJWKSURI applies the host rule to a jwks_uri discovered in the
// metadata document at meta: the same host and port, or an allowed host.
func (p urlPolicy) checkJWKSURI(meta, u *url.URL) error {
	if p.p.Discovered(meta, u) {
		return nil
	}
	return fmt.Errorf("jwkscache: jwks_uri host %s is not the metadata host %s (list it in AllowedJWKSHosts)", truncate(u.Host, 256), meta.Host)
}
