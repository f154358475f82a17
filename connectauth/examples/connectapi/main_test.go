package main

import (
	"net/http"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/m2mauth/m2mauth/internal/exampletest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The program, configured as from a shell, against an in-process issuer: a
// client with the scope is served, one without it gets 403, an anonymous
// call 401; the program stops with its context.
func TestAgainstOAuthtest(t *testing.T) {
	exampletest.RunBasic(t, "connectapi", run, func(addr string) *http.Request {
		req, _ := http.NewRequest("POST", "http://"+addr+listProcedure, strings.NewReader(`""`))
		req.Header.Set("Content-Type", "application/json")
		return req
	})
}
