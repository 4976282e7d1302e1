package sbs

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// updateSchemaGolden rewrites testdata/errors/*.golden from the current
// error texts: go test ./pkg/sbs -run TestSchemaErrorGolden -update
var updateSchemaGolden = flag.Bool("update", false, "rewrite the golden error texts under testdata/errors")

type schemaCheck struct {
	Module string
	Type   string
	Value  json.RawMessage
	Hex    string
}

type schemaCase struct {
	Name   string
	Schema string
	Stage  string
	Checks []schemaCheck
}

// lenientRefusals is what this implementation does with each of the
// vectors' lenient schemas, which the original accepts: it refuses them
// all, each with the error class given.
var lenientRefusals = map[string]error{
	"undefined_reference":               ErrUnknownType,
	"undefined_module_reference":        ErrUnknownType,
	"lower_case_builtin":                ErrUnknownType,
	"parametric_used_without_arguments": ErrTypeArgs,
	"unused_parametric_with_errors":     ErrTypeArgs,
	"bare_tuple_keyword":                ErrSyntax,
	"bare_union_keyword":                ErrSyntax,
	"tuple_with_arguments":              ErrSyntax,
	"union_with_arguments":              ErrSyntax,
	"empty_parameter_list":              ErrSyntax,
	"duplicate_type_definition":         ErrDuplicate,
	"duplicate_tuple_entry_names":       ErrDuplicate,
	"duplicate_union_entry_names":       ErrDuplicate,
	"duplicate_parameter_names":         ErrDuplicate,
	"parameter_named_like_builtin":      ErrDuplicate,
}

func TestInvalidSchemaVectors(t *testing.T) {
	var f struct {
		Cases, Quirks, Accepted, Lenient []schemaCase
	}
	readVectorJSON(t, "invalid_schema.json", &f)
	if len(f.Cases) == 0 || len(f.Accepted) == 0 {
		t.Fatal("no vectors read")
	}

	for _, c := range f.Cases {
		t.Run("cases/"+c.Name, func(t *testing.T) {
			_, err := NewRepository(Text(c.Schema))
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("accepted (error %v); the original refuses it at %s", err, c.Stage)
			}
		})
	}

	// The original refuses these only because it reads IntegerList as
	// Integer and stray text; they are valid identifiers, so accepted here.
	for _, c := range f.Quirks {
		t.Run("quirks/"+c.Name, func(t *testing.T) {
			r, err := NewRepository(Text(c.Schema))
			if err != nil {
				t.Fatal(err)
			}
			typ := schemaType(t, r, "M", "T")
			if got := describeType(typ); !strings.Contains(got, "Array(String)") && !strings.Contains(got, "Array(Integer)") {
				t.Errorf("M.T = %s", got)
			}
		})
	}

	for _, c := range f.Accepted {
		t.Run("accepted/"+c.Name, func(t *testing.T) {
			r, err := NewRepository(Text(c.Schema))
			if err != nil {
				t.Fatal(err)
			}
			for _, ck := range c.Checks {
				runSchemaCheck(t, r, ck)
			}
		})
	}

	for _, c := range f.Lenient {
		t.Run("lenient/"+c.Name, func(t *testing.T) {
			want, ok := lenientRefusals[c.Name]
			if !ok {
				t.Fatal("a lenient vector this test does not know: decide whether to refuse it")
			}
			if _, err := NewRepository(Text(c.Schema)); !errors.Is(err, want) {
				t.Errorf("error %v, want one wrapping %v", err, want)
			}
		})
	}
}

// bigComparer compares the *big.Int values the codec gives for integers
// beyond int64.
var bigComparer = cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 })

// runSchemaCheck checks that the check's value encodes to its hex and that
// the hex decodes to the value.
func runSchemaCheck(t *testing.T, r *Repository, ck schemaCheck) {
	t.Helper()
	typ := schemaType(t, r, ck.Module, ck.Type)
	v, err := typ.DecodeJSON(ck.Value)
	if err != nil {
		t.Fatalf("%s.%s: DecodeJSON(%s): %v", ck.Module, ck.Type, ck.Value, err)
	}
	data, err := typ.Encode(v)
	if err != nil || hex.EncodeToString(data) != ck.Hex {
		t.Errorf("%s.%s: Encode(%s) = %x, %v; want %s", ck.Module, ck.Type, ck.Value, data, err, ck.Hex)
	}
	want, _ := hex.DecodeString(ck.Hex)
	got, err := typ.Decode(want)
	if err != nil {
		t.Fatalf("%s.%s: Decode(%s): %v", ck.Module, ck.Type, ck.Hex, err)
	}
	if diff := cmp.Diff(v, got, bigComparer); diff != "" {
		t.Errorf("%s.%s: Decode(%s) (-want +got):\n%s", ck.Module, ck.Type, ck.Hex, diff)
	}
}

// TestRepositoryExportVector imports the original's export, checks that
// exporting gives the same JSON, and that the imported repository means what
// the schema texts mean.
func TestRepositoryExportVector(t *testing.T) {
	var f struct {
		Schemas []string
		Export  json.RawMessage
		Check   schemaCheck
	}
	readVectorJSON(t, "repository_export.json", &f)

	imported, err := ImportJSON(f.Export)
	if err != nil {
		t.Fatal(err)
	}
	exported, err := imported.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jsonValue(t, f.Export), jsonValue(t, exported)); diff != "" {
		t.Errorf("export of the import (-want +got):\n%s", diff)
	}

	built, err := NewRepository(schemaTexts(f.Schemas)...)
	if err != nil {
		t.Fatal(err)
	}
	fromText, err := built.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(jsonValue(t, f.Export), jsonValue(t, fromText)); diff != "" {
		t.Errorf("export of the schema texts (-want +got):\n%s", diff)
	}

	if diff := cmp.Diff(built.Modules(), imported.Modules()); diff != "" {
		t.Errorf("modules (-built +imported):\n%s", diff)
	}
	for _, m := range built.modules {
		for _, d := range m.Defs {
			if len(d.Params) > 0 {
				continue
			}
			a, b := schemaType(t, built, m.Name, d.Name), schemaType(t, imported, m.Name, d.Name)
			if describeType(a) != describeType(b) {
				t.Errorf("%s.%s: built %s, imported %s", m.Name, d.Name, describeType(a), describeType(b))
			}
		}
	}
	runSchemaCheck(t, imported, f.Check)
	runSchemaCheck(t, built, f.Check)
}

func jsonValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return v
}

func TestExportRoundTrip(t *testing.T) {
	r := MustRepository(schemaTexts(validSchemas(t))...)
	r = MustRepository(Repo(r), Text("module New\nO(a) = Optional(Record { v: a })\nT = Choice { x: O(None), y: Array(Test.Point) }\n"))
	data, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ImportJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	again, err := back.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Errorf("export differs after import:\n%s\n%s", data, again)
	}
	if got := describeType(schemaType(t, back, "New", "T")); got != "New.T:Union { x: New.O(None):Union { none: None, value: Tuple { v: None } }, y: Array(Test.Point:Tuple { x: Float, y: Float }) }" {
		t.Errorf("New.T = %s", got)
	}
}

func TestImportJSONRefuses(t *testing.T) {
	ty := func(s string) string {
		return `[{"name":"M","type_defs":{"T":{"name":"T","args":[],"type":` + s + `}}}]`
	}
	tests := []struct {
		name, data string
		err        error
	}{
		{"not JSON", `[`, ErrSyntax},
		{"trailing data", `[] []`, ErrSyntax},
		{"unknown field", `[{"name":"M","type_defs":{},"x":1}]`, ErrSyntax},
		{"bad module name", `[{"name":"1","type_defs":{}}]`, ErrSyntax},
		{"type_defs not an object", `[{"name":"M","type_defs":[]}]`, ErrSyntax},
		{"key and name differ", `[{"name":"M","type_defs":{"T":{"name":"U","args":[],"type":{"module":null,"name":"None","entries":[],"args":[]}}}}]`, ErrSyntax},
		{"missing type", `[{"name":"M","type_defs":{"T":{"name":"T","args":[]}}}]`, ErrSyntax},
		{"entries on a reference", ty(`{"module":null,"name":"Integer","entries":[{"name":"a","type":{"module":null,"name":"None","entries":[],"args":[]}}],"args":[]}`), ErrSyntax},
		{"args on a tuple", ty(`{"module":null,"name":"Tuple","entries":[],"args":[{"module":null,"name":"None","entries":[],"args":[]}]}`), ErrSyntax},
		{"bad type name", ty(`{"module":null,"name":"a b","entries":[],"args":[]}`), ErrSyntax},
		{"unknown type", ty(`{"module":null,"name":"Nope","entries":[],"args":[]}`), ErrUnknownType},
		{"duplicate definition", `[{"name":"M","type_defs":{"T":{"name":"T","args":[],"type":{"module":null,"name":"None","entries":[],"args":[]}},"T":{"name":"T","args":[],"type":{"module":null,"name":"None","entries":[],"args":[]}}}}]`, ErrDuplicate},
		{"duplicate module", `[{"name":"M","type_defs":{}},{"name":"M","type_defs":{}}]`, ErrDuplicate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ImportJSON([]byte(tt.data)); !errors.Is(err, tt.err) {
				t.Errorf("error %v, want one wrapping %v", err, tt.err)
			}
		})
	}
	_, err := ImportJSON([]byte(ty(`{"module":"X","name":"Y","entries":[],"args":[]}`)))
	if got, want := err.Error(), "<json>: M.T: unknown module X in X.Y"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

// TestSchemaErrorGolden keeps the whole text, with source line and caret,
// of errors for the malformed schemas testdata/errors/*.sbs.
func TestSchemaErrorGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/errors/*.sbs")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/errors/*.sbs")
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".sbs")
		t.Run(name, func(t *testing.T) {
			_, err := NewRepository(Path(in))
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("error %v, want a *SchemaError", err)
			}
			got := se.Detail() + "\n"
			golden := strings.TrimSuffix(in, ".sbs") + ".golden"
			if *updateSchemaGolden {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("error text differs from %s:\n got:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}
