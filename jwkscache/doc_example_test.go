package jwkscache_test

import (
	"context"

	"github.com/m2mauth/m2mauth/jwkscache"
)

// The package doc's usage, compiled (TestSnippetsCompile in the root
// package checks that the doc's lines stand here); not run, since it
// reaches Entra ID.
func Example_entraID() {
	start := func(ctx, startupCtx context.Context, tenant string) error {
		keys, err := jwkscache.New(ctx, jwkscache.Config{
			Name:   "entra",
			Issuer: "https://login.microsoftonline.com/" + tenant + "/v2.0",
		})
		if err != nil {
			return err // configuration error
		}
		defer keys.Close()
		if err := keys.Ready(startupCtx); err != nil {
			return err // the issuer could not be reached in time
		}
		// pass keys (a KeySource) to the verifier's issuer configuration
		return nil
	}
	_ = start
}
