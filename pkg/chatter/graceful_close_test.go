package chatter_test

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// TestCloseWithUnreadInputDoesNotReset: a graceful Close of a connection
// whose peer is still sending does not reset the connection: the peer
// gets every message written before the close. Closing a socket with
// unread input makes TCP send a reset, and the peer's kernel then drops
// what it had received and not yet handed to its application — here the
// peer reads only after 200 ms. (test/chaos's soak found a server losing
// the last 45 messages of a client that closed with nil.)
func TestCloseWithUnreadInputDoesNotReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer nc.Close()
		// Keep sending the client frames it will not read, then read late.
		frame := legacyFrame(1, 1, true, true, true, "Test", "Num", sbs.AppendInteger(nil, 7))
		stop := time.Now().Add(200 * time.Millisecond)
		for time.Now().Before(stop) {
			nc.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
			if _, err := nc.Write(frame); err != nil && !os.IsTimeout(err) {
				t.Logf("peer write: %v", err)
				break
			}
		}
		n := 0
		sc := chatter.NewFrameScanner(nc, 0)
		for {
			if _, err := sc.Next(); err != nil {
				t.Logf("peer: %v after %d frames", err, n)
				break
			}
			n++
		}
		got <- n
	}()
	c, err := chatter.Connect(context.Background(), testRepo, "tcp+sbs://"+ln.Addr().String(), chatter.WithPingTimeout(0), chatter.WithQueueSize(1))
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		if _, err := c.Send(context.Background(), num(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // the peer's frames pile up unread
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if m := <-got; m != n {
		t.Errorf("the peer got %d of the %d messages written before a graceful close", m, n)
	}
}
