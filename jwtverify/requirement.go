package jwtverify

import (
	"strings"
)

// Requirement is an immutable, composable permission requirement, shared
// by every adapter. The zero value requires only authentication.
//
// Leaves name permissions of one kind: the merged set (RequireAll,
// RequireAny: a delegated scope or an app role of that name), delegated
// scopes only (RequireAllScopes, RequireAnyScopes) or app roles only
// (RequireAllRoles, RequireAnyRoles). And and Or combine requirements.
type Requirement struct {
	n *reqNode
}

type reqOp uint8

const (
	opAll reqOp = iota + 1
	opAny
	opAnd
	opOr
)

// kindMerged marks a leaf over the merged set.
const kindMerged PermissionKind = 0

type reqNode struct {
	op    reqOp
	kind  PermissionKind
	perms []string
	subs  []Requirement
}

func leaf(op reqOp, kind PermissionKind, perms []string) Requirement {
	for _, p := range perms {
		if p == "" || strings.ContainsAny(p, " \t\r\n\"\\") {
			panic("jwtverify: invalid permission name " + quote(p))
		}
	}
	return Requirement{n: &reqNode{op: op, kind: kind, perms: append([]string(nil), perms...)}}
}

// RequireAll requires every perm in the merged set (scope or role). With no
// perms it requires only authentication. It panics on an empty permission
// or one containing whitespace, quotes or backslashes (a programming error,
// like an invalid route pattern).
func RequireAll(perms ...string) Requirement { return leaf(opAll, kindMerged, perms) }

// RequireAny requires at least one perm in the merged set. With no perms it
// is never satisfied.
func RequireAny(perms ...string) Requirement { return leaf(opAny, kindMerged, perms) }

// RequireAllScopes requires every s as a delegated scope.
func RequireAllScopes(s ...string) Requirement { return leaf(opAll, KindScope, s) }

// RequireAnyScopes requires at least one s as a delegated scope.
func RequireAnyScopes(s ...string) Requirement { return leaf(opAny, KindScope, s) }

// RequireAllRoles requires every r as an app role.
func RequireAllRoles(r ...string) Requirement { return leaf(opAll, KindRole, r) }

// RequireAnyRoles requires at least one r as an app role.
func RequireAnyRoles(r ...string) Requirement { return leaf(opAny, KindRole, r) }

// And is satisfied when every req is (true for none).
func And(reqs ...Requirement) Requirement {
	return Requirement{n: &reqNode{op: opAnd, subs: append([]Requirement(nil), reqs...)}}
}

// Or is satisfied when at least one req is (never for none).
func Or(reqs ...Requirement) Requirement {
	return Requirement{n: &reqNode{op: opOr, subs: append([]Requirement(nil), reqs...)}}
}

// Authenticated requires only a verified token.
func Authenticated() Requirement { return Requirement{} }

func (n *reqNode) holds(p *Principal, perm string) bool {
	switch n.kind {
	case KindScope:
		return p.HasScope(perm)
	case KindRole:
		return p.HasRole(perm)
	}
	return p.Has(perm)
}

// missing returns the permissions of r that p lacks, appended to dst, and
// whether r is satisfied.
func (r Requirement) eval(p *Principal, dst []string) ([]string, bool) {
	n := r.n
	if n == nil {
		return dst, true
	}
	switch n.op {
	case opAll:
		ok := true
		for _, s := range n.perms {
			if !n.holds(p, s) {
				ok = false
				dst = append(dst, s)
			}
		}
		return dst, ok
	case opAny:
		for _, s := range n.perms {
			if n.holds(p, s) {
				return dst, true
			}
		}
		return append(dst, n.perms...), false
	case opAnd:
		ok := true
		for _, sub := range n.subs {
			var sok bool
			if dst, sok = sub.eval(p, dst); !sok {
				ok = false
			}
		}
		return dst, ok
	case opOr:
		mark := len(dst)
		for _, sub := range n.subs {
			var sok bool
			if dst, sok = sub.eval(p, dst); sok {
				return dst[:mark], true
			}
		}
		return dst, false
	}
	return dst, false
}

// Check returns nil when p satisfies r, else a *Error with
// ReasonInsufficientScope, Required (r.Scopes()) and Missing set. A nil p
// fails with ReasonMalformed (no verified token).
func (r Requirement) Check(p *Principal) error {
	if p == nil {
		return newErr(ReasonMalformed, "no verified principal")
	}
	if r.n == nil {
		return nil
	}
	missing, ok := r.eval(p, nil)
	if ok {
		return nil
	}
	return &Error{
		Reason:   ReasonInsufficientScope,
		Issuer:   p.issuerName,
		Detail:   "missing " + quote(strings.Join(dedup(missing), " ")),
		Required: r.Scopes(),
		Missing:  dedup(missing),
	}
}

func dedup(s []string) []string {
	out := s[:0:0]
	for _, v := range s {
		dup := false
		for _, o := range out {
			if o == v {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

// Scopes lists every permission the requirement names, deduplicated in
// order: the 403 scope="..." attribute (RFC 6750 section 3).
func (r Requirement) Scopes() []string {
	var out []string
	r.collect(&out)
	return dedup(out)
}

func (r Requirement) collect(out *[]string) {
	if r.n == nil {
		return
	}
	*out = append(*out, r.n.perms...)
	for _, s := range r.n.subs {
		s.collect(out)
	}
}

// String describes the requirement, e.g. `and(all(orders.read), anyRole(admin ops))`.
func (r Requirement) String() string {
	var b strings.Builder
	r.write(&b)
	return b.String()
}

func (r Requirement) write(b *strings.Builder) {
	n := r.n
	if n == nil {
		b.WriteString("authenticated")
		return
	}
	switch n.op {
	case opAnd, opOr:
		if n.op == opAnd {
			b.WriteString("and(")
		} else {
			b.WriteString("or(")
		}
		for i, s := range n.subs {
			if i > 0 {
				b.WriteString(", ")
			}
			s.write(b)
		}
		b.WriteString(")")
		return
	}
	if n.op == opAll {
		b.WriteString("all")
	} else {
		b.WriteString("any")
	}
	switch n.kind {
	case KindScope:
		b.WriteString("Scopes")
	case KindRole:
		b.WriteString("Roles")
	}
	b.WriteString("(")
	b.WriteString(strings.Join(n.perms, " "))
	b.WriteString(")")
}
