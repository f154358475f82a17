// Package m2m builds m2mauth verifiers over the benchmark fixtures, with
// the same checks the peers are configured for (issuer, audience, client
// allow list, one algorithm, one static key).
package m2m

import (
	"context"
	"fmt"
	"net/http"

	"github.com/m2mauth/m2mauth/benchmarks/internal/fixture"
	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

// Config returns the verifier configuration for the fixtures of algs,
// each key published in one static source of one trusted issuer.
func Config(cache jwtverify.CacheConfig, algs ...string) (jwtverify.Config, error) {
	keys := make([]jwkscache.Key, 0, len(algs))
	for _, alg := range algs {
		f := fixture.Get(alg)
		k, err := jwkscache.NewKey(f.KID, f.Alg, f.Pub)
		if err != nil {
			return jwtverify.Config{}, err
		}
		keys = append(keys, k)
	}
	return jwtverify.Config{
		Issuers: []jwtverify.IssuerConfig{{
			Name:       "bench",
			Issuer:     fixture.Issuer,
			Keys:       jwkscache.NewStatic("bench", keys...),
			Audiences:  []string{fixture.Audience},
			ClientIDs:  fixture.AllowedClients(),
			Algorithms: algs,
		}},
		Cache: cache,
	}, nil
}

// New builds a verifier for algs (see NewFromConfig).
func New(cache jwtverify.CacheConfig, algs ...string) (*jwtverify.Verifier, error) {
	cfg, err := Config(cache, algs...)
	if err != nil {
		return nil, err
	}
	return NewFromConfig(cfg)
}

// NewFromConfig builds a verifier from cfg and checks that the fixture
// token of every configured algorithm verifies. It reports an error, rather
// than panicking, while jwtverify is still a stub.
func NewFromConfig(cfg jwtverify.Config) (v *jwtverify.Verifier, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("m2m: jwtverify not usable yet: %v", r)
		}
	}()
	algs := cfg.Issuers[0].Algorithms
	v, err = jwtverify.New(cfg)
	if err != nil {
		return nil, err
	}
	for _, alg := range algs {
		if _, err := v.Verify(context.Background(), fixture.Get(alg).Token); err != nil {
			return nil, fmt.Errorf("m2m: fixture %s refused: %w", alg, err)
		}
	}
	return v, nil
}

// Cold is a verifier with the verified-token cache off.
func Cold(algs ...string) (*jwtverify.Verifier, error) {
	return New(jwtverify.CacheConfig{Disabled: true}, algs...)
}

// Hot is a verifier with the default cache.
func Hot(algs ...string) (*jwtverify.Verifier, error) {
	return New(jwtverify.CacheConfig{}, algs...)
}

// Middleware wraps next in m2mauth's net/http middleware over v, with its
// defaults (Authorization header only, every request authenticated).
func Middleware(v *jwtverify.Verifier, next http.Handler) (http.Handler, error) {
	mw, err := middleware.New(v)
	if err != nil {
		return nil, err
	}
	return mw.Handler(next), nil
}
