package chatter_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

func TestSendReceiveEveryTransport(t *testing.T) {
	for _, tr := range append(transports, "tcp6") {
		t.Run(tr, func(t *testing.T) {
			if tr == "tcp6" && !hasIPv6Loopback() {
				t.Skip("no IPv6 loopback on this machine")
			}
			client, server := pair(t, tr, chatter.WithPingTimeout(0))
			conv := send(t, client, num(123))
			if conv.FirstID != 1 || !conv.Owner || conv.Conn != client {
				t.Errorf("first conversation = %+v, want FirstID 1 owned by the client", conv)
			}
			m := receive(t, server)
			if m.Data != num(123) {
				t.Errorf("server got %+v", m.Data)
			}
			if !m.First || !m.Last || !m.Token || m.Conv.Owner || m.Conv.FirstID != 1 || m.Conv.Conn != server {
				t.Errorf("server's view = %+v", m)
			}
			// The reply direction numbers from 1 too.
			conv = send(t, server, chatter.Data{Module: "", Type: "String", Data: "back"})
			if conv.FirstID != 1 {
				t.Errorf("server's first id = %d", conv.FirstID)
			}
			if m := receive(t, client); m.Data.Data != "back" || m.Data.Module != "" || m.Data.Type != "String" {
				t.Errorf("client got %+v", m.Data)
			}
			if want := client.LocalAddress(); server.RemoteAddress() != want {
				t.Errorf("server sees remote %q, client is %q", server.RemoteAddress(), want)
			}
		})
	}
}

func hasIPv6Loopback() bool {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func TestConversationFlagsAndIds(t *testing.T) {
	client, server := pair(t, "pipe", chatter.WithPingTimeout(0))
	// Client starts a conversation and keeps it open without the token.
	conv := send(t, client, num(1), chatter.Last(false), chatter.Token(false))
	m := receive(t, server)
	if !m.First || m.Last || m.Token || m.Conv.FirstID != 1 || m.Conv.Owner {
		t.Fatalf("first message seen as %+v", m)
	}
	// Server answers in the same conversation: its id is 1, first is the client's 1.
	sconv := send(t, server, num(2), chatter.InConversation(m.Conv), chatter.Last(false))
	if sconv != m.Conv {
		t.Errorf("server's send returned %+v, want %+v", sconv, m.Conv)
	}
	r := receive(t, client)
	if r.First || r.Last || !r.Token || r.Conv != conv {
		t.Errorf("reply seen as %+v, want conversation %+v", r, conv)
	}
	// An unrelated new conversation from the client gets id 2.
	if c2 := send(t, client, num(3)); c2.FirstID != 2 || !c2.Owner {
		t.Errorf("second conversation = %+v", c2)
	}
	if m := receive(t, server); m.Conv.FirstID != 2 || !m.First {
		t.Errorf("second conversation seen as %+v", m)
	}
	// Conversations are usable as map keys.
	seen := map[chatter.Conversation]int{conv: 1}
	if seen[r.Conv] != 1 {
		t.Error("conversation does not work as a map key")
	}
}

func TestRequest(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			client, server := pair(t, tr, chatter.WithPingTimeout(0))
			go func() {
				for m := range server.Messages() {
					v := m.Data.Data.(int64)
					server.Send(context.Background(), num(v*2), chatter.InConversation(m.Conv))
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			errs := make(chan error, 50)
			for i := int64(1); i <= 50; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := client.Request(ctx, num(i))
					if err != nil {
						errs <- err
						return
					}
					if r.Data.Data != i*2 || r.First || !r.Last {
						errs <- fmt.Errorf("request %d: reply %+v", i, r)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			// Replies went to the callers, not to Messages.
			select {
			case m := <-client.Messages():
				t.Errorf("reply leaked to Messages: %+v", m)
			default:
			}
		})
	}
}

func TestRequestContextEndsFirst(t *testing.T) {
	client, server := pair(t, "pipe", chatter.WithPingTimeout(0))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := client.Request(ctx, num(1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request = %v, want deadline exceeded", err)
	}
	// The late reply is not lost: it goes to Messages.
	m := receive(t, server)
	send(t, server, num(2), chatter.InConversation(m.Conv))
	if r := receive(t, client); r.Data.Data != int64(2) {
		t.Errorf("late reply = %+v", r)
	}
}

func TestClosedConnection(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			client, server := pair(t, tr, chatter.WithPingTimeout(0))
			client.Close()
			shutdown(t, client.Wait)
			if _, err := client.Send(context.Background(), num(1)); !errors.Is(err, chatter.ErrClosed) {
				t.Errorf("Send after Close = %v, want ErrClosed", err)
			}
			if _, err := client.Receive(context.Background()); !errors.Is(err, chatter.ErrClosed) {
				t.Errorf("Receive after Close = %v, want ErrClosed", err)
			}
			if !errors.Is(client.Err(), chatter.ErrClosed) {
				t.Errorf("client Err = %v", client.Err())
			}
			// The peer sees the end of stream.
			if _, err := server.Receive(context.Background()); !errors.Is(err, chatter.ErrClosed) || !errors.Is(err, chatter.ErrPeerClosed) {
				t.Errorf("peer Receive = %v, want ErrClosed and ErrPeerClosed", err)
			}
			shutdown(t, server.Wait)
			if !errors.Is(server.Err(), chatter.ErrPeerClosed) {
				t.Errorf("peer Err = %v", server.Err())
			}
		})
	}
}

func TestMessagesReadBeforeEndAreDelivered(t *testing.T) {
	client, server := pair(t, "tcp", chatter.WithPingTimeout(0))
	const n = 1000
	for i := range int64(n) {
		send(t, client, num(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := client.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	client.Close()
	// Wait for the server side to see the end before reading anything.
	waitEnded(t, server)
	var got int64
	for m := range server.Messages() {
		if m.Data.Data != got {
			t.Fatalf("message %d carries %v", got, m.Data.Data)
		}
		got++
	}
	if got != n {
		t.Errorf("received %d of %d", got, n)
	}
}

func TestCloseFlushesQueuedMessages(t *testing.T) {
	client, server := pair(t, "tcp", chatter.WithPingTimeout(0))
	const n = 20000
	for i := range int64(n) {
		send(t, client, num(i))
	}
	client.Close()
	var got int64
	for m := range server.Messages() {
		if m.Data.Data != got {
			t.Fatalf("message %d carries %v", got, m.Data.Data)
		}
		got++
	}
	if got != n {
		t.Errorf("received %d of %d sent before Close", got, n)
	}
}

func TestBoundedQueueBackpressure(t *testing.T) {
	client, server := pair(t, "tcp", chatter.WithPingTimeout(0), chatter.WithQueueSize(4), chatter.WithSendBufferSize(4096))
	// The server does not read; the client floods until Send blocks.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	blob := chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, 1024)}
	sent := 0
	for ; sent < 100000; sent++ {
		if _, err := client.Send(ctx, blob); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send = %v, want to block until the deadline", err)
			}
			break
		}
	}
	if sent == 100000 {
		t.Fatal("Send never blocked although the peer does not read")
	}
	// Now read everything: nothing was dropped and order holds.
	for i := 0; i < sent; i++ {
		m := receive(t, server)
		if len(m.Data.Data.([]byte)) != 1024 {
			t.Fatalf("message %d has %d bytes", i, len(m.Data.Data.([]byte)))
		}
	}
	t.Logf("%d KiB accepted before Send blocked", sent)
}

func TestUnknownPayloadTypeEndsConnection(t *testing.T) {
	client, server := pair(t, "pipe", chatter.WithPingTimeout(0))
	other := sbsRepoWith(t, "module Extra\nThing = Integer\n")
	// A connection whose repository knows Extra.Thing sends it to one that does not.
	a, b := net.Pipe()
	sender, err := chatter.NewConn(a, other, chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := chatter.NewConn(b, testRepo, chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sender.Close()
		receiver.Close()
		shutdown(t, sender.Wait)
		shutdown(t, receiver.Wait)
	}()
	send(t, sender, chatter.Data{Module: "Extra", Type: "Thing", Data: int64(1)})
	_, err = receiver.Receive(context.Background())
	if !errors.Is(err, chatter.ErrClosed) || !errors.Is(err, chatter.ErrProtocol) {
		t.Errorf("Receive = %v, want ErrClosed with ErrProtocol", err)
	}
	if !errors.Is(receiver.Err(), chatter.ErrProtocol) {
		t.Errorf("Err = %v", receiver.Err())
	}
	_, _ = client, server
}

func TestSendUnknownTypeIsAnErrorNotAClose(t *testing.T) {
	client, _ := pair(t, "pipe", chatter.WithPingTimeout(0))
	_, err := client.Send(context.Background(), chatter.Data{Module: "Nope", Type: "X", Data: 1})
	if err == nil || errors.Is(err, chatter.ErrClosed) {
		t.Errorf("Send of unknown type = %v", err)
	}
	if client.Err() != nil {
		t.Errorf("connection ended: %v", client.Err())
	}
}

func TestManyConcurrentConversationsBothWays(t *testing.T) {
	client, server := pair(t, "tcp", chatter.WithPingTimeout(0))
	echo := func(c *chatter.Conn) {
		for m := range c.Messages() {
			if m.First {
				c.Send(context.Background(), m.Data, chatter.InConversation(m.Conv))
			}
		}
	}
	go echo(client)
	go echo(server)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for _, c := range []*chatter.Conn{client, server} {
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 200 {
					v := int64(w*1000 + i)
					r, err := c.Request(ctx, num(v))
					if err != nil || r.Data.Data != v {
						mu.Lock()
						failures = append(failures, fmt.Sprintf("request %d: %v %v", v, r.Data.Data, err))
						mu.Unlock()
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
}

func TestCloseDuringHeavySending(t *testing.T) {
	client, server := pair(t, "tcp", chatter.WithPingTimeout(0))
	go func() {
		for range server.Messages() {
		}
	}()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := client.Send(context.Background(), num(7)); err != nil {
					if !errors.Is(err, chatter.ErrClosed) {
						t.Errorf("Send = %v, want ErrClosed", err)
					}
					return
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	client.Close()
	wg.Wait()
	shutdown(t, client.Wait)
}

func TestRawPayloads(t *testing.T) {
	client, server := pair(t, "pipe", chatter.WithPingTimeout(0), chatter.WithRawPayloads())
	// A value encoded by the repository arrives as its bytes.
	send(t, client, chatter.Data{Module: "Test", Type: "Point", Data: map[string]any{"x": int64(1), "y": int64(-1)}})
	m := receive(t, server)
	if m.Data.Data != nil || string(m.Raw) != "\x81\xff" || m.Data.Module != "Test" || m.Data.Type != "Point" {
		t.Errorf("raw message = %+v", m)
	}
	// A raw payload of a type the repository does not know goes through as is.
	send(t, client, chatter.Data{Module: "Elsewhere", Type: "Thing", Data: chatter.RawPayload{0x81, 0x82}})
	m = receive(t, server)
	if string(m.Raw) != "\x81\x82" || m.Data.Module != "Elsewhere" || m.Data.Type != "Thing" {
		t.Errorf("forwarded message = %+v", m)
	}
}

// selfEncoding is a value that encodes itself, as generated code does.
type selfEncoding struct{ v int64 }

func (s selfEncoding) AppendSBS(b []byte) ([]byte, error) { return append(b, byte(0x80|s.v)), nil }

func TestSendSelfEncodingValue(t *testing.T) {
	client, server := pair(t, "pipe", chatter.WithPingTimeout(0))
	send(t, client, chatter.Data{Module: "Test", Type: "Num", Data: selfEncoding{5}})
	if m := receive(t, server); m.Data.Data != int64(5) {
		t.Errorf("got %+v", m.Data)
	}
}

// A peer that sends and hangs up before the connection's goroutines are
// all running: Messages must still deliver everything and then close.
func TestPeerHangsUpAtOnce(t *testing.T) {
	for i := range 200 {
		a, b := net.Pipe()
		go func() {
			b.Write(frameOfNum(int64(i % 64)))
			b.Close()
		}()
		c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for range c.Messages() {
			got++
		}
		if got != 1 || !errors.Is(c.Err(), chatter.ErrPeerClosed) {
			t.Fatalf("run %d: %d messages, Err %v", i, got, c.Err())
		}
		c.Close()
		shutdown(t, c.Wait)
	}
}

// frameOfNum is a legacy frame carrying Test.Num v (0 <= v < 64).
func frameOfNum(v int64) []byte {
	body := []byte{0x81, 0x81, 1, 1, 1, 0x81, 0x84, 'T', 'e', 's', 't', 0x83, 'N', 'u', 'm', 0x81, byte(0x80 | v)}
	return append([]byte{1, byte(len(body))}, body...)
}
