// Package securitysuite holds m2mauth's end-to-end security tests: every
// row of the hostile-input catalogue (SECURITY.md) sent through the real
// adapters (net/http, Echo and gRPC) configured like production, with keys
// fetched by jwkscache from an oauthtest issuer; the principles behind the
// catalogue with further inputs; resource bounds measured by allocations
// and cache accounting; and fuzz targets for the credential extraction of
// the adapters.
//
// The package has no API: run it with
//
//	go test -race ./securitysuite/
//	go test -run '^$' -fuzz FuzzGRPCMetadata ./securitysuite/
//
// Subtests are named after the catalogue: TestRows/http/A1,
// TestRows/echo/A1, TestRows/grpc/A1, ...
package securitysuite
