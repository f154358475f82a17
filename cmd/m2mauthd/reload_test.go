package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/m2mauth/m2mauth/jwkscache"
	"github.com/m2mauth/m2mauth/oauthtest"
)

// An edit of the file (renamed over it, as editors do) takes effect
// without a restart; a broken edit keeps the last good policy, is logged
// and counted.
func TestReloadOnFileChangeAndBadEditKeepsPolicy(t *testing.T) {
	is := newIssuer(t)
	doc := policyDoc(issuerBlock("main", is))
	d := startDaemon(t, doc, 10e6) // poll every 10 ms
	reader := is.MintT(t, oauthtest.WithClient("reader"))
	if s := forward(t, d.httpAddr, "nginx", "POST", "/orders/", reader).StatusCode; s != 403 {
		t.Fatalf("before the edit: %d", s)
	}
	writeFile(t, d.policy, strings.Replace(doc, "all_scopes: [orders.write]", "all_scopes: [orders.read]", 1))
	if err := d.waitReload(t); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if s := forward(t, d.httpAddr, "nginx", "POST", "/orders/", reader).StatusCode; s != 200 {
		t.Fatalf("after the edit: %d", s)
	}
	writeFile(t, d.policy, strings.Replace(doc, "all_scopes: [orders.write]", "all_scopez: [x]", 1))
	err := d.waitReload(t)
	if err == nil || !strings.Contains(err.Error(), "policy.yaml:") {
		t.Fatalf("broken edit: %v", err)
	}
	if s := forward(t, d.httpAddr, "nginx", "POST", "/orders/", reader).StatusCode; s != 200 {
		t.Fatalf("after the broken edit the last good policy must stay: %d", s)
	}
	if !strings.Contains(d.logs.String(), "policy reload refused") || !strings.Contains(d.logs.String(), "all_scopez") {
		t.Fatalf("the refusal is not logged with its reason: %s", d.logs.String())
	}
	if got := counterValue(t, d.engine, "error"); got != 1 {
		t.Fatalf("reload errors counted %v, want 1", got)
	}
}

// Kubernetes mounts a ConfigMap as a symlink to a directory that it swaps:
// the file's own inode never changes in place.
func TestReloadOnSymlinkSwap(t *testing.T) {
	is := newIssuer(t)
	doc := policyDoc(issuerBlock("main", is))
	d := startDaemon(t, doc, 10e6)
	dir := filepath.Dir(d.policy)
	// Turn policy.yaml into ..data/policy.yaml through a symlink.
	for i, content := range []string{doc + "# v0\n", strings.Replace(doc, "all_scopes: [orders.write]", "all_scopes: [orders.read]", 1)} {
		data := filepath.Join(dir, "..v"+string(rune('0'+i)))
		if err := os.Mkdir(data, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(data, "policy.yaml"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(data, "policy.yaml"), d.policy+".new"); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(d.policy+".new", d.policy); err != nil {
			t.Fatal(err)
		}
		if err := d.waitReload(t); err != nil {
			t.Fatal(err)
		}
	}
	if s := forward(t, d.httpAddr, "nginx", "POST", "/orders/", is.MintT(t, oauthtest.WithClient("reader"))).StatusCode; s != 200 {
		t.Fatalf("after the swap: %d", s)
	}
}

func TestReloadOnSIGHUP(t *testing.T) {
	is := newIssuer(t)
	doc := policyDoc(issuerBlock("main", is))
	d := startDaemon(t, doc, 0) // no polling: only the signal reloads
	if err := os.WriteFile(d.policy, []byte(strings.Replace(doc, "all_scopes: [orders.write]", "all_scopes: [orders.read]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	d.hup <- syscall.SIGHUP
	if err := d.waitReload(t); err != nil {
		t.Fatal(err)
	}
	if s := forward(t, d.httpAddr, "nginx", "POST", "/orders/", is.MintT(t, oauthtest.WithClient("reader"))).StatusCode; s != 200 {
		t.Fatalf("after SIGHUP: %d", s)
	}
	d.hup <- syscall.SIGHUP // same bytes: nothing rebuilt
	if err := d.waitReload(t); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(t, d.engine, "unchanged"); got != 1 {
		t.Fatalf("unchanged reloads %v, want 1", got)
	}
}

// A reload during an issuer outage keeps the key cache of an unchanged
// issuer: a new cache would start empty and answer 503.
func TestReloadReusesKeyCacheOfUnchangedIssuer(t *testing.T) {
	is := newIssuer(t)
	other := newIssuer(t)
	doc := policyDoc(issuerBlock("main", is))
	d := startDaemon(t, doc, 0)
	reader := is.MintT(t, oauthtest.WithClient("reader"))
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", reader).StatusCode; s != 200 {
		t.Fatalf("before: %d", s)
	}
	is.SetFault(oauthtest.EndpointJWKS, oauthtest.Fault{Status: 500})
	is.SetFault(oauthtest.EndpointDiscovery, oauthtest.Fault{Status: 500})
	fetches := is.Requests(oauthtest.EndpointJWKS)
	// Add a second issuer and change a route: "main" is unchanged.
	next := policyDoc(issuerBlock("main", is), issuerBlock("second", other))
	if err := d.engine.Reload(writeAndReturn(t, d.policy, next)); err != nil {
		t.Fatal(err)
	}
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", is.MintT(t, oauthtest.WithClient("reader"))).StatusCode; s != 200 {
		t.Fatalf("after the reload, issuer down: %d (a fresh cache would say 503)", s)
	}
	if s := forward(t, d.httpAddr, "nginx", "GET", "/orders/1", other.MintT(t, oauthtest.WithClient("reader"))).StatusCode; s != 200 {
		t.Fatalf("the new issuer: %d", s)
	}
	if n := is.Requests(oauthtest.EndpointJWKS); n != fetches {
		t.Fatalf("the unchanged issuer's keys were fetched again (%d -> %d)", fetches, n)
	}
}

func writeAndReturn(t *testing.T, path, doc string) string {
	writeFile(t, path, doc)
	return path
}

// A check that started on a policy finishes on it: the key caches the new
// policy drops are closed only when it is done.
func TestInFlightCheckFinishesOnItsPolicy(t *testing.T) {
	is := newIssuer(t)
	other := newIssuer(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	writeFile(t, path, policyDoc(issuerBlock("main", is)))
	p, err := loadPolicyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, err := NewEngine(ctx, p, EngineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	held := e.acquire() // an in-flight check
	var oldCache *jwkscache.Cache
	for _, c := range held.caches {
		oldCache = c
	}
	writeFile(t, path, policyDoc(issuerBlock("other", other)))
	if err := e.Reload(path); err != nil {
		t.Fatal(err)
	}
	if e.cur.Load() == held {
		t.Fatal("not swapped")
	}
	// The held snapshot still verifies with its own (open) cache.
	r, _ := Original{Method: "GET", URI: "/orders/1", Host: "h", Header: map[string][]string{"Authorization": {"Bearer " + is.MintT(t, oauthtest.WithClient("reader"))}}}.request()
	if dec := held.decide(r); dec.Status != 0 {
		t.Fatalf("in-flight check on the old policy: %d (%v)", dec.Status, dec.Err)
	}
	held.mu.RUnlock()
	e.Wait()
	if err := oldCache.Refresh(context.Background()); !errors.Is(err, jwkscache.ErrClosed) {
		t.Fatalf("the dropped cache is not closed after the check: %v", err)
	}
}
