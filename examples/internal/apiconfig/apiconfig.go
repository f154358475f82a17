// Package apiconfig is the configuration the example APIs (examples/httpapi,
// examples/echoapi, examples/grpcapi) share: which issuer to trust, through
// which provider preset (package profiles), which audience, clients and
// permission. Every setting is a flag with an environment variable as its
// default, so the programs run the same from a shell and from a container.
//
// It is an example, not an API of m2mauth: copy what you need.
package apiconfig

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/m2mauth/m2mauth/authlog"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/metrics"
	"github.com/m2mauth/m2mauth/profiles"
)

// Providers lists the accepted -provider values.
var Providers = []string{"entra", "b2c", "auth0", "okta", "keycloak", "cognito", "hydra", "generic"}

// Config says which tokens the API accepts.
type Config struct {
	// Addr is the listen address.
	Addr string
	// Provider is one of Providers.
	Provider string
	// Issuer is the issuer URL (auth0: the domain is enough; b2c: an
	// optional override; entra: unused, see TenantID).
	Issuer string
	// Audience is this API's identifier (entra and b2c: the API's
	// application (client) ID).
	Audience string
	// Scopes are the permissions GET /orders requires, all of them; each
	// may come as a scope or as an app role.
	Scopes []string
	// ClientIDs are the calling applications allowed.
	ClientIDs []string
	// AnyClient accepts every client of the issuer instead.
	AnyClient bool
	// TenantID is the Entra tenant GUID or the B2C directory GUID.
	TenantID string
	// B2CTenant is the B2C directory name ("contoso").
	B2CTenant string
	// B2CPolicy is the B2C user flow or custom policy.
	B2CPolicy string
	// AppIDURI is the Entra API's Application ID URI (v1 token audience).
	AppIDURI string
	// EntraVersion is "1", "2" or "both".
	EntraVersion string
	// Instance overrides the Entra or B2C authority host.
	Instance string
	// JWKSURL overrides where the keys are fetched.
	JWKSURL string
	// KeysTimeout bounds the wait for the first key set at start-up.
	KeysTimeout time.Duration
}

// Flags registers every setting on fs, with defaults from the environment
// (getenv), and returns the Config the flags fill in. defaultAddr is the
// listen address when neither -addr nor M2M_ADDR is set.
func Flags(fs *flag.FlagSet, getenv func(string) string, defaultAddr string) *Config {
	or := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	c := &Config{
		Scopes:    fields(getenv("M2M_SCOPE")),
		ClientIDs: fields(getenv("M2M_CLIENT_IDS")),
		AnyClient: getenv("M2M_ANY_CLIENT") == "true" || getenv("M2M_ANY_CLIENT") == "1",
	}
	fs.StringVar(&c.Addr, "addr", or("M2M_ADDR", defaultAddr), "listen address [M2M_ADDR]")
	fs.StringVar(&c.Provider, "provider", or("M2M_PROVIDER", "generic"), "token issuer preset: "+strings.Join(Providers, ", ")+" [M2M_PROVIDER]")
	fs.StringVar(&c.Issuer, "issuer", getenv("M2M_ISSUER"), "issuer URL (auth0: the tenant domain is enough; not for entra) [M2M_ISSUER]")
	fs.StringVar(&c.Audience, "audience", getenv("M2M_AUDIENCE"), "this API's identifier (entra, b2c: the API's application ID) [M2M_AUDIENCE]")
	fs.Func("scope", "permissions GET /orders requires, comma or space separated; each may be a scope or an app role [M2M_SCOPE]",
		func(s string) error { c.Scopes = fields(s); return nil })
	fs.Func("clients", "allowed calling client IDs, comma separated [M2M_CLIENT_IDS]",
		func(s string) error { c.ClientIDs = fields(s); return nil })
	fs.BoolVar(&c.AnyClient, "any-client", c.AnyClient, "accept every client of the issuer instead of -clients [M2M_ANY_CLIENT=true]")
	fs.StringVar(&c.TenantID, "tenant", getenv("M2M_TENANT_ID"), "entra: tenant ID; b2c: directory ID (GUIDs) [M2M_TENANT_ID]")
	fs.StringVar(&c.B2CTenant, "b2c-tenant", getenv("M2M_B2C_TENANT"), "b2c: directory name, e.g. contoso [M2M_B2C_TENANT]")
	fs.StringVar(&c.B2CPolicy, "b2c-policy", getenv("M2M_B2C_POLICY"), "b2c: user flow or custom policy, e.g. B2C_1A_SUSI [M2M_B2C_POLICY]")
	fs.StringVar(&c.AppIDURI, "app-id-uri", getenv("M2M_APP_ID_URI"), "entra: the API's Application ID URI, e.g. api://orders-api [M2M_APP_ID_URI]")
	fs.StringVar(&c.EntraVersion, "entra-version", or("M2M_ENTRA_VERSION", "both"), "entra: token versions accepted: 1, 2 or both [M2M_ENTRA_VERSION]")
	fs.StringVar(&c.Instance, "instance", getenv("M2M_INSTANCE"), "entra, b2c: authority host override (sovereign cloud, custom domain) [M2M_INSTANCE]")
	fs.StringVar(&c.JWKSURL, "jwks-url", getenv("M2M_JWKS_URL"), "key set URL override (default: the provider's) [M2M_JWKS_URL]")
	fs.DurationVar(&c.KeysTimeout, "keys-timeout", 15*time.Second, "how long to wait for the issuer's keys at start-up")
	return c
}

// Parse parses args with the flags of Flags and checks the result.
func Parse(name string, args []string, getenv func(string) string, defaultAddr string, usage io.Writer) (*Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(usage)
	c := Flags(fs, getenv, defaultAddr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	return c, nil
}

// fields splits a comma or space separated list.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// Check reports settings that cannot work, before anything starts.
func (c *Config) Check() error {
	var errs []error
	if len(c.Scopes) == 0 {
		errs = append(errs, errors.New("-scope (M2M_SCOPE) is required: the permission GET /orders demands"))
	}
	if len(c.ClientIDs) == 0 && !c.AnyClient {
		errs = append(errs, errors.New("-clients (M2M_CLIENT_IDS) is required: the calling applications allowed (or -any-client)"))
	}
	if c.Addr == "" {
		errs = append(errs, errors.New("-addr (M2M_ADDR) is required"))
	}
	if c.Provider == "entra" && c.Issuer != "" {
		errs = append(errs, errors.New("entra: the issuer follows from -tenant (and -instance); leave -issuer empty"))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	_, err := c.Profiles()
	return err
}

// Requirement is what GET /orders demands: every permission of Scopes, each
// held as a delegated scope or as an app role.
func (c *Config) Requirement() jwtverify.Requirement {
	return jwtverify.RequireAll(c.Scopes...)
}

// Profiles builds the provider preset(s) of the configuration (Entra: one
// per accepted token version).
func (c *Config) Profiles() ([]profiles.Profile, error) {
	one := func(p profiles.Profile, err error) ([]profiles.Profile, error) {
		if err != nil {
			return nil, err
		}
		return []profiles.Profile{p}, nil
	}
	switch c.Provider {
	case "entra":
		var versions profiles.EntraVersions
		switch c.EntraVersion {
		case "1":
			versions = profiles.EntraV1
		case "2":
			versions = profiles.EntraV2
		case "both", "":
			versions = profiles.EntraV1AndV2
		default:
			return nil, fmt.Errorf("entra: -entra-version must be 1, 2 or both, not %q", c.EntraVersion)
		}
		return profiles.EntraID(profiles.EntraOptions{
			TenantID: c.TenantID, ClientID: c.Audience, AppIDURI: c.AppIDURI, Versions: versions,
			ClientIDs: c.ClientIDs, AllowAnyClient: c.AnyClient,
			Instance: c.Instance, V1Instance: c.Instance,
		})
	case "b2c":
		return one(profiles.AzureB2C(profiles.AzureB2COptions{
			TenantName: c.B2CTenant, TenantID: c.TenantID, Policy: c.B2CPolicy, ClientID: c.Audience,
			Instance: c.Instance, Issuer: c.Issuer,
			ClientIDs: c.ClientIDs, AllowAnyClient: c.AnyClient,
		}))
	case "auth0":
		o := profiles.Auth0Options{Audience: c.Audience, ClientIDs: c.ClientIDs, AllowAnyClient: c.AnyClient}
		if strings.Contains(c.Issuer, "://") {
			o.Issuer = c.Issuer
		} else {
			o.Domain = c.Issuer
		}
		return one(profiles.Auth0(o))
	case "okta":
		return one(profiles.Okta(profiles.OktaOptions{Issuer: c.Issuer, Audience: c.Audience,
			ClientIDs: c.ClientIDs, AllowAnyClient: c.AnyClient}))
	case "keycloak":
		return one(profiles.Keycloak(profiles.KeycloakOptions{Issuer: c.Issuer, Audience: c.Audience,
			ClientIDs: c.ClientIDs, AllowAnyClient: c.AnyClient}))
	case "cognito":
		if c.Audience != "" {
			return nil, errors.New("cognito: access tokens carry no audience; leave -audience empty (-clients binds tokens to this API)")
		}
		return one(profiles.Cognito(profiles.CognitoOptions{Issuer: c.Issuer, ClientIDs: c.ClientIDs}))
	case "hydra":
		return one(profiles.Hydra(profiles.HydraOptions{Issuer: c.Issuer, Audience: c.Audience,
			ClientIDs: c.ClientIDs, AllowAnyClient: c.AnyClient}))
	case "generic":
		return one(profiles.RFC9068(profiles.RFC9068Options{Issuer: c.Issuer, JWKSURL: c.JWKSURL, Audience: c.Audience,
			ClientIDs: c.ClientIDs, AllowAnyClient: c.AnyClient}))
	}
	return nil, fmt.Errorf("unknown -provider %q (one of %s)", c.Provider, strings.Join(Providers, ", "))
}

// Verifier starts a key cache per profile, waits (at most KeysTimeout) for
// the first key sets, and returns the verifier and a function that stops
// the caches. cacheObs (may be nil) observes the caches; verifyObs (may be
// nil) the verifier.
func (c *Config) Verifier(ctx context.Context, cacheObs jwkscache.Observer, verifyObs jwtverify.Observer) (*jwtverify.Verifier, []*jwkscache.Cache, func(), error) {
	ps, err := c.Profiles()
	if err != nil {
		return nil, nil, nil, err
	}
	var caches []*jwkscache.Cache
	stop := func() {
		for _, k := range caches {
			_ = k.Close()
		}
	}
	timeout := c.KeysTimeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	readyCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for i := range ps {
		k, err := ps[i].StartKeys(ctx, jwkscache.Config{JWKSURL: c.JWKSURL, Observer: cacheObs})
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		caches = append(caches, k)
	}
	for _, k := range caches {
		if err := k.Ready(readyCtx); err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("cannot get the issuer's signing keys: %w", err)
		}
	}
	v, err := jwtverify.New(jwtverify.Config{Issuers: profiles.IssuerConfigs(ps...), Observer: verifyObs})
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	return v, caches, stop, nil
}

// Observed is Verifier wired the documented way: a fresh Prometheus
// registry with m2mauth's metrics (key caches watched, the Verifier
// observed) and an authlog.Logger writing to log, observing the key caches
// next to the metrics (outages and recoveries are logged). Each program
// gives m and lg to its adapter as decision observers, so each refusal is
// one record. stop closes the key caches and then lg (writing the counts
// of suppressed records).
func (c *Config) Observed(ctx context.Context, log *slog.Logger) (v *jwtverify.Verifier, m *metrics.Metrics, lg *authlog.Logger, reg *prometheus.Registry, stop func(), err error) {
	reg = prometheus.NewRegistry()
	if m, err = metrics.New(reg, metrics.Options{}); err != nil {
		return nil, nil, nil, nil, nil, err
	}
	lg = authlog.New(log, authlog.Options{})
	v, caches, stopKeys, err := c.Verifier(ctx, jwkscache.MultiObserver(m, lg), m)
	if err != nil {
		lg.Close()
		return nil, nil, nil, nil, nil, err
	}
	stop = func() {
		stopKeys()
		lg.Close()
	}
	for _, k := range caches {
		if err := m.WatchKeys(k); err != nil {
			stop()
			return nil, nil, nil, nil, nil, err
		}
	}
	return v, m, lg, reg, stop, nil
}
