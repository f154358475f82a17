package m2mauth

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A snippet in the README or in a package doc compiles when the same lines
// stand, in the same order, in Go code that the build compiles: an Example
// or another test, an example program. This test finds every Go snippet
// (```go blocks of every README.md, tab-indented blocks of every package
// doc comment) and fails for each one that no Go file of the repository
// (nested modules included) holds as code, so a snippet that drifts from
// the API fails CI. Comments are left out and white space is folded; the
// code may add a few lines between the snippet's (an output line where the
// snippet has a comment).

type snippet struct {
	where string   // file:line
	lines []string // normalised, non-empty, comment-only lines dropped
}

var spaceRun = regexp.MustCompile(`\s+`)

func norm(s string) string { return strings.TrimSpace(spaceRun.ReplaceAllString(s, " ")) }

// stripComments blanks the Go comments of text (a fragment need not
// parse: the scanner only tokenises it).
func stripComments(text string) string {
	b := []byte(text)
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(b))
	var sc scanner.Scanner
	sc.Init(file, b, nil, scanner.ScanComments)
	for {
		pos, tok, lit := sc.Scan()
		if tok == token.EOF {
			break
		}
		if tok == token.COMMENT {
			s := file.Offset(pos)
			for k := s; k < s+len(lit) && k < len(b); k++ {
				if b[k] != '\n' {
					b[k] = ' '
				}
			}
		}
	}
	return string(b)
}

func codeLines(text string) []string {
	var out []string
	for _, l := range strings.Split(stripComments(text), "\n") {
		n := norm(l)
		if n == "" {
			continue
		}
		out = append(out, n)
	}
	return out
}

// repoFiles walks the repository (nested modules included), skipping
// hidden folders and testdata.
func repoFiles(t *testing.T, match func(path string) bool) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if match(path) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readmeSnippets(t *testing.T) []snippet {
	var out []snippet
	for _, path := range repoFiles(t, func(p string) bool { return filepath.Base(p) == "README.md" }) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(b), "\n")
		for i := 0; i < len(lines); i++ {
			if strings.TrimSpace(lines[i]) != "```go" {
				continue
			}
			start := i + 1
			j := start
			for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
				j++
			}
			if cl := codeLines(strings.Join(lines[start:j], "\n")); len(cl) > 0 {
				out = append(out, snippet{where: path + ":" + itoa(start), lines: cl})
			}
			i = j
		}
	}
	return out
}

// docSnippets returns the tab-indented blocks of package doc comments that
// look like Go (they contain ":=", or brackets and parse as Go).
func docSnippets(t *testing.T, fset *token.FileSet, parsed map[string]*ast.File) []snippet {
	var out []snippet
	for path, f := range parsed {
		if f.Doc == nil || strings.HasSuffix(path, "_test.go") {
			continue
		}
		text := f.Doc.Text()
		lines := strings.Split(text, "\n")
		for i := 0; i < len(lines); i++ {
			if !strings.HasPrefix(lines[i], "\t") {
				continue
			}
			j := i
			for j < len(lines) && (strings.HasPrefix(lines[j], "\t") || strings.TrimSpace(lines[j]) == "") {
				j++
			}
			block := strings.Join(lines[i:j], "\n")
			if strings.Contains(block, ":=") || (strings.ContainsAny(block, "({") && parsesAsGo(block)) {
				if cl := codeLines(block); len(cl) > 0 && !isPlainList(cl) {
					out = append(out, snippet{where: path + ":" + itoa(fset.Position(f.Doc.Pos()).Line), lines: cl})
				}
			}
			i = j
		}
	}
	return out
}

// parsesAsGo reports whether a block without ":=" is Go (declarations,
// statements or call arguments) rather than a table, a list of metric names or a JSON
// sample, which contain brackets too.
func parsesAsGo(block string) bool {
	if _, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+block, 0); err == nil {
		return true
	}
	if _, err := parser.ParseFile(token.NewFileSet(), "", "package p\nfunc _() {\n"+block+"\n}", 0); err == nil {
		return true
	}
	// Arguments of a call (a server option ending with a comma).
	_, err := parser.ParseFile(token.NewFileSet(), "", "package p\nfunc _() {\nf(\n"+block+"\n)\n}", 0)
	return err == nil
}

// isPlainList reports whether a block is a bullet list or a diagram rather
// than code.
func isPlainList(lines []string) bool {
	for _, l := range lines {
		if !strings.HasPrefix(l, "- ") && !strings.HasPrefix(l, "* ") && !strings.ContainsAny(l[:1], "|+-") {
			return false
		}
	}
	return true
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// codeOf returns the normalised code lines of a Go file with every comment
// removed (so a doc comment never vouches for itself).
func codeOf(fset *token.FileSet, f *ast.File, src []byte) []string {
	b := bytes.Clone(src)
	base := fset.File(f.Pos()).Base()
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			s, e := int(c.Pos())-base, int(c.End())-base
			for k := s; k < e; k++ {
				if b[k] != '\n' {
					b[k] = ' '
				}
			}
		}
	}
	return codeLines(string(b))
}

// contains reports whether needle's lines stand in hay in order, within a
// window of a few times the snippet's length (an Example may put an output
// line where the snippet has a comment).
func contains(hay, needle []string) bool {
	if len(needle) == 0 {
		return true
	}
	window := 3*len(needle) + 5
	for i := 0; i+len(needle) <= len(hay); i++ {
		if hay[i] != needle[0] {
			continue
		}
		k, j := 1, i+1
		for k < len(needle) && j < len(hay) && j-i < window {
			if hay[j] == needle[k] {
				k++
			}
			j++
		}
		if k == len(needle) {
			return true
		}
	}
	return false
}

func TestSnippetsCompile(t *testing.T) {
	fset := token.NewFileSet()
	parsed := map[string]*ast.File{}
	var code [][]string
	for _, path := range repoFiles(t, func(p string) bool { return strings.HasSuffix(p, ".go") && p != "snippets_test.go" }) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		parsed[path] = f
		code = append(code, codeOf(fset, f, src))
	}
	snips := append(readmeSnippets(t), docSnippets(t, fset, parsed)...)
	if len(snips) < 10 {
		t.Fatalf("found only %d snippets: the scanner is broken", len(snips))
	}
	for _, s := range snips {
		found := false
		for _, c := range code {
			if contains(c, s.lines) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: snippet not found as compiled code in any Go file (mirror it in an Example):\n\t%s", s.where, strings.Join(s.lines, "\n\t"))
		}
	}
	t.Logf("%d snippets checked", len(snips))
}
