package grpcauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/oauthtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func incoming(kv map[string][]string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.MD(kv))
}

// TestAuthorize calls the decision directly with hand-built incoming
// metadata, covering what a gRPC client cannot put on the wire.
func TestAuthorize(t *testing.T) {
	e := newEnv(t, envConfig{})
	tok := e.iss.MintT(t, oauthtest.WithClient(readerID))
	const m = "/test.v1.Echo/Whoami"

	t.Run("H10 Authorization capitalised in a hand-built MD is accepted", func(t *testing.T) {
		ctx, err := e.ic.Authorize(incoming(map[string][]string{"Authorization": {"Bearer " + tok}}), m)
		if err != nil {
			t.Fatal(err)
		}
		if p, ok := jwtverify.FromContext(ctx); !ok || p.ClientID() != readerID {
			t.Fatalf("principal %v %v", p, ok)
		}
	})

	t.Run("H5 two values", func(t *testing.T) {
		_, err := e.ic.Authorize(incoming(map[string][]string{"authorization": {"Bearer " + tok, "Bearer " + tok}}), m)
		wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoInvalidRequest)
	})

	t.Run("no metadata at all", func(t *testing.T) {
		_, err := e.ic.Authorize(context.Background(), m)
		wantStatus(t, err, codes.Unauthenticated, grpcauth.InfoMissingToken)
	})

	t.Run("public method ignores credentials", func(t *testing.T) {
		in := incoming(map[string][]string{"authorization": {"Bearer a", "Bearer b"}})
		ctx, err := e.ic.Authorize(in, "/grpc.health.v1.Health/Check")
		if err != nil || ctx != in {
			t.Fatalf("Authorize = %v, %v; want the same context", ctx, err)
		}
		if _, ok := jwtverify.FromContext(ctx); ok {
			t.Error("a public method got a principal")
		}
	})

	// Hostile values: the answer is fixed per outcome and never carries
	// the credentials.
	hostile := []struct {
		name, value, reason string
	}{
		{"scheme only", "Bearer", grpcauth.InfoInvalidRequest},
		{"scheme and spaces", "Bearer    ", grpcauth.InfoInvalidRequest},
		{"tab separator", "Bearer\t" + tok, grpcauth.InfoInvalidRequest},
		{"second word", "Bearer " + tok + " extra", grpcauth.InfoInvalidRequest},
		{"newline in token", "Bearer " + tok[:10] + "\n" + tok[10:], grpcauth.InfoInvalidRequest},
		{"lower-case scheme", "bearer " + tok, ""},
		{"several spaces", "Bearer    " + tok, ""},
		{"not a JWT", "Bearer abc", grpcauth.InfoInvalidToken},
		{"alg none", "Bearer " + noneToken(t, tok), grpcauth.InfoInvalidToken},
		{"1 MB of dots", "Bearer " + strings.Repeat(".", 1<<20), grpcauth.InfoInvalidToken},
		{"just over the cap", "Bearer " + strings.Repeat("a", grpcauth.MaxCredentialsLength), grpcauth.InfoInvalidToken},
		{"empty", "", grpcauth.InfoMissingToken},
		{"basic", "Basic eDp5", grpcauth.InfoMissingToken},
		{"bearer prefix of another scheme", "Bearerx " + tok, grpcauth.InfoMissingToken},
		// DPoP (RFC 9449) is refused by choice, never taken for a call
		// without credentials, in any case and well formed or not.
		{"dpop scheme", "DPoP " + tok, grpcauth.InfoDPoPUnsupported},
		{"dpop scheme lower case", "dpop " + tok, grpcauth.InfoDPoPUnsupported},
		{"dpop scheme alone", "DPoP", grpcauth.InfoDPoPUnsupported},
		{"dpop scheme tab", "DPoP\t" + tok, grpcauth.InfoDPoPUnsupported},
		{"dpop prefix of another scheme", "DPoPx " + tok, grpcauth.InfoMissingToken},
	}
	for _, h := range hostile {
		t.Run(h.name, func(t *testing.T) {
			_, err := e.ic.Authorize(incoming(map[string][]string{"authorization": {h.value}}), m)
			if h.reason == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			wantStatus(t, err, codes.Unauthenticated, h.reason)
			st := status.Convert(err)
			text := st.Message() + st.Proto().String()
			if len(h.value) > 12 && strings.Contains(text, h.value[7:]) {
				t.Error("the status carries the credentials")
			}
			if len(text) > 512 {
				t.Errorf("status of %d bytes", len(text))
			}
		})
	}
}

// noneToken rewrites tok's header to alg "none" and drops the signature.
func noneToken(t *testing.T, tok string) string {
	t.Helper()
	i := strings.IndexByte(tok, '.')
	j := strings.LastIndexByte(tok, '.')
	if i < 0 || j <= i {
		t.Fatal("not a JWS")
	}
	return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt"}`)) + tok[i:j+1]
}

func TestNew(t *testing.T) {
	e := newEnv(t, envConfig{})
	if _, err := grpcauth.New(nil, grpcauth.Policy{}); !errors.Is(err, grpcauth.ErrNilVerifier) {
		t.Errorf("nil verifier: %v", err)
	}
	_, err := grpcauth.New(e.verifier, grpcauth.Policy{Public: []string{"/a.B/C", "/a.B/C", "nope"}})
	if !errors.Is(err, grpcauth.ErrDuplicateRule) || !errors.Is(err, grpcauth.ErrInvalidPattern) {
		t.Errorf("bad policy: %v", err)
	}
	var pe *grpcauth.PolicyError
	if !errors.As(err, &pe) || pe.Pattern == "" {
		t.Errorf("errors.As(*PolicyError): %v", err)
	}
	// Nil options are ignored; an observer and logger are optional.
	if _, err := grpcauth.New(e.verifier, grpcauth.Policy{}, nil, grpcauth.WithObserver(nil), grpcauth.WithLogger(nil)); err != nil {
		t.Error(err)
	}
}

// TestDefaultRules: what an undeclared method gets under each default.
func TestDefaultRules(t *testing.T) {
	e := newEnv(t, envConfig{})
	tok := e.iss.MintT(t, oauthtest.WithClient(readerID))
	const undeclared = "/other.v1.Other/Do"
	for _, tt := range []struct {
		def               grpcauth.DefaultRule
		anonCode, tokCode codes.Code
	}{
		{grpcauth.DefaultDeny, codes.Unauthenticated, codes.PermissionDenied},
		{grpcauth.DefaultAuthenticated, codes.Unauthenticated, codes.OK},
		{grpcauth.DefaultAllow, codes.OK, codes.OK},
	} {
		t.Run(tt.def.String(), func(t *testing.T) {
			ic, err := grpcauth.New(e.verifier, grpcauth.Policy{Default: tt.def})
			if err != nil {
				t.Fatal(err)
			}
			_, err = ic.Authorize(context.Background(), undeclared)
			if status.Code(err) != tt.anonCode {
				t.Errorf("anonymous: %v, want %v", err, tt.anonCode)
			}
			_, err = ic.Authorize(incoming(map[string][]string{"authorization": {"Bearer " + tok}}), undeclared)
			if status.Code(err) != tt.tokCode {
				t.Errorf("with a token: %v, want %v", err, tt.tokCode)
			}
		})
	}
}

// TestConcurrent: one Interceptor serves many goroutines with valid,
// forbidden and bad tokens at once; every call gets its own answer (run
// with -race).
func TestConcurrent(t *testing.T) {
	e := newEnv(t, envConfig{})
	reader := e.iss.MintT(t, oauthtest.WithClient(readerID))
	writer := e.iss.MintT(t, oauthtest.WithClient(writerID))
	bad := e.iss.MintT(t, oauthtest.WithClient(readerID), oauthtest.WithUntrustedKey("RS256"))
	cases := []struct {
		tok, method, client string
		code                codes.Code
	}{
		{reader, "/test.v1.Echo/Whoami", readerID, codes.OK},
		{writer, "/test.v1.Echo/Write", writerID, codes.OK},
		{reader, "/test.v1.Echo/Write", "", codes.PermissionDenied},
		{bad, "/test.v1.Echo/Whoami", "", codes.Unauthenticated},
	}
	const workers, rounds = 8, 200
	var wrong atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range rounds {
				c := cases[(w+n)%len(cases)]
				ctx, err := e.ic.Authorize(incoming(map[string][]string{"authorization": {"Bearer " + c.tok}}), c.method)
				if status.Code(err) != c.code {
					wrong.Add(1)
					continue
				}
				if c.client != "" {
					if p, ok := jwtverify.FromContext(ctx); !ok || p.ClientID() != c.client {
						wrong.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := wrong.Load(); n != 0 {
		t.Errorf("%d of %d answers wrong", n, workers*rounds)
	}
	if got := len(e.obs.take()); got != workers*rounds {
		t.Errorf("%d decision events, want %d", got, workers*rounds)
	}
}
