package main

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/examples/internal/apitest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The program, configured as from a shell, against an in-process issuer:
// a client with the scope is served, one without it is refused.
func TestAgainstOAuthtest(t *testing.T) {
	apitest.RunHTTPProgram(t, "httpapi", "http", "GET /orders", run)
}
