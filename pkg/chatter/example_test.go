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

// A server that answers every number with its double, and a client that
// sends one number one way and asks about two.
func Example() {
	repo := sbs.MustRepository(sbs.Text(`
		module Example
		Number = Integer
	`))
	number := func(n int64) chatter.Data { return chatter.Data{Module: "Example", Type: "Number", Data: n} }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// A server: the handler runs on a goroutine of its own for each
	// connection; its ctx is the connection's.
	srv, err := chatter.Listen(ctx, repo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, conn *chatter.Conn) {
		for msg := range conn.Messages() { // until the connection ends
			if msg.Last {
				continue // one way: nothing to answer
			}
			conn.Send(ctx, number(2*msg.Data.Data.(int64)), chatter.InConversation(msg.Conv))
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close() // stops accepting, closes the connections, waits for them

	// A client, on the port the server got.
	conn, err := chatter.Connect(ctx, repo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close() // flushes what is queued, waits for the connection's goroutines

	// One way: a new conversation, with last and token set.
	if _, err := conn.Send(ctx, number(1)); err != nil {
		log.Fatal(err)
	}
	// Request/response: the reply comes back to the caller, not to Messages.
	for _, n := range []int64{21, 50} {
		reply, err := conn.Request(ctx, number(n))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(n, "->", reply.Data.Data, "in conversation", reply.Conv.FirstID)
	}
	// Output:
	// 21 -> 42 in conversation 2
	// 50 -> 100 in conversation 3
}

// Composing with errgroup: one goroutine reads what the server starts,
// until the connection ends; another makes requests, then closes the
// connection. Close and Wait return nil for a connection this side closed,
// so the group's Wait is nil on success and the first failure otherwise:
// a peer that went away, a ping timeout, a request that failed.
func Example_errgroup() {
	repo := sbs.MustRepository(sbs.Text("module Example\nNumber = Integer\n"))
	number := func(n int64) chatter.Data { return chatter.Data{Module: "Example", Type: "Number", Data: n} }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	srv, err := chatter.Listen(ctx, repo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, conn *chatter.Conn) {
		for msg := range conn.Messages() {
			conn.Send(ctx, number(2*msg.Data.Data.(int64)), chatter.InConversation(msg.Conv))
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	conn, err := chatter.Connect(ctx, repo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { // the reader: messages the server starts
		for msg := range conn.Messages() {
			fmt.Println("notice:", msg.Data.Data)
		}
		return conn.Wait(gctx) // why it ended: nil, as this side closed it
	})
	g.Go(func() error { // the writer
		defer conn.Close()
		for _, n := range []int64{1, 2, 3} {
			reply, err := conn.Request(gctx, number(n))
			if err != nil {
				return err // wraps chatter.ErrClosed once the connection has ended
			}
			fmt.Println(n, "->", reply.Data.Data)
		}
		return nil
	})
	fmt.Println("group:", g.Wait())
	// Output:
	// 1 -> 2
	// 2 -> 4
	// 3 -> 6
	// group: <nil>
}
