// Package metrics exports m2mauth's Prometheus metrics. It plugs into the
// observer hooks of the core packages, so programs that do not import it
// pay nothing for metrics.
//
//	reg := prometheus.NewRegistry()            // or prometheus.DefaultRegisterer, explicitly
//	m, err := metrics.New(reg, metrics.Options{})
//	keys, err := jwkscache.New(ctx, jwkscache.Config{Name: "entra", Issuer: iss, Observer: m})
//	err = m.WatchKeys(keys)                    // key-set gauges, read at scrape time
//	issuer.Keys = keys                         // issuer: the jwtverify.IssuerConfig of iss
//	v, err := jwtverify.New(jwtverify.Config{Issuers: []jwtverify.IssuerConfig{issuer}, Observer: m})
//	err = m.WatchVerifier("", v)               // verified-token cache gauges and counters
//	mw, err := middleware.New(v, middleware.WithObserver(m))
//
// A *Metrics is at once a jwtverify.Observer, a jwtverify.DecisionObserver
// and a jwkscache.Observer. Logs are another observer of the adapters'
// decisions (authlog.Logger, given with WithObserver next to the metrics);
// observers add up on every adapter.
//
// Labels are bounded: reasons, results, causes and outcomes come from fixed
// sets, issuer and source names from configuration. A raw token, a kid taken
// from a token or any unverified claim never becomes a label value. The
// verified client ID is an opt-in label (Options.ClientIDLabel) capped at
// Options.MaxClientIDs distinct values; the sub-reason of the refusing
// issuer rule is an opt-in label (Options.RuleLabel) whose codes come from
// configuration. A token refused before an issuer was chosen is counted
// under issuer="none" (jwtverify.NoIssuer), the spelling of the logs.
//
// Metrics (with the default "m2mauth" namespace):
//
//	m2mauth_token_validations_total{issuer,result,reason[,rule]}  (rule: opt-in)
//	m2mauth_token_validation_duration_seconds{cache="hit"|"miss"}
//	m2mauth_token_validations_by_client_total{issuer,client_id}   (opt-in)
//	m2mauth_authorization_decisions_total{transport,result}
//	m2mauth_jwks_fetches_total{source,cause,result}
//	m2mauth_jwks_fetch_duration_seconds{source}
//	m2mauth_jwks_unknown_kid_total{source,outcome}
//	m2mauth_jwks_skipped_keys_total{source,reason}
//	m2mauth_jwks_keys{source}
//	m2mauth_jwks_usable{source}
//	m2mauth_jwks_last_success_timestamp_seconds{source}
//	m2mauth_jwks_keys_age_seconds{source}
//	m2mauth_jwks_consecutive_failures{source}
//	m2mauth_verified_token_cache_{entries,bytes,max_entries,max_bytes}{verifier}
//	m2mauth_verified_token_cache_{hits,misses,evictions}_total{verifier}
package metrics
