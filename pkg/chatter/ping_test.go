package chatter_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// Ping's answer comes after everything sent before it was read, on both
// wires, and a ping is no application message.
func TestPing(t *testing.T) {
	for _, wire := range []chatter.Wire{chatter.WireLegacy, chatter.WireCurrent} {
		t.Run(wire.String(), func(t *testing.T) {
			opts := []chatter.Option{chatter.WithWire(wire), chatter.WithPingTimeout(0)}
			client, server := pairWith(t, "tcp", opts, opts)
			for i := range 100 {
				send(t, client, num(int64(i)))
			}
			rtt, err := client.Ping(t.Context())
			if err != nil || rtt <= 0 {
				t.Fatalf("Ping = %v, %v", rtt, err)
			}
			if n := server.Stats().MessagesIn; n != 100 {
				t.Errorf("the server had read %d messages when it answered, want 100", n)
			}
			waitSettled(t, client)
			if st := client.Stats(); st.MessagesOut != 100 {
				t.Errorf("client: %d messages out, want the 100 sent", st.MessagesOut)
			}
			// Both ways.
			if _, err := server.Ping(t.Context()); err != nil {
				t.Fatalf("the server's Ping = %v", err)
			}
		})
	}
}

// A peer that cannot parse what was sent closes the connection; Ping says
// so, where Drain saw only the socket.
func TestPingOtherWire(t *testing.T) {
	client, _ := pairWith(t, "tcp",
		[]chatter.Option{chatter.WithWire(chatter.WireCurrent), chatter.WithPingTimeout(0)},
		[]chatter.Option{chatter.WithWire(chatter.WireLegacy), chatter.WithPingTimeout(0)})
	send(t, client, num(1))
	if err := client.Drain(t.Context()); err != nil {
		t.Fatalf("Drain = %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := client.Ping(ctx); !errors.Is(err, chatter.ErrClosed) {
		t.Errorf("Ping to a peer of the other wire = %v, want ErrClosed", err)
	}
}

// A Ping whose ctx ends returns ctx's error, and its pong, if it comes,
// goes nowhere.
func TestPingGivesUp(t *testing.T) {
	a, b := net.Pipe()
	c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer b.Close()
	go func() { // read the ping, answer it late
		buf := make([]byte, 64)
		b.Read(buf)
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping = %v, want its deadline", err)
	}
	waitSettled(t, c)
}

// waitSettled waits, at most 10 s, for c's Stats to count no conversation
// open: the supervisor reports what it ended after the batch or the events
// that ended it, so a caller can be a moment ahead.
func waitSettled(t *testing.T, c *chatter.Conn) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Stats().OpenConversations != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := c.Stats().OpenConversations; n != 0 {
		t.Errorf("%d conversations still open", n)
	}
}

// On a quiet connection, a Request answered or given up stops counting as
// open without waiting for more traffic.
func TestOpenConversationsSettle(t *testing.T) {
	client, server := pair(t, "pipe", chatter.WithPingTimeout(0))
	go func() {
		m := receive(t, server)
		send(t, server, num(2), chatter.InConversation(m.Conv))
		receive(t, server) // the second request: never answered
	}()
	if _, err := client.Request(t.Context(), num(1)); err != nil {
		t.Fatal(err)
	}
	waitSettled(t, client)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := client.Request(ctx, num(3)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request = %v", err)
	}
	waitSettled(t, client)
}
