package sbs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The codec's fuzz targets run over a few types of valid.json's repository,
// chosen to cover every kind, recursion, wide unions, zero-size elements
// and nesting. The first fuzz argument selects the type.
var fuzzTypeNames = []struct{ module, name string }{
	{"Hat", "Msg"},
	{"Test", "Person"},
	{"Test", "IntList"},
	{"Test", "Tree"},
	{"Test", "Shapes"},
	{"Example", "StrKeyed"},
	{"Wide", "U"},
	{"Test", "Nils"},
	{"Test", "MaybeMaybeInt"},
	{"Test", "Nested"},
	{"Test", "IntMatrix"},
	{"Test", "PairOfPairs"},
	{"", "Integer"},
	{"", "Float"},
	{"", "String"},
	{"", "Bytes"},
	{"", "Boolean"},
	{"", "None"},
}

func fuzzTypes(t testing.TB) []*Type {
	t.Helper()
	_, r := loadVectors(t, validVectors)
	types := make([]*Type, len(fuzzTypeNames))
	for i, n := range fuzzTypeNames {
		typ, err := r.Type(n.module, n.name)
		if err != nil {
			t.Fatal(err)
		}
		types[i] = typ
	}
	return types
}

func fuzzTypeIndex(module *string, name string) int {
	m := ""
	if module != nil {
		m = *module
	}
	for i, n := range fuzzTypeNames {
		if n.module == m && n.name == name {
			return i
		}
	}
	return -1
}

// codecSeeds are the vectors' encodings and SBS-JSON texts for the fuzzed
// types: the valid ones, and the invalid and lenient inputs of the types
// both files share.
func codecSeeds(t testing.TB) (binary, text []fuzzSeed) {
	valid, _ := loadVectors(t, validVectors)
	for _, c := range valid.Cases {
		if i := fuzzTypeIndex(c.Module, c.Type); i >= 0 {
			binary = append(binary, fuzzSeed{c.Name, byte(i), mustHex(t, c.Hex)})
			text = append(text, fuzzSeed{c.Name, byte(i), []byte(c.Value)})
		}
	}
	invalid, _ := loadVectors(t, invalidDataVectors)
	for _, c := range append(invalid.Cases, invalid.Lenient...) {
		if i := fuzzTypeIndex(c.Module, c.Type); i >= 0 {
			binary = append(binary, fuzzSeed{c.Name, byte(i), mustHex(t, c.Hex)})
		}
	}
	return binary, text
}

type fuzzSeed struct {
	name string
	sel  byte
	data []byte
}

// FuzzDecode: whatever decodes must re-encode to exactly the input (the
// decoder accepts only canonical encodings), and survive SBS-JSON; whatever
// does not decode must fail with a *DataError.
func FuzzDecode(f *testing.F) {
	types := fuzzTypes(f)
	binary, _ := codecSeeds(f)
	for _, s := range binary {
		f.Add(s.sel, s.data)
	}
	f.Fuzz(func(t *testing.T, sel byte, data []byte) {
		typ := types[int(sel)%len(types)]
		v, err := typ.Decode(data)
		if err != nil {
			var de *DataError
			if !errors.As(err, &de) {
				t.Fatalf("Decode error %T %v is not a *DataError", err, err)
			}
			return
		}
		enc, err := typ.Encode(v)
		if err != nil {
			t.Fatalf("Encode of a decoded value: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, data)
		}
		j, err := typ.MarshalJSONValue(v)
		if err != nil {
			t.Fatalf("MarshalJSONValue: %v", err)
		}
		back, err := typ.DecodeJSON(j)
		if err != nil {
			t.Fatalf("DecodeJSON(%s): %v", j, err)
		}
		if diff := cmp.Diff(v, back, valueCmp); diff != "" {
			t.Fatalf("SBS-JSON round trip (-decoded +json):\n%s", diff)
		}
	})
}

// FuzzSBSJSON: whatever SBS-JSON text reads must write back to text that
// reads to the same value, byte-stably, and must encode and decode.
func FuzzSBSJSON(f *testing.F) {
	types := fuzzTypes(f)
	_, text := codecSeeds(f)
	for _, s := range text {
		f.Add(s.sel, s.data)
	}
	f.Fuzz(func(t *testing.T, sel byte, text []byte) {
		typ := types[int(sel)%len(types)]
		v, err := typ.DecodeJSON(text)
		if err != nil {
			var de *DataError
			if !errors.As(err, &de) {
				t.Fatalf("DecodeJSON error %T %v is not a *DataError", err, err)
			}
			return
		}
		j, err := typ.MarshalJSONValue(v)
		if err != nil {
			t.Fatalf("MarshalJSONValue: %v", err)
		}
		v2, err := typ.DecodeJSON(j)
		if err != nil {
			t.Fatalf("DecodeJSON(own output %s): %v", j, err)
		}
		if diff := cmp.Diff(v, v2, valueCmp); diff != "" {
			t.Fatalf("JSON round trip (-first +second):\n%s", diff)
		}
		if j2, err := typ.MarshalJSONValue(v2); err != nil || !bytes.Equal(j, j2) {
			t.Fatalf("JSON output not stable:\n%s\n%s", j, j2)
		}
		enc, err := typ.Encode(v)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		dec, err := typ.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%x): %v", enc, err)
		}
		if diff := cmp.Diff(v, dec, valueCmp); diff != "" {
			t.Fatalf("binary round trip (-json +decoded):\n%s", diff)
		}
	})
}

// TestWriteCodecCorpus writes the seeds to testdata/fuzz in the format of Go's
// corpus files when SBS_WRITE_CORPUS is set, so that the corpus stays with
// the vectors: SBS_WRITE_CORPUS=1 go test -run TestWriteCodecCorpus.
func TestWriteCodecCorpus(t *testing.T) {
	if os.Getenv("SBS_WRITE_CORPUS") == "" {
		t.Skip("set SBS_WRITE_CORPUS=1 to rewrite the seed corpus")
	}
	binary, text := codecSeeds(t)
	write := func(target string, seeds []fuzzSeed) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", s.sel, s.data)
			if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("FuzzDecode", binary)
	write("FuzzSBSJSON", text)
}
