package oauthtest

import (
	"bytes"
	"net/http"
	"time"
)

// Fault describes a misbehaviour of one endpoint. The zero Fault answers
// normally.
type Fault struct {
	// Status, when non-zero, replaces the status code. The body stays the
	// real one unless Body is set (a client must not trust a non-2xx body).
	Status int
	// Delay holds the answer this long. A cancelled request or Close ends
	// the wait, and then the connection is cut without an answer.
	Delay time.Duration
	// Wait, when non-nil, holds the answer until the channel is closed (after
	// Delay), so tests can release held requests without timing. A
	// cancelled request or Close ends the wait.
	Wait <-chan struct{}
	// Body, when non-nil, replaces the body (malformed JSON, HTML, ...).
	Body []byte
	// Truncate announces the whole body in Content-Length but sends only
	// its first half, then the connection is cut: the client sees an
	// unexpected EOF.
	Truncate bool
	// Oversize, when larger than the body, pads the JSON object body with a
	// string member "x-padding" to exactly this many bytes (other bodies
	// with spaces), keeping it valid. No Content-Length is announced for
	// bodies over a few KiB, so a client must bound its own read.
	Oversize int
}

// SetFault makes endpoint e misbehave as f until ClearFault.
func (s *Server) SetFault(e Endpoint, f Fault) {
	if e < 0 || e >= numEndpoints {
		return
	}
	f.Body = bytes.Clone(f.Body)
	s.mu.Lock()
	s.faults[e] = &f
	s.mu.Unlock()
}

// ClearFault makes endpoint e answer normally again.
func (s *Server) ClearFault(e Endpoint) {
	if e < 0 || e >= numEndpoints {
		return
	}
	s.mu.Lock()
	s.faults[e] = nil
	s.mu.Unlock()
}

// Requests returns how many requests endpoint e received since the start
// or the last ResetCounters, faulted ones included. For EndpointDiscovery it
// counts both documents.
func (s *Server) Requests(e Endpoint) int64 {
	if e < 0 || e >= numEndpoints {
		return 0
	}
	return s.counters[e].Load()
}

// ResetCounters sets every request counter to zero.
func (s *Server) ResetCounters() {
	for i := range s.counters {
		s.counters[i].Store(0)
	}
}

// wait honours f.Delay and f.Wait; false means the request was cancelled or
// the server closed, and nothing must be written.
func (s *Server) wait(r *http.Request, f *Fault) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		case <-s.closed:
			return false
		}
	}
	if f.Wait != nil {
		select {
		case <-f.Wait:
		case <-r.Context().Done():
			return false
		case <-s.closed:
			return false
		}
	}
	return true
}

const paddingMember = `"x-padding":"`

// applyFault rewrites resp according to f (the waits are done already).
func applyFault(resp response, f *Fault) response {
	if f.Body != nil {
		resp.body = bytes.Clone(f.Body)
	}
	if f.Status != 0 {
		resp.status = f.Status
	}
	if n := f.Oversize; n > len(resp.body) {
		resp.body = pad(resp.body, n)
	}
	return resp
}

// pad grows body to exactly n bytes (n > len(body)) and keeps a JSON object
// valid by adding a padding member.
func pad(body []byte, n int) []byte {
	trimmed := bytes.TrimRight(body, " \t\r\n")
	if len(trimmed) >= 2 && trimmed[0] == '{' && trimmed[len(trimmed)-1] == '}' {
		sep := ","
		if len(bytes.TrimSpace(trimmed[1:len(trimmed)-1])) == 0 {
			sep = ""
		}
		head := trimmed[:len(trimmed)-1]
		fill := n - len(head) - len(sep) - len(paddingMember) - 2 // closing `"}`
		if fill >= 0 {
			out := make([]byte, 0, n)
			out = append(out, head...)
			out = append(out, sep...)
			out = append(out, paddingMember...)
			out = append(out, bytes.Repeat([]byte{'a'}, fill)...)
			out = append(out, '"', '}')
			return out
		}
	}
	out := make([]byte, n)
	copy(out, body)
	for i := len(body); i < n; i++ {
		out[i] = ' '
	}
	return out
}
