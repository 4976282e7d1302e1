package sbs

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
)

// handTypes is a type graph built without the schema parser, so that the
// codec can be tested on its own: the Hat module, a recursive list, a tree,
// a type without finite values and a few arrays.
type handTypes struct {
	boolean, integer, float, str, bytes, none *Type
	maybeString, data, msg                    *Type
	intList, tree, infinite                   *Type
	ints, nils, nilsOfNils, strs, shape       *Type
	emptyUnion, emptyTuple                    *Type
}

func newHandTypes() *handTypes {
	h := &handTypes{
		boolean: &Type{kind: KindBoolean},
		integer: &Type{kind: KindInteger},
		float:   &Type{kind: KindFloat},
		str:     &Type{kind: KindString},
		bytes:   &Type{kind: KindBytes},
		none:    &Type{kind: KindTuple, name: "None"},
	}
	maybe := func(name string, t *Type) *Type {
		return &Type{kind: KindUnion, name: name, entries: []Entry{{"Nothing", h.none}, {"Just", t}}}
	}
	h.maybeString = maybe("Maybe(String)", h.str)
	h.data = &Type{kind: KindTuple, module: "Hat", name: "Data", entries: []Entry{
		{"module", h.maybeString}, {"type", h.str}, {"data", h.bytes},
	}}
	h.msg = &Type{kind: KindTuple, module: "Hat", name: "Msg", entries: []Entry{
		{"id", h.integer}, {"first", h.integer}, {"owner", h.boolean},
		{"token", h.boolean}, {"last", h.boolean}, {"data", h.data},
	}}
	// IntList = Maybe(Tuple { head: Integer, tail: IntList })
	h.intList = &Type{kind: KindUnion, module: "Test", name: "IntList"}
	cell := &Type{kind: KindTuple, entries: []Entry{{"head", h.integer}, {"tail", h.intList}}}
	h.intList.entries = []Entry{{"Nothing", h.none}, {"Just", cell}}
	// Tree = Tuple { value: String, children: Array(Tree) }
	h.tree = &Type{kind: KindTuple, module: "Test", name: "Tree"}
	h.tree.entries = []Entry{{"value", h.str}, {"children", &Type{kind: KindArray, elem: h.tree}}}
	// Infinite = Tuple { x: Integer, t: Infinite } has no finite value.
	h.infinite = &Type{kind: KindTuple, module: "Test", name: "Infinite"}
	h.infinite.entries = []Entry{{"x", h.integer}, {"t", h.infinite}}
	h.ints = &Type{kind: KindArray, module: "Test", name: "Ints", elem: h.integer}
	h.nils = &Type{kind: KindArray, module: "Test", name: "Nils", elem: h.none}
	h.nilsOfNils = &Type{kind: KindArray, elem: h.nils}
	h.strs = &Type{kind: KindArray, elem: h.str}
	h.emptyUnion = &Type{kind: KindUnion, module: "Test", name: "EmptyUnion"}
	h.emptyTuple = &Type{kind: KindTuple, module: "Test", name: "EmptyTuple"}
	h.shape = &Type{kind: KindUnion, module: "Test", name: "Shape", entries: []Entry{
		{"dot", h.none}, {"label", h.str}, {"point", &Type{kind: KindTuple, entries: []Entry{{"x", h.float}, {"y", h.float}}}},
	}}
	prepareTypes([]*Type{h.boolean, h.integer, h.float, h.str, h.bytes, h.none, h.msg,
		h.intList, h.tree, h.infinite, h.ints, h.nils, h.nilsOfNils, h.strs, h.shape,
		h.emptyUnion, h.emptyTuple})
	return h
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func bigInt(s string) *big.Int {
	x, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic("bad big integer " + s)
	}
	return x
}

func msgValue(id int64, module any, typ string, data []byte) map[string]any {
	return map[string]any{
		"id": id, "first": int64(1), "owner": true, "token": true, "last": true,
		"data": map[string]any{"module": module, "type": typ, "data": data},
	}
}

func TestPrepareTypesMinSize(t *testing.T) {
	h := newHandTypes()
	for _, c := range []struct {
		t    *Type
		want int
	}{
		{h.boolean, 1}, {h.integer, 1}, {h.float, 8}, {h.none, 0},
		{h.emptyUnion, 0}, {h.maybeString, 1}, {h.data, 3}, {h.msg, 8},
		{h.intList, 1}, {h.tree, 2}, {h.infinite, sizeInfinite}, {h.nils, 1},
		{h.shape, 1},
	} {
		if c.t.minSize != c.want {
			t.Errorf("%v: minSize %d, want %d", c.t, c.t.minSize, c.want)
		}
	}
}

func TestEncodeKnown(t *testing.T) {
	h := newHandTypes()
	intList := func(xs ...int64) any {
		v := any(Union{Name: "Nothing"})
		for i := len(xs) - 1; i >= 0; i-- {
			v = Union{"Just", map[string]any{"head": xs[i], "tail": v}}
		}
		return v
	}
	cases := []struct {
		name string
		t    *Type
		v    any
		hex  string
	}{
		{"bool", h.boolean, true, "01"},
		{"int64", h.integer, int64(-65), "7fbf"},
		{"int", h.integer, 64, "00c0"},
		{"int8", h.integer, int8(-1), "ff"},
		{"int16", h.integer, int16(8192), "004080"},
		{"int32", h.integer, int32(-2147483648), "7800000080"},
		{"uint8", h.integer, uint8(255), "01ff"},
		{"uint16", h.integer, uint16(1), "81"},
		{"uint32", h.integer, uint32(4294967295), "0f7f7f7fff"},
		{"uint", h.integer, uint(0), "80"},
		{"uint64 max", h.integer, uint64(math.MaxUint64), "017f7f7f7f7f7f7f7fff"},
		{"big", h.integer, bigInt("1267650600228229401496703205376"), "040000000000000000000000000080"},
		{"big small", h.integer, big.NewInt(-1), "ff"},
		{"big value", h.integer, *bigInt("-1267650600228229401496703205376"), "7c0000000000000000000000000080"},
		{"float64", h.float, -1.5, "bff8000000000000"},
		{"float32", h.float, float32(1.5), "3ff8000000000000"},
		{"neg zero", h.float, math.Copysign(0, -1), "8000000000000000"},
		{"string", h.str, "a\x00b", "83610062"},
		{"bytes", h.bytes, []byte{0xde, 0xad}, "82dead"},
		{"bytes nil", h.bytes, []byte(nil), "80"},
		{"none", h.none, nil, ""},
		{"none empty map", h.none, map[string]any{}, ""},
		{"empty union", h.emptyUnion, nil, ""},
		{"msg", h.msg, msgValue(1, Union{"Just", "Demo"}, "Note", []byte("\x85hello")), "8181010101818444656d6f844e6f7465868568656c6c6f"},
		{"msg union pointer", h.msg, msgValue(1, &Union{"Just", "Demo"}, "Note", []byte("\x85hello")), "8181010101818444656d6f844e6f7465868568656c6c6f"},
		{"list", h.intList, intList(1, 2, 3), "81818182818380"},
		{"tree", h.tree, map[string]any{"value": "root", "children": []any{
			map[string]any{"value": "a", "children": []any{}},
			map[string]any{"value": "b", "children": []map[string]any{{"value": "c", "children": []any{}}}},
		}}, "84726f6f7482816180816281816380"},
		{"ints any", h.ints, []any{int64(0), 1, int8(-1)}, "838081ff"},
		{"ints int64", h.ints, []int64{0, 1, -1}, "838081ff"},
		{"ints int", h.ints, []int{0, 1, -1}, "838081ff"},
		{"ints empty", h.ints, []any{}, "80"},
		{"ints nil", h.ints, []any(nil), "80"},
		{"strs", h.strs, []string{"", "a"}, "82808161"},
		{"nils", h.nils, []any{nil, nil, nil}, "83"},
		{"shapes", &Type{kind: KindArray, elem: h.shape}, []Union{{"dot", nil}, {"label", "L"}}, "8280" + "81814c"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := mustHex(t, c.hex)
			got, err := c.t.Encode(c.v)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Encode = %x, %v; want %s", got, err, c.hex)
			}
			n, err := c.t.Size(c.v)
			if err != nil || n != len(want) {
				t.Errorf("Size = %d, %v; want %d", n, err, len(want))
			}
			prefix := []byte{0xaa}
			got, err = c.t.Append(prefix, c.v)
			if err != nil || !bytes.Equal(got, append([]byte{0xaa}, want...)) {
				t.Errorf("Append = %x, %v", got, err)
			}
		})
	}
	t.Run("pointer union", func(t *testing.T) {
		got, err := h.maybeString.Encode(&Union{"Just", "x"})
		if err != nil || hex.EncodeToString(got) != "818178" {
			t.Fatalf("got %x, %v", got, err)
		}
	})
}

func TestEncodeErrors(t *testing.T) {
	h := newHandTypes()
	good := func() map[string]any { return msgValue(1, Union{"Just", "Demo"}, "Note", nil) }
	withData := func(mod func(map[string]any)) map[string]any {
		m := good()
		mod(m["data"].(map[string]any))
		return m
	}
	cases := []struct {
		name string
		t    *Type
		v    any
		err  error
		text string
	}{
		{"bool as int", h.boolean, 1, ErrInvalidValue, "Boolean: cannot use Go int as Boolean"},
		{"int as string", h.integer, "1", ErrInvalidValue, "Integer: cannot use Go string as Integer"},
		{"nil big", h.integer, (*big.Int)(nil), ErrInvalidValue, "Integer: cannot use Go *big.Int as Integer"},
		{"float as int", h.float, 1, ErrInvalidValue, "Float: cannot use Go int as Float"},
		{"bytes as string", h.bytes, "ab", ErrInvalidValue, "Bytes: cannot use Go string as Bytes"},
		{"bad utf8", h.str, "\xff", ErrInvalidUTF8, "String: invalid UTF-8 in string"},
		{"nil msg", h.msg, nil, ErrInvalidValue, "Hat.Msg: cannot use Go nil as Hat.Msg"},
		{"missing entry", h.msg, func() any { m := good(); delete(m, "owner"); return m }(), ErrInvalidValue, "Hat.Msg.owner: missing entry"},
		{"extra entry", h.msg, func() any { m := good(); m["zz"] = 1; m["extra"] = 1; return m }(), ErrInvalidValue, `Hat.Msg: unexpected entry "extra"`},
		{"nested wrong", h.msg, withData(func(d map[string]any) { d["type"] = 5 }), ErrInvalidValue, "Hat.Msg.data.type: cannot use Go int as String"},
		{"union name", h.msg, withData(func(d map[string]any) { d["module"] = Union{"Maybe", "x"} }), ErrInvalidValue, `Hat.Msg.data.module: no entry named "Maybe"`},
		{"union value", h.msg, withData(func(d map[string]any) { d["module"] = Union{"Just", []byte("x")} }), ErrInvalidValue, "Hat.Msg.data.module.Just: cannot use Go []uint8 as String"},
		{"union not union", h.msg, withData(func(d map[string]any) { d["module"] = "x" }), ErrInvalidValue, "Hat.Msg.data.module: cannot use Go string as Maybe(String)"},
		{"nil union pointer", h.maybeString, (*Union)(nil), ErrInvalidValue, "Maybe(String): cannot use Go *sbs.Union as Maybe(String)"},
		{"array element", h.ints, []any{int64(1), "x"}, ErrInvalidValue, "Test.Ints[1]: cannot use Go string as Integer"},
		{"array typed mismatch", h.strs, []int64{1}, ErrInvalidValue, "Array: cannot use Go []int64 as Array"},
		{"array strings utf8", h.strs, []string{"a", "\xc3"}, ErrInvalidUTF8, "Array[1]: invalid UTF-8 in string"},
		{"array not slice", h.ints, 5, ErrInvalidValue, "Test.Ints: cannot use Go int as Test.Ints"},
		{"none non-empty", h.none, map[string]any{"a": 1}, ErrInvalidValue, "None: cannot use Go map[string]interface {} as None"},
		{"empty union value", h.emptyUnion, Union{"x", nil}, ErrInvalidValue, "Test.EmptyUnion: cannot use Go sbs.Union as Test.EmptyUnion"},
		{"unresolved element", &Type{kind: KindArray, name: "Any"}, []any{1}, ErrUnknownType, "Any: unresolved type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dst := []byte{1, 2}
			got, err := c.t.Append(dst, c.v)
			if !errors.Is(err, c.err) {
				t.Fatalf("Append error %v, want %v", err, c.err)
			}
			if len(got) != 2 {
				t.Errorf("Append grew dst on error: %x", got)
			}
			var de *DataError
			if !errors.As(err, &de) || de.Offset != -1 {
				t.Fatalf("error %#v is not a *DataError with Offset -1", err)
			}
			if err.Error() != c.text {
				t.Errorf("error text\n got %q\nwant %q", err.Error(), c.text)
			}
			if _, serr := c.t.Size(c.v); serr == nil || serr.Error() != c.text {
				t.Errorf("Size error %v, want %q", serr, c.text)
			}
			if b, eerr := c.t.Encode(c.v); eerr == nil || b != nil {
				t.Errorf("Encode = %x, %v", b, eerr)
			}
		})
	}
}

func TestEncodeTooDeep(t *testing.T) {
	// A recursive Array type and a Go value nested beyond MaxDepth, as a
	// cyclic value would be.
	arr := &Type{kind: KindArray, module: "Test", name: "Deep"}
	arr.elem = arr
	prepareTypes([]*Type{arr})
	cyclic := []any{nil}
	cyclic[0] = cyclic
	_, err := arr.Encode(cyclic)
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("cyclic value: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "Test.Deep[0][0][0]") {
		t.Errorf("error text %.60q", err.Error())
	}
	// Exactly MaxDepth levels of nesting are fine.
	v := any([]any{})
	for range MaxDepth {
		v = []any{v}
	}
	b, err := arr.Encode(v)
	if err != nil || len(b) != MaxDepth+1 {
		t.Fatalf("depth MaxDepth: %d bytes, %v", len(b), err)
	}
	if _, err := arr.Encode([]any{v}); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("depth MaxDepth+1: %v", err)
	}
}

func TestAppendAllocs(t *testing.T) {
	h := newHandTypes()
	v := msgValue(1234, Union{"Nothing", nil}, "Integer", AppendInteger(nil, 123456789))
	buf := make([]byte, 0, 64)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		if buf, err = h.msg.Append(buf[:0], v); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("Append into a reused buffer: %v allocations, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := h.msg.Encode(v); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("Encode: %v allocations, want 1", allocs)
	}
}

// TestTypedSlices checks that the typed-slice fast paths encode exactly as
// []any does, in binary and in SBS-JSON, and refuse a mismatched element
// type.
func TestTypedSlices(t *testing.T) {
	h := newHandTypes()
	arr := func(elem *Type) *Type {
		a := &Type{kind: KindArray, elem: elem}
		prepareTypes([]*Type{a})
		return a
	}
	point := h.shape.entries[2].Type
	cases := []struct {
		t     *Type
		typed any
		boxed []any
	}{
		{arr(h.integer), []int64{0, -65, 1 << 40}, []any{int64(0), int64(-65), int64(1 << 40)}},
		{arr(h.integer), []int{7, -1}, []any{int64(7), int64(-1)}},
		{arr(h.float), []float64{1.5, math.Inf(-1)}, []any{1.5, math.Inf(-1)}},
		{arr(h.boolean), []bool{true, false}, []any{true, false}},
		{arr(h.str), []string{"a", "\u65e5"}, []any{"a", "\u65e5"}},
		{arr(h.bytes), [][]byte{{1}, {}}, []any{[]byte{1}, []byte{}}},
		{arr(point), []map[string]any{{"x": 1.0, "y": 2.0}}, []any{map[string]any{"x": 1.0, "y": 2.0}}},
		{arr(h.maybeString), []Union{{"Just", "x"}, {"Nothing", nil}}, []any{Union{"Just", "x"}, Union{"Nothing", nil}}},
	}
	for _, c := range cases {
		want, err := c.t.Encode(c.boxed)
		if err != nil {
			t.Fatalf("%T: Encode([]any): %v", c.typed, err)
		}
		got, err := c.t.Encode(c.typed)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%T: Encode = %x, %v; want %x", c.typed, got, err, want)
		}
		wantJSON, _ := c.t.MarshalJSONValue(c.boxed)
		if gotJSON, err := c.t.MarshalJSONValue(c.typed); err != nil || !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("%T: MarshalJSONValue = %s, %v; want %s", c.typed, gotJSON, err, wantJSON)
		}
		// Every typed slice but the boxed ones is refused for an Array of
		// another element type.
		other := arr(h.none)
		if _, err := other.Encode(c.typed); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("%T as Array(None): %v", c.typed, err)
		}
		if _, err := other.MarshalJSONValue(c.typed); !errors.Is(err, ErrInvalidValue) {
			t.Errorf("%T as Array(None) JSON: %v", c.typed, err)
		}
	}
}
