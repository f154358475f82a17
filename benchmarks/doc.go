// Package benchmarks compares m2mauth with the JWT libraries an API team
// would otherwise pick, on the same machine, in the same run, with the same
// keys and the same realistic client-credentials token.
//
// It is a separate Go module (its go.mod replaces m2mauth with the parent
// directory), so the peer libraries never enter m2mauth's go.sum.
//
// Run everything and write ../BENCHMARKS.md:
//
//	./run.sh                      # COUNT=5 BENCHTIME=500ms by default
//
// Or one part at a time:
//
//	go test -run '^$' -bench 'Verify' -benchmem -count 5
//	go test -run '^$' -bench 'HTTP' -benchmem -count 5
//	go test -run '^$' -bench CacheMemory -benchtime 1x
//	go run ./cmd/load -rounds 5 -duration 5s
//
// The reliability soak (issue 22) is a separate run that writes its own
// section of ../BENCHMARKS.md (package internal/soak describes it):
//
//	go run ./cmd/soak                                  # one cycle, as .ci/run does
//	go run ./cmd/soak -duration 30m -rate 300 -json soak.json -md ../BENCHMARKS.md
//
// Benchmark names follow benchstat's key=value convention:
// BenchmarkVerify/alg=RS256/lib=raw is the standard library's signature
// check alone (the limit), lib=m2mauth-cold is jwtverify with its
// verified-token cache off, lib=m2mauth-hot repeats one token through the
// cache, and golangjwt, jwx, auth0v2, auth0v3 and gooidc are the peers,
// configured as package internal/peers documents.
package benchmarks
