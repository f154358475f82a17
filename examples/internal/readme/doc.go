// Package readme holds copies of the README's Go snippets (Providers,
// Metrics, Logging) as functions that must compile and, where they need no
// real provider, run (TestSnippetsRun). TestSnippetsCompile in the root
// package checks that the README's lines stand here.
package readme
