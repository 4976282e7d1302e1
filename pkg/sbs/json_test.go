package sbs

import (
	"errors"
	"io"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJSONWrite(t *testing.T) {
	h := newHandTypes()
	negZero := math.Copysign(0, -1)
	cases := []struct {
		name string
		t    *Type
		v    any
		want string
	}{
		{"true", h.boolean, true, `true`},
		{"int", h.integer, -65, `-65`},
		{"uint64", h.integer, uint64(math.MaxUint64), `18446744073709551615`},
		{"big", h.integer, bigInt("-1267650600228229401496703205376"), `-1267650600228229401496703205376`},
		{"float integral", h.float, 1.0, `1.0`},
		{"float neg zero", h.float, negZero, `-0.0`},
		{"float fraction", h.float, 0.1, `0.1`},
		{"float 1e15", h.float, 1e15, `1000000000000000.0`},
		{"float 1e16", h.float, 1e16, `1e+16`},
		{"float 1e-4", h.float, 1e-4, `0.0001`},
		{"float 1e-5", h.float, 1e-5, `1e-05`},
		{"float max", h.float, math.MaxFloat64, `1.7976931348623157e+308`},
		{"float subnormal", h.float, 5e-324, `5e-324`},
		{"float32", h.float, float32(0.5), `0.5`},
		{"nan", h.float, math.NaN(), `"NaN"`},
		{"inf", h.float, math.Inf(1), `"Infinity"`},
		{"-inf", h.float, math.Inf(-1), `"-Infinity"`},
		{"string escapes", h.str, "q\"b\\n\nt\tr\r\x00\x1f\u00e9\u2028", `"q\"b\\n\nt\tr\r\u0000\u001f` + "\u00e9\u2028" + `"`},
		{"bytes", h.bytes, []byte{0xde, 0xad, 0xbe, 0xef}, `"3q2+7w=="`},
		{"bytes empty", h.bytes, []byte(nil), `""`},
		{"none", h.none, nil, `null`},
		{"empty union", h.emptyUnion, nil, `null`},
		{"msg", h.msg, msgValue(1, Union{"Nothing", nil}, "T", []byte{1}),
			`{"id":1,"first":1,"owner":true,"token":true,"last":true,"data":{"module":["Nothing",null],"type":"T","data":"AQ=="}}`},
		{"ints typed", h.ints, []int64{1, -1}, `[1,-1]`},
		{"ints int", h.ints, []int{1, -1}, `[1,-1]`},
		{"ints empty", h.ints, []any{}, `[]`},
		{"strs", h.strs, []string{"a", ""}, `["a",""]`},
		{"nils", h.nils, []any{nil, nil}, `[null,null]`},
		{"shapes", &Type{kind: KindArray, elem: h.shape}, []Union{{"dot", nil}, {"point", map[string]any{"x": 1.5, "y": negZero}}},
			`[["dot",null],["point",{"x":1.5,"y":-0.0}]]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.t.AppendJSON([]byte("> "), c.v)
			if err != nil || string(got) != "> "+c.want {
				t.Fatalf("AppendJSON = %s, %v\nwant %s", got, err, c.want)
			}
			v, err := c.t.DecodeJSON([]byte(c.want))
			if err != nil {
				t.Fatalf("DecodeJSON: %v", err)
			}
			again, err := c.t.MarshalJSONValue(v)
			if err != nil || string(again) != c.want {
				t.Fatalf("MarshalJSONValue(DecodeJSON) = %s, %v", again, err)
			}
		})
	}
}

func TestJSONWriteErrors(t *testing.T) {
	h := newHandTypes()
	cases := []struct {
		name string
		t    *Type
		v    any
		err  error
		text string
	}{
		{"bool", h.boolean, "x", ErrInvalidValue, "Boolean: cannot use Go string as Boolean"},
		{"utf8", h.str, "\xff", ErrInvalidUTF8, "String: invalid UTF-8 in string"},
		{"missing", h.msg, map[string]any{}, ErrInvalidValue, "Hat.Msg.id: missing entry"},
		{"extra", h.none, map[string]any{"x": 1}, ErrInvalidValue, "None: cannot use Go map[string]interface {} as None"},
		{"union", h.maybeString, Union{"Just", 1}, ErrInvalidValue, "Maybe(String).Just: cannot use Go int as String"},
		{"element", h.ints, []any{1, 2.5}, ErrInvalidValue, "Test.Ints[1]: cannot use Go float64 as Integer"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.t.AppendJSON([]byte("x"), c.v)
			if !errors.Is(err, c.err) || err.Error() != c.text {
				t.Fatalf("error %q, want %q", err, c.text)
			}
			if string(got) != "x" {
				t.Errorf("AppendJSON grew dst on error: %q", got)
			}
		})
	}
}

func TestJSONRead(t *testing.T) {
	h := newHandTypes()
	cases := []struct {
		name string
		t    *Type
		text string
		want any
	}{
		{"int64 max", h.integer, `9223372036854775807`, int64(math.MaxInt64)},
		{"int64 min", h.integer, `-9223372036854775808`, int64(math.MinInt64)},
		{"big", h.integer, `9223372036854775808`, bigInt("9223372036854775808")},
		{"negative zero integer", h.integer, `-0`, int64(0)},
		{"float from integer", h.float, `2`, 2.0},
		{"float exponent", h.float, `1E2`, 100.0},
		{"float neg zero", h.float, `-0`, math.Copysign(0, -1)},
		{"float underflow", h.float, `1e-400`, 0.0},
		{"string nul", h.str, `"a\u0000b"`, "a\x00b"},
		{"string surrogate pair", h.str, `"\ud83d\ude00"`, "\U0001F600"},
		{"bytes", h.bytes, `"AAE="`, []byte{0, 1}},
		{"bytes empty", h.bytes, `""`, []byte{}},
		{"tuple any order", h.data, ` { "data" : "" , "type":"t", "module":["Just","m"] } `,
			map[string]any{"module": Union{"Just", "m"}, "type": "t", "data": []byte{}}},
		{"array", h.ints, `[1, 2]`, []any{int64(1), int64(2)}},
		{"array empty", h.ints, `[]`, []any{}},
		{"list", h.intList, `["Just", {"head": 1, "tail": ["Nothing", null]}]`,
			Union{"Just", map[string]any{"head": int64(1), "tail": Union{"Nothing", nil}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.t.DecodeJSON([]byte(c.text))
			if err != nil {
				t.Fatalf("DecodeJSON: %v", err)
			}
			if diff := cmp.Diff(c.want, got, valueCmp); diff != "" {
				t.Fatalf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("NaN is the original's NaN", func(t *testing.T) {
		v, err := h.float.DecodeJSON([]byte(`"NaN"`))
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := h.float.Encode(v); string(b) != "\x7f\xf8\x00\x00\x00\x00\x00\x00" {
			t.Fatalf("NaN encodes as %x", b)
		}
	})
}

func TestJSONReadErrors(t *testing.T) {
	h := newHandTypes()
	cases := []struct {
		name   string
		t      *Type
		text   string
		err    error
		msg    string
		offset int
	}{
		{"empty", h.integer, ``, io.ErrUnexpectedEOF, "Integer: unexpected EOF", 0},
		{"syntax", h.ints, `[1,,2]`, ErrInvalidJSON, "Test.Ints[1]: invalid character ',' looking for beginning of value", 3},
		{"trailing", h.integer, `1 2`, ErrInvalidJSON, "Integer: data after the value", 2},
		{"bool as int", h.boolean, `1`, ErrInvalidValue, `Boolean: cannot read JSON number "1" as Boolean`, 0},
		{"fraction for integer", h.integer, `1.0`, ErrInvalidValue, `Integer: number "1.0" is not an Integer`, 0},
		{"exponent for integer", h.integer, `1e3`, ErrInvalidValue, `Integer: number "1e3" is not an Integer`, 0},
		{"string for integer", h.integer, `"1"`, ErrInvalidValue, `Integer: cannot read JSON string "1" as Integer`, 0},
		{"float overflow", h.float, `1e400`, ErrInvalidValue, `Float: number "1e400" out of Float range`, 0},
		{"float bad string", h.float, `"nan"`, ErrInvalidValue, `Float: cannot read JSON string "nan" as Float`, 0},
		{"bytes bad base64", h.bytes, `"AAE"`, ErrInvalidValue, "Bytes: invalid base64 for Bytes", 0},
		{"bytes padding bits", h.bytes, `"AAF="`, ErrInvalidValue, "Bytes: invalid base64 for Bytes", 0},
		{"bytes newline", h.bytes, `"AA\nE="`, ErrInvalidValue, "Bytes: invalid base64 for Bytes", 0},
		{"none not null", h.none, `{}`, ErrInvalidValue, "None: cannot read JSON object as None", 0},
		{"empty union not null", h.emptyUnion, `[]`, ErrInvalidValue, "Test.EmptyUnion: cannot read JSON array as Test.EmptyUnion", 0},
		{"tuple as array", h.msg, `[]`, ErrInvalidValue, "Hat.Msg: cannot read JSON array as Hat.Msg", 0},
		{"tuple unknown entry", h.data, `{"nope": 1}`, ErrInvalidValue, `Hat.Data: unexpected entry "nope"`, 1},
		{"tuple duplicate", h.data, `{"type": "a", "type": "b"}`, ErrInvalidValue, `Hat.Data: duplicate entry "type"`, 14},
		{"tuple missing", h.data, `{"type": "a", "data": ""}`, ErrInvalidValue, "Hat.Data.module: missing entry", 0},
		{"tuple nested", h.msg, `{"id": 1, "first": 1, "owner": true, "token": true, "last": true, "data": {"module": ["Just", 5]}}`,
			ErrInvalidValue, `Hat.Msg.data.module.Just: cannot read JSON number "5" as String`, 94},
		{"union object", h.maybeString, `{"Just": "x"}`, ErrInvalidValue, "Maybe(String): cannot read JSON object as Maybe(String)", 0},
		{"union empty array", h.maybeString, `[]`, ErrInvalidValue, "Maybe(String): a Union is [entryName, value]", 1},
		{"union name only", h.maybeString, `["Nothing"]`, ErrInvalidValue, "Maybe(String): a Union is [entryName, value]", 0},
		{"union three", h.maybeString, `["Nothing", null, 1]`, ErrInvalidValue, "Maybe(String): a Union is [entryName, value]", 18},
		{"union bad name", h.maybeString, `["Some", 1]`, ErrInvalidValue, `Maybe(String): no entry named "Some"`, 1},
		{"union name not string", h.maybeString, `[1, 1]`, ErrInvalidValue, "Maybe(String): a Union is [entryName, value]", 1},
		{"array element", h.ints, `[1, true]`, ErrInvalidValue, "Test.Ints[1]: cannot read JSON true as Integer", 4},
		{"array unclosed", h.ints, `[1`, io.ErrUnexpectedEOF, "Test.Ints: unexpected EOF", 2},
		{"infinite", h.infinite, `{"x": 1, "t": {"x": 2, "t": null}}`, ErrInvalidValue, "Test.Infinite.t.t: cannot read JSON null as Test.Infinite", 28},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := c.t.DecodeJSON([]byte(c.text))
			if v != nil || !errors.Is(err, c.err) {
				t.Fatalf("DecodeJSON = %v, %v; want error %v", v, err, c.err)
			}
			var de *DataError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DataError", err)
			}
			if err.Error() != c.msg {
				t.Errorf("error text\n got %q\nwant %q", err.Error(), c.msg)
			}
			if de.Offset != c.offset {
				t.Errorf("offset %d, want %d", de.Offset, c.offset)
			}
		})
	}
}

func TestJSONReadDepth(t *testing.T) {
	h := newHandTypes()
	deep := strings.Repeat(`{"value":"x","children":[`, MaxDepth) + strings.Repeat(`]}`, MaxDepth)
	_, err := h.tree.DecodeJSON([]byte(deep))
	if !errors.Is(err, ErrTooDeep) {
		t.Fatalf("deep JSON: %.100v", err)
	}
	if len(err.Error()) > 1000 {
		t.Errorf("error text is %d bytes long", len(err.Error()))
	}
}

func TestJSONBigIntegerExact(t *testing.T) {
	h := newHandTypes()
	for _, s := range []string{"1267650600228229401496703205376", "-1267650600228229401496703205377", "9223372036854775807"} {
		v, err := h.integer.DecodeJSON([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		j, err := h.integer.MarshalJSONValue(v)
		if err != nil || string(j) != s {
			t.Fatalf("%s: wrote %s, %v", s, j, err)
		}
		if x, ok := v.(*big.Int); ok && x.IsInt64() {
			t.Errorf("%s decoded as *big.Int although it fits int64", s)
		}
	}
}
