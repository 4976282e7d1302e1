package chatter_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

var clientBackoff = chatter.Backoff{Min: 5 * time.Millisecond, Max: 40 * time.Millisecond}

// waitState waits, at most 10 s, for the client to reach want.
func waitState(t *testing.T, cl *chatter.Client, want chatter.State) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := cl.WaitForState(ctx, want); err != nil {
		t.Fatalf("waiting for %v (now %v): %v", want, cl.State(), err)
	}
}

// recvClient reads the client's next message, waiting at most 10 s.
func recvClient(t *testing.T, cl *chatter.Client) chatter.Msg {
	t.Helper()
	select {
	case m, ok := <-cl.Messages():
		if !ok {
			t.Fatal("Messages closed")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message in 10 s")
	}
	panic("unreachable")
}

// One handle across a server restart: calls fail at once with
// ErrNotConnected while it is down, and the messages of both connections
// come on one channel, each telling its connection.
func TestClientAcrossRestarts(t *testing.T) {
	addr := freeAddr(t)
	srv := echoOn(t, addr)
	ctx := t.Context()
	var ev events
	cl, err := chatter.NewClient(ctx, testRepo, "tcp+sbs://"+addr, chatter.WithBackoff(clientBackoff), chatter.WithRedialEvents(ev.record))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	waitState(t, cl, chatter.Connected)
	first := cl.Conn()
	if r, err := cl.Request(ctx, num(1)); err != nil || r.Data.Data != int64(1) {
		t.Fatalf("Request = %v, %v", r.Data.Data, err)
	}
	conv, err := cl.Send(ctx, num(2), chatter.Last(false))
	if err != nil {
		t.Fatal(err)
	}
	if m := recvClient(t, cl); m.Data.Data != int64(2) || m.Conv.Conn != first || m.Conv.FirstID != conv.FirstID {
		t.Fatalf("echo %v on %p (conversation %d), want 2 on %p (%d)", m.Data.Data, m.Conv.Conn, m.Conv.FirstID, first, conv.FirstID)
	}

	srv.Close()
	waitState(t, cl, chatter.Disconnected)
	if _, err := cl.Send(ctx, num(3)); !errors.Is(err, chatter.ErrNotConnected) {
		t.Errorf("Send while down = %v, want ErrNotConnected", err)
	}
	_, err = cl.Request(ctx, num(3))
	var re *chatter.RequestError
	if !errors.Is(err, chatter.ErrNotConnected) || !errors.As(err, &re) || re.Type != "Test.Num" {
		t.Errorf("Request while down = %v, want a *RequestError matching ErrNotConnected", err)
	}
	if cl.Conn() != nil {
		t.Error("Conn() is not nil while down")
	}

	srv = echoOn(t, addr)
	defer srv.Close()
	waitState(t, cl, chatter.Connected)
	second := cl.Conn()
	if second == nil || second == first {
		t.Fatalf("connection after the restart: %p (before %p)", second, first)
	}
	// The old conversation belongs to the old connection: no replay.
	if _, err := cl.Send(ctx, num(4), chatter.InConversation(conv)); !errors.Is(err, chatter.ErrClosed) {
		t.Errorf("Send in the old connection's conversation = %v, want ErrClosed", err)
	}
	if _, err := cl.Send(ctx, num(5)); err != nil {
		t.Fatal(err)
	}
	if m := recvClient(t, cl); m.Data.Data != int64(5) || m.Conv.Conn != second {
		t.Fatalf("echo %v on %p, want 5 on the new connection %p", m.Data.Data, m.Conv.Conn, second)
	}
	if err := cl.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if cl.State() != chatter.Stopped {
		t.Errorf("state after Close: %v", cl.State())
	}
	if _, ok := <-cl.Messages(); ok {
		t.Error("Messages still open after Close")
	}
	if _, err := cl.Send(ctx, num(6)); !errors.Is(err, chatter.ErrClosed) || err.Error() != "chatter: client closed" {
		t.Errorf("Send after Close = %v, want ErrClosed saying the client closed", err)
	}
	if err := cl.Err(); !errors.Is(err, chatter.ErrClosed) {
		t.Errorf("Err after Close = %v", err)
	}
	if c := ev.of(chatter.Connected); len(c) != 2 {
		t.Errorf("%d Connected events, want 2", len(c))
	}
	ev.wantStopped(t, context.Canceled)
}

// The hook runs first on every connection: a Send waiting with
// WaitForReady goes out after what the hook sent, and the Connected state
// and event come after the hook.
func TestClientConnectedHookRunsFirst(t *testing.T) {
	addr := freeAddr(t)
	ctx := t.Context()
	var mu sync.Mutex
	var order []string
	record := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	hookRelease := make(chan struct{})
	var ev events
	cl, err := chatter.NewClient(ctx, testRepo, "tcp+sbs://"+addr,
		chatter.WithBackoff(clientBackoff),
		chatter.WithRedialEvents(func(e chatter.RedialEvent) {
			if e.State == chatter.Connected {
				record("event")
			}
			ev.record(e)
		}),
		chatter.WithConnectedHook(func(ctx context.Context, c *chatter.Conn) error {
			<-hookRelease
			_, err := c.Send(ctx, chatter.Data{Type: "String", Data: "register"})
			record("hook")
			return err
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	// Nothing listens: a plain Send fails at once with why; one that waits
	// waits.
	waitState(t, cl, chatter.Disconnected)
	if _, err := cl.Send(ctx, num(1)); !errors.Is(err, chatter.ErrNotConnected) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Send with nothing listening = %v, want ErrNotConnected and the dial's error", err)
	}
	sent := make(chan error, 1)
	go func() {
		_, err := cl.Send(ctx, num(7), chatter.WaitForReady())
		record("send")
		sent <- err
	}()

	got := make(chan []string, 1)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := chatter.NewServer(testRepo, l, func(ctx context.Context, c *chatter.Conn) {
		var seen []string
		for m := range c.Messages() {
			seen = append(seen, m.Data.Type)
			if len(seen) == 2 {
				got <- seen
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	waitState(t, cl, chatter.Connecting) // dialing, or in the hook
	select {
	case err := <-sent:
		t.Fatalf("the waiting Send returned before the hook ran: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	if cl.State() == chatter.Connected {
		t.Fatal("Connected before the hook returned")
	}
	close(hookRelease)
	if err := <-sent; err != nil {
		t.Fatalf("waiting Send = %v", err)
	}
	select {
	case seen := <-got:
		if seen[0] != "String" || seen[1] != "Num" {
			t.Errorf("server got %v, want the hook's String first", seen)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not get both messages")
	}
	// The event is reported after the state is published, so it may come
	// a moment after the waiting Send returned.
	waitState(t, cl, chatter.Connected)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(order)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	if len(order) != 3 || order[0] != "hook" {
		t.Errorf("order %v, want the hook before the Connected event and the waiting Send", order)
	}
	mu.Unlock()
}

// A hook's error closes that connection and the Client dials again; a
// Permanent one stops the Client with it.
func TestClientHookErrors(t *testing.T) {
	addr := freeAddr(t)
	srv := echoOn(t, addr)
	defer srv.Close()
	type key struct{}
	ctx := context.WithValue(t.Context(), key{}, "trace-1")
	errRefused := errors.New("registration refused")
	calls := 0
	cl, err := chatter.NewClient(ctx, testRepo, "tcp+sbs://"+addr, chatter.WithBackoff(clientBackoff),
		chatter.WithConnectedHook(func(ctx context.Context, c *chatter.Conn) error {
			if v := ctx.Value(key{}); v != "trace-1" {
				t.Errorf("hook ctx value %v, want the NewClient ctx's", v)
			}
			calls++ // the Client's one goroutine runs the hook
			if calls < 3 {
				return errRefused
			}
			return chatter.Permanent(errRefused)
		}))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-cl.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the Client did not stop")
	}
	if calls != 3 {
		t.Errorf("hook ran %d times, want 3", calls)
	}
	if err := cl.Err(); !errors.Is(err, errRefused) || !errors.Is(err, chatter.ErrClosed) {
		t.Errorf("Err = %v, want ErrClosed and the hook's error", err)
	}
	if err := cl.WaitForState(ctx, chatter.Connected); !errors.Is(err, errRefused) {
		t.Errorf("WaitForState(Connected) of a stopped client = %v", err)
	}
	if _, ok := <-cl.Messages(); ok {
		t.Error("Messages open after the Client stopped")
	}
	if err := cl.Close(); err != nil {
		t.Errorf("Close after a stop = %v", err)
	}
}

// The Client's ctx bounds it; a Send waiting for a connection returns when
// the Client stops, and one whose ctx ends returns ctx's error.
func TestClientStops(t *testing.T) {
	addr := freeAddr(t) // nothing listens
	ctx, cancel := context.WithCancel(t.Context())
	cl, err := chatter.NewClient(ctx, testRepo, "tcp+sbs://"+addr, chatter.WithBackoff(clientBackoff))
	if err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer stop()
	if _, err := cl.Request(short, num(1), chatter.WaitForReady()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting Request past its ctx = %v", err)
	}
	waiting := make(chan error, 1)
	go func() {
		_, err := cl.Send(t.Context(), num(1), chatter.WaitForReady())
		waiting <- err
	}()
	cancel()
	select {
	case err := <-waiting:
		if !errors.Is(err, chatter.ErrClosed) {
			t.Errorf("waiting Send when the Client stopped = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiting Send did not return when the Client stopped")
	}
	<-cl.Done()
	if err := cl.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if _, err := chatter.NewClient(t.Context(), testRepo, "http://"+addr); !errors.Is(err, chatter.ErrAddress) {
		t.Errorf("NewClient with a bad address = %v", err)
	}
}
