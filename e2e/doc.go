// Package e2e is m2mauth's end-to-end suite against a real authorization
// server: Ory Hydra v2.3.0 issuing client-credentials access tokens.
//
// It is a separate Go module (github.com/m2mauth/m2mauth/e2e) so that
// `go test ./...` at the repository root never runs it and none of its
// dependencies enter the main module's go.sum. It needs a Hydra binary:
//
//	.ci/e2e-hydra.sh                  # builds Hydra once into $HOME/.cache/m2mauth, runs the suite
//	HYDRA_BIN=/path/to/hydra go test -race -count=1 -v ./...   # from e2e/
//
// Without HYDRA_BIN every test is skipped with a message saying so.
//
// The suite starts Hydra in memory (`hydra serve all --dev`) on 127.0.0.1
// ports chosen at random, registers OAuth 2.0 clients through Hydra's admin
// API, gets tokens with golang.org/x/oauth2/clientcredentials and calls a
// net/http, an Echo and a gRPC service protected by m2mauth. Hydra runs in
// its own process group and is killed at the end of the run, also when a
// test fails, panics, times out or the run is interrupted.
package e2e
