package sbs

import (
	"bytes"
	"errors"
	"maps"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Go types for the vectors' schemas, written by hand as an application
// would.
type (
	bindHatMsg struct {
		ID    int64
		First int64
		Owner bool
		Token bool
		Last  bool
		Data  bindHatData
	}
	bindHatData struct {
		Module *string
		Type   string
		Data   []byte
	}
	bindPerson struct {
		Name   string
		Age    int
		Email  *string
		Tags   []string
		Photo  []byte
		Active bool
		cache  int    // unexported: ignored
		Note   string `sbs:"-"`
	}
	bindPoint struct{ X, Y float64 }
	bindShape struct {
		Circle *struct {
			Center bindPoint
			Radius float64
		}
		Square *struct {
			Corner bindPoint
			Side   float32
		}
		Dot   *struct{}
		Label *string
	}
	bindCell struct {
		Head int64
		Tail *bindCell
	}
	bindTree struct {
		Value    string
		Children []bindTree
	}
	bindNested struct {
		Inner struct {
			A int8
			B struct{ C string }
		}
		Nothing struct{}
		Empty   struct{}
		After   uint16
	}
	bindKeywords struct {
		Mod   int64  `sbs:"module"`
		Int   string `sbs:"Integer"`
		Tuple bool
	}
	bindUnder struct {
		Field1 int64
		X2     string
	}
	bindPairOfPairs struct {
		First struct {
			First  bool
			Second float64
		}
		Second *[]byte
	}
	bindEntry[V any] struct {
		Key   string
		Value V
	}
	bindCollection struct {
		Empty   *struct{}
		Boolean *[]bindEntry[bool]
		Integer *[]bindEntry[*big.Int]
		Float   *[]bindEntry[float64]
		String  *[]bindEntry[string]
		Bytes   *[]bindEntry[[]byte]
	}
	bindLines struct {
		A int64
		B string
	}
)

var _ = bindPerson{}.cache // present to be ignored

// bindTypes gives, for each module.type of the vectors, a new Go value to
// decode into.
var bindTypes = map[string]func() any{
	"Boolean":               func() any { return new(bool) },
	"Integer":               func() any { return new(*big.Int) },
	"Float":                 func() any { return new(float64) },
	"String":                func() any { return new(string) },
	"Bytes":                 func() any { return new([]byte) },
	"None":                  func() any { return new(struct{}) },
	"Hat.Msg":               func() any { return new(bindHatMsg) },
	"Hat.Data":              func() any { return new(bindHatData) },
	"HatPing.MsgPing":       func() any { return new(struct{}) },
	"HatPing.MsgPong":       func() any { return new(struct{}) },
	"Test.Bool":             func() any { return new(bool) },
	"Test.Int":              func() any { return new(int64) },
	"Test.IntAlias2":        func() any { return new(int32) },
	"Test.Real":             func() any { return new(float64) },
	"Test.Str":              func() any { return new(string) },
	"Test.Blob":             func() any { return new([]byte) },
	"Test.Nil":              func() any { return new(struct{}) },
	"Test.EmptyTuple":       func() any { return new(struct{}) },
	"Test.EmptyUnion":       func() any { return new(struct{}) },
	"Test.Ints":             func() any { return new([]int64) },
	"Test.IntMatrix":        func() any { return new([][]int) },
	"Test.StrArray":         func() any { return new([]string) },
	"Test.Blobs":            func() any { return new([][]byte) },
	"Test.Bools":            func() any { return new([]bool) },
	"Test.Nils":             func() any { return new([]struct{}) },
	"Test.MaybeInt":         func() any { return new(*int64) },
	"Test.MaybeMaybeInt":    func() any { return new(**int64) },
	"Test.MaybeInts":        func() any { return new([]*int64) },
	"Test.Point":            func() any { return new(bindPoint) },
	"Test.Points":           func() any { return new([]bindPoint) },
	"Test.Person":           func() any { return new(bindPerson) },
	"Test.Nested":           func() any { return new(bindNested) },
	"Test.Shape":            func() any { return new(bindShape) },
	"Test.Shapes":           func() any { return new([]bindShape) },
	"Test.Single":           func() any { return new(struct{ Only int64 }) },
	"Test.OneOf":            func() any { return new(struct{ Only *int64 }) },
	"Test.IntList":          func() any { return new(*bindCell) },
	"Test.Tree":             func() any { return new(bindTree) },
	"Test.IntStrPair":       func() any { return new(struct{ First, Second any }) }, // refused: see below
	"Test.PairOfPairs":      func() any { return new(bindPairOfPairs) },
	"Test.TaggedInt":        func() any { return new(struct{ Tag, Value string }) }, // refused
	"Test.WrapInt":          func() any { return new(struct{ V int64 }) },
	"Test.Keywords":         func() any { return new(bindKeywords) },
	"Test.Type_With_Under2": func() any { return new(bindUnder) },
	"Other.UsesTest":        func() any { return new(bindPerson) },
	"Other.MsgRef":          func() any { return new(bindHatMsg) },
	"Other.MaybeData":       func() any { return new(*bindHatData) },
	"Example.IntKeyed":      func() any { return new(bindCollection) },
	"Example.StrKeyed":      func() any { return new(bindCollection) },
	"Example.MaybeEntries":  func() any { return new([]*bindEntry[int64]) },
	"Lines.T":               func() any { return new(bindLines) },
}

// refusedBindings are entries of bindTypes that must not compile.
var refusedBindings = map[string]string{
	"Test.IntStrPair":  "sbs: binding struct { First interface {}; Second interface {} } to Test.IntStrPair: .First: want int64 (Integer), have interface {}",
	"Test.TaggedInt":   "sbs: binding struct { Tag string; Value string } to Test.TaggedInt: .Value: want int64 (Test.Int), have string",
	"Example.IntKeyed": "sbs: binding sbs.bindCollection to Example.IntKeyed: .Boolean[].Key: want int64 (Integer), have string",
}

func vectorKey(c *vectorCase) string {
	if c.Module == nil {
		return c.Type
	}
	return *c.Module + "." + c.Type
}

// TestBindVectors decodes every valid vector it has a Go type for through
// a binding, and encodes the result back to the same bytes.
func TestBindVectors(t *testing.T) {
	f, r := loadVectors(t, validVectors)
	covered := 0
	for _, c := range f.Cases {
		mk, ok := bindTypes[vectorKey(&c)]
		if !ok {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			typ := c.typ(t, r)
			data := mustHex(t, c.Hex)
			v := mk()
			err := Unmarshal(typ, data, v)
			if want, refused := refusedBindings[vectorKey(&c)]; refused {
				var be *BindError
				if !errors.As(err, &be) || !errors.Is(err, ErrBinding) || err.Error() != want {
					t.Fatalf("Unmarshal error = %v\nwant %s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			covered++
			got, err := Marshal(typ, v)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("Marshal = %x\nwant      %x", got, data)
			}
			// The value itself (not a pointer, which Marshal would follow)
			// encodes the same.
			if elem := reflect.ValueOf(v).Elem(); elem.Kind() == reflect.Pointer {
				return
			}
			if got, err := Marshal(typ, reflect.ValueOf(v).Elem().Interface()); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Marshal(value) = %x, %v", got, err)
			}
		})
	}
	if covered < 90 {
		t.Errorf("only %d vectors went through bindings", covered)
	}
}

// TestBindInvalidVectors: every invalid and lenient input fails through a
// binding exactly as through the dynamic decoder: same sentinel, path,
// offset and message.
func TestBindInvalidVectors(t *testing.T) {
	f, r := loadVectors(t, invalidDataVectors)
	types := map[string]func() any{
		"Boolean": func() any { return new(bool) }, "Integer": func() any { return new(*big.Int) },
		"Float": func() any { return new(float64) }, "String": func() any { return new(string) },
		"Bytes": func() any { return new([]byte) }, "None": func() any { return new(struct{}) },
		"Hat.Msg": func() any { return new(bindHatMsg) },
		"Bad.U": func() any {
			return new(struct {
				A *int64
				B *string
			})
		},
		"Bad.Pair": func() any {
			return new(struct {
				S string
				I int64
			})
		},
		"Bad.BytesThenInt": func() any {
			return new(struct {
				B []byte
				I int64
			})
		},
		"Bad.BytesThenFloat": func() any {
			return new(struct {
				B []byte
				F float64
			})
		},
		"Bad.Ints":     func() any { return new([]int64) },
		"Bad.Strs":     func() any { return new([]string) },
		"Bad.MaybeInt": func() any { return new(*int64) },
	}
	for _, c := range append(f.Cases, f.Lenient...) {
		t.Run(c.Name, func(t *testing.T) {
			mk, ok := types[vectorKey(&c)]
			if !ok {
				t.Fatalf("no Go type for %s", vectorKey(&c))
			}
			typ := c.typ(t, r)
			data := mustHex(t, c.Hex)
			_, want := typ.Decode(data)
			got := Unmarshal(typ, data, mk())
			if want == nil || got == nil {
				t.Fatalf("Decode error %v, Unmarshal error %v; want both to fail (%s)", want, got, c.Why)
			}
			var wd, gd *DataError
			if !errors.As(want, &wd) || !errors.As(got, &gd) {
				t.Fatalf("errors %T, %T are not *DataError", want, got)
			}
			if gd.Err != wd.Err || gd.Path != wd.Path || gd.Offset != wd.Offset || got.Error() != want.Error() {
				t.Errorf("Unmarshal error %q (offset %d)\nDecode error    %q (offset %d)", got, gd.Offset, want, wd.Offset)
			}
		})
	}
}

const bindSchema = `module B
Msg = Tuple { id: Integer, data: Data }
Data = Tuple { module: Maybe(String), type: String }
U = Union { a: Integer, b: String, c: None }
Ints = Array(Integer)
Opt = Optional(Integer)
Inf = Tuple { t: Inf }
`

var bindRepo = MustRepository(NamedText("b.sbs", bindSchema))

func bindType(t testing.TB, name string) *Type {
	t.Helper()
	typ, err := bindRepo.Type("B", name)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

func TestBindErrors(t *testing.T) {
	type data struct {
		Module *string
		Type   string
	}
	tests := []struct {
		name string
		typ  string
		v    any
		want string
	}{
		{"wrong kind", "Msg", new(struct {
			ID   int64
			Data struct {
				Module int
				Type   string
			}
		}), "sbs: binding struct { ID int64; Data struct { Module int; Type string } } to B.Msg: .Data.Module: want *string (Maybe(String)), have int"},
		{"missing entry", "Msg", new(struct{ ID int64 }), `sbs: binding struct { ID int64 } to B.Msg: no field for entry "data" (struct)`},
		{"extra field", "Msg", new(struct {
			ID    int64
			Data  data
			Extra bool
		}), "sbs: binding struct { ID int64; Data sbs.data; Extra bool } to B.Msg: .Extra: matches no entry of B.Msg (tag it `sbs:\"-\"` to skip it)"},
		{"unexported", "Msg", new(struct {
			id   int64
			Data data
		}), `sbs: binding struct { id int64; Data sbs.data } to B.Msg: .id: field for entry "id" is unexported`},
		{"unexported tagged", "Msg", new(struct {
			id   int64 `sbs:"id"`
			Data data
		}), `sbs: binding struct { id int64 "sbs:\"id\""; Data sbs.data } to B.Msg: .id: unexported field with an sbs tag`},
		{"bad tag", "Msg", new(struct {
			ID   int64 `sbs:"ident"`
			Data data
		}), `sbs: binding struct { ID int64 "sbs:\"ident\""; Data sbs.data } to B.Msg: .ID: tag names no entry of B.Msg: "ident"`},
		{"two fields", "Msg", new(struct {
			ID   int64
			Id2  int64 `sbs:"id"`
			Data data
		}), `sbs: binding struct { ID int64; Id2 int64 "sbs:\"id\""; Data sbs.data } to B.Msg: .ID: matches no entry of B.Msg (tag it ` + "`sbs:\"-\"`" + ` to skip it)`},
		{"union non-pointer", "U", new(struct {
			A int64
			B *string
			C *struct{}
		}), "sbs: binding struct { A int64; B *string; C *struct {} } to B.U: .A: a union's fields must be pointers: want *int64 (Integer), have int64"},
		{"union missing", "U", new(struct {
			A *int64
			B *string
		}), `sbs: binding struct { A *int64; B *string } to B.U: no field for entry "c" (struct{})`},
		{"slice elem", "Ints", new([]string), "sbs: binding []string to B.Ints: []: want int64 (Integer), have string"},
		{"pointer for tuple", "Msg", new(*struct{}), "sbs: binding *struct {} to B.Msg: want struct (B.Msg), have *struct {}"},
		{"no finite value", "Inf", new(struct{ T struct{} }), "sbs: binding struct { T struct {} } to B.Inf: B.Inf has no finite value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Marshal(bindType(t, tt.typ), tt.v)
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrBinding) {
				t.Errorf("error = %v\nwant    %s", err, tt.want)
			}
			// Cached: the same error again.
			if err2 := Unmarshal(bindType(t, tt.typ), nil, tt.v); err2 == nil || err2.Error() != tt.want {
				t.Errorf("second error = %v", err2)
			}
		})
	}
}

func TestBindIntegers(t *testing.T) {
	typ := bindType(t, "Ints")
	enc := func(v []int64) []byte {
		b, err := typ.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	check := func(name string, v any, data []byte, wantErr bool) {
		t.Helper()
		err := Unmarshal(typ, data, v)
		if wantErr {
			var de *DataError
			if !errors.Is(err, ErrOverflow) || !errors.As(err, &de) || de.Path != "B.Ints[1]" || de.Offset != 2 {
				t.Errorf("%s: error = %v, want overflow at B.Ints[1] offset 2", name, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := Marshal(typ, v)
		if err != nil || !bytes.Equal(back, data) {
			t.Errorf("%s: Marshal = %x, %v; want %x", name, back, err, data)
		}
	}
	check("int8", new([]int8), enc([]int64{0, -128, 127}), false)
	check("int8 over", new([]int8), enc([]int64{0, 128}), true)
	check("int8 under", new([]int8), enc([]int64{0, -129}), true)
	check("uint8 neg", new([]uint16), enc([]int64{0, -1}), true)
	check("int16", new([]int16), enc([]int64{0, math.MinInt16, math.MaxInt16}), false)
	check("int32 over", new([]int32), enc([]int64{0, math.MaxInt32 + 1}), true)
	check("uint32", new([]uint32), enc([]int64{0, math.MaxUint32}), false)
	check("int", new([]int), enc([]int64{0, math.MinInt64, math.MaxInt64}), false)

	// uint64 beyond int64 goes through big integers.
	big64 := new(big.Int).SetUint64(math.MaxUint64)
	data, err := typ.Encode([]any{int64(0), big64})
	if err != nil {
		t.Fatal(err)
	}
	check("uint64 max", new([]uint64), data, false)
	check("int64 over", new([]int64), data, true)
	check("uint32 big over", new([]uint32), data, true)
	over, err := typ.Encode([]any{int64(0), new(big.Int).Lsh(big64, 1)})
	if err != nil {
		t.Fatal(err)
	}
	check("uint64 over", new([]uint64), over, true)
	check("big", new([]*big.Int), over, false)
	if _, err := Marshal(typ, []*big.Int{nil}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("nil *big.Int: %v", err)
	}
}

func TestBindUnionSet(t *testing.T) {
	type u struct {
		A *int64
		B *string
		C *struct{}
	}
	b, err := Bind[u](bindType(t, "U"))
	if err != nil {
		t.Fatal(err)
	}
	one, s := int64(1), "x"
	for _, tt := range []struct {
		v    u
		want string
	}{
		{u{}, "B.U: no entry set"},
		{u{A: &one, B: &s}, `B.U: entries "a" and "b" both set`},
	} {
		if _, err := b.Marshal(&tt.v); !errors.Is(err, ErrInvalidValue) || err.Error() != tt.want {
			t.Errorf("Marshal(%+v) error = %v, want %s", tt.v, err, tt.want)
		}
	}
	data, err := b.Marshal(&u{C: &struct{}{}})
	if err != nil || !bytes.Equal(data, []byte{0x82}) {
		t.Fatalf("Marshal(C) = %x, %v", data, err)
	}
	// Decoding clears the other fields.
	v := u{A: &one}
	if err := b.Unmarshal(data, &v); err != nil || v.A != nil || v.C == nil {
		t.Fatalf("Unmarshal = %+v, %v", v, err)
	}
}

func TestBindOptionalAndStrings(t *testing.T) {
	// Optional is Maybe in the later dialect.
	b, err := Bind[*int32](bindType(t, "Opt"))
	if err != nil {
		t.Fatal(err)
	}
	seven := int32(7)
	for _, v := range []*int32{nil, &seven} {
		data, err := b.Marshal(&v)
		if err != nil {
			t.Fatal(err)
		}
		var back *int32
		if err := b.Unmarshal(data, &back); err != nil || !cmp.Equal(back, v) {
			t.Fatalf("round trip of %v: %v, %v", v, back, err)
		}
	}
	type data struct {
		Module *string
		Type   string
	}
	type msg struct {
		ID   int64
		Data data
	}
	mb, err := Bind[msg](bindType(t, "Msg"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = mb.Marshal(&msg{Data: data{Type: "\xff"}})
	var de *DataError
	if !errors.Is(err, ErrInvalidUTF8) || !errors.As(err, &de) || de.Path != "B.Msg.data.type" {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if _, err := mb.Marshal(nil); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Marshal(nil): %v", err)
	}
	if err := Unmarshal(bindType(t, "Msg"), nil, msg{}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Unmarshal into a non-pointer: %v", err)
	}
	// Append keeps what dst held.
	out, err := mb.Append([]byte{0xaa}, &msg{ID: 1, Data: data{Type: "t"}})
	if err != nil || !bytes.Equal(out, []byte{0xaa, 0x81, 0x80, 0x81, 't'}) {
		t.Errorf("Append = %x, %v", out, err)
	}
}

// TestBindDepth: recursion deeper than MaxDepth fails as in the dynamic
// codec, in both directions.
func TestBindDepth(t *testing.T) {
	_, r := loadVectors(t, validVectors)
	typ, err := r.Type("Test", "IntList")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Bind[*bindCell](typ)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{MaxDepth/2 - 1, MaxDepth / 2, MaxDepth/2 + 1} {
		var list *bindCell
		for i := range n {
			list = &bindCell{Head: int64(i), Tail: list}
		}
		_, encErr := b.Marshal(&list)
		data := bytes.Repeat([]byte{0x81, 0x80}, n)
		data = append(data, 0x80)
		_, want := typ.Decode(data)
		var back *bindCell
		got := b.Unmarshal(data, &back)
		if (want == nil) != (got == nil) || (want != nil && got.Error() != want.Error()) {
			t.Fatalf("n=%d: Unmarshal error %v, Decode error %v", n, got, want)
		}
		if (encErr == nil) != (want == nil) {
			t.Fatalf("n=%d: Marshal error %v, Decode error %v", n, encErr, want)
		}
		if want != nil && (!errors.Is(got, ErrTooDeep) || !errors.Is(encErr, ErrTooDeep)) {
			t.Fatalf("n=%d: errors %v, %v", n, got, encErr)
		}
		if want != nil && !strings.Contains(got.Error(), "...") {
			t.Fatalf("n=%d: long path not shortened: %.200s", n, got)
		}
	}
	// A cycle in the Go value is caught by the depth limit too.
	cyc := &bindCell{}
	cyc.Tail = cyc
	if _, err := b.Marshal(&cyc); !errors.Is(err, ErrTooDeep) {
		t.Errorf("cyclic list: %v", err)
	}
}

func TestBindConcurrent(t *testing.T) {
	typ := bindType(t, "Msg")
	type data struct {
		Module *string
		Type   string
	}
	type msg struct {
		ID   int64
		Data data
	}
	done := make(chan error)
	for i := range 4 {
		go func() {
			v := msg{ID: int64(i), Data: data{Type: "x"}}
			b, err := Marshal(typ, &v)
			if err == nil {
				var back msg
				err = Unmarshal(typ, b, &back)
				if err == nil && back != v {
					err = errors.New("round trip differs")
				}
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// A map with string keys binds a Tuple whose entries all bind its values.
func TestBindMapTuple(t *testing.T) {
	repo := MustRepository(Text(`module M
P = Tuple { x: Integer, y: Integer }
Mixed = Tuple { a: Integer, b: String }
Nested = Tuple { a: Array(Integer), b: Array(Integer) }
`))
	ty := func(n string) *Type {
		typ, err := repo.Type("M", n)
		if err != nil {
			t.Fatal(err)
		}
		return typ
	}
	m := map[string]int16{"x": 3, "y": -4}
	b, err := Marshal(ty("P"), m)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ty("P").Encode(map[string]any{"x": int64(3), "y": int64(-4)})
	if !bytes.Equal(b, want) {
		t.Errorf("map encodes as %x, the dynamic value as %x", b, want)
	}
	var back map[string]int16
	if err := Unmarshal(ty("P"), b, &back); err != nil || !maps.Equal(back, m) {
		t.Errorf("Unmarshal = %v, %v", back, err)
	}
	nested := map[string][]int{"a": {1}, "b": {}}
	b, err = Marshal(ty("Nested"), nested)
	var nestedBack map[string][]int
	if err != nil || Unmarshal(ty("Nested"), b, &nestedBack) != nil || len(nestedBack["a"]) != 1 || nestedBack["b"] == nil {
		t.Errorf("nested: %v, %v", nestedBack, err)
	}
	// An overflow on decode names the entry.
	big, _ := ty("P").Encode(map[string]any{"x": int64(1), "y": int64(1 << 20)})
	if err := Unmarshal(ty("P"), big, &back); !errors.Is(err, ErrOverflow) || !strings.Contains(err.Error(), "y") {
		t.Errorf("overflow: %v", err)
	}
	for _, tc := range []struct {
		name string
		typ  string
		v    any
		want error
	}{
		{"missing entry", "P", map[string]int64{"x": 1}, ErrInvalidValue},
		{"extra key", "P", map[string]int64{"x": 1, "y": 2, "z": 3}, ErrInvalidValue},
		{"entries of mixed types", "Mixed", map[string]int64{"a": 1, "b": 2}, ErrBinding},
		{"keys not strings", "P", map[int]int64{1: 1, 2: 2}, ErrBinding},
	} {
		if _, err := Marshal(ty(tc.typ), tc.v); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
