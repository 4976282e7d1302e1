package sbs

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The golden vectors, produced by the original implementation.
const (
	validVectors       = "../../testdata/vectors/sbs/valid.json"
	invalidDataVectors = "../../testdata/vectors/sbs/invalid_data.json"
)

type vectorCase struct {
	Name   string
	Module *string // null for a builtin
	Type   string
	Value  json.RawMessage
	Hex    string
	// invalid_data.json only
	Why          string
	CanonicalHex string `json:"canonical_hex"`
}

type vectorFile struct {
	Schemas []string
	Cases   []vectorCase
	Lenient []vectorCase
}

func loadVectors(t testing.TB, path string) (*vectorFile, *Repository) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var sources []Source
	for _, s := range f.Schemas {
		sources = append(sources, Text(s))
	}
	r, err := NewRepository(sources...)
	if err != nil {
		t.Fatalf("%s: NewRepository: %v", path, err)
	}
	return &f, r
}

func (c *vectorCase) typ(t testing.TB, r *Repository) *Type {
	t.Helper()
	module := ""
	if c.Module != nil {
		module = *c.Module
	}
	typ, err := r.Type(module, c.Type)
	if err != nil {
		t.Fatalf("Type(%q, %q): %v", module, c.Type, err)
	}
	return typ
}

// genericJSON reads JSON text without a type, numbers as written, so that
// two texts can be compared for meaning.
func genericJSON(t testing.TB, text []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("generic JSON %s: %v", text, err)
	}
	return v
}

func TestGoldenValid(t *testing.T) {
	f, r := loadVectors(t, validVectors)
	if len(f.Cases) < 150 {
		t.Fatalf("only %d cases in %s", len(f.Cases), validVectors)
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			typ := c.typ(t, r)
			want, err := typ.DecodeJSON(c.Value)
			if err != nil {
				t.Fatalf("DecodeJSON(%.200s): %v", c.Value, err)
			}
			wantHex := mustHex(t, c.Hex)

			// value -> bytes, exactly.
			got, err := typ.Encode(want)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, wantHex) {
				t.Fatalf("Encode = %.200x\nwant     %.200s", got, c.Hex)
			}
			if n, err := typ.Size(want); err != nil || n != len(wantHex) {
				t.Errorf("Size = %d, %v; want %d", n, err, len(wantHex))
			}

			// bytes -> the same value, using all of them.
			dec, err := typ.Decode(wantHex)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(want, dec, valueCmp); diff != "" {
				t.Fatalf("Decode mismatch (-want +got):\n%.2000s", diff)
			}

			// value -> SBS-JSON -> value is stable, and means what the
			// original wrote (our floats are spelt as Python spells them).
			j, err := typ.MarshalJSONValue(dec)
			if err != nil {
				t.Fatalf("MarshalJSONValue: %v", err)
			}
			back, err := typ.DecodeJSON(j)
			if err != nil {
				t.Fatalf("DecodeJSON(own output %.200s): %v", j, err)
			}
			if diff := cmp.Diff(want, back, valueCmp); diff != "" {
				t.Fatalf("JSON round trip mismatch (-want +got):\n%.2000s", diff)
			}
			j2, err := typ.MarshalJSONValue(back)
			if err != nil || !bytes.Equal(j, j2) {
				t.Fatalf("JSON output not stable:\n%.200s\n%.200s", j, j2)
			}
			if diff := cmp.Diff(genericJSON(t, c.Value), genericJSON(t, j)); diff != "" {
				t.Errorf("SBS-JSON differs from the vector (-vector +ours):\n%.2000s", diff)
			}
		})
	}
}

func TestGoldenInvalidData(t *testing.T) {
	f, r := loadVectors(t, invalidDataVectors)
	for _, c := range f.Cases {
		t.Run("cases/"+c.Name, func(t *testing.T) {
			typ := c.typ(t, r)
			v, err := typ.Decode(mustHex(t, c.Hex))
			if err == nil {
				t.Fatalf("Decode(%s) = %v, want an error (%s)", c.Hex, v, c.Why)
			}
			var de *DataError
			if !errors.As(err, &de) || de.Path == "" {
				t.Errorf("error %q is not a *DataError with a path", err)
			}
		})
	}
	// The original accepts these; the strict decoder refuses every one, and
	// agrees with the original on the canonical form.
	for _, c := range f.Lenient {
		t.Run("lenient/"+c.Name, func(t *testing.T) {
			typ := c.typ(t, r)
			if v, err := typ.Decode(mustHex(t, c.Hex)); err == nil {
				t.Fatalf("Decode(%s) = %v, want an error (%s)", c.Hex, v, c.Why)
			}
			want, err := typ.DecodeJSON(c.Value)
			if err != nil {
				t.Fatalf("DecodeJSON(%s): %v", c.Value, err)
			}
			canonical := mustHex(t, c.CanonicalHex)
			got, err := typ.Decode(canonical)
			if err != nil {
				t.Fatalf("Decode(canonical %s): %v", c.CanonicalHex, err)
			}
			if diff := cmp.Diff(want, got, valueCmp); diff != "" {
				t.Fatalf("canonical mismatch (-want +got):\n%s", diff)
			}
			if enc, err := typ.Encode(want); err != nil || !bytes.Equal(enc, canonical) {
				t.Fatalf("Encode = %x, %v; want %s", enc, err, c.CanonicalHex)
			}
		})
	}
}

// TestRepositoryWrappers checks the Repository shortcuts against a vector.
func TestRepositoryWrappers(t *testing.T) {
	_, r := loadVectors(t, validVectors)
	v := msgValue(1, Union{"Just", "Demo"}, "Note", []byte("\x85hello"))
	const wantHex = "8181010101818444656d6f844e6f7465868568656c6c6f"
	b, err := r.Encode("Hat", "Msg", v)
	if err != nil || hex.EncodeToString(b) != wantHex {
		t.Fatalf("Encode = %x, %v", b, err)
	}
	b, err = r.Append([]byte{0xaa}, "Hat", "Msg", v)
	if err != nil || hex.EncodeToString(b) != "aa"+wantHex {
		t.Fatalf("Append = %x, %v", b, err)
	}
	got, err := r.Decode("Hat", "Msg", mustHex(t, wantHex))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v, got, valueCmp); diff != "" {
		t.Fatalf("Decode mismatch (-want +got):\n%s", diff)
	}
	if _, err := r.Encode("Hat", "Nope", v); err == nil {
		t.Error("Encode of an unknown type succeeded")
	}
	if b, err := r.Append([]byte{1}, "Nope", "Msg", v); err == nil || len(b) != 1 {
		t.Errorf("Append of an unknown module = %x, %v", b, err)
	}
	if _, err := r.Decode("", "Nope", nil); err == nil {
		t.Error("Decode of an unknown builtin succeeded")
	}
	// The builtin None and an entry-less Tuple take no bytes.
	if b, err := r.Encode("", "None", nil); err != nil || len(b) != 0 {
		t.Errorf("Encode(None) = %x, %v", b, err)
	}
}
