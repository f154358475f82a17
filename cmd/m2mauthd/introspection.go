package main

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/m2mauth/m2mauth/introspect"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/profiles"
	"go.yaml.in/yaml/v3"
)

// introspectionYAML is the "introspection" block of an issuer: how its
// opaque tokens are accepted by RFC 7662 introspection (package
// introspect). Zero values take the package's defaults.
type introspectionYAML struct {
	Mode                 string         `yaml:"mode"`
	Endpoint             string         `yaml:"endpoint"`
	AllowedEndpointHosts []string       `yaml:"allowed_endpoint_hosts"`
	OpaquePrefix         string         `yaml:"opaque_prefix"`
	ClientAuth           clientAuthYAML `yaml:"client_auth"`
	AllowMissingAudience bool           `yaml:"allow_missing_audience"`
	MaxAge               duration       `yaml:"max_age"`
	NegativeTTL          duration       `yaml:"negative_ttl"`
	Timeout              duration       `yaml:"timeout"`
	Concurrency          int            `yaml:"concurrency"`
	Rate                 float64        `yaml:"rate"`
	Burst                int            `yaml:"burst"`
	MaxEntries           int            `yaml:"max_entries"`
	MaxCacheBytes        int64          `yaml:"max_cache_bytes"`
	MaxResponseBytes     int64          `yaml:"max_response_bytes"`
	MaxTokenBytes        int            `yaml:"max_token_bytes"`
	InsecureAllowHTTP    bool           `yaml:"insecure_allow_http"`
}

// clientAuthYAML is the API's credential at the introspection endpoint.
// Secrets are never in the policy file: they are read from a file or an
// environment variable when the policy is loaded.
type clientAuthYAML struct {
	Method           string `yaml:"method"`
	ClientID         string `yaml:"client_id"`
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	PrivateKeyFile   string `yaml:"private_key_file"`
	Alg              string `yaml:"alg"`
	KeyID            string `yaml:"key_id"`
}

// inlineSecretKeys are keys a user may try for an inline secret: refused
// with a message saying where secrets go.
var inlineSecretKeys = map[string]string{
	"client_secret": "secrets are never written in the policy file: use client_secret_file or client_secret_env",
	"private_key":   "keys are never written in the policy file: use private_key_file",
	"secret":        "secrets are never written in the policy file: use client_secret_file or client_secret_env",
}

// Bounds of the files a policy names.
const (
	maxSecretBytes = 4 << 10
	maxKeyBytes    = 64 << 10
)

// introSpec is the validated introspection of one issuer.
type introSpec struct {
	mode jwtverify.Mode
	// base is the Config given to StartIntrospection (secrets loaded;
	// Observer and Now are set by the engine).
	base introspect.Config
	// fingerprint identifies the Source: an issuer whose fingerprint is
	// unchanged across a reload keeps its running Source (and its cache).
	fingerprint string
	line        int    // of the introspection block, for errors found later
	field       string // "issuers[i].introspection"
}

var modes = map[string]jwtverify.Mode{
	"jwt":               jwtverify.ModeJWT,
	"introspect":        jwtverify.ModeIntrospect,
	"jwt-or-introspect": jwtverify.ModeJWTOrIntrospect,
}

var authMethods = map[string]introspect.AuthMethod{
	"none":                introspect.AuthNone,
	"client_secret_basic": introspect.AuthClientSecretBasic,
	"client_secret_post":  introspect.AuthClientSecretPost,
	"private_key_jwt":     introspect.AuthPrivateKeyJWT,
}

// buildIntrospection validates the introspection block n of issuer
// profile p. It returns p completed for introspection (Mode, OpaquePrefix,
// the provider's permission claims; Introspection nil) and the spec; a nil
// spec means mode jwt. Validation builds a Source and closes it at once:
// that makes no request and starts nothing.
func buildIntrospection(file, field string, n *yaml.Node, iy *introspectionYAML, p profiles.Profile) (profiles.Profile, *introSpec, []error) {
	var errs []error
	perr := func(sub, msg string) {
		line := n.Line
		f := field
		if sub != "" {
			f += "." + sub
			if l := lineAt(n, sub); l > 0 {
				line = l
			}
		}
		errs = append(errs, &PolicyError{File: file, Line: line, Field: f, Msg: msg})
	}
	if n.Kind != yaml.MappingNode {
		perr("", "must be a mapping with at least a mode")
		return p, nil, errs
	}
	mode, ok := modes[iy.Mode]
	if !ok {
		perr("mode", "required: jwt, introspect or jwt-or-introspect")
		return p, nil, errs
	}
	if mode == jwtverify.ModeJWT {
		if len(n.Content) > 2 {
			perr("mode", "jwt accepts JWTs only: the other introspection fields need introspect or jwt-or-introspect")
		}
		return p, nil, errs
	}
	if iy.OpaquePrefix != "" && !jwtverify.ValidOpaquePrefix(iy.OpaquePrefix) {
		perr("opaque_prefix", "must be 1 to 32 b64token characters (letters, digits, - _ ~ + /) without a dot")
	}
	for _, f := range []struct {
		sub string
		neg bool
	}{
		{"concurrency", iy.Concurrency < 0}, {"rate", iy.Rate < 0}, {"burst", iy.Burst < 0},
		{"max_entries", iy.MaxEntries < 0}, {"max_cache_bytes", iy.MaxCacheBytes < 0},
		{"max_response_bytes", iy.MaxResponseBytes < 0}, {"max_token_bytes", iy.MaxTokenBytes < 0},
	} {
		if f.neg {
			perr(f.sub, "must not be negative (leave it out for the default)")
		}
	}
	if time.Duration(iy.MaxAge) > time.Hour {
		perr("max_age", "at most 1h (it is the revocation delay)")
	}
	if iy.Rate > 1e6 {
		perr("rate", "at most 1000000 calls per second")
	}
	auth, secretHash, aerrs := buildClientAuth(file, field+".client_auth", n, &iy.ClientAuth)
	errs = append(errs, aerrs...)
	if len(errs) > 0 {
		return p, nil, errs
	}
	base := introspect.Config{
		Endpoint:             iy.Endpoint,
		AllowedEndpointHosts: slices.Clone(iy.AllowedEndpointHosts),
		InsecureAllowHTTP:    iy.InsecureAllowHTTP,
		Auth:                 auth,
		AllowMissingAudience: iy.AllowMissingAudience,
		MaxAge:               time.Duration(iy.MaxAge),
		NegativeTTL:          time.Duration(iy.NegativeTTL),
		Timeout:              time.Duration(iy.Timeout),
		MaxConcurrent:        iy.Concurrency,
		Rate:                 iy.Rate,
		Burst:                iy.Burst,
		MaxEntries:           iy.MaxEntries,
		MaxCacheBytes:        iy.MaxCacheBytes,
		MaxResponseBytes:     iy.MaxResponseBytes,
		MaxTokenBytes:        iy.MaxTokenBytes,
	}
	q := cloneProfile(p)
	q.OpaquePrefix = iy.OpaquePrefix
	src, err := q.StartIntrospection(mode, base)
	if err != nil {
		sub := ""
		var ce *profiles.ConfigError
		msg := err.Error()
		if i := strings.LastIndex(msg, "config: "); i >= 0 {
			msg = msg[i+len("config: "):] // "profiles: NAME: introspection: introspect: config: "
		}
		switch {
		case errors.As(err, &ce) && ce.Field == "Endpoint":
			sub, msg = "endpoint", ce.Problem
		case errors.As(err, &ce):
			sub, msg = "mode", "profile "+p.Provider+": "+ce.Problem
		case strings.HasPrefix(msg, "Endpoint"):
			sub, msg = "endpoint", strings.TrimPrefix(msg, "Endpoint: ")
		case strings.HasPrefix(msg, "Auth") || strings.HasPrefix(msg, "private_key_jwt") || strings.HasPrefix(msg, "client_secret"):
			sub = "client_auth"
		}
		perr(sub, goNames.Replace(msg))
		return p, nil, errs
	}
	src.Close()
	q.Introspection = nil
	spec := &introSpec{mode: mode, base: base, line: n.Line, field: field}
	spec.fingerprint = sourceFingerprint(&q, base, secretHash)
	return q, spec, nil
}

// goNames turns the introspect package's field names in its errors into
// the policy's.
var goNames = strings.NewReplacer("InsecureAllowHTTP", "insecure_allow_http", "AllowedEndpointHosts", "allowed_endpoint_hosts",
	"MaxAge", "max_age", "Timeout", "timeout", "Auth.Alg", "client_auth.alg", "Auth.Key", "client_auth.private_key_file")

// buildClientAuth validates the client_auth block under the introspection
// node n and loads its secret. secretHash identifies the secret in the
// Source's fingerprint (the secret itself is never kept there).
func buildClientAuth(file, field string, n *yaml.Node, cy *clientAuthYAML) (introspect.ClientAuth, string, []error) {
	an := valueOf(n, "client_auth")
	var errs []error
	perr := func(sub, msg string) {
		line := lineAt(n, "client_auth")
		if line == 0 {
			line = n.Line
		}
		f := field
		if sub != "" {
			f += "." + sub
			if l := lineAt(an, sub); l > 0 {
				line = l
			}
		}
		errs = append(errs, &PolicyError{File: file, Line: line, Field: f, Msg: msg})
	}
	method, ok := authMethods[cy.Method]
	if !ok {
		perr("method", "required: none, client_secret_basic, client_secret_post or private_key_jwt (none only for an endpoint reachable from a protected network, such as Hydra's admin API)")
		return introspect.ClientAuth{}, "", errs
	}
	ca := introspect.ClientAuth{Method: method, ClientID: cy.ClientID, Alg: cy.Alg, KeyID: cy.KeyID}
	unused := func(subs ...string) {
		for _, s := range subs {
			if valueOf(an, s) != nil {
				perr(s, "not used by method "+cy.Method)
			}
		}
	}
	if method != introspect.AuthNone && (cy.ClientID == "" || !printable(cy.ClientID)) {
		perr("client_id", "required by method "+cy.Method+": the API's client ID (printable)")
	}
	var hash string
	switch method {
	case introspect.AuthNone:
		unused("client_id", "client_secret_file", "client_secret_env", "private_key_file", "alg", "key_id")
	case introspect.AuthClientSecretBasic, introspect.AuthClientSecretPost:
		unused("private_key_file", "alg", "key_id")
		var secret []byte
		var err error
		switch {
		case (cy.ClientSecretFile == "") == (cy.ClientSecretEnv == ""):
			perr("client_secret_file", "exactly one of client_secret_file and client_secret_env is required")
			return ca, "", errs
		case cy.ClientSecretFile != "":
			if secret, err = readBounded(cy.ClientSecretFile, maxSecretBytes); err != nil {
				perr("client_secret_file", err.Error())
				return ca, "", errs
			}
			secret = bytes.TrimRight(secret, "\r\n")
		default:
			if !validEnvName(cy.ClientSecretEnv) {
				perr("client_secret_env", "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
				return ca, "", errs
			}
			secret = []byte(os.Getenv(cy.ClientSecretEnv))
		}
		if len(secret) == 0 || len(secret) > maxSecretBytes || !headerValueOK(string(secret)) {
			sub := "client_secret_file"
			if cy.ClientSecretFile == "" {
				sub = "client_secret_env"
			}
			perr(sub, "the secret is unset, empty, longer than 4096 bytes or not printable ASCII")
			return ca, "", errs
		}
		ca.ClientSecret = string(secret)
		hash = digest(secret)
	case introspect.AuthPrivateKeyJWT:
		unused("client_secret_file", "client_secret_env")
		if cy.PrivateKeyFile == "" {
			perr("private_key_file", "required by method private_key_jwt: a PEM private key (PKCS #8, SEC 1 EC or PKCS #1 RSA)")
			return ca, "", errs
		}
		b, err := readBounded(cy.PrivateKeyFile, maxKeyBytes)
		if err == nil {
			ca.Key, err = parsePrivateKey(b)
		}
		if err != nil {
			perr("private_key_file", err.Error())
			return ca, "", errs
		}
		hash = digest(b)
	}
	return ca, hash, errs
}

// readBounded reads at most limit bytes of path; a longer file is an
// error. The error names the path, never the content.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %q", path)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%q is larger than %d bytes", path, limit)
	}
	return b, nil
}

// parsePrivateKey reads the first PEM private key of b.
func parsePrivateKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("holds no PEM block")
	}
	var k any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (PRIVATE KEY, EC PRIVATE KEY, RSA PRIVATE KEY)", truncateASCII(blk.Type, 32))
	}
	if err != nil {
		return nil, errors.New("the private key does not parse")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("the private key cannot sign")
	}
	return s, nil
}

func truncateASCII(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	if !printable(s) {
		return "?"
	}
	return s
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func validEnvName(s string) bool {
	if s == "" || len(s) > 128 || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// cloneProfile copies p so that StartIntrospection (which appends to
// Permissions) never writes into p's arrays.
func cloneProfile(p profiles.Profile) profiles.Profile {
	p.Permissions = slices.Clone(p.Permissions)
	p.Audiences = slices.Clone(p.Audiences)
	p.ClientIDs = slices.Clone(p.ClientIDs)
	return p
}

// sourceFingerprint is everything a Source is built from: the profile's
// issuer, audiences and clients, and base with the secret replaced by its
// digest.
func sourceFingerprint(p *profiles.Profile, base introspect.Config, secretHash string) string {
	a := base.Auth
	return fmt.Sprintf("%q|%q|%q|%q|%q|%v|%v|%q|%q|%v|%v|%q|%q|%q|%q|%v|%v|%v|%v|%v|%v|%v|%v|%v|%v|%v|%v",
		p.Provider, p.Name, p.Issuer, p.Audiences, p.ClientIDs, p.AllowAnyClient, p.InsecureSkipAudienceCheck,
		base.Endpoint, base.AllowedEndpointHosts, base.InsecureAllowHTTP, a.Method, a.ClientID, secretHash, a.Alg, a.KeyID,
		base.AllowMissingAudience, base.MaxAge, base.NegativeTTL, base.Timeout, base.MaxConcurrent, base.Rate, base.Burst,
		base.MaxEntries, base.MaxCacheBytes, base.MaxResponseBytes, base.MaxTokenBytes, base.Provider)
}

// checkOpaqueRoutes refuses what jwtverify.New would: two introspecting
// issuers without an opaque prefix, or prefixes of which one starts the
// other (an opaque token is never sent to more than one endpoint).
func checkOpaqueRoutes(file string, issuers []issuerSpec) []error {
	var errs []error
	var dflt *issuerSpec
	var prefixed []*issuerSpec
	for i := range issuers {
		is := &issuers[i]
		if is.intro == nil {
			continue
		}
		pre := is.profile.OpaquePrefix
		if pre == "" {
			if dflt != nil {
				errs = append(errs, &PolicyError{File: file, Line: is.intro.line, Field: is.intro.field + ".opaque_prefix",
					Msg: fmt.Sprintf("issuers %q and %q both introspect opaque tokens without an opaque_prefix: an opaque token names no issuer and is never sent to more than one endpoint", dflt.profile.Name, is.profile.Name)})
			}
			dflt = is
			continue
		}
		for _, o := range prefixed {
			op := o.profile.OpaquePrefix
			if strings.HasPrefix(op, pre) || strings.HasPrefix(pre, op) {
				errs = append(errs, &PolicyError{File: file, Line: is.intro.line, Field: is.intro.field + ".opaque_prefix",
					Msg: fmt.Sprintf("opaque prefixes %q (issuer %q) and %q (issuer %q) overlap", op, o.profile.Name, pre, is.profile.Name)})
			}
		}
		prefixed = append(prefixed, is)
	}
	return errs
}

// lineAt is lineOf tolerating a nil node.
func lineAt(n *yaml.Node, key string) int {
	if n == nil {
		return 0
	}
	return lineOf(n, key)
}
