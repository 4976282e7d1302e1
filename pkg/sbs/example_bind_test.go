package sbs_test

import (
	"errors"
	"fmt"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// Go types for the Demo schema of Example: untagged fields find their
// entries by name, case ignored; the union is a struct of pointers.
type (
	Point struct{ X, Y int64 }
	Shape struct {
		Dot     *Point
		Label   *string
		Nothing *struct{}
	}
	Drawing struct {
		Title  *string // Maybe(String)
		Shapes []Shape
	}
)

// Encode and decode Go structs through a struct binding.
func ExampleBind() {
	r := sbs.MustRepository(sbs.Text(demoSchema))
	typ, _ := r.Type("Demo", "Drawing")
	b, err := sbs.Bind[Drawing](typ) // compiled once; Bind again is a cache hit
	if err != nil {
		fmt.Println(err)
		return
	}

	title, label := "demo", "hi"
	in := Drawing{Title: &title, Shapes: []Shape{{Dot: &Point{1, -2}}, {Label: &label}, {Nothing: &struct{}{}}}}
	data, err := b.Marshal(&in)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%x\n", data)

	var out Drawing
	if err := b.Unmarshal(data, &out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(*out.Title, *out.Shapes[0].Dot, *out.Shapes[1].Label, out.Shapes[2].Nothing != nil)
	// Output:
	// 818464656d6f838081fe8182686982
	// demo {1 -2} hi true
}

// A Go type that does not fit the schema is refused when the binding is
// compiled, naming the field.
func ExampleBind_mismatch() {
	r := sbs.MustRepository(sbs.Text(demoSchema))
	typ, _ := r.Type("Demo", "Drawing")
	type badDrawing struct {
		Title  string // should be *string: Maybe(String)
		Shapes []Shape
	}
	_, err := sbs.Bind[badDrawing](typ)
	fmt.Println(err)
	fmt.Println(errors.Is(err, sbs.ErrBinding))
	// Output:
	// sbs: binding sbs_test.badDrawing to Demo.Drawing: .Title: want *string (Maybe(String)), have string
	// true
}

// Marshal and Unmarshal take any Go value, with its binding cached.
func ExampleUnmarshal() {
	r := sbs.MustRepository(sbs.Text(demoSchema))
	typ, _ := r.Type("Demo", "Point")
	data, _ := sbs.Marshal(typ, Point{X: 3, Y: 4})
	var p struct {
		X int8
		Y uint16
	}
	err := sbs.Unmarshal(typ, data, &p)
	fmt.Println(p, err)

	big, _ := sbs.Marshal(typ, Point{X: 300})
	err = sbs.Unmarshal(typ, big, &p)
	fmt.Println(err, errors.Is(err, sbs.ErrOverflow))
	// Output:
	// {3 4} <nil>
	// Demo.Point.x: integer 300 does not fit the Go field true
}
