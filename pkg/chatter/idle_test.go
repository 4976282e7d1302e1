package chatter_test

import (
	"context"
	"runtime"
	"testing"

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
