// Package readme holds copies of the README's Go snippets as functions
// that must compile (and, where they need no real provider, run), so a
// broken snippet fails the tests. Each function body starts with the
// snippet's lines verbatim.
package readme
