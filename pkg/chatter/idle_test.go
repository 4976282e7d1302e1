package chatter_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// TestIdleFootprint bounds what an idle connection holds, per end: its
// goroutines wait in small stack frames, so that their stacks stay at the
// smallest size, and its buffers are small until traffic needs them. The
// bound is generous (measured: 14 to 17 KiB of heap and stack per end, of
// which 7.4 to 9 KiB is stack); it catches waiting frames that grow past
// what keeps a goroutine's stack at 2 KiB, or buffers made eagerly again
// (before this test, 24.5 to 25.8 KiB, of which 11 to 12.3 KiB was stack).
func TestIdleFootprint(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector enlarges stack frames")
	}
	if testing.Short() {
		t.Skip("opens 300 connections")
	}
	const n = 300
	const maxPerEnd = 20 << 10
	ctx := context.Background()
	accepted := make(chan *chatter.Conn, n)
	srv, err := chatter.Listen(ctx, testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) { accepted <- c })
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	clients := make([]*chatter.Conn, 0, n)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range n {
		c, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0])
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for range n {
		<-accepted
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	stack := float64(after.StackInuse-before.StackInuse) / (2 * n)
	total := stack + (float64(after.HeapInuse)-float64(before.HeapInuse))/(2*n)
	t.Logf("per connection end: %.0f B of stack, %.0f B of stack and heap", stack, total)
	if total > maxPerEnd {
		t.Errorf("idle connections hold %.0f B per end (%.0f B of it stack), want at most %d", total, stack, maxPerEnd)
	}
}

// TestReadBufferDroppedWhenQuiet: a burst of small frames and a large
// message grow a connection's buffers (the read buffer, the deliverer's
// backlog, the send buffer); once a keepalive period passes with little
// read, the supervisor drops them, and a writer that ends drops its own, so
// a connection that was busy once does not keep that memory for the rest
// of its life. (Before the fix: 143 KiB of heap per connection after the
// burst, to the end of the test; after it, 6 to 7 KiB.)
func TestReadBufferDroppedWhenQuiet(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the keepalive")
	}
	const n = 40
	const maxPerConn = 24 << 10 // both ends' heap, idle: about 8 KiB measured
	ctx := context.Background()
	// Pings every 1.5 s: the keepalive's wake-ups are the only ones an idle
	// connection has, and 1.5 s leaves a second of quiet after each pong.
	ping := chatter.WithPingTimeout(1500 * time.Millisecond)
	const perClient = 301
	accepted := make(chan *chatter.Conn, n)
	var received atomic.Int64
	srv, err := chatter.Listen(ctx, testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) {
		accepted <- c
		for range c.Messages() {
			received.Add(1)
		}
	}, ping)
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	clients := make([]*chatter.Conn, 0, n)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range n {
		c, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0], ping)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for range n {
		<-accepted
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	small := chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, 1000)}
	large := chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, 200<<10)}
	for _, c := range clients {
		for range perClient - 1 {
			if _, err := c.Send(ctx, small); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Send(ctx, large); err != nil {
			t.Fatal(err)
		}
	}
	// Each server end receives 500 KiB; then comes the quiet. The buffers
	// go at the second keepalive firing after the burst (3 s at most); the
	// test looks until 15 s, for a busy machine's late timers.
	for deadline := time.Now().Add(30 * time.Second); received.Load() < n*perClient; {
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d messages in 30 s", received.Load(), n*perClient)
		}
		time.Sleep(10 * time.Millisecond)
	}
	quietFrom := time.Now()
	var perConn float64
	for {
		time.Sleep(500 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perConn = (float64(after.HeapInuse) - float64(before.HeapInuse)) / n
		if perConn <= maxPerConn || time.Since(quietFrom) > 15*time.Second {
			break
		}
	}
	t.Logf("heap per connection %v after the burst: %.0f B", time.Since(quietFrom).Round(100*time.Millisecond), perConn)
	if perConn > maxPerConn {
		t.Errorf("quiet connections hold %.0f B of heap each after a burst, want at most %d", perConn, maxPerConn)
	}
}

// The writer ends once it has had nothing to write for writerLinger (1 s)
// to twice that: also when it was busy past the time its idle timer was
// first due, which then fires while it works and is set again.
func TestWriterEndsWhenIdle(t *testing.T) {
	opts := []chatter.Option{chatter.WithPingTimeout(0)}
	client, server := pairWith(t, "tcp", opts, opts)
	go func() {
		for range server.Messages() {
		}
	}()
	busy := time.Now().Add(1500 * time.Millisecond)
	for i := 0; time.Now().Before(busy); i++ {
		send(t, client, num(int64(i)))
		time.Sleep(time.Millisecond)
	}
	if goroutinesIn("chatter.(*Conn).writeLoop") == 0 {
		t.Fatal("no writer goroutine right after sending")
	}
	deadline := time.Now().Add(15 * time.Second)
	for goroutinesIn("chatter.(*Conn).writeLoop") > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := goroutinesIn("chatter.(*Conn).writeLoop"); n > 0 {
		t.Fatalf("%d writer goroutines 15 s after the last send, want none", n)
	}
}
