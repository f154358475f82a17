package bearer_test

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/m2mauth/m2mauth/bearer"
)

// The package doc's snippet, run on three requests.
func Example() {
	for _, h := range []string{"Bearer eyJhbGciOi.eyJzdWIi.c2ln", "Basic dXNlcjpwYXNz", "Bearer a b"} {
		r, _ := http.NewRequest("GET", "http://127.0.0.1/orders", nil)
		r.Header.Set("Authorization", h)
		tok, err := bearer.Parse(r.Header.Get("Authorization"))
		switch {
		case errors.Is(err, bearer.ErrNoCredentials):
			fmt.Println("401 with a bare challenge")
		case err != nil:
			fmt.Println("400 invalid_request")
		default:
			fmt.Println("token of", len(tok), "bytes")
		}
	}
	// Output:
	// token of 24 bytes
	// 401 with a bare challenge
	// 400 invalid_request
}
