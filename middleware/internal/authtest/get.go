package authtest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Get sends a GET with an optional Authorization header to a real server
// and returns the status.
func Get(t *testing.T, ts *httptest.Server, target, auth string) int {
	t.Helper()
	req, err := http.NewRequest("GET", ts.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// CheckObserversAddUp sends an allowed, a forbidden and three refused
// requests to GET /orders of ts, an adapter requiring orders.read there
// with a and b as its two observers, and checks that both saw every
// decision, in the same order.
func CheckObserversAddUp(t *testing.T, env *Env, ts *httptest.Server, a, b *Recorder) {
	t.Helper()
	for _, h := range []string{
		"Bearer " + env.Token(t, map[string]any{"scope": "orders.read"}),
		"Bearer " + env.Token(t, map[string]any{"scope": "profile"}),
		"", "Bearer abc", "Bearer",
	} {
		Get(t, ts, "/orders", h)
	}
	ea, eb := a.Take(), b.Take()
	if len(ea) != 6 || fmt.Sprint(ea) != fmt.Sprint(eb) {
		t.Fatalf("observer events differ or are missing:\n%v\n%v", ea, eb)
	}
}
