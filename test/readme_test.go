package test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeSnippetsAreExamples keeps the README from rotting: every Go
// block in it is the body of an Example function of the module (with its
// Output comment), which go test compiles and runs. Change the Example,
// then the README.
func TestReadmeSnippetsAreExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(string(readme))
	if len(blocks) == 0 {
		t.Fatal("no Go blocks in README.md")
	}
	examples := exampleBodies(t, "../pkg")
	for body, name := range exampleBodies(t, "../contrib") {
		examples[body] = name
	}
	for i, b := range blocks {
		name, ok := examples[b]
		if !ok {
			t.Errorf("README Go block %d is no Example's body:\n%s", i+1, b)
			continue
		}
		t.Logf("README Go block %d is %s", i+1, name)
	}
}

// goBlocks returns the README's ```go blocks, normalized.
func goBlocks(md string) []string {
	var out []string
	for rest := md; ; {
		i := strings.Index(rest, "```go\n")
		if i < 0 {
			return out
		}
		rest = rest[i+len("```go\n"):]
		j := strings.Index(rest, "```")
		if j < 0 {
			return out
		}
		out = append(out, normalize(rest[:j]))
		rest = rest[j+3:]
	}
}

// exampleBodies maps the normalized body of every Example function in the
// test files under dir to its name.
func exampleBodies(t *testing.T, dir string) map[string]string {
	t.Helper()
	bodies := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Example") || fn.Body == nil {
				continue
			}
			start := fset.Position(fn.Body.Lbrace).Offset + 1
			end := fset.Position(fn.Body.Rbrace).Offset
			bodies[normalize(dedent(string(src[start:end])))] = filepath.Base(filepath.Dir(path)) + "." + fn.Name.Name
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bodies
}

// dedent removes the one tab a function body's lines start with.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "\t")
	}
	return strings.Join(lines, "\n")
}

// normalize writes indentation as four spaces a level and drops trailing
// space and blank edges, so that a block compares equal however it was
// indented.
func normalize(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		n := len(l) - len(strings.TrimLeft(l, "\t"))
		lines[i] = strings.TrimRight(strings.Repeat("    ", n)+l[n:], " \t")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}
