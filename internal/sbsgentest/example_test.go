package sbsgentest_test

import (
	"errors"
	"fmt"
	"io"

	"github.com/gochatter/gochatter/internal/sbsgentest"
)

// Code written by sbs-gen encodes and decodes with no repository and no
// reflection; Hat.Msg is HatMsg, its Maybe(String) a *string.
func ExampleHatMsg() {
	module := "Demo"
	msg := sbsgentest.HatMsg{Id: 1, First: 1, Owner: true, Token: true, Last: true,
		Data: sbsgentest.HatData{Module: &module, Type: "Note", Data: []byte("hello")}}
	data, err := msg.AppendSBS(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%x\n", data)

	var back sbsgentest.HatMsg
	if err := back.UnmarshalSBS(data); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(back.Id, *back.Data.Module, back.Data.Type, string(back.Data.Data))

	// Decoding is as strict as package sbs, with the same errors.
	err = back.UnmarshalSBS(data[:len(data)-1])
	fmt.Println(err, errors.Is(err, io.ErrUnexpectedEOF))
	// Output:
	// 8181010101818444656d6f844e6f74658568656c6c6f
	// 1 Demo Note hello
	// Hat.Msg.data.data: length past the end of the input false
}

// A union is a struct of pointers, exactly one of them set.
func ExampleTestShape() {
	label := "hi"
	shapes := sbsgentest.TestShapes{
		{Label: &label},
		{Circle: &sbsgentest.TestShapeCircle{Center: sbsgentest.TestPoint{X: 1, Y: 2}, Radius: 3}},
	}
	data, _ := shapes.AppendSBS(nil)
	var back sbsgentest.TestShapes
	if err := back.UnmarshalSBS(data); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(*back[0].Label, back[1].Circle.Radius)

	_, err := (&sbsgentest.TestShapes{{}}).AppendSBS(nil)
	fmt.Println(err)
	// Output:
	// hi 3
	// Test.Shapes[0]: no entry set
}
