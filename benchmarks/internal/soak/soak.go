// Package soak runs m2mauth under steady open-loop load while its issuer
// misbehaves on a compressed clock, and checks every answer against a
// ground truth computed from the issuer's key history and the API's own
// JWKS fetch events (issue 22).
//
// The driver starts an oauthtest issuer on 127.0.0.1, re-executes its own
// binary as the protected API (ChildArg: net/http and gRPC, each in plain
// text and over TLS asking for client certificates, over one
// jwtverify.Verifier with an optional certificate binding and one
// jwkscache.Cache), runs client workers that get their tokens with
// golang.org/x/oauth2/clientcredentials (some of them certificate-bound,
// from the issuer's mutual TLS token endpoint) and attacker workers (junk,
// forged, expired, other-audience and unknown-kid tokens; stolen bound
// tokens replayed without the certificate or with another one; opaque
// tokens in Hydra's format never issued, or of a client off the allow
// list), plays the fault schedule against the issuer and writes a report.
// Some bearer clients get opaque tokens, which the API introspects (the
// issuer in jwt-or-introspect mode, an introspect.Source with a call
// budget); the driver revokes their tokens in turn at the issuer's RFC
// 7009 endpoint, the schedule faults the introspection endpoint (500,
// slow, cut off), and the issuer's request counter checks the budget.
// Every request has one of three expected outcomes: must accept, must
// refuse, or either (what the design allows by intent: a key published but
// not yet fetched, a key withdrawn but not yet refetched, the moment the
// key set goes stale, an opaque token revoked within the revocation
// delay); "either" is counted per key event and bounded, and a revoked
// token's "either" lasts at most the revocation bound.
package soak

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"time"
)

// Config configures a run. Zero fields take the defaults of Defaults.
type Config struct {
	// Duration of the loaded run; the fault schedule repeats until it
	// ends (a duration shorter than one cycle plays its first phases).
	// Default: one cycle.
	Duration time.Duration
	// Rate is the total request rate (clients and attackers), per second,
	// scheduled on a clock (open loop).
	Rate float64
	// AttackShare is the attackers' part of Rate (0..0.5).
	AttackShare float64
	// BurstFactor multiplies the attackers' unknown-kid rate during the
	// outage-with-rotation phase (on top of Rate).
	BurstFactor float64
	// Clients is the number of OAuth clients (each with its own token).
	Clients int
	// BoundClients of them (spread among the others) authenticate with a
	// certificate at the issuer's mutual TLS token endpoint, alternately
	// tls_client_auth and self_signed_tls_client_auth, get
	// certificate-bound tokens and call the API's TLS routes with their
	// certificate. Default: a quarter of Clients, at least one.
	BoundClients int
	// OpaqueClients of the bearer clients (never bound ones) get opaque
	// tokens (Ory Hydra's format) from the issuer's token endpoint; the API
	// verifies them by RFC 7662 introspection (the issuer is in
	// jwt-or-introspect mode). Default: a quarter of Clients, at least one,
	// at most the bearer clients; negative: none.
	OpaqueClients int
	// The API's introspect.Source settings: MaxAge (the revocation
	// delay), the call Timeout, the call budget (Rate per second, Burst,
	// MaxConcurrent) and the answer cache's byte bound.
	IntrospectMaxAge, IntrospectTimeout time.Duration
	IntrospectRate                      float64
	IntrospectBurst                     int
	IntrospectMaxConcurrent             int
	IntrospectCacheBytes                int64
	// TokenLifetime of issued tokens; x/oauth2 renews them 10 s early.
	TokenLifetime time.Duration
	// The API's jwkscache settings: Refresh is its min, max and default
	// refresh interval (the issuer's max-age matches it).
	Refresh, Cooldown, FetchTimeout, MaxStaleness, BackoffMax time.Duration
	// Leeway of the verifier for exp and nbf.
	Leeway time.Duration
	// CacheMaxEntries and CacheMaxBytes bound the verified-token cache.
	CacheMaxEntries int
	CacheMaxBytes   int64
	// HeapAllowance is the live-heap growth allowed beyond CacheMaxBytes.
	HeapAllowance int64
	// Slack absorbs scheduling noise in every time bound.
	Slack time.Duration
	// Workers bounds the requests in flight (open loop: a request that
	// finds no worker waits in a queue and its latency counts from its
	// scheduled time).
	Workers int
	// ChildCommand builds the command that runs the API child with the
	// given arguments (ChildArg first). Default: this executable.
	ChildCommand func(args ...string) *exec.Cmd
	// Log receives progress lines. Default os.Stderr.
	Log io.Writer
}

// Defaults are the compressed-clock settings: one cycle of the schedule
// takes about 140 s.
var Defaults = Config{
	Rate:        200,
	AttackShare: 0.1,
	BurstFactor: 5,
	Clients:     20,
	// Introspection: answers reused for 3 s (the revocation delay); 20
	// calls per second with a burst of 20 and 8 in flight.
	IntrospectMaxAge:        3 * time.Second,
	IntrospectTimeout:       500 * time.Millisecond,
	IntrospectRate:          20,
	IntrospectBurst:         20,
	IntrospectMaxConcurrent: 8,
	IntrospectCacheBytes:    1 << 20,
	TokenLifetime:           30 * time.Second,
	Refresh:                 3 * time.Second,
	Cooldown:                2 * time.Second,
	FetchTimeout:            500 * time.Millisecond,
	MaxStaleness:            15 * time.Second,
	BackoffMax:              2 * time.Second,
	Leeway:                  5 * time.Second,
	CacheMaxEntries:         10000,
	CacheMaxBytes:           4 << 20,
	HeapAllowance:           8 << 20,
	Slack:                   time.Second,
	Workers:                 256,
}

func (c *Config) fill() error {
	d := Defaults
	setDur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	setDur(&c.TokenLifetime, d.TokenLifetime)
	setDur(&c.Refresh, d.Refresh)
	setDur(&c.Cooldown, d.Cooldown)
	setDur(&c.FetchTimeout, d.FetchTimeout)
	setDur(&c.MaxStaleness, d.MaxStaleness)
	setDur(&c.BackoffMax, d.BackoffMax)
	setDur(&c.Leeway, d.Leeway)
	setDur(&c.Slack, d.Slack)
	setDur(&c.IntrospectMaxAge, d.IntrospectMaxAge)
	setDur(&c.IntrospectTimeout, d.IntrospectTimeout)
	if c.IntrospectRate == 0 {
		c.IntrospectRate = d.IntrospectRate
	}
	if c.IntrospectBurst == 0 {
		c.IntrospectBurst = d.IntrospectBurst
	}
	if c.IntrospectMaxConcurrent == 0 {
		c.IntrospectMaxConcurrent = d.IntrospectMaxConcurrent
	}
	if c.IntrospectCacheBytes == 0 {
		c.IntrospectCacheBytes = d.IntrospectCacheBytes
	}
	if c.Duration == 0 {
		c.Duration = cycleLength(c)
	}
	if c.Rate == 0 {
		c.Rate = d.Rate
	}
	if c.AttackShare == 0 {
		c.AttackShare = d.AttackShare
	}
	if c.BurstFactor == 0 {
		c.BurstFactor = d.BurstFactor
	}
	if c.Clients == 0 {
		c.Clients = d.Clients
	}
	if c.BoundClients == 0 {
		c.BoundClients = max(1, c.Clients/4)
	}
	switch {
	case c.OpaqueClients == 0:
		c.OpaqueClients = max(0, min(max(1, c.Clients/4), c.Clients-c.BoundClients))
	case c.OpaqueClients < 0:
		c.OpaqueClients = 0
	}
	if c.CacheMaxEntries == 0 {
		c.CacheMaxEntries = d.CacheMaxEntries
	}
	if c.CacheMaxBytes == 0 {
		c.CacheMaxBytes = d.CacheMaxBytes
	}
	if c.HeapAllowance == 0 {
		c.HeapAllowance = d.HeapAllowance
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.Log == nil {
		c.Log = os.Stderr
	}
	switch {
	case c.Rate <= 0 || c.Rate > 20000:
		return errors.New("soak: rate must be in (0, 20000]")
	case c.AttackShare < 0 || c.AttackShare > 0.5:
		return errors.New("soak: attack share must be in [0, 0.5]")
	case c.Clients < 1 || c.Clients > 1000:
		return errors.New("soak: clients must be 1..1000")
	case c.BoundClients < 1 || c.BoundClients > c.Clients:
		return errors.New("soak: bound clients must be 1..clients")
	case c.OpaqueClients > c.Clients-c.BoundClients:
		return errors.New("soak: opaque clients must be at most the clients that are not bound")
	case c.IntrospectMaxAge < time.Second || c.IntrospectTimeout <= 0 || c.IntrospectRate <= 0 || c.IntrospectBurst < 1 || c.IntrospectMaxConcurrent < 1:
		return errors.New("soak: introspection max age must be at least 1s, and its timeout and budget positive")
	case c.TokenLifetime < 20*time.Second:
		return errors.New("soak: token lifetime must be at least 20s (x/oauth2 renews 10s early)")
	case c.MaxStaleness < 10*time.Second+c.Refresh:
		// The longest faulted stretch before "stale" is 10 s.
		return errors.New("soak: max staleness must be at least 10s plus the refresh interval")
	case c.Refresh < time.Second:
		return errors.New("soak: refresh must be at least 1s (jwkscache's floor)")
	}
	if c.ChildCommand == nil {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		c.ChildCommand = func(args ...string) *exec.Cmd { return exec.Command(exe, args...) }
	}
	return nil
}
