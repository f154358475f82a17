package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/m2mauth/m2mauth/middleware"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
)

// ForwardAuthPath is where nginx auth_request, Caddy forward_auth and
// Traefik ForwardAuth send their subrequests.
const ForwardAuthPath = "/auth"

// EnvoyHTTPPrefix is the path_prefix of Envoy's HTTP ext_authz mode: Envoy
// sends the original method, path (after this prefix), Host and headers.
const EnvoyHTTPPrefix = "/envoy"

// forwardedValue returns the single value of the first of names present:
// "" when none is, or when one is repeated or two disagree (refused later:
// a client must not get to describe the request in a header the proxy
// left alone).
func forwardedValue(h http.Header, names ...string) string {
	val, seen := "", false
	for _, n := range names {
		v, ok := h[n]
		if !ok {
			continue
		}
		if len(v) != 1 || seen && v[0] != val {
			return ""
		}
		val, seen = v[0], true
	}
	return val
}

// ForwardAuth answers the forward-auth protocol. The original request comes
// from X-Forwarded-Method, -Uri, -Host and -Proto (Caddy, Traefik) or
// X-Original-Method and X-Original-URI (nginx, as our example configures
// it); the token from the subrequest's own Authorization header, which these
// proxies copy from the client's request. 2xx allows, with the identity
// headers; 401, 403 and 503 refuse with the RFC 6750 answer.
func (e *Engine) ForwardAuth(w http.ResponseWriter, r *http.Request) {
	h := r.Header
	o := Original{
		Method: forwardedValue(h, "X-Forwarded-Method", "X-Original-Method"),
		URI:    forwardedValue(h, "X-Forwarded-Uri", "X-Original-Uri"),
		Host:   forwardedValue(h, "X-Forwarded-Host", "X-Original-Host"),
		Scheme: forwardedValue(h, "X-Forwarded-Proto"),
		Header: h,
	}
	e.serveDecision(w, o)
}

// EnvoyHTTP answers Envoy's HTTP ext_authz mode (path_prefix EnvoyHTTPPrefix).
func (e *Engine) EnvoyHTTP(w http.ResponseWriter, r *http.Request) {
	uri, ok := strings.CutPrefix(r.RequestURI, EnvoyHTTPPrefix)
	if !ok {
		uri = ""
	}
	e.serveDecision(w, Original{
		Method: r.Method,
		URI:    uri,
		Host:   r.Host,
		Scheme: forwardedValue(r.Header, "X-Forwarded-Proto"),
		Header: r.Header,
	})
}

func (e *Engine) serveDecision(w http.ResponseWriter, o Original) {
	d, err := e.Decide(o)
	if err != nil {
		writeBadOriginal(w)
		return
	}
	if !d.Proceed() {
		middleware.WriteError(w, d.Outcome)
		return
	}
	for k, v := range d.Identity {
		w.Header()[k] = v
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// writeBadOriginal answers a subrequest without a usable description of the
// original request: a proxy misconfiguration, refused (fail closed).
func writeBadOriginal(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(middleware.ErrorBody{Error: "invalid_request", Description: "The proxy did not describe the original request."})
}

// envoyAuthz implements envoy.service.auth.v3.Authorization.
type envoyAuthz struct {
	authv3.UnimplementedAuthorizationServer
	e *Engine
}

// Check implements the gRPC ext_authz mode: the original request comes from
// the CheckRequest's HTTP attributes.
func (s envoyAuthz) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	hr := req.GetAttributes().GetRequest().GetHttp()
	h := http.Header{}
	for k, v := range hr.GetHeaders() {
		h[http.CanonicalHeaderKey(k)] = []string{v}
	}
	for _, hv := range hr.GetHeaderMap().GetHeaders() {
		v := hv.GetValue()
		if v == "" {
			v = string(hv.GetRawValue())
		}
		h.Add(hv.GetKey(), v)
	}
	d, err := s.e.Decide(Original{Method: hr.GetMethod(), URI: hr.GetPath(), Host: hr.GetHost(), Scheme: hr.GetScheme(), Header: h})
	if err != nil {
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: "m2mauthd: no usable request attributes"},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode_BadRequest},
				Body:   `{"error":"invalid_request"}`,
			}},
		}, nil
	}
	if d.Proceed() {
		ok := &authv3.OkHttpResponse{HeadersToRemove: lower(d.Strip)}
		for k, v := range d.Identity {
			if v[0] == "" {
				continue // removed above
			}
			ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: strings.ToLower(k), Value: v[0]},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			})
		}
		return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.OK)}, HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok}}, nil
	}
	code := codes.Unauthenticated
	switch d.Status {
	case http.StatusForbidden:
		code = codes.PermissionDenied
	case http.StatusServiceUnavailable:
		code = codes.Unavailable
	}
	hdr := http.Header{}
	d.SetHeaders(hdr)
	hdr.Set("Content-Type", "application/json")
	denied := &authv3.DeniedHttpResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode(d.Status)}}
	for k, vs := range hdr {
		for _, v := range vs {
			denied.Headers = append(denied.Headers, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: strings.ToLower(k), Value: v}})
		}
	}
	body, _ := json.Marshal(d.Body())
	denied.Body = string(body)
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(code), Message: "m2mauthd: " + strconv.Itoa(d.Status)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied},
	}, nil
}

func lower(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}
