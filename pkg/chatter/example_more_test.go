package chatter_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

var exampleRepo = sbs.MustRepository(sbs.Text(`
	module Example
	Number = Integer
	Text = String
`))

func number(n int64) chatter.Data { return chatter.Data{Module: "Example", Type: "Number", Data: n} }

// echoServer listens on a free loopback port and answers every message in
// its conversation.
func echoServer() *chatter.Server {
	srv, err := chatter.Listen(context.Background(), exampleRepo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, conn *chatter.Conn) {
		for msg := range conn.Messages() {
			conn.Send(ctx, msg.Data, chatter.InConversation(msg.Conv))
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	return srv
}

// Listen on a free port; the handler runs on a goroutine of its own for
// each connection, with the connection's context.
func ExampleListen() {
	ctx := context.Background()
	handled := make(chan struct{})
	srv, err := chatter.Listen(ctx, exampleRepo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, conn *chatter.Conn) {
		defer close(handled)
		for msg := range conn.Messages() { // until the connection ends
			fmt.Println("server got", msg.Data.Data)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	conn, err := chatter.Connect(ctx, exampleRepo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}
	conn.Send(ctx, number(7))
	conn.Close() // flushes what was queued
	// Connect returns once the kernel has the connection; the server may
	// not have accepted it yet, and Shutdown drops what it has not
	// accepted. So wait for the handler to see the connection end.
	<-handled
	srv.Shutdown(ctx)
	// Output:
	// server got 7
}

// Connect, send one message and read one.
func ExampleConnect() {
	srv := echoServer()
	defer srv.Close()
	ctx := context.Background()

	conn, err := chatter.Connect(ctx, exampleRepo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	conv, err := conn.Send(ctx, number(1), chatter.Last(false)) // keep the conversation open
	if err != nil {
		log.Fatal(err)
	}
	msg, err := conn.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg.Data.Data, msg.Conv == conv, msg.Last)
	// Output:
	// 1 true true
}

// Request returns the peer's first answer in the conversation it starts.
func ExampleConn_Request() {
	srv := echoServer()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	conn, err := chatter.Connect(ctx, exampleRepo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	reply, err := conn.Request(ctx, chatter.Data{Module: "Example", Type: "Text", Data: "ping"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reply.Data.Data, reply.Conv.FirstID)
	// Output:
	// ping 1
}

// A conversation of several turns, with a timeout that the peer's answer
// cancels; a conversation nobody answers times out.
func ExampleConversationTimeout() {
	ctx := context.Background()
	// A server that answers the first message of each conversation only.
	srv, err := chatter.Listen(ctx, exampleRepo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, conn *chatter.Conn) {
		for msg := range conn.Messages() {
			if msg.First {
				conn.Send(ctx, number(msg.Data.Data.(int64)+1), chatter.InConversation(msg.Conv), chatter.Last(false))
			}
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	conn, err := chatter.Connect(ctx, exampleRepo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	timedOut := make(chan chatter.Conversation, 1)
	onTimeout := func(c chatter.Conversation) { timedOut <- c }
	conv, _ := conn.Send(ctx, number(1), chatter.Last(false), chatter.ConversationTimeout(time.Second, onTimeout))
	answer, _ := conn.Receive(ctx) // cancels the timeout
	fmt.Println("answer", answer.Data.Data, "in the same conversation:", answer.Conv == conv)

	// The next turn: the server does not answer it.
	conn.Send(ctx, number(10), chatter.InConversation(conv), chatter.Last(false),
		chatter.ConversationTimeout(50*time.Millisecond, onTimeout))
	fmt.Println("timed out:", <-timedOut == conv)
	// Output:
	// answer 2 in the same conversation: true
	// timed out: true
}

// A daemon's client keeps its connection with Redial: run is called with
// every new connection, does what a new connection needs (here, one
// request), then reads until the connection ends.
func ExampleRedial() {
	srv := echoServer()
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	err := chatter.Redial(ctx, exampleRepo, srv.Addresses()[0], func(ctx context.Context, conn *chatter.Conn) error {
		reply, err := conn.Request(ctx, number(42))
		if err != nil {
			return err // not permanent: Redial dials again
		}
		fmt.Println("registered:", reply.Data.Data)
		cancel() // this example stops here; a daemon would range over conn.Messages()
		for range conn.Messages() {
		}
		return nil
	}, chatter.WithBackoff(chatter.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second}),
		chatter.WithRedialEvents(func(e chatter.RedialEvent) {
			if e.State == chatter.Connected {
				fmt.Println("connected, attempt", e.Attempt)
			}
		}))
	fmt.Println("Redial returned:", errors.Is(err, context.Canceled))
	// Output:
	// connected, attempt 1
	// registered: 42
	// Redial returned: true
}

// A server's totals, for logs or an expvar page (see chatterdebug).
func ExampleServer_Stats() {
	srv := echoServer()
	defer srv.Close()
	ctx := context.Background()
	conn, err := chatter.Connect(ctx, exampleRepo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}
	for i := range int64(3) {
		if _, err := conn.Request(ctx, number(i)); err != nil {
			log.Fatal(err)
		}
	}
	conn.Close()
	for srv.OpenConnections() > 0 { // the server sees the end shortly after
		time.Sleep(time.Millisecond)
	}
	st := srv.Stats()
	fmt.Printf("accepted %d, open %d, messages in %d out %d, closed by the peer %d\n",
		st.Accepted, st.Open, st.MessagesIn, st.MessagesOut, st.Closed.Peer)
	// Output:
	// accepted 1, open 0, messages in 3 out 3, closed by the peer 1
}

// Hand a large message's buffer back once it has been used, so that the
// next large message is read into it.
func ExampleMsg_Release() {
	srv := echoServer()
	defer srv.Close()
	ctx := context.Background()
	conn, err := chatter.Connect(ctx, exampleRepo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	image := make([]byte, 100<<10) // builtin Bytes: Module ""
	for i := range 3 {
		reply, err := conn.Request(ctx, chatter.Data{Type: "Bytes", Data: image})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(i, len(reply.Data.Data.([]byte)), "bytes echoed")
		reply.Release() // done with its bytes
	}
	// Output:
	// 0 102400 bytes echoed
	// 1 102400 bytes echoed
	// 2 102400 bytes echoed
}

// A daemon's client: one handle across server restarts. What each new
// connection must send first goes in the Connected hook; while the server
// is down calls fail at once (or wait, with WaitForReady); the messages of
// every connection arrive on one channel.
func ExampleClient() {
	srv := echoServer()
	addr := srv.Addresses()[0]
	ctx := context.Background()

	client, err := chatter.NewClient(ctx, exampleRepo, addr,
		chatter.WithBackoff(chatter.Backoff{Min: 10 * time.Millisecond, Max: time.Second}),
		chatter.WithConnectedHook(func(ctx context.Context, conn *chatter.Conn) error {
			_, err := conn.Send(ctx, chatter.Data{Module: "Example", Type: "Text", Data: "hello"})
			return err
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	reply, err := client.Request(ctx, number(1), chatter.WaitForReady())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("reply:", reply.Data.Data)
	fmt.Println("echoed:", (<-client.Messages()).Data.Data) // the hook's hello

	srv.Close()
	client.WaitForState(ctx, chatter.Disconnected)
	_, err = client.Send(ctx, number(2))
	fmt.Println("server down:", errors.Is(err, chatter.ErrNotConnected))

	srv, err = chatter.Listen(ctx, exampleRepo, addr, func(ctx context.Context, conn *chatter.Conn) {
		for msg := range conn.Messages() {
			conn.Send(ctx, msg.Data, chatter.InConversation(msg.Conv))
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	reply, err = client.Request(ctx, number(3), chatter.WaitForReady())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("reply after the restart:", reply.Data.Data)
	fmt.Println("echoed:", (<-client.Messages()).Data.Data)
	// Output:
	// reply: 1
	// echoed: hello
	// server down: true
	// reply after the restart: 3
	// echoed: hello
}
