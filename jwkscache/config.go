package jwkscache

import (
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode"
)

// Config configures a Cache. The zero value of every optional field means
// its documented default. New copies the Config; changing it afterwards has
// no effect.
type Config struct {
	// Name identifies the source in logs, errors, metric labels and
	// Key.Source. Required; at most 128 printable characters.
	Name string

	// JWKSURL is the JWK Set URL to fetch. Exactly one of JWKSURL and
	// Issuer must be set. It may have a query (Entra's ?appid=...).
	JWKSURL string
	// Issuer is the issuer identifier from which the JWK Set URL is
	// discovered: first {Issuer}/.well-known/openid-configuration (OpenID
	// Connect Discovery), then {origin}/.well-known/oauth-authorization-server{path}
	// (RFC 8414). The metadata's "issuer" must equal Issuer exactly. The
	// discovered URL is kept until a fetch fails; the next attempt
	// discovers again.
	Issuer string

	// HTTPClient makes the requests. Default: a client with Go's default
	// transport. The cache uses a copy whose CheckRedirect refuses
	// redirects to another origin (scheme, host and port) and from https to
	// http, and follows at most 5 redirects (your CheckRedirect, if any, is
	// consulted after those checks). Its Timeout is left as is; the cache
	// bounds each request with FetchTimeout. To trace the requests, wrap
	// its Transport (e.g. with otelhttp.NewTransport): with a
	// ContextObserver as Observer, each request's context descends from
	// the one FetchStart returned, so its span is a child of the fetch's.
	HTTPClient *http.Client
	// FetchTimeout bounds each HTTP request (each discovery request and the
	// JWKS request). Default 5 s. A lookup waiting on a refresh waits at
	// most this long (or less, by its own context), up to three times this
	// long when the refresh must first discover the JWKS URL (at start-up
	// and after a failed fetch).
	FetchTimeout time.Duration
	// MaxResponseBytes caps each response body; a larger answer is a failed
	// fetch (ClassTooLarge). Default 1 MiB.
	MaxResponseBytes int64
	// InsecureAllowHTTP allows http:// URLs for non-loopback hosts (the
	// configured URL, discovered jwks_uri values and redirects) when the
	// configured URL itself is http. It MUST NOT be set in production:
	// anyone on the network path could then replace the issuer's keys and
	// mint accepted tokens. Without it http is allowed only when the
	// configured URL is http on a loopback host (127.0.0.0/8, ::1,
	// localhost), and then only to loopback hosts. An https configured URL
	// is never followed by an http fetch (no downgrade), whether learnt by
	// discovery or by redirect, with or without this field.
	InsecureAllowHTTP bool
	// AllowedJWKSHosts lists further hosts a discovered jwks_uri may name
	// ("keys.example.com", or "keys.example.com:8443" for a port other
	// than the scheme's default). By default the jwks_uri must be on the
	// metadata document's own host and port: a spoofed or compromised
	// metadata document must not point the fetcher at another service
	// (https://169.254.169.254/..., an internal host). A refused jwks_uri
	// is never requested; the fetch fails with ClassForeignHost. Used only
	// with Issuer (a configured JWKSURL is fetched as given).
	AllowedJWKSHosts []string

	// MinRefreshInterval is the floor of the background refresh interval
	// taken from Cache-Control max-age or Expires. Default 5 min; at least
	// 1 s.
	MinRefreshInterval time.Duration
	// MaxRefreshInterval is the ceiling of that interval; it bounds how
	// long a key removed by the issuer keeps verifying. Default 1 h.
	MaxRefreshInterval time.Duration
	// DefaultRefreshInterval is used when the answer has no usable caching
	// header (none, no-store or no-cache, as Ory Hydra sends). Default
	// 15 min, clamped to [MinRefreshInterval, MaxRefreshInterval].
	DefaultRefreshInterval time.Duration
	// UnknownKIDCooldown is the minimum time between two refreshes caused
	// by unknown kids. Default 30 s. Independently, no unknown-kid refresh
	// starts within 1 s after any fetch completed. The first unknown kid
	// after start-up may refresh at once.
	UnknownKIDCooldown time.Duration
	// MaxStaleness is how long after its last successful fetch a key set
	// is still served while refreshes fail (stale-if-error). After that,
	// Current returns nil and lookups fail with ErrKeysUnavailable.
	// Default 24 h; it must exceed MaxRefreshInterval.
	MaxStaleness time.Duration
	// BackoffInitial is the first retry delay after a failed fetch; each
	// further failure doubles it, up to BackoffMax. Each delay is jittered
	// down by up to half. Default 1 s.
	BackoffInitial time.Duration
	// BackoffMax caps the retry delay. Default 1 min.
	BackoffMax time.Duration

	// Now is the clock. Default time.Now. Tests that control time set Now
	// and NewTimer together.
	Now func() time.Time
	// NewTimer creates the background refresh timer. Default: a
	// time.Timer.
	NewTimer func(d time.Duration) Timer

	// Observer receives fetch and lookup-miss events. Optional.
	Observer Observer
}

// Timer is the one-shot timer the background refresh waits on; Config.NewTimer
// lets tests supply one driven by a fake clock.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; see time.Timer.Stop.
	Stop() bool
}

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

// Defaults of Config's optional fields.
const (
	DefaultFetchTimeout           = 5 * time.Second
	DefaultMaxResponseBytes       = 1 << 20
	DefaultMinRefreshInterval     = 5 * time.Minute
	DefaultMaxRefreshInterval     = time.Hour
	DefaultDefaultRefreshInterval = 15 * time.Minute
	DefaultUnknownKIDCooldown     = 30 * time.Second
	DefaultMaxStaleness           = 24 * time.Hour
	DefaultBackoffInitial         = time.Second
	DefaultBackoffMax             = time.Minute

	// MinFetchGap is the floor between the end of any fetch and an
	// unknown-kid refresh, and the shortest background delay.
	MinFetchGap = time.Second
)

// ErrInvalidConfig is wrapped by New's configuration errors.
var ErrInvalidConfig = errors.New("jwkscache: invalid config")

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// normalize validates cfg and fills in defaults.
func (cfg *Config) normalize() error {
	if cfg.Name == "" {
		return configErr("Name is required")
	}
	if len(cfg.Name) > 128 {
		return configErr("Name longer than 128 bytes")
	}
	for _, r := range cfg.Name {
		if !unicode.IsPrint(r) {
			return configErr("Name has a non-printable character")
		}
	}
	if (cfg.JWKSURL == "") == (cfg.Issuer == "") {
		return configErr("set exactly one of JWKSURL and Issuer")
	}
	durs := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"FetchTimeout", &cfg.FetchTimeout, DefaultFetchTimeout},
		{"MinRefreshInterval", &cfg.MinRefreshInterval, DefaultMinRefreshInterval},
		{"MaxRefreshInterval", &cfg.MaxRefreshInterval, DefaultMaxRefreshInterval},
		{"DefaultRefreshInterval", &cfg.DefaultRefreshInterval, DefaultDefaultRefreshInterval},
		{"UnknownKIDCooldown", &cfg.UnknownKIDCooldown, DefaultUnknownKIDCooldown},
		{"MaxStaleness", &cfg.MaxStaleness, DefaultMaxStaleness},
		{"BackoffInitial", &cfg.BackoffInitial, DefaultBackoffInitial},
		{"BackoffMax", &cfg.BackoffMax, DefaultBackoffMax},
	}
	for _, d := range durs {
		if *d.p < 0 {
			return configErr("%s is negative", d.name)
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if cfg.MaxResponseBytes < 0 {
		return configErr("MaxResponseBytes is negative")
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.MinRefreshInterval < MinFetchGap {
		return configErr("MinRefreshInterval under %v", MinFetchGap)
	}
	if cfg.MaxRefreshInterval < cfg.MinRefreshInterval {
		return configErr("MaxRefreshInterval under MinRefreshInterval")
	}
	cfg.DefaultRefreshInterval = clampDur(cfg.DefaultRefreshInterval, cfg.MinRefreshInterval, cfg.MaxRefreshInterval)
	if cfg.MaxStaleness <= cfg.MaxRefreshInterval {
		return configErr("MaxStaleness (%v) must exceed MaxRefreshInterval (%v)", cfg.MaxStaleness, cfg.MaxRefreshInterval)
	}
	if cfg.BackoffMax < cfg.BackoffInitial {
		return configErr("BackoffMax under BackoffInitial")
	}
	if cfg.NewTimer != nil && cfg.Now == nil {
		return configErr("NewTimer set without Now")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewTimer == nil {
		cfg.NewTimer = func(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }
	}
	return nil
}

func clampDur(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}
