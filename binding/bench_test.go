package binding_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/m2mauth/m2mauth/binding"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// BenchmarkThumbprint: the raw cost of hashing the client certificate
// (the baseline) against CertSource's per-certificate cache, as net/http
// hands every request of a connection the same *tls.ConnectionState.
func BenchmarkThumbprint(b *testing.B) {
	cc := oauthtest.NewClientCertT(b, "bench")
	cs := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cc.Certificate}}
	src, _ := binding.NewCertSource(binding.CertSourceConfig{})
	b.Run("raw-sha256", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = sha256.Sum256(cc.Certificate.Raw)
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, why := src.FromTLS(cs); why != binding.Accepted {
				b.Fatal(why)
			}
		}
	})
}

// BenchmarkBoundVsBearer: a repeated token through the verifier's cache,
// without and with the certificate binding check on a fixed connection
// state. "bound" is the cost of the planned design (the Confirmation
// parsed once and kept with the cached Principal); "bound-parse-cnf" also
// re-reads and parses cnf on every request.
func BenchmarkBoundVsBearer(b *testing.B) {
	e := newEnv(b, binding.Optional)
	bound, bearer := e.boundToken(b), e.bearerToken(b)
	cs := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{e.cc.Certificate}}
	ctx := context.Background()
	p, err := e.v.Verify(ctx, bound)
	if err != nil {
		b.Fatal(err)
	}
	raw, _ := p.Claim("cnf")
	cnf, err := binding.ParseConfirmation(raw)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("bearer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.v.Verify(ctx, bearer); err != nil {
				b.Fatal(err)
			}
			_ = binding.Check(e.cfg, binding.Confirmation{}, binding.Proof{})
		}
	})
	b.Run("bound", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.v.Verify(ctx, bound); err != nil {
				b.Fatal(err)
			}
			if why := binding.Check(e.cfg, cnf, e.src.ProofFromTLS(cs)); why != binding.Accepted {
				b.Fatal(why)
			}
		}
	})
	b.Run("binding-check-only", func(b *testing.B) {
		// The added work alone: the per-certificate cache and the decision.
		b.ReportAllocs()
		for b.Loop() {
			if why := binding.Check(e.cfg, cnf, e.src.ProofFromTLS(cs)); why != binding.Accepted {
				b.Fatal(why)
			}
		}
	})
	b.Run("bound-parse-cnf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := e.v.Verify(ctx, bound)
			if err != nil {
				b.Fatal(err)
			}
			if why := e.bind(p, e.src.ProofFromTLS(cs)); why != binding.Accepted {
				b.Fatal(why)
			}
		}
	})
}

// BenchmarkForwarded: a forwarded certificate header, parsed the first time
// (base64, X.509 parse, SHA-256) and then served from the per-value cache.
func BenchmarkForwarded(b *testing.B) {
	cc := oauthtest.NewClientCertT(b, "bench")
	v := ":" + base64.StdEncoding.EncodeToString(cc.Certificate.Raw) + ":"
	r := httptest.NewRequest("GET", "http://api.test/", nil)
	r.Header.Set("Client-Cert", v)
	b.Run("first-sight", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			src, _ := binding.NewCertSource(binding.CertSourceConfig{Forwarding: &binding.Forwarding{Format: binding.FormatClientCert}, CacheEntries: 1})
			if _, why := src.FromRequest(r); why != binding.Accepted {
				b.Fatal(why)
			}
		}
	})
	src, _ := binding.NewCertSource(binding.CertSourceConfig{Forwarding: &binding.Forwarding{Format: binding.FormatClientCert}})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, why := src.FromRequest(r); why != binding.Accepted {
				b.Fatal(why)
			}
		}
	})
}

// BenchmarkTLSEndToEnd: whole requests over a real TLS keep-alive
// connection on 127.0.0.1 (HTTP/1.1), bearer token versus bound token with
// the binding check: the ratio is what an API sees.
func BenchmarkTLSEndToEnd(b *testing.B) {
	e := newEnv(b, binding.Optional)
	bound, bearer := e.boundToken(b), e.bearerToken(b)
	api := oauthtest.NewMTLSServer(e.handler())
	defer api.Close()
	hc := e.cc.HTTPClient(oauthtest.RootCAs(api))
	hc.Transport.(*http.Transport).ForceAttemptHTTP2 = false
	defer hc.CloseIdleConnections()
	for _, tc := range []struct{ name, tok string }{{"bearer", bearer}, {"bound", bound}} {
		b.Run(tc.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", api.URL, nil)
			req.Header.Set("Authorization", "Bearer "+tc.tok)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := hc.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			}
		})
	}
}
