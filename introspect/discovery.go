package introspect

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// metadataURLs returns the OpenID Connect and RFC 8414 metadata URLs of
// issuer, in the order they are tried.
func metadataURLs(issuer *url.URL) []string {
	path := strings.TrimSuffix(issuer.EscapedPath(), "/")
	origin := issuer.Scheme + "://" + issuer.Host
	return []string{
		origin + path + "/.well-known/openid-configuration",
		origin + "/.well-known/oauth-authorization-server" + path,
	}
}

// discover finds the introspection endpoint in the issuer's metadata. The
// first document that answers 200 decides; a 404 tries the next.
func (s *Source) discover(ctx context.Context) (*url.URL, error) {
	var lastErr error
	for _, raw := range metadataURLs(s.issuer) {
		meta, _ := url.Parse(raw)
		body, status, err := s.get(ctx, raw)
		if err != nil {
			lastErr = err
			continue
		}
		if status == http.StatusNotFound {
			lastErr = fmt.Errorf("%s: 404", redactURL(meta))
			continue
		}
		if status != http.StatusOK {
			return nil, fmt.Errorf("%s: HTTP status %d", redactURL(meta), status)
		}
		return s.parseMetadata(body, meta)
	}
	return nil, lastErr
}

func (s *Source) parseMetadata(body []byte, meta *url.URL) (*url.URL, error) {
	doc, err := parseObject(body)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	iss, ok, err := doc.str("issuer")
	if err != nil || !ok {
		return nil, fmt.Errorf(`metadata: no string "issuer"`)
	}
	if iss != s.cfg.Issuer {
		return nil, fmt.Errorf("metadata issuer %s is not the configured issuer", truncate(iss, 128))
	}
	ep, ok, err := doc.str("introspection_endpoint")
	if err != nil || !ok || ep == "" {
		return nil, fmt.Errorf(`metadata: no string "introspection_endpoint"`)
	}
	u, err := parseURL(ep, true)
	if err != nil {
		return nil, fmt.Errorf("introspection_endpoint: %w", err)
	}
	if err := s.policy.checkScheme(u); err != nil {
		return nil, err
	}
	if err := s.policy.checkDiscovered(meta, u); err != nil {
		return nil, err
	}
	return u, nil
}

// get fetches a metadata document with the size cap.
func (s *Source) get(ctx context.Context, raw string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if int64(len(body)) > s.cfg.MaxResponseBytes {
		return nil, 0, fmt.Errorf("metadata larger than %d bytes", s.cfg.MaxResponseBytes)
	}
	return body, resp.StatusCode, nil
}
