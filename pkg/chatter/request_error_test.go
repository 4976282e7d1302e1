package chatter_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// silentPeer returns a connection whose peer reads everything and never
// answers, and the peer.
func silentPeer(t *testing.T) (c, peer *chatter.Conn) {
	t.Helper()
	a, b := net.Pipe()
	c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	peer, err = chatter.NewConn(b, testRepo, chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	peer.DiscardMessages()
	t.Cleanup(func() {
		c.Close()
		peer.Close()
	})
	return c, peer
}

// TestRequestErrorSaysWhich: a Request that gives up says which request it
// was — its payload type and its conversation — and why, and still
// matches the cause with errors.Is. (It used to return ctx's error bare:
// "context deadline exceeded".)
func TestRequestErrorSaysWhich(t *testing.T) {
	c, _ := silentPeer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Request(ctx, num(7))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request: %v, want a deadline", err)
	}
	if !strings.Contains(err.Error(), "request Test.Num") {
		t.Errorf("Request's error %q does not name the request", err)
	}
	var re *chatter.RequestError
	if !errors.As(err, &re) || re.Type != "Test.Num" || re.Conv.FirstID == 0 || re.Conv.Conn != c {
		t.Errorf("Request's error %#v: want a *RequestError naming Test.Num and its conversation", err)
	}
}

// TestRequestOnConnectionContext: a Request given the connection's own
// context, as Redial's run and a server's handler have, returns the reason
// the connection ended when it ends first — here a write that fails — and
// not only "context canceled". (It used to return ctx's error bare.)
func TestRequestOnConnectionContext(t *testing.T) {
	for range 20 {
		a, b := net.Pipe()
		fc := &failingConn{Conn: a}
		c, err := chatter.NewConn(fc, testRepo, chatter.WithPingTimeout(0))
		if err != nil {
			t.Fatal(err)
		}
		peer, err := chatter.NewConn(b, testRepo, chatter.WithPingTimeout(0))
		if err != nil {
			t.Fatal(err)
		}
		peer.DiscardMessages()
		done := make(chan error, 1)
		go func() {
			_, err := c.Request(c.Context(), num(1))
			done <- err
		}()
		for c.Stats().OpenConversations == 0 {
			time.Sleep(time.Millisecond)
		}
		fc.fail.Store(true)
		c.Send(context.Background(), num(2))
		err = <-done
		c.Close()
		peer.Close()
		if !errors.Is(err, chatter.ErrClosed) || !errors.Is(err, errWriteFailed) {
			t.Fatalf("Request: %v, want ErrClosed and the write's failure", err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Request: %v, want it to match its context's error too", err)
		}
	}
}

// TestCloseReportsUnsent: a Close that cannot write what was queued within
// the flush timeout says so, with ErrUnsent, and Stats.MessagesUnsent
// counts what was dropped: accepted messages are never dropped silently.
// (Close used to return nil.)
func TestCloseReportsUnsent(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close() // a peer that never reads
	c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0), chatter.WithFlushTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const n = 5
	for i := range n {
		if _, err := c.Send(ctx, num(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	err = c.Close()
	if !errors.Is(err, chatter.ErrUnsent) {
		t.Fatalf("Close: %v, want ErrUnsent", err)
	}
	if got := c.Stats().MessagesUnsent; got != n {
		t.Errorf("MessagesUnsent %d, want %d", got, n)
	}
	if again := c.Close(); !errors.Is(again, chatter.ErrUnsent) {
		t.Errorf("a second Close: %v, want the same report", again)
	}
	if err := c.Err(); !errors.Is(err, chatter.ErrClosed) || errors.Is(err, chatter.ErrUnsent) {
		t.Errorf("Err: %v; the connection ended because it was closed", err)
	}
}
