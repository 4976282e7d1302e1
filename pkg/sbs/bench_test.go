package sbs

import (
	"testing"
)

const benchSchema = `module Bench

Point = Tuple { x: Float, y: Float }
Nested = Tuple {
    name: String
    points: Array(Point)
    tags: Array(String)
    child: Maybe(Nested)
}
`

const hatSchema = `module Hat

Msg = Tuple {
    id: Integer
    first: Integer
    owner: Boolean
    token: Boolean
    last: Boolean
    data: Data
}

Data = Tuple {
    module: Maybe(String)
    type: String
    data: Bytes
}
`

func benchRepo(b *testing.B) *Repository {
	b.Helper()
	r, err := NewRepository(Text(hatSchema), Text(benchSchema))
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func benchType(b *testing.B, r *Repository, module, name string) *Type {
	b.Helper()
	t, err := r.Type(module, name)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// benchMsg is a typical Chatter message: an Integer payload in data.data.
func benchMsg() map[string]any {
	return map[string]any{
		"id": int64(1234), "first": int64(1230), "owner": true, "token": true, "last": false,
		"data": map[string]any{
			"module": Union{Name: "Nothing"},
			"type":   "Integer",
			"data":   AppendInteger(nil, 123456789),
		},
	}
}

func benchNested() map[string]any {
	leaf := map[string]any{
		"name":   "leaf",
		"points": []any{map[string]any{"x": 1.0, "y": 2.0}},
		"tags":   []any{},
		"child":  Union{Name: "Nothing"},
	}
	return map[string]any{
		"name": "root",
		"points": []any{
			map[string]any{"x": 0.5, "y": -0.5},
			map[string]any{"x": 1.5, "y": 2.5},
			map[string]any{"x": 3.5, "y": 4.5},
		},
		"tags":  []any{"alpha", "beta", "gamma"},
		"child": Union{Name: "Just", Value: leaf},
	}
}

func benchEncode(b *testing.B, t *Type, v any) {
	buf, err := t.Append(nil, v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		buf, err = t.Append(buf[:0], v)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchDecode(b *testing.B, t *Type, v any) {
	data, err := t.Encode(v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := t.Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMsg(b *testing.B) {
	r := benchRepo(b)
	benchEncode(b, benchType(b, r, "Hat", "Msg"), benchMsg())
}

func BenchmarkEncodeMsgNewBuffer(b *testing.B) {
	r := benchRepo(b)
	benchEncodeNew(b, benchType(b, r, "Hat", "Msg"), benchMsg())
}

// benchEncodeNew encodes v into a new buffer each time: Size, then Append.
func benchEncodeNew(b *testing.B, t *Type, v any) {
	b.ReportAllocs()
	for range b.N {
		if _, err := t.Encode(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMsg(b *testing.B) {
	r := benchRepo(b)
	benchDecode(b, benchType(b, r, "Hat", "Msg"), benchMsg())
}

func BenchmarkEncodeInteger(b *testing.B) {
	r := benchRepo(b)
	benchEncode(b, benchType(b, r, "", "Integer"), int64(-123456789))
}

func BenchmarkDecodeInteger(b *testing.B) {
	r := benchRepo(b)
	benchDecode(b, benchType(b, r, "", "Integer"), int64(-123456789))
}

func BenchmarkEncodeBytes1K(b *testing.B) {
	r := benchRepo(b)
	benchEncode(b, benchType(b, r, "", "Bytes"), make([]byte, 1024))
}

func BenchmarkDecodeBytes1K(b *testing.B) {
	r := benchRepo(b)
	benchDecode(b, benchType(b, r, "", "Bytes"), make([]byte, 1024))
}

func BenchmarkEncodeNested(b *testing.B) {
	r := benchRepo(b)
	benchEncode(b, benchType(b, r, "Bench", "Nested"), benchNested())
}

func BenchmarkDecodeNested(b *testing.B) {
	r := benchRepo(b)
	benchDecode(b, benchType(b, r, "Bench", "Nested"), benchNested())
}

func BenchmarkMarshalJSONMsg(b *testing.B) {
	r := benchRepo(b)
	t, v := benchType(b, r, "Hat", "Msg"), benchMsg()
	buf, _ := t.AppendJSON(nil, v)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var err error
		if buf, err = t.AppendJSON(buf[:0], v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSONMsg(b *testing.B) {
	r := benchRepo(b)
	t := benchType(b, r, "Hat", "Msg")
	text, err := t.MarshalJSONValue(benchMsg())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := t.DecodeJSON(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSizeMsg(b *testing.B) {
	r := benchRepo(b)
	t, v := benchType(b, r, "Hat", "Msg"), benchMsg()
	b.ReportAllocs()
	for range b.N {
		if _, err := t.Size(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeNestedNewBuffer(b *testing.B) {
	r := benchRepo(b)
	benchEncodeNew(b, benchType(b, r, "Bench", "Nested"), benchNested())
}
