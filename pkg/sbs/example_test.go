package sbs_test

import (
	"errors"
	"fmt"

	"github.com/gochatter/gochatter/pkg/sbs"
)

const demoSchema = `module Demo

Point = Tuple { x: Integer, y: Integer }
Shape = Union {
    dot: Point
    label: String
    nothing: None
}
Drawing = Tuple { title: Maybe(String), shapes: Array(Shape) }
`

// Encode a value, decode it back, and print both forms.
func Example() {
	r := sbs.MustRepository(sbs.Text(demoSchema))

	drawing := map[string]any{
		"title": sbs.Union{Name: "Just", Value: "demo"},
		"shapes": []any{
			sbs.Union{Name: "dot", Value: map[string]any{"x": 1, "y": -2}},
			sbs.Union{Name: "label", Value: "hi"},
			sbs.Union{Name: "nothing"},
		},
	}
	data, err := r.Encode("Demo", "Drawing", drawing)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%x\n", data)

	v, err := r.Decode("Demo", "Drawing", data)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Tuples decode to maps (fmt prints their keys sorted), Unions to
	// sbs.Union, Integers to int64.
	fmt.Printf("%v\n", v)
	// Output:
	// 818464656d6f838081fe8182686982
	// map[shapes:[{dot map[x:1 y:-2]} {label hi} {nothing <nil>}] title:{Just demo}]
}

// SBS-JSON is directed by the type: Tuples are objects in schema order,
// Unions are [name, value] pairs, Bytes are base64 and big Integers exact.
func ExampleType_DecodeJSON() {
	r := sbs.MustRepository(sbs.Text(`module Demo
Record = Tuple {
    id: Integer
    blob: Bytes
    ratio: Float
    next: Maybe(Integer)
}
`))
	t, err := r.Type("Demo", "Record")
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := t.DecodeJSON([]byte(`{"next": ["Just", 7], "ratio": "-Infinity",
		"blob": "3q2+7w==", "id": 1267650600228229401496703205376}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	text, err := t.MarshalJSONValue(v)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", text)

	_, err = t.DecodeJSON([]byte(`{"id": 1.5, "blob": "", "ratio": 0, "next": ["Nothing", null]}`))
	fmt.Println(err)
	// Output:
	// {"id":1267650600228229401496703205376,"blob":"3q2+7w==","ratio":"-Infinity","next":["Just",7]}
	// Demo.Record.id: number "1.5" is not an Integer
}

// Decoding errors name the field that failed and wrap a sentinel.
func ExampleDataError() {
	r := sbs.MustRepository(sbs.Text(`module Hat

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
`))
	_, err := r.Decode("Hat", "Msg", []byte{0x81, 0x81, 0x01, 0x01, 0x01, 0x87})
	fmt.Println(err)
	fmt.Println(errors.Is(err, sbs.ErrUnionIndex))
	var de *sbs.DataError
	if errors.As(err, &de) {
		fmt.Println(de.Path, de.Offset)
	}
	// Output:
	// Hat.Msg.data.module: union index 7 out of range
	// true
	// Hat.Msg.data.module 5
}

// Maybe and Optional values without spelling their entry names.
func ExampleJust() {
	repo := sbs.MustRepository(sbs.Text(`module Shop
Note = Maybe(String)
Tag = Optional(String)
`))
	for _, c := range []struct {
		typ string
		v   sbs.Union
	}{{"Note", sbs.Just("fragile")}, {"Note", sbs.Nothing()}, {"Tag", sbs.Some("red")}, {"Tag", sbs.NoValue()}} {
		b, err := repo.Encode("Shop", c.typ, c.v)
		if err != nil {
			fmt.Println(err)
			return
		}
		back, _ := repo.Decode("Shop", c.typ, b)
		v, ok := sbs.Present(back)
		fmt.Printf("%s %x -> %v %v\n", c.typ, b, v, ok)
	}
	// Output:
	// Note 818766726167696c65 -> fragile true
	// Note 80 -> <nil> false
	// Tag 8183726564 -> red true
	// Tag 80 -> <nil> false
}
