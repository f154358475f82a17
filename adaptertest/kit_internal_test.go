package adaptertest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/jwtverify"
	"github.com/m2mauth/m2mauth/middleware"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func caseNamed(t *testing.T, cs []httpCase, name string) httpCase {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no case %q", name)
	return httpCase{}
}

// TestKitCatchesBrokenHTTPAdapters: each broken adapter fails the row it
// breaks, so the kit can fail.
func TestKitCatchesBrokenHTTPAdapters(t *testing.T) {
	env := NewEnv(t)
	cs := httpCases(t, env)
	correct := func(s HTTPSetup, extra ...middleware.Option) http.Handler {
		mw, err := middleware.New(s.Verifier, append(s.Options(), extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		return mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := jwtverify.FromContext(r.Context())
			Respond(w, r, p)
		}))
	}
	errorHandler := func(f func(w http.ResponseWriter, o middleware.Outcome)) middleware.Option {
		return middleware.WithErrorHandler(middleware.ErrorHandlerFunc(func(w http.ResponseWriter, _ *http.Request, o middleware.Outcome) { f(w, o) }))
	}
	for _, tc := range []struct {
		name, row string
		build     func(s HTTPSetup) http.Handler
		observer  func(rec *Recorder) jwtverify.DecisionObserver
	}{
		{"challenge_without_realm", "H6_no_credentials", func(s HTTPSetup) http.Handler {
			return correct(s, errorHandler(func(w http.ResponseWriter, o middleware.Outcome) {
				o.Challenges = []string{"Bearer"}
				middleware.WriteError(w, o)
			}))
		}, nil},
		{"body_description_differs", "I1_invalid_token_untrusted_key", func(s HTTPSetup) http.Handler {
			return correct(s, errorHandler(func(w http.ResponseWriter, o middleware.Outcome) {
				o.Description = o.Err.Error()
				middleware.WriteError(w, o)
			}))
		}, nil},
		{"body_echoes_the_header", "H3_trailing_extra_word", func(s HTTPSetup) http.Handler {
			h := correct(s)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Debug", r.Header.Get("Authorization"))
				h.ServeHTTP(w, r)
			})
		}, nil},
		{"503_without_retry_after", "B13a_keys_unavailable_503", func(s HTTPSetup) http.Handler {
			return correct(s, errorHandler(func(w http.ResponseWriter, o middleware.Outcome) {
				o.RetryAfter = 0
				middleware.WriteError(w, o)
			}))
		}, nil},
		{"principal_only_in_the_framework_context", "H1_canonical_scheme", func(s HTTPSetup) http.Handler {
			mw, _ := middleware.New(s.Verifier, s.Options()...)
			return mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				p, _ := jwtverify.FromContext(r.Context())
				Respond(w, r.WithContext(jwtverify.NewContext(r.Context(), nil)), p)
			}))
		}, nil},
		{"observer_called_twice", "H6_basic_only", func(s HTTPSetup) http.Handler { return correct(s) },
			func(rec *Recorder) jwtverify.DecisionObserver { return jwtverify.MultiDecisionObserver(rec, rec) }},
		{"observer_not_called", "I5_health_exempt", func(s HTTPSetup) http.Handler { return correct(s) },
			func(*Recorder) jwtverify.DecisionObserver { return dropObserver{} }},
		{"exempt_path_not_exempt", "I5_health_exempt", func(s HTTPSetup) http.Handler {
			s.ExemptPaths = nil
			return correct(s)
		}, nil},
		{"no_authentication", "H6_no_credentials", func(s HTTPSetup) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { Respond(w, r, nil) })
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := caseNamed(t, cs, tc.row)
			rec := &Recorder{}
			s := c.setup(env, rec)
			if tc.observer != nil {
				s.Observer = tc.observer(rec)
			}
			ts := httptest.NewServer(tc.build(s))
			defer ts.Close()
			err := doHTTP(t, ts.Client(), ts.URL, c, rec, "http", true)
			if err == nil {
				t.Fatalf("the kit passed a broken adapter on %s", tc.row)
			}
			t.Logf("caught: %v", err)
		})
	}
	t.Run("correct_adapter_passes", func(t *testing.T) {
		c := caseNamed(t, cs, "H6_basic_only")
		rec := &Recorder{}
		ts := httptest.NewServer(correct(c.setup(env, rec)))
		defer ts.Close()
		if err := doHTTP(t, ts.Client(), ts.URL, c, rec, "http", true); err != nil {
			t.Fatal(err)
		}
	})
}

// TestKitCatchesBrokenGRPCAnswers: the gRPC checks refuse wrong codes,
// missing or wrong ErrorInfo, and reflected input.
func TestKitCatchesBrokenGRPCAnswers(t *testing.T) {
	withInfo := func(c codes.Code, msg, reason string, md map[string]string) error {
		st, err := status.New(c, msg).WithDetails(&errdetails.ErrorInfo{Domain: grpcauth.Domain, Reason: reason, Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	want := grpcCase{Code: codes.Unauthenticated, Info: grpcauth.InfoInvalidToken, Secrets: []string{"tok.en.x"}}
	good := withInfo(codes.Unauthenticated, "The access token is invalid", grpcauth.InfoInvalidToken, map[string]string{grpcauth.MetadataError: "invalid_token"})
	if err := checkGRPCAnswer(want, "", good); err != nil {
		t.Fatalf("a correct answer failed: %v", err)
	}
	for name, err := range map[string]error{
		"wrong_code":         withInfo(codes.PermissionDenied, "x", grpcauth.InfoInvalidToken, map[string]string{grpcauth.MetadataError: "invalid_token"}),
		"no_error_info":      status.Error(codes.Unauthenticated, "x"),
		"wrong_reason":       withInfo(codes.Unauthenticated, "x", grpcauth.InfoMissingToken, map[string]string{grpcauth.MetadataError: "invalid_token"}),
		"no_error_code":      withInfo(codes.Unauthenticated, "x", grpcauth.InfoInvalidToken, nil),
		"reflected_message":  withInfo(codes.Unauthenticated, "bad token tok.en.x", grpcauth.InfoInvalidToken, map[string]string{grpcauth.MetadataError: "invalid_token"}),
		"reflected_metadata": withInfo(codes.Unauthenticated, "x", grpcauth.InfoInvalidToken, map[string]string{grpcauth.MetadataError: "invalid_token", "token": "tok.en.x"}),
		"empty_message":      withInfo(codes.Unauthenticated, "", grpcauth.InfoInvalidToken, map[string]string{grpcauth.MetadataError: "invalid_token"}),
		"allowed":            nil,
	} {
		t.Run(name, func(t *testing.T) {
			if checkGRPCAnswer(want, "", err) == nil {
				t.Fatal("the kit passed a broken answer")
			}
		})
	}
	if err := checkEvents([]jwtverify.DecisionEvent{{Result: allowed, ClientID: ClientID, Route: "/x/tok.en.x"}},
		wantEvents(allowed, "", false), "", want.Secrets); err == nil || !strings.Contains(err.Error(), "reflects") {
		t.Fatalf("an event reflecting the token passed: %v", err)
	}
}

type dropObserver struct{}

func (dropObserver) ObserveDecision(jwtverify.DecisionEvent) {}
