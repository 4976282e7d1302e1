package sbs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// The binding decoder's fuzz target: Go types of bind_test.go for a few
// types of valid.json's repository, chosen by the first fuzz argument.
var fuzzBindNames = []string{
	"Hat.Msg", "Test.Person", "Test.IntList", "Test.Tree", "Example.StrKeyed",
	"Test.Nils", "Test.MaybeMaybeInt", "Test.Nested", "Test.IntMatrix", "Test.PairOfPairs",
	"Test.Point",
}

// fuzzBindValue is a new Go value for fuzzBindNames[i]: bindTypes' own,
// but a map for Test.Point, so that map bindings are fuzzed too.
func fuzzBindValue(i int) any {
	if fuzzBindNames[i] == "Test.Point" {
		return new(map[string]float64)
	}
	return bindTypes[fuzzBindNames[i]]()
}

func fuzzBindSeeds(t testing.TB) []fuzzSeed {
	var seeds []fuzzSeed
	for _, path := range []string{validVectors, invalidDataVectors} {
		f, _ := loadVectors(t, path)
		for _, c := range append(f.Cases, f.Lenient...) {
			for i, n := range fuzzBindNames {
				if n == vectorKey(&c) {
					seeds = append(seeds, fuzzSeed{c.Name, byte(i), mustHex(t, c.Hex)})
				}
			}
		}
	}
	return seeds
}

// FuzzBind: whatever decodes into a Go value through a binding must encode
// back to exactly the input, and the dynamic decoder must agree on what
// is valid (but for Integers too large for the Go field).
func FuzzBind(f *testing.F) {
	_, r := loadVectors(f, validVectors)
	types := make([]*Type, len(fuzzBindNames))
	for i, n := range fuzzBindNames {
		module, name, _ := cutLast(n)
		typ, err := r.Type(module, name)
		if err != nil {
			f.Fatal(err)
		}
		types[i] = typ
	}
	for _, s := range fuzzBindSeeds(f) {
		f.Add(s.sel, s.data)
	}
	f.Fuzz(func(t *testing.T, sel byte, data []byte) {
		i := int(sel) % len(types)
		typ := types[i]
		v := fuzzBindValue(i)
		err := Unmarshal(typ, data, v)
		_, dynErr := typ.Decode(data)
		if err != nil {
			var de *DataError
			if !errors.As(err, &de) {
				t.Fatalf("Unmarshal error %T %v is not a *DataError", err, err)
			}
			if errors.Is(err, ErrOverflow) {
				return // the Go field is narrower than the Integer
			}
			if dynErr == nil {
				t.Fatalf("Unmarshal refused what Decode accepts: %v", err)
			}
			if err.Error() != dynErr.Error() {
				t.Fatalf("Unmarshal error %q, Decode error %q", err, dynErr)
			}
			return
		}
		if dynErr != nil {
			t.Fatalf("Unmarshal accepted what Decode refuses: %v", dynErr)
		}
		enc, err := Marshal(typ, v)
		if err != nil {
			t.Fatalf("Marshal of a decoded value: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", enc, data)
		}
	})
}

func cutLast(s string) (before, after string, ok bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return "", s, false
}

// TestWriteBindCorpus writes FuzzBind's seeds to testdata/fuzz when
// SBS_WRITE_CORPUS is set: SBS_WRITE_CORPUS=1 go test -run TestWriteBindCorpus.
func TestWriteBindCorpus(t *testing.T) {
	if os.Getenv("SBS_WRITE_CORPUS") == "" {
		t.Skip("set SBS_WRITE_CORPUS=1 to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzBind")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range fuzzBindSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n", s.sel, s.data)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
