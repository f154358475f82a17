package middleware

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/jwtverify"
)

// WellKnownPath is the well-known URI suffix of RFC 9728 protected resource
// metadata.
const WellKnownPath = "/.well-known/oauth-protected-resource"

// ResourceMetadata describes the protected resource for RFC 9728 (OAuth 2.0
// Protected Resource Metadata), so clients can discover which authorization
// servers issue tokens for it and which scopes it knows. The document also
// says "tls_client_certificate_bound_access_tokens": true when an issuer of
// the verifier accepts certificate-bound tokens (its Binding policy is not
// binding.Off and allows binding.Certificate); with WithDPoP it lists the
// proof algorithms ("dpop_signing_alg_values_supported") and says
// "dpop_bound_access_tokens_required": true when every issuer requires
// DPoP-bound tokens (binding.Required with binding.DPoP as its only
// method).
type ResourceMetadata struct {
	// Resource is the resource identifier ("resource"): an absolute https
	// URL without query or fragment (http is accepted for loopback hosts,
	// for tests). Required. The document is served at the RFC 9728 section
	// 3.1 location: WellKnownPath inserted between the host and the path of
	// Resource.
	Resource string
	// AuthorizationServers are the issuer identifiers of the authorization
	// servers ("authorization_servers"). Default: the verifier's configured
	// issuers, except templates such as Entra's "{tenantid}" issuer, which
	// name no single server.
	AuthorizationServers []string
	// ScopesSupported lists the scopes the resource understands
	// ("scopes_supported"). Optional.
	ScopesSupported []string
	// ResourceName is a human-readable name ("resource_name"). Optional.
	ResourceName string
	// ResourceDocumentation is an http(s) URL of the developer
	// documentation ("resource_documentation"). Optional.
	ResourceDocumentation string
}

type metadataDoc struct {
	url  string // where the document is served
	path string // its path, for routing and for the skip rule
	body []byte
}

type metadataJSON struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
	ResourceDocumentation  string   `json:"resource_documentation,omitempty"`
	// RFC 9728 section 2: true when certificate-bound tokens are
	// accepted (RFC 8705).
	TLSClientCertBound bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// RFC 9728 section 2 (RFC 9449): the proof algorithms WithDPoP
	// accepts, and whether every token must be DPoP-bound.
	DPoPAlgs          []string `json:"dpop_signing_alg_values_supported,omitempty"`
	DPoPBoundRequired bool     `json:"dpop_bound_access_tokens_required,omitempty"`
}

func buildMetadata(v *jwtverify.Verifier, cfg config) (*metadataDoc, error) {
	md := cfg.metadata
	u, err := url.Parse(md.Resource)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("middleware: ResourceMetadata.Resource %q must be an absolute URL", md.Resource)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.RawFragment != "" {
		return nil, fmt.Errorf("middleware: ResourceMetadata.Resource %q must have no user info, query or fragment", md.Resource)
	}
	if u.Scheme != "https" && (u.Scheme != "http" || !isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("middleware: ResourceMetadata.Resource %q must use https (http only for loopback hosts)", md.Resource)
	}
	if d := md.ResourceDocumentation; d != "" {
		du, err := url.Parse(d)
		if err != nil || (du.Scheme != "https" && du.Scheme != "http") || du.Host == "" {
			return nil, fmt.Errorf("middleware: ResourceMetadata.ResourceDocumentation %q must be an http(s) URL", d)
		}
	}
	for _, s := range md.ScopesSupported {
		if s == "" || strings.ContainsAny(s, " \"\\") {
			return nil, fmt.Errorf("middleware: ResourceMetadata.ScopesSupported: %q is not a scope token", s)
		}
	}
	servers := md.AuthorizationServers
	if len(servers) == 0 {
		for _, is := range v.Issuers() {
			if is.Issuer != "" && !strings.Contains(is.Issuer, "{") && !contains(servers, is.Issuer) {
				servers = append(servers, is.Issuer)
			}
		}
	}
	methods := []string{"header"}
	if cfg.formToken {
		methods = append(methods, "body")
	}
	if cfg.queryToken {
		methods = append(methods, "query")
	}
	certBound := false
	for _, is := range v.Issuers() {
		if is.Binding.Policy != binding.Off && is.Binding.Methods.Has(binding.Certificate) {
			certBound = true
		}
	}
	var dpopAlgs []string
	dpopRequired := false
	if cfg.dpop != nil {
		dpopAlgs = cfg.dpop.Algorithms()
		// Required only when no issuer accepts anything but a DPoP-bound
		// token: a certificate-bound or bearer token would do elsewhere.
		dpopRequired = len(v.Issuers()) > 0
		for _, is := range v.Issuers() {
			if is.Binding.Policy != binding.Required || is.Binding.Methods != binding.DPoP {
				dpopRequired = false
			}
		}
	}
	body, err := json.Marshal(metadataJSON{
		DPoPAlgs:               dpopAlgs,
		DPoPBoundRequired:      dpopRequired,
		TLSClientCertBound:     certBound,
		Resource:               md.Resource,
		AuthorizationServers:   servers,
		ScopesSupported:        md.ScopesSupported,
		BearerMethodsSupported: methods,
		ResourceName:           md.ResourceName,
		ResourceDocumentation:  md.ResourceDocumentation,
	})
	if err != nil {
		return nil, fmt.Errorf("middleware: ResourceMetadata: %w", err)
	}
	// RFC 9728 section 3.1: a slash right after the host ("https://h/")
	// is dropped; the well-known suffix goes between host and path.
	p := u.EscapedPath()
	if p == "/" {
		p = ""
	}
	path := WellKnownPath + p
	doc := &metadataDoc{
		url:  u.Scheme + "://" + u.Host + path,
		body: append(body, '\n'),
	}
	doc.path, err = url.PathUnescape(path)
	if err != nil {
		return nil, fmt.Errorf("middleware: ResourceMetadata.Resource %q: bad path escape", md.Resource)
	}
	return doc, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// MetadataPath returns the path at which to serve MetadataHandler (for
// example "/.well-known/oauth-protected-resource/v1"), or "" when
// WithResourceMetadata was not given. Authenticate lets GET and HEAD
// requests for it through without a token.
func (a *Authenticator) MetadataPath() string {
	if a.meta == nil {
		return ""
	}
	return a.meta.path
}

// MetadataURL returns the absolute URL of the metadata document, the value
// of the resource_metadata challenge parameter, or "".
func (a *Authenticator) MetadataURL() string {
	if a.meta == nil {
		return ""
	}
	return a.meta.url
}

// MetadataHandler serves the RFC 9728 document (GET and HEAD; other methods
// get 405). Without WithResourceMetadata it answers 404.
func (a *Authenticator) MetadataHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.meta == nil {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=3600")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", strconv.Itoa(len(a.meta.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(a.meta.body)
		}
	})
}
