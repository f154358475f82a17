package introspect_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/m2mauth/m2mauth/introspect"
)

// The package doc's snippet (compile-only: it names a real issuer).
func Example_packageDoc() {
	ctx, token, secret := context.Background(), "opaque-token", "api-secret"
	err := func() error {
		src, err := introspect.New(introspect.Config{
			Issuer:    "https://idp.example.com",
			Auth:      introspect.ClientAuth{Method: introspect.AuthClientSecretBasic, ClientID: "api", ClientSecret: secret},
			Audiences: []string{"https://api.example.com"},
			ClientIDs: []string{"billing-batch"},
		})
		if err != nil {
			return err // a configuration error
		}
		defer src.Close()
		res, err := src.Introspect(ctx, token)
		switch {
		case errors.Is(err, introspect.ErrUnavailable): // 503, Retry-After from *Error
			return err
		case err != nil: // 401 invalid_token
			return err
		default: // res.Scopes(), res.ClientID(), res.Subject(), res.ExpiresAt(), res.RawJSON()
			fmt.Println(res.ClientID())
		}
		return nil
	}()
	_ = err
}
