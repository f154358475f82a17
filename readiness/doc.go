// Package readiness reports whether an API's key sources can verify
// tokens, as an http.Handler for load-balancer probes and as gRPC health
// checking (google.golang.org/grpc/health).
//
// A Checker watches jwkscache caches (any Source) and answers with a small
// JSON body, one entry per source:
//
//	{"ready":true,"mode":"startup","sources":[
//	  {"name":"entra-v2","usable":true,"had_usable_keys":true,"keys_age_seconds":312},
//	  {"name":"partner","usable":true,"had_usable_keys":true,"last_failure":"timeout","failing":true,"keys_age_seconds":4100}]}
//
// status 200 when ready, 503 when not. "last_failure" is the class of the
// source's last failed fetch (jwkscache.ErrorClass), kept after recovery;
// "failing" says the last fetch failed; "keys_age_seconds" is the age of
// the last good key set (absent before the first one).
//
// # Modes
//
// StartupGate (the default) is ready once every source has had a usable
// key set since the process started, and stays ready: an issuer outage
// after start-up does not take the API out of rotation, because cached
// keys keep verifying tokens (up to jwkscache's MaxStaleness, 24 h by
// default) and an outage of a shared issuer would otherwise take every
// replica out of the load balancer at once, turning the issuer's trouble
// into your outage. Watch the outage through logs (authlog) and metrics
// instead.
//
// Strict is not ready while any source has no usable keys (never fetched,
// or older than MaxStaleness). Use it when a replica without keys should
// stop receiving traffic even though every replica may be in the same
// state: during a long issuer outage a Strict probe takes the whole fleet
// out, and requests then fail at the load balancer instead of with 503
// keys_unavailable from the API.
//
// # Use
//
//	keys, err := jwkscache.New(ctx, jwkscache.Config{Name: "corp", Issuer: iss})
//	ready, err := readiness.New(readiness.Options{}, keys) // every cache of your issuers
//	mux.Handle("GET /readyz", ready)
//	go ready.Watch(ctx, healthServer, "orders.v1.Orders") // gRPC health, until ctx ends
//
// Serve the handler on an internal port where possible: it names the
// configured sources and their failure classes (no URL, no token).
package readiness
