package sbsgentest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"

	"github.com/gochatter/gochatter/pkg/sbs"
	"github.com/gochatter/gochatter/pkg/sbs/gen"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	validVectors   = "../../testdata/vectors/sbs/valid.json"
	invalidVectors = "../../testdata/vectors/sbs/invalid_data.json"
)

type vectorCase struct {
	Name   string
	Module *string
	Type   string
	Hex    string
	Why    string
}

type vectorFile struct {
	Schemas []string
	Cases   []vectorCase
	Lenient []vectorCase
}

func load(t testing.TB, path string) *vectorFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// schemaFiles reads schemas/ as go generate gives it to sbs-gen.
func schemaFiles(t testing.TB) []gen.File {
	t.Helper()
	paths, err := filepath.Glob("schemas/*.sbs")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(paths)
	var files []gen.File
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, gen.File{Name: p, Text: string(text)})
	}
	return files
}

// repo holds every schema of the package, as the generated code has them.
func repo(t testing.TB) *sbs.Repository {
	t.Helper()
	var src []sbs.Source
	for _, f := range schemaFiles(t) {
		src = append(src, sbs.NamedText(f.Name, f.Text))
	}
	r, err := sbs.NewRepository(src...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestGeneratedUpToDate regenerates vectors.go and compares; run go
// generate after changing the generator.
func TestGeneratedUpToDate(t *testing.T) {
	got, err := gen.Generate(gen.Config{Package: "sbsgentest", Files: schemaFiles(t), Registry: true})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("vectors.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("vectors.go is stale: run go generate ./internal/sbsgentest\n%s", cmp.Diff(string(want), string(got)))
	}
	// And the output does not depend on the order of the files.
	files := schemaFiles(t)
	slices.Reverse(files)
	again, err := gen.Generate(gen.Config{Package: "sbsgentest", Files: files, Registry: true})
	if err != nil {
		t.Fatal(err)
	}
	if i := bytes.IndexByte(again, '\n'); !bytes.Equal(again[bytes.Index(again, []byte("\npackage")):], got[bytes.Index(got, []byte("\npackage")):]) || i < 0 {
		t.Error("output depends on the order of the input files")
	}
}

// TestSchemasMatchVectors: the copies in schemas/ are the vectors'.
func TestSchemasMatchVectors(t *testing.T) {
	var have []string
	for _, f := range schemaFiles(t) {
		if !strings.HasSuffix(f.Name, "builtin.sbs") {
			have = append(have, f.Text)
		}
	}
	want := load(t, validVectors).Schemas
	for _, s := range load(t, invalidVectors).Schemas {
		if !slices.Contains(want, s) {
			want = append(want, s)
		}
	}
	slices.Sort(have)
	slices.Sort(want)
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("schemas/ differs from the vectors (-vectors +schemas):\n%s", diff)
	}
}

func key(c *vectorCase) (module, name string) {
	if c.Module == nil {
		return "Builtin", c.Type
	}
	return *c.Module, c.Type
}

// hasBig reports whether a dynamic value holds an Integer beyond int64,
// which the generated int64 fields refuse.
func hasBig(v any) bool {
	switch v := v.(type) {
	case *big.Int:
		return true
	case []any:
		return slices.ContainsFunc(v, hasBig)
	case map[string]any:
		for _, e := range v {
			if hasBig(e) {
				return true
			}
		}
	case sbs.Union:
		return hasBig(v.Value)
	}
	return false
}

// sameBits compares the named Float type bit for bit (NaN included).
var sameBits = cmp.Comparer(func(a, b BuiltinFloat) bool {
	return math.Float64bits(float64(a)) == math.Float64bits(float64(b))
})

func TestValidVectors(t *testing.T) {
	r := repo(t)
	f := load(t, validVectors)
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			module, name := key(&c)
			typ, err := r.Type(module, name)
			if err != nil {
				t.Fatal(err)
			}
			data, err := hex.DecodeString(c.Hex)
			if err != nil {
				t.Fatal(err)
			}
			dyn, err := typ.Decode(data)
			if err != nil {
				t.Fatalf("dynamic Decode: %v", err)
			}
			v := NewSBS(module, name)
			if v == nil {
				t.Fatalf("no generated type for %s.%s", module, name)
			}
			err = v.UnmarshalSBS(data)
			if hasBig(dyn) {
				if !errors.Is(err, sbs.ErrOverflow) {
					t.Fatalf("UnmarshalSBS of a big Integer: %v, want ErrOverflow", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("UnmarshalSBS: %v", err)
			}
			got, err := v.AppendSBS([]byte{0xee})
			if err != nil {
				t.Fatalf("AppendSBS: %v", err)
			}
			if !bytes.Equal(got[1:], data) || got[0] != 0xee {
				t.Fatalf("AppendSBS = %x\nwant        ee%x", got, data)
			}

			// The struct bindings take the generated types as they are
			// and agree on the value.
			viaBinding := NewSBS(module, name)
			if err := sbs.Unmarshal(typ, data, viaBinding); err != nil {
				t.Fatalf("sbs.Unmarshal into the generated type: %v", err)
			}
			if diff := cmp.Diff(v, viaBinding, cmpopts.EquateNaNs(), sameBits); diff != "" {
				t.Fatalf("binding and generated decoders differ (-generated +binding):\n%s", diff)
			}
			if b, err := sbs.Marshal(typ, v); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("sbs.Marshal(generated value) = %x, %v", b, err)
			}
		})
	}
}

// TestInvalidVectors: the generated decoders refuse every invalid and
// lenient input with the dynamic decoder's error.
func TestInvalidVectors(t *testing.T) {
	r := repo(t)
	f := load(t, invalidVectors)
	for _, c := range append(f.Cases, f.Lenient...) {
		t.Run(c.Name, func(t *testing.T) {
			module, name := key(&c)
			typ, err := r.Type(module, name)
			if err != nil {
				t.Fatal(err)
			}
			data, err := hex.DecodeString(c.Hex)
			if err != nil {
				t.Fatal(err)
			}
			_, want := typ.Decode(data)
			got := NewSBS(module, name).UnmarshalSBS(data)
			if want == nil || got == nil {
				t.Fatalf("dynamic error %v, generated error %v; want both (%s)", want, got, c.Why)
			}
			var wd, gd *sbs.DataError
			if !errors.As(want, &wd) || !errors.As(got, &gd) {
				t.Fatalf("not *DataError: %T %T", want, got)
			}
			if gd.Err != wd.Err || gd.Path != wd.Path || gd.Offset != wd.Offset || got.Error() != want.Error() {
				t.Errorf("generated error %q (offset %d)\ndynamic error   %q (offset %d)", got, gd.Offset, want, wd.Offset)
			}
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	one, s := int64(1), "x"
	tests := []struct {
		v interface {
			AppendSBS([]byte) ([]byte, error)
		}
		sentinel error
		want     string
	}{
		{&BadU{}, sbs.ErrInvalidValue, "Bad.U: no entry set"},
		{&BadU{A: &one, B: &s}, sbs.ErrInvalidValue, `Bad.U: entries "a" and "b" both set`},
		{&TestShapes{{Label: &s}, {}}, sbs.ErrInvalidValue, "Test.Shapes[1]: no entry set"},
		{&HatMsg{Data: HatData{Type: "\xff"}}, sbs.ErrInvalidUTF8, "Hat.Msg.data.type: invalid UTF-8 in string"},
		{&TestPerson{Tags: []string{"a", "\xc0"}}, sbs.ErrInvalidUTF8, "Test.Person.tags[1]: invalid UTF-8 in string"},
	}
	for _, tt := range tests {
		b, err := tt.v.AppendSBS([]byte{1})
		if !errors.Is(err, tt.sentinel) || err.Error() != tt.want || len(b) != 1 {
			t.Errorf("AppendSBS(%+v) = %x, %v; want %s", tt.v, b, err, tt.want)
		}
	}
}

// TestDepth: the generated code and the dynamic codec agree on the
// nesting limit, decoding and encoding.
func TestDepth(t *testing.T) {
	r := repo(t)
	typ, err := r.Type("Test", "IntList")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{sbs.MaxDepth/2 - 1, sbs.MaxDepth / 2, sbs.MaxDepth/2 + 1} {
		data := append(bytes.Repeat([]byte{0x81, 0x80}, n), 0x80)
		_, want := typ.Decode(data)
		var v TestIntList
		got := v.UnmarshalSBS(data)
		if (want == nil) != (got == nil) || (want != nil && got.Error() != want.Error()) {
			t.Fatalf("n=%d: generated %v, dynamic %v", n, got, want)
		}
		if got != nil {
			continue
		}
		back, err := v.AppendSBS(nil)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("n=%d: AppendSBS: %v", n, err)
		}
	}
	// Encoding too deep a value fails as the dynamic encoder does.
	list := TestIntList{Nothing: &struct{}{}}
	for i := range sbs.MaxDepth/2 + 1 {
		list = TestIntList{Just: &TestIntListJust{Head: int64(i), Tail: list}}
	}
	_, err = list.AppendSBS(nil)
	if !errors.Is(err, sbs.ErrTooDeep) {
		t.Fatalf("deep AppendSBS: %v", err)
	}
	dyn := any(sbs.Union{Name: "Nothing"})
	for i := range sbs.MaxDepth/2 + 1 {
		dyn = sbs.Union{Name: "Just", Value: map[string]any{"head": int64(i), "tail": dyn}}
	}
	_, want := typ.Encode(dyn)
	if want == nil || err.Error() != want.Error() {
		t.Fatalf("AppendSBS error %v\ndynamic error %v", err, want)
	}
}

// FuzzUnmarshalSBS is differential: for every type the vectors use, the
// generated UnmarshalSBS must agree with the dynamic decoder on any input —
// both refuse it with the same error, or both accept it and re-encode it to
// the same bytes. The generated code's int64 refuses big Integers with
// ErrOverflow, which may come before an error the dynamic decoder finds
// further on.
func FuzzUnmarshalSBS(f *testing.F) {
	r := repo(f)
	var keys [][2]string
	seen := map[[2]string]bool{}
	for _, path := range []string{validVectors, invalidVectors} {
		vf := load(f, path)
		for _, c := range append(vf.Cases, vf.Lenient...) {
			module, name := key(&c)
			k := [2]string{module, name}
			data, err := hex.DecodeString(c.Hex)
			if err != nil {
				f.Fatal(err)
			}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
			f.Add(uint16(slices.Index(keys, k)), data)
		}
	}
	f.Fuzz(func(t *testing.T, which uint16, data []byte) {
		k := keys[int(which)%len(keys)]
		typ, err := r.Type(k[0], k[1])
		if err != nil {
			t.Fatal(err)
		}
		dyn, derr := typ.Decode(data)
		v := NewSBS(k[0], k[1])
		gerr := v.UnmarshalSBS(data)
		switch {
		case derr != nil:
			if gerr == nil {
				t.Fatalf("%s.%s %x: dynamic error %v, generated accepts it", k[0], k[1], data, derr)
			}
			if gerr.Error() == derr.Error() {
				break
			}
			// The one allowed difference: a big Integer before the
			// dynamic decoder's error, which int64 fields refuse first.
			var gd, dd *sbs.DataError
			if !errors.Is(gerr, sbs.ErrOverflow) || !errors.As(gerr, &gd) || !errors.As(derr, &dd) || gd.Offset >= dd.Offset {
				t.Fatalf("%s.%s %x: dynamic error %v, generated %v", k[0], k[1], data, derr, gerr)
			}
		case hasBig(dyn):
			if !errors.Is(gerr, sbs.ErrOverflow) {
				t.Fatalf("%s.%s %x: a big Integer, generated error %v, want ErrOverflow", k[0], k[1], data, gerr)
			}
		case gerr != nil:
			t.Fatalf("%s.%s %x: dynamic decodes %v, generated fails: %v", k[0], k[1], data, dyn, gerr)
		default:
			want, err := typ.Encode(dyn)
			if err != nil {
				t.Fatalf("re-encoding the dynamic value: %v", err)
			}
			got, err := v.AppendSBS(nil)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s.%s %x: generated re-encodes %x (%v), dynamic %x", k[0], k[1], data, got, err, want)
			}
		}
	})
}
