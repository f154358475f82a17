package soak

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/m2mauth/m2mauth/grpcauth"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// Request kinds.
const (
	kindValid uint8 = iota
	kindJunk
	kindForged
	kindExpired
	kindOtherAudience
	kindUnknownKID
	// A certificate-bound token stolen from a bound client and replayed
	// without TLS, over TLS without a client certificate, and over TLS
	// with the attacker's own certificate.
	kindStolenPlain
	kindStolenNoCert
	kindStolenOtherCert
	// kindBound is a bound client's valid certificate-bound token, sent
	// over TLS with its certificate.
	kindBound
	// kindOpaque is an opaque client's own opaque token (introspected),
	// revoked now and then (see driver.revokeLoop).
	kindOpaque
	// Opaque attacks: a token in Hydra's format that was never issued, and
	// a live opaque token of a client that is not on the allow list.
	kindOpaqueJunk
	kindOpaqueForeign
	numKinds
)

// numAttacks is how many attack kinds follow kindJunk.
const numAttacks = int(kindStolenOtherCert-kindJunk) + 1

// numOpaqueAttacks is how many opaque attack kinds follow
// kindOpaqueJunk; attackers send them only when some clients are opaque.
const numOpaqueAttacks = int(kindOpaqueForeign-kindOpaqueJunk) + 1

var kindNames = [numKinds]string{"valid", "junk", "forged", "expired", "other-audience", "unknown-kid",
	"stolen-bound-plain", "stolen-bound-no-cert", "stolen-bound-other-cert", "bound-valid",
	"opaque-valid", "opaque-junk", "opaque-foreign"}

// isOpaque reports whether kind is sent to introspection.
func isOpaque(kind uint8) bool { return kind >= kindOpaque && kind <= kindOpaqueForeign }

// attackKind is the n-th attacker request's kind: the attacks in turn,
// the opaque ones included when opaque is true.
func attackKind(n int, opaque bool) uint8 {
	k := numAttacks
	if opaque {
		k += numOpaqueAttacks
	}
	if i := n % k; i < numAttacks {
		return kindJunk + uint8(i)
	} else {
		return kindOpaqueJunk + uint8(i-numAttacks)
	}
}

// foreignClient gets opaque tokens from the issuer but is on no allow list.
const foreignClient = "soak-foreign"

// isValid reports whether kind carries a client's own valid token.
func isValid(kind uint8) bool { return kind == kindValid || kind == kindBound }

// isBoundToken reports whether kind carries a certificate-bound token.
func isBoundToken(kind uint8) bool { return kind >= kindStolenPlain && kind <= kindBound }

// Outcomes of one request.
const (
	outAccepted    uint8 = iota // 200 / OK
	outRefused                  // 400, 401, 403 / Unauthenticated, PermissionDenied
	outUnavailable              // 503 / Unavailable with m2mauth's ErrorInfo (keys or introspection)
	outError                    // anything else: transport error, other status
	outClientError              // the client had no token (token endpoint down)
	outDropped                  // the driver could not queue the request
)

// record is one scheduled request. Times are Unix nanoseconds.
type record struct {
	sched, start, end int64
	exp               int64 // the valid token's exp, Unix seconds
	// kid is the index into driver.kids, -1 when none; for kindOpaque,
	// the index of the token in driver.opaque.
	kid     int32
	kind    uint8
	grpc    bool
	outcome uint8
}

type job struct {
	sched  int64
	kind   uint8
	client int
	grpc   bool
}

const (
	alg      = "ES256"
	scope    = "read"
	audience = oauthtest.DefaultAudience
)

// driver runs the load against the child.
type driver struct {
	cfg       Config
	iss       *oauthtest.Server
	clients   []atomic.Pointer[clientSource]
	newSource func(i int) *clientSource
	restarts  int
	httpc     *http.Client
	httpURL   string
	conn      *grpc.ClientConn

	// Certificate-bound clients: certs[i] is client i's certificate (nil
	// for a bearer client); tlsHTTP[i] and tlsConn[i] call the API's TLS
	// routes presenting it. boundIdx lists the bound clients.
	certs    []*oauthtest.ClientCert
	boundIdx []int
	tlsHTTP  []*http.Client
	tlsConn  []*grpc.ClientConn
	httpsURL string
	// The attackers' TLS clients: without a certificate, with their own.
	noCertHTTP, otherHTTP *http.Client
	noCertConn, otherConn *grpc.ClientConn

	kidMu sync.Mutex
	kids  []string
	kidIx map[string]int32

	tokMu  sync.Mutex
	parsed map[string]tokenInfo

	burst   atomic.Bool
	dropped atomic.Int64

	// Opaque clients: isOpaque[i] for client i; opaque logs the tokens
	// they sent and when each was revoked.
	isOpaque []bool
	opaque   opaqueLog
}

// opaqueToken is one opaque token a client sent; the revocation times are
// Unix nanoseconds just before and after the revocation request (0: not
// revoked).
type opaqueToken struct {
	Client    int   `json:"client"`
	RevBefore int64 `json:"rev_before,omitempty"`
	RevAfter  int64 `json:"rev_after,omitempty"`
}

// opaqueLog indexes the opaque tokens the clients sent.
type opaqueLog struct {
	mu     sync.Mutex
	tokens []opaqueToken
	index  map[string]int32
}

// id returns the index of tok, sent by client.
func (l *opaqueLog) id(tok string, client int) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, ok := l.index[tok]; ok {
		return i
	}
	if l.index == nil {
		l.index = map[string]int32{}
	}
	i := int32(len(l.tokens))
	l.tokens = append(l.tokens, opaqueToken{Client: client})
	l.index[tok] = i
	return i
}

// revoked records the revocation of tok (which must have been sent).
func (l *opaqueLog) revoked(tok string, before, after int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i, ok := l.index[tok]; ok {
		l.tokens[i].RevBefore, l.tokens[i].RevAfter = before, after
	}
}

func (l *opaqueLog) snapshot() []opaqueToken {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]opaqueToken(nil), l.tokens...)
}

type tokenInfo struct {
	kid int32
	exp int64
}

func (d *driver) kidIndex(kid string) int32 {
	d.kidMu.Lock()
	defer d.kidMu.Unlock()
	if i, ok := d.kidIx[kid]; ok {
		return i
	}
	i := int32(len(d.kids))
	d.kids = append(d.kids, kid)
	d.kidIx[kid] = i
	return i
}

// info parses (once) the kid and exp of a client's token.
func (d *driver) info(tok string) (tokenInfo, error) {
	d.tokMu.Lock()
	ti, ok := d.parsed[tok]
	d.tokMu.Unlock()
	if ok {
		return ti, nil
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return tokenInfo{}, errors.New("soak: issued token is not a JWS")
	}
	var h struct {
		KID string `json:"kid"`
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err := errors.Join(err1, err2, json.Unmarshal(hb, &h), json.Unmarshal(cb, &c)); err != nil {
		return tokenInfo{}, fmt.Errorf("soak: issued token: %w", err)
	}
	ti = tokenInfo{kid: d.kidIndex(h.KID), exp: c.Exp}
	d.tokMu.Lock()
	if len(d.parsed) > 4*len(d.clients)+64 { // bounded: keep the current tokens only
		clear(d.parsed)
	}
	d.parsed[tok] = ti
	d.tokMu.Unlock()
	return ti, nil
}

// clientSource is one client instance's token source (x/oauth2 caches
// the token and renews it 10 s before expiry).
type clientSource struct{ oauth2.TokenSource }

// restartClients replaces every n-th client's token source, as if that
// instance restarted: its next request gets a new token at once.
func (d *driver) restartClients(n int) {
	for i := d.restarts % n; i < len(d.clients); i += n {
		d.clients[i].Store(d.newSource(i))
	}
	d.restarts++
}

// attackToken makes the token of one attack.
func (d *driver) attackToken(kind uint8, client string) (string, error) {
	switch kind {
	case kindJunk:
		b := make([]byte, 96)
		_, _ = rand.Read(b)
		s := base64.RawURLEncoding.EncodeToString(b)
		return s[:40] + "." + s[40:90] + "." + s[90:], nil
	case kindForged: // a published kid, signed by the attacker's key
		return d.iss.Mint(oauthtest.WithClient(client), oauthtest.WithUntrustedKey(alg),
			oauthtest.WithHeader(map[string]any{"kid": d.iss.SigningKeyID()}))
	case kindExpired: // the issuer's own key, expired long ago
		past := time.Now().Add(-time.Hour).Unix()
		return d.iss.Mint(oauthtest.WithClient(client),
			oauthtest.WithClaims(map[string]any{"iat": past, "nbf": past, "exp": past + 600}))
	case kindOtherAudience: // the issuer's own key, another API's audience
		return d.iss.Mint(oauthtest.WithClient(client), oauthtest.WithClaims(map[string]any{"aud": "https://other-api.example.test"}))
	case kindUnknownKID: // a kid nobody published
		return d.iss.Mint(oauthtest.WithClient(client), oauthtest.WithUntrustedKey(alg))
	case kindOpaqueJunk: // Hydra's format, never issued: the pre-check passes, the endpoint says inactive
		b := make([]byte, 64)
		_, _ = rand.Read(b)
		return "ory_at_" + base64.RawURLEncoding.EncodeToString(b[:32]) + "." + base64.RawURLEncoding.EncodeToString(b[32:]), nil
	case kindOpaqueForeign: // live at the issuer, but the client is not allowed
		return d.iss.MintOpaque(foreignClient)
	}
	return "", fmt.Errorf("soak: unknown kind %d", kind)
}

// stolenToken returns a bound client's current token, as a thief would
// replay it; when the client has none (token endpoint down), one the
// issuer binds to the client's certificate.
func (d *driver) stolenToken(n int, clientIDs []string) (string, error) {
	victim := d.boundIdx[n%len(d.boundIdx)]
	if t, err := d.clients[victim].Load().Token(); err == nil {
		return t.AccessToken, nil
	}
	return d.iss.Mint(oauthtest.WithClient(clientIDs[victim]), oauthtest.WithCertificateBinding(d.certs[victim].Certificate))
}

// do performs one job and returns its record.
func (d *driver) do(ctx context.Context, j job, clientIDs []string) record {
	rec := record{sched: j.sched, kind: j.kind, grpc: j.grpc, kid: -1}
	var tok string
	if j.kind == kindOpaque {
		t, err := d.clients[j.client].Load().Token()
		if err != nil {
			rec.start = time.Now().UnixNano()
			rec.end = rec.start
			rec.outcome = outClientError
			return rec
		}
		tok, rec.kid = t.AccessToken, d.opaque.id(t.AccessToken, j.client)
	} else if isValid(j.kind) {
		t, err := d.clients[j.client].Load().Token()
		if err != nil {
			rec.start = time.Now().UnixNano()
			rec.end = rec.start
			rec.outcome = outClientError
			return rec
		}
		ti, err := d.info(t.AccessToken)
		if err != nil {
			rec.start = time.Now().UnixNano()
			rec.end, rec.outcome = rec.start, outError
			return rec
		}
		tok, rec.kid, rec.exp = t.AccessToken, ti.kid, ti.exp
	} else {
		var err error
		if isBoundToken(j.kind) {
			tok, err = d.stolenToken(j.client, clientIDs)
		} else {
			tok, err = d.attackToken(j.kind, clientIDs[j.client])
		}
		if err != nil {
			rec.start = time.Now().UnixNano()
			rec.end, rec.outcome = rec.start, outError
			return rec
		}
	}
	// The route: plain, or TLS presenting the client's certificate, none,
	// or the attacker's.
	hc, url, conn := d.httpc, d.httpURL, d.conn
	switch j.kind {
	case kindBound:
		hc, url, conn = d.tlsHTTP[j.client], d.httpsURL, d.tlsConn[j.client]
	case kindStolenNoCert:
		hc, url, conn = d.noCertHTTP, d.httpsURL, d.noCertConn
	case kindStolenOtherCert:
		hc, url, conn = d.otherHTTP, d.httpsURL, d.otherConn
	}
	rec.start = time.Now().UnixNano()
	if j.grpc {
		rec.outcome = d.callGRPC(ctx, conn, tok)
	} else {
		rec.outcome = d.callHTTP(ctx, hc, url, tok)
	}
	rec.end = time.Now().UnixNano()
	return rec
}

func (d *driver) callHTTP(ctx context.Context, hc *http.Client, url, tok string) uint8 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return outError
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		return outError
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	_ = resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return outAccepted
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return outRefused
	case http.StatusServiceUnavailable:
		return outUnavailable
	}
	return outError
}

func (d *driver) callGRPC(ctx context.Context, conn *grpc.ClientConn, tok string) uint8 {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	out := new(wrapperspb.StringValue)
	err := conn.Invoke(ctx, grpcMethod, wrapperspb.String("soak"), out)
	switch status.Code(err) {
	case codes.OK:
		return outAccepted
	case codes.Unauthenticated, codes.PermissionDenied:
		return outRefused
	case codes.Unavailable:
		// m2mauth's own Unavailable (keys or introspection), not a
		// transport failure.
		for _, det := range status.Convert(err).Details() {
			if info, ok := det.(*errdetails.ErrorInfo); ok && info.GetDomain() == grpcauth.Domain {
				return outUnavailable
			}
		}
	}
	return outError
}

// child is the running API process.
type child struct {
	stdin io.WriteCloser
	done  chan struct{} // closed when its stdout ends
	wait  func() error

	mu      sync.Mutex
	fetches []FetchRecord
	samples []Sample
	errs    []string
	gcCh    chan Sample
	ready   chan event
}

func startChild(cfg *Config, cc childConfig) (*child, error) {
	b, err := json.Marshal(cc)
	if err != nil {
		return nil, err
	}
	cmd := cfg.ChildCommand(ChildArg, string(b))
	cmd.Stderr = cfg.Log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{stdin: stdin, done: make(chan struct{}), wait: cmd.Wait,
		gcCh: make(chan Sample, 4), ready: make(chan event, 1)}
	go c.read(stdout)
	return c, nil
}

func (c *child) read(r io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			continue
		}
		c.mu.Lock()
		switch ev.Type {
		case "ready":
			c.ready <- ev
		case "fetch":
			c.fetches = append(c.fetches, *ev.Fetch)
		case "sample":
			if ev.Sample.AfterGC {
				select {
				case c.gcCh <- *ev.Sample:
				default:
				}
			} else {
				c.samples = append(c.samples, *ev.Sample)
			}
		case "error":
			c.errs = append(c.errs, ev.Msg)
		}
		c.mu.Unlock()
	}
}

// gcSample asks the child for a sample after a garbage collection.
func (c *child) gcSample() (Sample, error) {
	if _, err := io.WriteString(c.stdin, "gc\n"); err != nil {
		return Sample{}, err
	}
	select {
	case s := <-c.gcCh:
		return s, nil
	case <-c.done:
		return Sample{}, errChildGone
	case <-time.After(10 * time.Second):
		return Sample{}, errors.New("soak: the API child did not answer a gc sample")
	}
}

func (c *child) stop() error {
	_ = c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
	}
	return c.wait()
}
