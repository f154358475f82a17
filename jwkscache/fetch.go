package jwkscache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// FetchError describes a failed fetch. Match its class with errors.As;
// it wraps the underlying error (and ErrMalformedJWKS, ErrNoUsableKeys or
// ErrDiscovery where they apply).
type FetchError struct {
	// Source is the cache's configured name.
	Source string
	// Class is the failure class (never ClassOK).
	Class ErrorClass
	// URL is the URL that failed (user info redacted).
	URL string
	// StatusCode is the HTTP status for ClassStatus, else 0.
	StatusCode int
	// Err is the underlying error.
	Err error
}

// Error implements error. The text names the source, the URL (user info
// redacted), the class and the cause, which quotes at most short, truncated
// excerpts of the issuer's answer.
func (e *FetchError) Error() string {
	return fmt.Sprintf("jwkscache: %s: fetch %s: %s: %v", e.Source, e.URL, e.Class, e.Err)
}

// Unwrap returns the underlying error.
func (e *FetchError) Unwrap() error { return e.Err }

// ErrClosed is returned by Refresh and Ready once the cache is closed (or
// its constructor's context is cancelled).
var ErrClosed = errors.New("jwkscache: cache closed")

var errRedirectRefused = errors.New("jwkscache: redirect refused")

const (
	acceptJWKS      = "application/jwk-set+json, application/json"
	acceptMetadata  = "application/json"
	userAgent       = "m2mauth-jwkscache"
	maxRedirects    = 5
	drainLimitBytes = 4 << 10
)

// safeClient returns a copy of base whose CheckRedirect enforces the
// redirect part of the URL policy before base's own.
func safeClient(base *http.Client, policy urlPolicy) *http.Client {
	var cl http.Client
	if base != nil {
		cl = *base
	}
	userCheck := cl.CheckRedirect
	cl.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("%w: more than %d redirects", errRedirectRefused, maxRedirects)
		}
		prev := via[len(via)-1].URL
		if prev.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("%w: from https to %s", errRedirectRefused, req.URL.Scheme)
		}
		if !sameOrigin(via[0].URL, req.URL) {
			return fmt.Errorf("%w: to another origin (%s)", errRedirectRefused, req.URL.Redacted())
		}
		if err := policy.checkScheme(req.URL); err != nil {
			return fmt.Errorf("%w: %w", errRedirectRefused, err)
		}
		if userCheck != nil {
			return userCheck(req, via)
		}
		return nil
	}
	return &cl
}

// sameOrigin compares scheme, host and port (default ports made explicit).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(hostPort(a), hostPort(b))
}

func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	return net.JoinHostPort(u.Hostname(), port)
}

func defaultPort(scheme string) string {
	switch strings.ToLower(scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// get performs one bounded GET and returns the body of a 200 answer.
func (c *Cache) get(parent context.Context, rawURL, accept string) ([]byte, http.Header, *FetchError) {
	fail := func(class ErrorClass, status int, err error) *FetchError {
		return &FetchError{Source: c.name, Class: class, URL: redact(rawURL), StatusCode: status, Err: err}
	}
	ctx, cancel := context.WithTimeout(parent, c.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, fail(ClassNetwork, 0, err)
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, fail(c.classify(ctx, err), 0, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimitBytes))
		return nil, nil, fail(ClassStatus, resp.StatusCode, fmt.Errorf("status %d", resp.StatusCode))
	}
	limit := c.cfg.MaxResponseBytes
	if resp.ContentLength > limit {
		return nil, nil, fail(ClassTooLarge, 0, fmt.Errorf("Content-Length %d over the %d byte limit", resp.ContentLength, limit))
	}
	// Read one byte more than allowed to tell "exactly at the limit" from
	// "over it" without trusting Content-Length.
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fail(c.classify(ctx, err), 0, fmt.Errorf("reading body: %w", err))
	}
	if int64(len(body)) > limit {
		return nil, nil, fail(ClassTooLarge, 0, fmt.Errorf("body over the %d byte limit", limit))
	}
	return body, resp.Header, nil
}

func (c *Cache) classify(ctx context.Context, err error) ErrorClass {
	var ne net.Error
	switch {
	case c.ctx.Err() != nil:
		return ClassClosed
	case errors.Is(err, errRedirectRefused):
		return ClassRedirect
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil, errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout
	}
	return ClassNetwork
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

// fetchKeys runs one fetch: discovery when needed, then the JWK Set. It
// returns the parsed keys and the refresh interval the answer asks for.
// ctx (the cache's own, or the one a ContextObserver's FetchStart made) is
// the parent of its requests.
// Only the goroutine of the single in-flight fetch calls it.
func (c *Cache) fetchKeys(ctx context.Context) (keys []Key, skipped []Skipped, interval time.Duration, fe *FetchError) {
	jwksURL := c.cfg.JWKSURL
	if c.issuerURL != nil {
		if c.discovered == "" {
			u, fe := c.discover(ctx)
			if fe != nil {
				return nil, nil, 0, fe
			}
			c.discovered = u
		}
		jwksURL = c.discovered
	}
	defer func() {
		if fe != nil {
			c.discovered = "" // discover again on the next attempt
		}
	}()
	body, hdr, fe := c.get(ctx, jwksURL, acceptJWKS)
	if fe != nil {
		return nil, nil, 0, fe
	}
	keys, skipped, err := ParseJWKS(body, c.name)
	if err != nil {
		class := ClassMalformed
		if errors.Is(err, ErrNoUsableKeys) {
			class = ClassNoUsableKeys
		}
		return nil, skipped, 0, &FetchError{Source: c.name, Class: class, URL: redact(jwksURL), Err: err}
	}
	return keys, skipped, c.refreshInterval(hdr), nil
}

// discover finds the JWK Set URL from the issuer's metadata, trying the
// OpenID Connect form, then the RFC 8414 form.
func (c *Cache) discover(ctx context.Context) (string, *FetchError) {
	openid, rfc8414 := discoveryURLs(c.issuerURL)
	var errs [2]*FetchError
	for i, mu := range []string{openid, rfc8414} {
		body, _, fe := c.get(ctx, mu, acceptMetadata)
		if fe == nil {
			u, class, err := c.discoveredURL(body, mu)
			if err == nil {
				return u, nil
			}
			fe = &FetchError{Source: c.name, Class: class, URL: redact(mu), Err: err}
		}
		if fe.Class == ClassClosed {
			return "", fe
		}
		errs[i] = fe
	}
	// Report the more telling failure: a 404 on the OpenID form only means
	// the issuer publishes RFC 8414 metadata.
	if errs[0].Class == ClassStatus && errs[0].StatusCode == http.StatusNotFound {
		return "", errs[1]
	}
	return "", errs[0]
}

// discoveredURL reads the metadata document body fetched from metaURL and
// returns its jwks_uri once the URL policy accepts it, else the failure
// class and error. A refused URL is never requested.
func (c *Cache) discoveredURL(body []byte, metaURL string) (string, ErrorClass, error) {
	raw, err := parseDiscovery(body, c.cfg.Issuer)
	if err != nil {
		return "", ClassDiscovery, err
	}
	u, err := url.Parse(raw) // parseDiscovery checked it parses
	if err != nil {
		return "", ClassDiscovery, fmt.Errorf("%w: jwks_uri: %w", ErrDiscovery, err)
	}
	if err := c.policy.checkScheme(u); err != nil {
		return "", ClassInsecureURL, fmt.Errorf("%w: %w", ErrDiscovery, err)
	}
	meta, err := url.Parse(metaURL)
	if err != nil {
		return "", ClassDiscovery, fmt.Errorf("%w: %w", ErrDiscovery, err)
	}
	if err := c.policy.checkJWKSURI(meta, u); err != nil {
		return "", ClassForeignHost, fmt.Errorf("%w: %w", ErrDiscovery, err)
	}
	return raw, "", nil
}

// refreshInterval derives the background refresh interval from the
// answer's Cache-Control max-age (minus Age) or Expires (relative to Date),
// clamped to [MinRefreshInterval, MaxRefreshInterval].
// DefaultRefreshInterval applies when neither is usable or the answer says
// no-store or no-cache.
func (c *Cache) refreshInterval(h http.Header) time.Duration {
	lo, hi := c.cfg.MinRefreshInterval, c.cfg.MaxRefreshInterval
	maxAge, haveMaxAge := time.Duration(0), false
	for _, line := range h.Values("Cache-Control") {
		for _, dir := range strings.Split(line, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store", "no-cache":
				return c.cfg.DefaultRefreshInterval
			case "max-age":
				if haveMaxAge {
					continue
				}
				if secs, ok := deltaSeconds(val); ok {
					maxAge, haveMaxAge = secs, true
				}
			}
		}
	}
	if haveMaxAge {
		if age, ok := deltaSeconds(h.Get("Age")); ok {
			maxAge -= age
		}
		return clampDur(maxAge, lo, hi)
	}
	if exp := h.Get("Expires"); exp != "" {
		if t, err := http.ParseTime(exp); err == nil {
			base := c.now()
			if d, err := http.ParseTime(h.Get("Date")); err == nil {
				base = d
			}
			return clampDur(t.Sub(base), lo, hi)
		}
	}
	return c.cfg.DefaultRefreshInterval
}

// deltaSeconds parses an RFC 9111 delta-seconds value (quotes tolerated).
// Values too large saturate at 100 years.
func deltaSeconds(v string) (time.Duration, bool) {
	v = strings.Trim(strings.TrimSpace(v), `"`)
	if v == "" || len(v) > 64 {
		return 0, false
	}
	for _, r := range v {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	const capSecs = 100 * 365 * 24 * 3600
	if err != nil || n > capSecs {
		n = capSecs
	}
	return time.Duration(n) * time.Second, true
}
