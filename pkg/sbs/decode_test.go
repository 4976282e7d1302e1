package sbs

import (
	"errors"
	"io"
	"math"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// valueCmp compares decoded values: big integers by value, floats bit for
// bit (so -0.0 differs from 0.0) except that every NaN equals every NaN.
var valueCmp = cmp.Options{
	cmp.Comparer(func(a, b *big.Int) bool {
		if a == nil || b == nil {
			return a == b
		}
		return a.Cmp(b) == 0
	}),
	cmp.Comparer(func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || (math.IsNaN(a) && math.IsNaN(b))
	}),
}

func TestDecodeKnown(t *testing.T) {
	h := newHandTypes()
	cases := []struct {
		name string
		t    *Type
		hex  string
		want any
	}{
		{"false", h.boolean, "00", false},
		{"true", h.boolean, "01", true},
		{"int", h.integer, "7fbf", int64(-65)},
		{"int64 max", h.integer, "007f7f7f7f7f7f7f7fff", int64(math.MaxInt64)},
		{"int64 min", h.integer, "7f000000000000000080", int64(math.MinInt64)},
		{"big", h.integer, "01000000000000000080", bigInt("9223372036854775808")},
		{"big negative", h.integer, "7c0000000000000000000000000080", bigInt("-1267650600228229401496703205376")},
		{"float", h.float, "8000000000000000", math.Copysign(0, -1)},
		{"nan", h.float, "7ff8000000000001", math.NaN()},
		{"string", h.str, "83610062", "a\x00b"},
		{"bytes empty", h.bytes, "80", []byte{}},
		{"bytes", h.bytes, "82dead", []byte{0xde, 0xad}},
		{"none", h.none, "", nil},
		{"empty union", h.emptyUnion, "", nil},
		{"msg", h.msg, "8181010101818444656d6f844e6f7465868568656c6c6f",
			msgValue(1, Union{"Just", "Demo"}, "Note", []byte("\x85hello"))},
		{"list", h.intList, "81818182818380", Union{"Just", map[string]any{"head": int64(1), "tail": Union{"Just", map[string]any{
			"head": int64(2), "tail": Union{"Just", map[string]any{"head": int64(3), "tail": Union{"Nothing", nil}}}}}}}},
		{"ints empty", h.ints, "80", []any{}},
		{"nils", h.nils, "83", []any{nil, nil, nil}},
		{"shape", h.shape, "823ff00000000000004000000000000000", Union{"point", map[string]any{"x": 1.0, "y": 2.0}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := mustHex(t, c.hex)
			got, err := c.t.Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(c.want, got, valueCmp); diff != "" {
				t.Fatalf("Decode mismatch (-want +got):\n%s", diff)
			}
			again, err := c.t.Encode(got)
			if err != nil || string(again) != string(data) {
				t.Fatalf("re-encode = %x, %v", again, err)
			}
		})
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	h := newHandTypes()
	data := mustHex(t, "8181010101818444656d6f844e6f7465868568656c6c6f")
	v, err := h.msg.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for i := range data {
		data[i] = 0
	}
	want := msgValue(1, Union{"Just", "Demo"}, "Note", []byte("\x85hello"))
	if diff := cmp.Diff(want, v, valueCmp); diff != "" {
		t.Fatalf("value changed with the input (-want +got):\n%s", diff)
	}
}

func TestDecodeErrors(t *testing.T) {
	h := newHandTypes()
	cases := []struct {
		name   string
		t      *Type
		hex    string
		err    error
		text   string
		offset int
	}{
		{"empty integer", h.integer, "", io.ErrUnexpectedEOF, "Integer: unexpected EOF", 0},
		{"unterminated integer", h.integer, "0102", io.ErrUnexpectedEOF, "Integer: unexpected EOF", 0},
		{"non-minimal integer", h.integer, "0081", ErrNonMinimal, "Integer: non-minimal integer encoding", 0},
		{"boolean 2", h.boolean, "02", ErrInvalidBoolean, "Boolean: invalid boolean byte", 0},
		{"float short", h.float, "3ff00000000000", io.ErrUnexpectedEOF, "Float: unexpected EOF", 0},
		{"string utf8", h.str, "81ff", ErrInvalidUTF8, "String: invalid UTF-8 in string", 0},
		{"string past end", h.str, "85616263", ErrInvalidLength, "String: length past the end of the input", 0},
		{"string huge", h.str, "01000000000000000000806162", ErrInvalidLength, "String: length past the end of the input", 0},
		{"bytes negative", h.bytes, "ff6162", ErrInvalidLength, "Bytes: negative length -1", 0},
		{"bytes non-minimal length", h.bytes, "008161", ErrNonMinimal, "Bytes: non-minimal integer encoding", 0},
		{"trailing", h.integer, "8100", ErrTrailingBytes, "Integer: 1 trailing byte after the value", 1},
		{"trailing 2", h.boolean, "010000", ErrTrailingBytes, "Boolean: 2 trailing bytes after the value", 1},
		{"none trailing", h.none, "00", ErrTrailingBytes, "None: 1 trailing byte after the value", 0},
		{"msg union index", h.msg, "81810101018785", ErrUnionIndex, "Hat.Msg.data.module: union index 7 out of range", 5},
		{"msg union negative", h.msg, "8181010101ff85", ErrUnionIndex, "Hat.Msg.data.module: union index -1 out of range", 5},
		{"msg union huge", h.msg, "818101010101000000000000000000808180", ErrUnionIndex, "Hat.Msg.data.module: union index out of range", 5},
		{"msg truncated", h.msg, "8181010101", io.ErrUnexpectedEOF, "Hat.Msg.data.module: unexpected EOF", 5},
		{"msg in type", h.msg, "818101010181834261648449", ErrInvalidLength, "Hat.Msg.data.type: length past the end of the input", 10},
		{"msg just value", h.msg, "818101010181ff", ErrInvalidLength, "Hat.Msg.data.module.Just: negative length -1", 6},
		{"msg owner", h.msg, "818105", ErrInvalidBoolean, "Hat.Msg.owner: invalid boolean byte", 2},
		{"array element", h.ints, "8380810a", io.ErrUnexpectedEOF, "Test.Ints[2]: unexpected EOF", 3},
		{"array negative", h.ints, "ff", ErrInvalidLength, "Test.Ints: negative array count -1", 0},
		{"array non-minimal", h.ints, "008181", ErrNonMinimal, "Test.Ints: non-minimal integer encoding", 0},
		{"array count 2^40 on 10 bytes", h.ints, "20000000008080808080", ErrInvalidLength, "Test.Ints: array count 1099511627776 past the end of the input", 0},
		{"array count 2^70", h.ints, "01000000000000000000808080", ErrInvalidLength, "Test.Ints: array count past the end of the input", 0},
		{"array count one too many", h.strs, "838080", ErrInvalidLength, "Array: array count 3 past the end of the input", 0},
		{"zero-size count", h.nils, "040081", ErrInvalidLength, "Test.Nils: array count 65537: too many zero-size elements", 0},
		{"zero-size budget", h.nilsOfNils, "8204008081", ErrInvalidLength, "Array[1]: array count 1: too many zero-size elements", 4},
		{"tree", h.tree, "84726f6f748281618081", ErrInvalidLength, "Test.Tree.children[1].value: length past the end of the input", 9},
		{"infinite", h.infinite, "8080808080", io.ErrUnexpectedEOF, "Test.Infinite: type has no finite value", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.t.Decode(mustHex(t, c.hex))
			if v != nil {
				t.Errorf("Decode returned a value with the error: %v", v)
			}
			if !errors.Is(err, c.err) {
				t.Fatalf("Decode error %v, want %v", err, c.err)
			}
			var de *DataError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DataError", err)
			}
			if err.Error() != c.text {
				t.Errorf("error text\n got %q\nwant %q", err.Error(), c.text)
			}
			if de.Offset != c.offset {
				t.Errorf("offset %d, want %d", de.Offset, c.offset)
			}
		})
	}
}

func TestDecodeZeroSizeBudgetExact(t *testing.T) {
	h := newHandTypes()
	// MaxZeroSizeElements in one array is allowed...
	data := AppendInteger(nil, MaxZeroSizeElements)
	v, err := h.nils.Decode(data)
	if err != nil || len(v.([]any)) != MaxZeroSizeElements {
		t.Fatalf("Decode: %v", err)
	}
	// ...and across arrays, but not one more.
	data = AppendInteger(nil, 2)
	data = AppendInteger(data, MaxZeroSizeElements-1)
	data = AppendInteger(data, 1)
	if _, err := h.nilsOfNils.Decode(data); err != nil {
		t.Fatalf("Decode split budget: %v", err)
	}
	data = AppendInteger(nil, 2)
	data = AppendInteger(data, MaxZeroSizeElements)
	data = AppendInteger(data, 1)
	if _, err := h.nilsOfNils.Decode(data); !errors.Is(err, ErrInvalidLength) {
		t.Fatalf("Decode over budget: %v", err)
	}
}

func TestDecodeDepth(t *testing.T) {
	h := newHandTypes()
	// An IntList of n cells nests 2n+1 levels below the root.
	list := func(n int) []byte {
		var b []byte
		for range n {
			b = append(b, 0x81, 0x81) // Just, head 1
		}
		return append(b, 0x80) // Nothing
	}
	// The innermost None sits at depth 2n+1.
	const fits = (MaxDepth - 1) / 2
	if _, err := h.intList.Decode(list(fits)); err != nil {
		t.Fatalf("%d cells: %.100v", fits, err)
	}
	_, err := h.intList.Decode(list(fits + 1))
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("%d cells: %.100v", fits+1, err)
	}
	const want = "Test.IntList.Just.tail.Just.tail"
	if msg := err.Error(); !strings.HasPrefix(msg, want) || len(msg) > 1000 {
		t.Errorf("error text %.80q... (%d bytes)", msg, len(msg))
	}
}

func TestDecodeConcurrent(t *testing.T) {
	h := newHandTypes()
	data := mustHex(t, "8181010101818444656d6f844e6f7465868568656c6c6f")
	want := msgValue(1, Union{"Just", "Demo"}, "Note", []byte("\x85hello"))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				v, err := h.msg.Decode(data)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := h.msg.Encode(v); err != nil {
					t.Error(err)
					return
				}
				if !cmp.Equal(want, v, valueCmp) {
					t.Error("value mismatch")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestDecodeZeroSizeTuples(t *testing.T) {
	h := newHandTypes()
	// Z takes no bytes but decodes to a map; each one counts against the
	// budget, as does each array slot.
	z := &Type{kind: KindTuple, module: "Test", name: "Z", entries: []Entry{{"a", h.none}, {"b", h.emptyUnion}}}
	zs := &Type{kind: KindArray, module: "Test", name: "Zs", elem: z}
	// Doubling a zero-size Tuple 30 times: 2^30 maps from no input.
	huge := z
	for range 30 {
		huge = &Type{kind: KindTuple, entries: []Entry{{"l", huge}, {"r", huge}}}
	}
	prepareTypes([]*Type{zs, huge})
	if z.minSize != 0 || huge.minSize != 0 {
		t.Fatalf("minSize %d, %d", z.minSize, huge.minSize)
	}

	v, err := z.Decode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"a": nil, "b": nil}, v); diff != "" {
		t.Fatalf("Decode(Z) (-want +got):\n%s", diff)
	}
	if _, err := zs.Decode(AppendInteger(nil, MaxZeroSizeElements/2)); err != nil {
		t.Fatalf("half the budget: %v", err)
	}
	_, err = zs.Decode(AppendInteger(nil, MaxZeroSizeElements/2+1))
	if !errors.Is(err, ErrInvalidLength) || err.Error() != "Test.Zs[32767]: too many zero-size values" {
		t.Fatalf("over budget: %v", err)
	}
	if _, err := huge.Decode(nil); !errors.Is(err, ErrInvalidLength) {
		t.Fatalf("2^30 maps: %.100v", err)
	}
}
