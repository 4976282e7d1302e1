package chatter_test

import (
	"context"
	"fmt"
	"net"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// Send and receive Go structs instead of the sbs value model: a bound
// value encodes itself when sent, and Decode reads the raw payload of a
// connection made WithRawPayloads.
func ExampleDecode() {
	repo := sbs.MustRepository(sbs.Text(`module Shop
Order = Tuple { id: Integer, items: Array(String), note: Maybe(String) }
`))
	type Order struct {
		ID    int64
		Items []string
		Note  *string
	}
	orderType, _ := repo.Type("Shop", "Order")
	orders, err := sbs.Bind[Order](orderType)
	if err != nil {
		fmt.Println(err)
		return
	}

	a, b := net.Pipe()
	client, _ := chatter.NewConn(a, repo, chatter.WithPingTimeout(0))
	server, _ := chatter.NewConn(b, repo, chatter.WithPingTimeout(0), chatter.WithRawPayloads())
	ctx := context.Background()
	defer client.Close()
	defer server.Close()

	order := Order{ID: 7, Items: []string{"tea", "cake"}}
	if _, err := client.Send(ctx, chatter.Data{Module: "Shop", Type: "Order", Data: orders.Value(&order)}); err != nil {
		fmt.Println(err)
		return
	}
	msg, err := server.Receive(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	var got Order
	if err := chatter.Decode(msg, &got); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s.%s %x -> %+v\n", msg.Data.Module, msg.Data.Type, msg.Raw, got)
	// Output:
	// Shop.Order 8782837465618463616b6580 -> {ID:7 Items:[tea cake] Note:<nil>}
}
