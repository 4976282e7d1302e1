package chatter_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// A server that answers every request with the double of its number, and a
// client that asks it twice.
func Example() {
	repo := sbs.MustRepository(sbs.Text(`
		module Example
		Number = Integer
	`))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	srv, err := chatter.Listen(ctx, repo, "tcp+sbs://127.0.0.1:0", func(conn *chatter.Conn) {
		for msg := range conn.Messages() {
			n := msg.Data.Data.(int64)
			reply := chatter.Data{Module: "Example", Type: "Number", Data: 2 * n}
			if _, err := conn.Send(ctx, reply, chatter.InConversation(msg.Conv)); err != nil {
				return
			}
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(ctx)

	conn, err := chatter.Connect(ctx, repo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Shutdown(ctx)

	for _, n := range []int64{21, 50} {
		reply, err := conn.Request(ctx, chatter.Data{Module: "Example", Type: "Number", Data: n})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(n, "->", reply.Data.Data, "in conversation", reply.Conv.FirstID)
	}
	// Output:
	// 21 -> 42 in conversation 1
	// 50 -> 100 in conversation 2
}

// Reading with errgroup: one goroutine consumes conn.Messages() until the
// connection ends, another sends; the group waits for both.
func Example_errgroup() {
	repo := sbs.MustRepository(sbs.Text("module Example\nText = String\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	srv, err := chatter.Listen(ctx, repo, "tcp+sbs://127.0.0.1:0", func(conn *chatter.Conn) {
		for _, word := range []string{"one", "two", "three"} {
			conn.Send(ctx, chatter.Data{Module: "Example", Type: "Text", Data: word})
		}
		conn.Drain(ctx)
		conn.Close() // the client's Messages channel closes after "three"
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(ctx)

	conn, err := chatter.Connect(ctx, repo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Shutdown(ctx)

	var g errgroup.Group
	g.Go(func() error {
		for msg := range conn.Messages() {
			fmt.Println(msg.Data.Data)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("ended:", conn.Err())
	// Output:
	// one
	// two
	// three
	// ended: chatter: connection closed by peer
}
