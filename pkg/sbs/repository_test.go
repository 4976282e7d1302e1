package sbs

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// readVectorJSON decodes a file of the golden vectors, keeping numbers exact.
func readVectorJSON(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("../../testdata/vectors/sbs", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// validSchemas are the schema texts of valid.json.
func validSchemas(t testing.TB) []string {
	var f struct{ Schemas []string }
	readVectorJSON(t, "valid.json", &f)
	return f.Schemas
}

func schemaTexts(schemas []string) []Source {
	var src []Source
	for _, s := range schemas {
		src = append(src, Text(s))
	}
	return src
}

// describe writes a type graph as text, following it to the end: a node met
// again on the current path is written as ^N, N counting up the path (so a
// list is "Union { nil: None, cons: Tuple { head: Integer, tail: ^2 } }").
// Named nodes show their name before a colon.
func describeType(t *Type) string {
	var b strings.Builder
	var path []*Type
	var walk func(t *Type)
	walk = func(t *Type) {
		for i := len(path) - 1; i >= 0; i-- {
			if path[i] == t {
				b.WriteString("^" + strconv.Itoa(len(path)-i))
				return
			}
		}
		path = append(path, t)
		defer func() { path = path[:len(path)-1] }()
		if t.name != "" && t.module != "" {
			b.WriteString(t.module + "." + t.name + ":")
		}
		switch t.kind {
		case KindArray:
			b.WriteString("Array(")
			walk(t.elem)
			b.WriteString(")")
		case KindTuple, KindUnion:
			if len(t.entries) == 0 {
				b.WriteString(map[Kind]string{KindTuple: "None", KindUnion: "Union {}"}[t.kind])
				return
			}
			b.WriteString(t.kind.String() + " {")
			for i, e := range t.entries {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(" " + e.Name + ": ")
				walk(e.Type)
			}
			b.WriteString(" }")
		default:
			b.WriteString(t.kind.String())
		}
	}
	walk(t)
	return b.String()
}

func schemaType(t *testing.T, r *Repository, module, name string) *Type {
	t.Helper()
	typ, err := r.Type(module, name)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

func TestValidSchemasLoadTogether(t *testing.T) {
	r, err := NewRepository(schemaTexts(validSchemas(t))...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Example", "Hat", "HatPing", "Lines", "Other", "Test", "Wide"}
	if diff := cmp.Diff(want, r.Modules()); diff != "" {
		t.Errorf("Modules() (-want +got):\n%s", diff)
	}

	var f struct {
		Cases []struct {
			Name, Type, Hex string
			Module          *string
		}
	}
	readVectorJSON(t, "valid.json", &f)
	for _, c := range f.Cases {
		module := ""
		if c.Module != nil {
			module = *c.Module
		}
		typ, err := r.Type(module, c.Type)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		// The codec has its own tests of every case; this shows that the
		// graph has the shape the bytes need.
		data, _ := hex.DecodeString(c.Hex)
		v, err := typ.Decode(data)
		if err != nil {
			t.Errorf("%s: decode %s as %s: %v", c.Name, c.Hex, typ, err)
			continue
		}
		if got, err := typ.Encode(v); err != nil || hex.EncodeToString(got) != c.Hex {
			t.Errorf("%s: re-encode = %x, %v; want %s", c.Name, got, err, c.Hex)
		}
	}
}

func TestResolvedShapes(t *testing.T) {
	r, err := NewRepository(schemaTexts(validSchemas(t))...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ module, name, want string }{
		{"", "None", "None"},
		{"Test", "IntAlias2", "Test.IntAlias2:Integer"},
		{"Test", "Nil", "Test.Nil:None"},
		{"Test", "EmptyUnion", "Test.EmptyUnion:Union {}"},
		{"Test", "MaybeInt", "Test.MaybeInt:Union { Nothing: None, Just: Integer }"},
		{"Test", "IntList", "Test.IntList:Union { Nothing: None, Just: Tuple { head: Integer, tail: ^2 } }"},
		{"Test", "Tree", "Test.Tree:Tuple { value: String, children: Array(^2) }"},
		{"Test", "IntStrPair", "Test.IntStrPair:Tuple { first: Integer, second: String }"},
		{"Test", "TaggedInt", "Test.TaggedInt:Tuple { tag: Test.Str:String, value: Test.Int:Integer }"},
		// A parameter hides the module's type of the same name.
		{"Test", "WrapInt", "Test.WrapInt:Tuple { v: Integer }"},
		// Arguments resolve in Other, the body of Pair in Test.
		{"Other", "CrossTagged", "Other.CrossTagged:Tuple { tag: Test.Str:String, value: Other.Local:Tuple { n: Integer } }"},
		{"Lines", "T", "Lines.T:Tuple { a: Integer, b: String }"},
	}
	for _, tt := range tests {
		if got := describeType(schemaType(t, r, tt.module, tt.name)); got != tt.want {
			t.Errorf("%s.%s:\n got %s\nwant %s", tt.module, tt.name, got, tt.want)
		}
	}

	cross := schemaType(t, r, "Other", "CrossParam")
	if got, want := cross.Entry(1).Type, schemaType(t, r, "Test", "Shape"); got != want {
		t.Errorf("Other.CrossParam.second = %v, want the node of Test.Shape", got)
	}
}

func TestDialects(t *testing.T) {
	r := MustRepository(Text(`module D
Old = Tuple { m: Maybe(Integer), u: Union { a: None } }
New = Record { o: Optional(Integer), c: Choice { a: None } }
Mixed = Record { t: Tuple {}, m: Maybe(Optional(String)) }
`))
	tests := []struct{ name, want string }{
		{"Old", "D.Old:Tuple { m: Union { Nothing: None, Just: Integer }, u: Union { a: None } }"},
		{"New", "D.New:Tuple { o: Union { none: None, value: Integer }, c: Union { a: None } }"},
		{"Mixed", "D.Mixed:Tuple { t: None, m: Union { Nothing: None, Just: Union { none: None, value: String } } }"},
	}
	for _, tt := range tests {
		if got := describeType(schemaType(t, r, "D", tt.name)); got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
	if got := schemaType(t, r, "D", "Old").Entry(0).Type.String(); got != "Maybe(Integer)" {
		t.Errorf("name of Maybe(Integer) = %q", got)
	}
}

func TestRecursiveTypes(t *testing.T) {
	r := MustRepository(Text(`module R
List(a) = Union { nil: None, cons: Tuple { head: a, tail: List(a) } }
Ints = List(Integer)
Strs = List(String)
Again = List(Integer)
Deep = List(List(Array(Integer)))
Loop(a) = Tuple { x: Loop(Maybe(Integer)) }
Looped = Loop(String)
A = Maybe(B)
B = Tuple { a: A }
`))
	ints := schemaType(t, r, "R", "Ints")
	if got, want := describeType(ints), "R.Ints:Union { nil: None, cons: Tuple { head: Integer, tail: R.List(Integer):Union { nil: None, cons: ^2 } } }"; got != want {
		t.Errorf("Ints:\n got %s\nwant %s", got, want)
	}
	// Ints is an alias of the instance List(Integer), which the cons cell
	// refers to; Again is the same instance under another name.
	inst := ints.Entry(1).Type.Entry(1).Type
	if got := inst.String(); got != "R.List(Integer)" {
		t.Errorf("instance name = %q", got)
	}
	if again := schemaType(t, r, "R", "Again"); again.Entry(1).Type.Entry(1).Type != inst {
		t.Error("List(Integer) instantiated twice")
	}
	if strs := schemaType(t, r, "R", "Strs"); strs.Entry(1).Type.Entry(1).Type == inst {
		t.Error("List(String) is List(Integer)")
	}
	if got := schemaType(t, r, "R", "Deep").Entry(1).Type.Entry(1).Type.String(); got != "R.List(R.List(Array(Integer)))" {
		t.Errorf("nested instance name = %q", got)
	}
	// Loop's argument changes once and then stays: interning Maybe(Integer)
	// makes the second expansion the same instance.
	if got, want := describeType(schemaType(t, r, "R", "Looped")), "R.Looped:Tuple { x: R.Loop(Maybe(Integer)):Tuple { x: ^1 } }"; got != want {
		t.Errorf("Looped:\n got %s\nwant %s", got, want)
	}
	a := schemaType(t, r, "R", "A")
	if b := schemaType(t, r, "R", "B"); a.Entry(1).Type != b || b.Entry(0).Type != a {
		t.Errorf("A and B do not refer to each other: %s", describeType(a))
	}
}

// TestRefused checks the sentinel and the whole message of errors found
// when resolving.
func TestRefused(t *testing.T) {
	tests := []struct {
		name, schema string
		err          error
		msg          string
	}{
		{"unknown type", "module M\nT = Tuple { a: Foo }\n", ErrUnknownType, "<text 1>:2:16: M.T: unknown type Foo"},
		{"unknown module", "module M\nT = X.Y\n", ErrUnknownType, "<text 1>:2:5: M.T: unknown module X in X.Y"},
		{"unknown type in module", "module M\nT = M.Y\n", ErrUnknownType, "<text 1>:2:5: M.T: module M has no type Y"},
		{"too few arguments", "module M\nP(a b) = Array(a)\nT = P(Integer)\n", ErrTypeArgs, "<text 1>:3:5: M.T: P has 2 type parameters, found 1"},
		{"arguments to non-parametric", "module M\nP = Integer\nT = P(Integer)\n", ErrTypeArgs, "<text 1>:3:5: M.T: P has 0 type parameters, found 1"},
		{"parametric without arguments", "module M\nP(a) = Array(a)\nT = Array(P)\n", ErrTypeArgs, "<text 1>:3:11: M.T: P has 1 type parameter, found 0"},
		{"arguments to builtin", "module M\nT = String(Integer)\n", ErrTypeArgs, "<text 1>:2:5: M.T: String takes no type arguments"},
		{"arguments to parameter", "module M\nP(a) = Tuple { x: a(Integer) }\n", ErrTypeArgs, "<text 1>:2:19: M.P: type parameter a takes no type arguments"},
		{"duplicate definition", "module M\nT = Integer\nT = String\n", ErrDuplicate, "<text 1>:3:1: M.T: T defined again (first at <text 1>:2:1)"},
		{"duplicate entry", "module M\nT = Union { a: Integer\n b: Tuple { x: None x: None } }\n", ErrDuplicate, "<text 1>:3:21: M.T: duplicate entry x in Tuple"},
		{"duplicate parameter", "module M\nP(a b a) = None\n", ErrDuplicate, "<text 1>:2:7: M.P: duplicate type parameter a"},
		{"builtin parameter", "module M\nP(Maybe) = None\n", ErrDuplicate, "<text 1>:2:3: M.P: type parameter Maybe would hide the builtin Maybe"},
		{"alias cycle", "module M\nT = A\nA = B\nB = A\n", ErrRecursive, "<text 1>:3:1: M.A: alias cycle M.A = M.B = M.A"},
		{"self alias", "module M\nA = A\n", ErrRecursive, "<text 1>:2:1: M.A: alias cycle M.A = M.A"},
		{"parametric alias cycle", "module M\nP(a) = Q(a)\nQ(a) = P(a)\n", ErrRecursive, "<text 1>:2:1: M.P: alias cycle M.P(a) = M.Q(a) = M.P(a)"},
		{"expands forever", "module M\nT(a) = Tuple { x: T(Array(a)) }\n", ErrRecursive,
			"<text 1>:2:19: M.T: instantiating T(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(Array(A... expands without end"},
		{"expands forever when used", "module M\nT(a) = Tuple { x: Maybe(T(a)) }\nU = T(Integer)\n", ErrRecursive, "<text 1>:2:25: M.T: M.T(a) refers to itself through type arguments"},
		{"branching expansion", "module M\nP(a) = Tuple { x: P(Array(a)), y: P(Maybe(a)) }\n", ErrRecursive, ""},
		{"unused parametric checked", "module M\nP(a) = Tuple { x: Q }\n", ErrUnknownType, "<text 1>:2:19: M.P: unknown type Q"},
		{"qualified builtin name", "module M\nT = M.Integer\n", ErrUnknownType, "<text 1>:2:5: M.T: module M has no type Integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewRepository(Text(tt.schema))
			if !errors.Is(err, tt.err) {
				t.Fatalf("error %v, want one wrapping %v", err, tt.err)
			}
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is no *SchemaError", err)
			}
			if tt.msg != "" && err.Error() != tt.msg {
				t.Errorf("error\n got %s\nwant %s", err, tt.msg)
			}
		})
	}
}

func TestTypeLookup(t *testing.T) {
	r := MustRepository(Text("module M\nInteger = String\nP(a) = Array(a)\nT = Integer\n"))
	for _, name := range []string{"Boolean", "Integer", "Float", "String", "Bytes", "None"} {
		typ := schemaType(t, r, "", name)
		if typ.String() != name || typ.Module() != "" {
			t.Errorf("builtin %s is %v", name, typ)
		}
	}
	if a, b := schemaType(t, r, "M", "T"), schemaType(t, r, "M", "T"); a != b {
		t.Error("Type returned two nodes for one name")
	}
	if got := schemaType(t, r, "M", "Integer").Kind(); got != KindString {
		t.Errorf("M.Integer is a %v", got)
	}
	if got := schemaType(t, r, "M", "T").Kind(); got != KindInteger {
		t.Errorf("M.T is a %v", got)
	}
	refused := []struct {
		module, name string
		err          error
	}{
		{"", "Nope", ErrUnknownType},
		{"", "Tuple", ErrUnknownType},
		{"", "Array", ErrTypeArgs},
		{"", "Maybe", ErrTypeArgs},
		{"X", "T", ErrUnknownType},
		{"M", "X", ErrUnknownType},
		{"M", "P", ErrTypeArgs},
	}
	for _, tt := range refused {
		if _, err := r.Type(tt.module, tt.name); !errors.Is(err, tt.err) {
			t.Errorf("Type(%q, %q) error %v, want %v", tt.module, tt.name, err, tt.err)
		}
	}
}

func TestSources(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.sbs", "module A\nT = B.T\n")
	write("sub/b.sbs", "module B\nT = Array(C.T)\n")
	write("sub/deeper/c.sbs", "module C\nT = Integer\n")
	write("notes.txt", "not a schema")
	write("sub/old.sbs.bak", "module Broken\n")

	r, err := NewRepository(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"A", "B", "C"}, r.Modules()); diff != "" {
		t.Errorf("Modules() (-want +got):\n%s", diff)
	}
	if got := describeType(schemaType(t, r, "A", "T")); got != "A.T:Array(C.T:Integer)" {
		t.Errorf("A.T = %s", got)
	}

	// A file named directly is read whatever its name.
	if _, err := NewRepository(Path(filepath.Join(dir, "sub/b.sbs"))); !errors.Is(err, ErrUnknownType) {
		t.Errorf("b.sbs alone: %v, want an unknown type", err)
	}
	if _, err := NewRepository(Path(filepath.Join(dir, "missing"))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing path: %v", err)
	}

	// Merging: r's modules with another text; the merged repository has its
	// own nodes.
	merged, err := NewRepository(Repo(r), Text("module D\nT = Maybe(A.T)\n"))
	if err != nil {
		t.Fatal(err)
	}
	if merged.Modules()[3] != "D" || schemaType(t, merged, "A", "T") == schemaType(t, r, "A", "T") {
		t.Error("merged repository shares nodes with its source")
	}
	if _, err := NewRepository(Repo(r), Text("module B\n")); !errors.Is(err, ErrDuplicate) {
		t.Errorf("merging a second module B: %v", err)
	}

	// Names in errors.
	_, err = NewRepository(Text("module X\n"), NamedText("y.sbs", "module Y\n"), Text("module Z\nT = ?\n"))
	if got, want := err.Error(), "<text 2>:2:5: expected type, found '?'"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
	_, err = NewRepository(Text("module X\n"), NamedText("y.sbs", "module X\n"))
	if got, want := err.Error(), "y.sbs:1:8: module X defined again (first at <text 1>:1:8)"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

func TestMustRepositoryPanics(t *testing.T) {
	defer func() {
		if _, ok := recover().(*SchemaError); !ok {
			t.Error("MustRepository did not panic with the *SchemaError")
		}
	}()
	MustRepository(Text("module"))
}

// TestConcurrentBuilds builds repositories that share syntax trees and
// reads their types from several goroutines, for the race detector.
func TestConcurrentBuilds(t *testing.T) {
	base := MustRepository(schemaTexts(validSchemas(t))...)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			r, err := NewRepository(Repo(base))
			if err != nil {
				t.Error(err)
				return
			}
			for _, m := range []string{"Test", "Other"} {
				if _, err := r.Type(m, "Local"); err != nil && !errors.Is(err, ErrUnknownType) {
					t.Error(err)
				}
			}
			if _, err := base.Type("Test", "Tree"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestTypeNames(t *testing.T) {
	r := MustRepository(Text("module M\nB = Integer\nA = Tuple { x: B }\nP(t) = Array(t)\nC = P(String)\n"))
	if got, want := r.TypeNames("M"), []string{"A", "B", "C"}; !slices.Equal(got, want) {
		t.Errorf("TypeNames = %v, want %v (the parametric P left out)", got, want)
	}
	if got := r.TypeNames("Nope"); len(got) != 0 {
		t.Errorf("TypeNames of an unknown module = %v", got)
	}
}
