package sbs

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ignorePos compares trees without their positions.
var ignorePos = cmp.Options{
	cmpopts.IgnoreUnexported(ModuleDef{}),
	cmp.FilterPath(func(p cmp.Path) bool {
		sf, ok := p.Last().(cmp.StructField)
		return ok && sf.Name() == "Pos"
	}, cmp.Ignore()),
}

func ref(name string, args ...*TypeExpr) *TypeExpr {
	return &TypeExpr{Name: name, Args: args}
}

func TestParseTree(t *testing.T) {
	text := "# header\r\nmodule Ex\r\n" +
		"Entry(K, V) = Tuple { key: K, value: V }\n" +
		"C(K) = Choice {\n\tnull: None\n\tint: Entry(K Integer)\n}\r" +
		"R = Other.Pair(Record {}, Array(Optional(IntegerList)))\n"
	got, err := Parse("ex.sbs", text)
	if err != nil {
		t.Fatal(err)
	}
	want := &ModuleDef{
		Filename: "ex.sbs",
		Name:     "Ex",
		Defs: []*TypeDef{
			{Name: "Entry", Params: []Param{{Name: "K"}, {Name: "V"}}, Type: &TypeExpr{
				Name:    "Tuple",
				Entries: []EntryDef{{Name: "key", Type: ref("K")}, {Name: "value", Type: ref("V")}},
			}},
			{Name: "C", Params: []Param{{Name: "K"}}, Type: &TypeExpr{
				Name: "Choice",
				Entries: []EntryDef{
					{Name: "null", Type: ref("None")},
					{Name: "int", Type: ref("Entry", ref("K"), ref("Integer"))},
				},
			}},
			{Name: "R", Type: &TypeExpr{
				Module: "Other",
				Name:   "Pair",
				Args:   []*TypeExpr{ref("Record"), ref("Array", ref("Optional", ref("IntegerList")))},
			}},
		},
	}
	if diff := cmp.Diff(want, got, ignorePos); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}

	// Positions, on lines ended by CR LF, LF and a lone CR.
	for _, tt := range []struct {
		off  int
		want string
	}{
		{got.Pos, "ex.sbs:2:8"},
		{got.Defs[0].Pos, "ex.sbs:3:1"},
		{got.Defs[1].Type.Entries[1].Type.Args[1].Pos, "ex.sbs:6:15"},
		{got.Defs[2].Type.Pos, "ex.sbs:8:5"},
		{got.Defs[2].Type.Args[1].Args[0].Args[0].Pos, "ex.sbs:8:42"},
	} {
		if got := got.Position(tt.off).String(); got != tt.want {
			t.Errorf("Position(%d) = %s, want %s", tt.off, got, tt.want)
		}
	}

	if got, want := got.Defs[2].Type.String(), "Other.Pair(Record { }, Array(Optional(IntegerList)))"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	again, err := Parse("again", got.String())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again, ignorePos, cmpopts.IgnoreFields(ModuleDef{}, "Filename")); diff != "" {
		t.Errorf("Parse(String()) (-want +got):\n%s", diff)
	}
}

// TestParseErrors checks syntax errors: position, message and the token
// quoted. Whole Detail texts are golden files (see schema_golden_test.go).
func TestParseErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"", "f:1:1: expected 'module', found end of text"},
		{"module M\nT = Tuple {}B = String\n", "f:2:13: expected white space before definition B"},
		{"module M\nT = Tuple { a: Array(X)b: X }\n", "f:2:24: expected white space before entry b"},
		{"module M\nT = P(Array(X)Y)\n", "f:2:15: expected white space before type argument Y"},
		{"module M\nP(a)b) = None\n", "f:2:5: expected '=', found b"},
		{"module M\nP(a b\n", "f:3:1: expected ')', found end of text"},
		{"module M\nT = Integer # note", "f:2:13: comment not ended by a line break"},
		{"module M\nT = A.\n", "f:3:1: expected type name after '.', found end of text"},
		{"module M\nT = A. B\n", "f:2:8: expected type name after '.', found B"},
		{"module M\nT = Tuple\n", "f:3:1: expected '{' after Tuple, found end of text"},
		{"module M\nT = Record(Integer)\n", "f:2:11: expected '{' after Record, found '('"},
		{"module M\nT() = Integer\n", "f:2:3: expected type parameter name, found ')'"},
		{"module M\nT = Array()\n", "f:2:11: expected type, found ')'"},
		{"module M\nT = Array(String,)(\n", "f:2:19: expected type definition, found '('"},
		{"module M\r\nT A_very_long_identifier_indeed_too_long_to_show B\n", "f:2:3: expected '=', found A_very_long_identifie..."},
		{"module M\rT = \x00\n", "f:2:5: expected type, found character U+0000"},
		{"module M\nT = \xff\n", "f:2:5: expected type, found invalid byte 0xff"},
		{"module M\nT = Ω\n", "f:2:5: expected type, found character U+03A9"},
		{"module M\nT = 9lives\n", "f:2:5: expected type, found 9lives"},
	}
	for _, tt := range tests {
		_, err := Parse("f", tt.text)
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error %v, want a syntax error", tt.text, err)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("Parse(%q) error\n got %s\nwant %s", tt.text, err, tt.want)
		}
	}
}

func TestParseNestingLimit(t *testing.T) {
	deep := "module M\nT = "
	for range maxTypeNesting + 1 {
		deep += "Array("
	}
	if _, err := Parse("f", deep); !errors.Is(err, ErrSyntax) {
		t.Errorf("deep nesting: %v", err)
	}
}

func TestDetail(t *testing.T) {
	_, err := Parse("f", "module M\n\tT = Tuple { a:: Integer }\n")
	var se *SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("error %v", err)
	}
	want := "f:2:16: expected type, found ':'\n\n 2 | \tT = Tuple { a:: Integer }\n   | \t              ^"
	if got := se.Detail(); got != want {
		t.Errorf("Detail()\n got %q\nwant %q", got, want)
	}
}
