package sbs

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// addSchemaSeeds adds every schema text of the vectors to the corpus, on
// top of testdata/fuzz/<target>.
func addSchemaSeeds(f *testing.F) {
	for _, name := range []string{"valid.json", "invalid_schema.json", "invalid_data.json", "repository_export.json"} {
		data, err := os.ReadFile("../../testdata/vectors/sbs/" + name)
		if err != nil {
			f.Fatal(err)
		}
		var v struct {
			Schemas                          []string
			Cases, Quirks, Accepted, Lenient []struct{ Schema string }
		}
		if err := json.Unmarshal(data, &v); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		for _, s := range v.Schemas {
			f.Add(s)
		}
		for _, group := range [][]struct{ Schema string }{v.Cases, v.Quirks, v.Accepted, v.Lenient} {
			for _, c := range group {
				if c.Schema != "" {
					f.Add(c.Schema)
				}
			}
		}
	}
}

// FuzzParse checks that the parser never panics, that its errors are
// syntax errors placed inside the text, and that a parsed module written
// back as text parses to the same tree.
func FuzzParse(f *testing.F) {
	addSchemaSeeds(f)
	f.Fuzz(func(t *testing.T, text string) {
		m, err := Parse("fuzz", text)
		if err != nil {
			var se *SchemaError
			if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v is no syntax *SchemaError", err)
			}
			if se.Pos.Offset < 0 || se.Pos.Offset > len(text) || se.Pos.Line < 1 || se.Pos.Column < 1 {
				t.Fatalf("error position %+v outside the text of %d bytes", se.Pos, len(text))
			}
			_ = se.Detail()
			return
		}
		again, err := Parse("fuzz", m.String())
		if err != nil {
			t.Fatalf("Parse(String()) of %q: %v\n%s", text, err, m)
		}
		if diff := cmp.Diff(m, again, ignorePos); diff != "" {
			t.Fatalf("Parse(String()) (-first +second):\n%s", diff)
		}
	})
}

// FuzzRepository builds a repository from fuzz text, which must succeed or
// fail with a *SchemaError and never panic or hang. A repository built
// exports, imports and exports again to the same JSON, and every
// non-parametric type can be looked up.
func FuzzRepository(f *testing.F) {
	addSchemaSeeds(f)
	f.Add("module M\nL(a) = Union { nil: None, cons: Tuple { head: a, tail: L(a) } }\nT = L(L(Integer))\n")
	f.Add("module M\nP(a) = Tuple { x: P(Array(a)), y: P(Maybe(a)) }\n")
	f.Fuzz(func(t *testing.T, text string) {
		r, err := NewRepository(Text(text))
		if err != nil {
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is no *SchemaError", err)
			}
			return
		}
		data, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ImportJSON(data)
		if err != nil {
			t.Fatalf("ImportJSON of the export of %q: %v\n%s", text, err, data)
		}
		again, err := back.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(data), string(again)); diff != "" {
			t.Fatalf("export after import (-first +second):\n%s", diff)
		}
		for _, m := range r.modules {
			for _, d := range m.Defs {
				typ, err := r.Type(m.Name, d.Name)
				if len(d.Params) > 0 {
					if !errors.Is(err, ErrTypeArgs) {
						t.Fatalf("Type(%s, %s) of a parametric type: %v", m.Name, d.Name, err)
					}
					continue
				}
				if err != nil || typ.Kind() == 0 {
					t.Fatalf("Type(%s, %s) = %v, %v", m.Name, d.Name, typ, err)
				}
			}
		}
	})
}
