package chatter_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// Go structs instead of the sbs value model: a struct is sent as it is,
// bound to its schema type on first use, and Decode reads a received
// message into one, on any connection.
func ExampleDecode() {
	repo := sbs.MustRepository(sbs.Text(`module Shop
Order = Tuple { id: Integer, items: Array(String), note: Maybe(String) }
`))
	type Order struct {
		ID    int64    `sbs:"id"`
		Items []string `sbs:"items"`
		Note  *string  `sbs:"note"` // Maybe(String)
	}

	a, b := net.Pipe()
	client, _ := chatter.NewConn(a, repo)
	server, _ := chatter.NewConn(b, repo)
	defer client.Close()
	defer server.Close()
	ctx := context.Background()

	order := Order{ID: 7, Items: []string{"tea", "cake"}}
	if _, err := client.Send(ctx, chatter.Data{Module: "Shop", Type: "Order", Data: &order}); err != nil {
		log.Fatal(err)
	}
	msg, err := server.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var got Order
	if err := chatter.Decode(msg, &got); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s.%s %+v\n", msg.Data.Module, msg.Data.Type, got)
	fmt.Println("as the dynamic model:", msg.Data.Data)
	// Output:
	// Shop.Order {ID:7 Items:[tea cake] Note:<nil>}
	// as the dynamic model: map[id:7 items:[tea cake] note:{Nothing <nil>}]
}

// Types written by sbs-gen name their schema type, so DataOf labels a
// message with no names repeated by hand, and a value sent under another
// label is refused before anything is written.
func ExampleDataOf() {
	a, b := net.Pipe()
	client, _ := chatter.NewConn(a, exampleTestRepo)
	server, _ := chatter.NewConn(b, exampleTestRepo)
	defer client.Close()
	defer server.Close()
	ctx := context.Background()

	// TestPoint was written by sbs-gen for Test.Point.
	if _, err := client.Send(ctx, chatter.DataOf(&TestPoint{X: 3, Y: 4})); err != nil {
		log.Fatal(err)
	}
	_, err := client.Send(ctx, chatter.Data{Module: "Test", Type: "Num", Data: &TestPoint{X: 5, Y: 6}})
	fmt.Println(err)

	msg, err := server.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	var p TestPoint
	if err := chatter.Decode(msg, &p); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s.%s %+v\n", msg.Data.Module, msg.Data.Type, p)
	var n TestNum
	fmt.Println(chatter.Decode(msg, &n))
	// Output:
	// chatter: send Test.Num: payload type mismatch: the value is a Test.Point
	// Test.Point {X:3 Y:4}
	// chatter: decode Test.Point: payload type mismatch: the value is a Test.Num
}

var exampleTestRepo = sbs.MustRepository(sbs.Text(`module Test
Num = Integer
Point = Tuple { x: Integer, y: Integer }
`))
