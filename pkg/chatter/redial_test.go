package chatter_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// freeAddr is a loopback address nothing listens on (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// echoOn serves an echo server on addr.
func echoOn(t *testing.T, addr string) *chatter.Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := chatter.NewServer(testRepo, l, func(ctx context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// events records what a Redial loop reports.
type events struct {
	mu  sync.Mutex
	all []chatter.RedialEvent
}

func (e *events) record(ev chatter.RedialEvent) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) of(state chatter.State) []chatter.RedialEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []chatter.RedialEvent
	for _, ev := range e.all {
		if ev.State == state {
			out = append(out, ev)
		}
	}
	return out
}

var fastBackoff = chatter.Backoff{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond, Healthy: time.Hour}

var errDone = errors.New("done")

// Nothing listens at first: Redial backs off, growing its delay, until a
// server appears; then run gets a working connection.
func TestRedialUntilTheServerComes(t *testing.T) {
	addr := freeAddr(t)
	var ev events
	done := make(chan error, 1)
	go func() {
		done <- chatter.Redial(t.Context(), testRepo, "tcp+sbs://"+addr, func(ctx context.Context, c *chatter.Conn) error {
			r, err := c.Request(ctx, num(5))
			if err != nil {
				return err
			}
			if r.Data.Data != int64(5) {
				t.Errorf("reply %v", r.Data.Data)
			}
			return chatter.Permanent(errDone)
		}, chatter.WithBackoff(fastBackoff), chatter.WithRedialEvents(ev.record))
	}()
	for len(ev.of(chatter.Disconnected)) < 5 {
		time.Sleep(time.Millisecond)
	}
	srv := echoOn(t, addr)
	defer srv.Close()
	if err := <-done; err != errDone {
		t.Fatalf("Redial = %v, want the permanent error itself", err)
	}
	fails := ev.of(chatter.Disconnected)
	for i, e := range fails {
		if !errors.Is(e.Err, syscall.ECONNREFUSED) {
			t.Errorf("failure %d: %v, want connection refused", i, e.Err)
		}
		if e.Attempt != i+1 {
			t.Errorf("failure %d: attempt %d", i, e.Attempt)
		}
		// The delay doubles from Min up to Max, with jitter in its upper half.
		full := min(fastBackoff.Max, fastBackoff.Min<<i)
		if e.Delay < full/2 || e.Delay > full {
			t.Errorf("failure %d: delay %v, want within [%v, %v]", i, e.Delay, full/2, full)
		}
	}
	if c := ev.of(chatter.Connected); len(c) != 1 || c[0].Attempt != len(fails)+1 || c[0].Conn == nil {
		t.Errorf("Connected events %+v", c)
	}
	ev.wantStopped(t, errDone)
}

// wantStopped checks that the last event says Redial stopped, with err.
func (e *events) wantStopped(t *testing.T, err error) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := len(e.all); n == 0 || e.all[n-1].State != chatter.Stopped || !errors.Is(e.all[n-1].Err, err) {
		t.Errorf("events end with %+v, want Stopped with %v", e.all[max(0, len(e.all)-1):], err)
	}
	stops := 0
	for _, ev := range e.all {
		if ev.State == chatter.Stopped {
			stops++
		}
	}
	if stops != 1 {
		t.Errorf("%d Stopped events, want 1", stops)
	}
}

// A server that accepts and closes at once: run is called for every
// connection, the attempts add up (none is healthy), and cancelling ends
// Redial with ctx's error.
func TestRedialServerClosesAtOnce(t *testing.T) {
	srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) { c.Close() })
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var ev events
	var runs atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- chatter.Redial(ctx, testRepo, srv.Addresses()[0], func(ctx context.Context, c *chatter.Conn) error {
			if runs.Add(1) == 6 {
				cancel()
			}
			for range c.Messages() {
			}
			return nil
		}, chatter.WithBackoff(fastBackoff), chatter.WithRedialEvents(ev.record))
	}()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Redial = %v, want context.Canceled", err)
	}
	if n := runs.Load(); n < 6 {
		t.Errorf("run called %d times", n)
	}
	for i, e := range ev.of(chatter.Disconnected) {
		if e.Attempt != i+1 || !errors.Is(e.Err, chatter.ErrPeerClosed) {
			t.Errorf("disconnect %d: attempt %d, %v; want attempt %d and the peer's close", i, e.Attempt, e.Err, i+1)
		}
	}
	ev.wantStopped(t, context.Canceled)
}

// The server restarts: the next connection goes to the new one. A
// connection that stayed up for Healthy resets the backoff.
func TestRedialServerRestarts(t *testing.T) {
	addr := freeAddr(t)
	srv := echoOn(t, addr)
	var ev events
	conns := make(chan *chatter.Conn)
	done := make(chan error, 1)
	b := fastBackoff
	b.Healthy = time.Nanosecond
	go func() {
		done <- chatter.Redial(t.Context(), testRepo, "tcp+sbs://"+addr, func(ctx context.Context, c *chatter.Conn) error {
			if _, err := c.Request(ctx, num(1)); err != nil {
				return err
			}
			select {
			case conns <- c:
			case <-ctx.Done():
				return nil
			}
			for range c.Messages() {
			}
			if len(ev.of(chatter.Connected)) == 2 {
				return chatter.Permanent(errDone)
			}
			return nil
		}, chatter.WithBackoff(b), chatter.WithRedialEvents(ev.record))
	}()
	first := <-conns
	srv.Close()           // the server goes away ...
	srv = echoOn(t, addr) // ... and comes back
	defer srv.Close()
	second := <-conns
	if first == second {
		t.Fatal("the same connection twice")
	}
	second.Close()
	if err := <-done; err != errDone {
		t.Fatalf("Redial = %v", err)
	}
	for _, e := range ev.of(chatter.Disconnected) {
		if e.Attempt != 1 && errors.Is(e.Err, chatter.ErrPeerClosed) {
			t.Errorf("after a healthy connection: attempt %d, want 1", e.Attempt)
		}
	}
	if c := ev.of(chatter.Connected); len(c) != 2 || c[1].Attempt > 2 {
		t.Errorf("Connected events %+v: the backoff was not reset by the healthy connection", c)
	}
}

// With Healthy left at 0, the backoff starts afresh with every connection
// that comes up, as grpc-go's does once a connection is ready: after each
// quick disconnection the wait is from Min again, however many came before.
// (The default used to be 30 s healthy: a server restarting now and then
// pushed the wait to the maximum, 4.9 s after a heal in test/chaos's
// TestFlap against a 50 ms minimum.)
func TestRedialBackoffResetsOnConnect(t *testing.T) {
	srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) { c.Close() })
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var ev events
	var runs atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	b := chatter.Backoff{Min: 10 * time.Millisecond, Max: time.Minute}
	go func() {
		done <- chatter.Redial(ctx, testRepo, srv.Addresses()[0], func(ctx context.Context, c *chatter.Conn) error {
			if runs.Add(1) == 6 {
				cancel()
			}
			for range c.Messages() {
			}
			return nil
		}, chatter.WithBackoff(b), chatter.WithRedialEvents(ev.record))
	}()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Redial = %v, want context.Canceled", err)
	}
	for i, e := range ev.of(chatter.Disconnected) {
		if e.Attempt != 1 || e.Delay > b.Min {
			t.Errorf("disconnect %d: attempt %d, delay %v; want attempt 1, at most %v", i, e.Attempt, e.Delay, b.Min)
		}
	}
}

type ctxKey struct{}

// run's ctx carries the values of Redial's ctx, and ends with the
// connection, with its cause.
func TestRedialRunContext(t *testing.T) {
	srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) {
		<-c.Messages()
		c.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.WithValue(t.Context(), ctxKey{}, "trace-7")
	got := make(chan string, 1)
	cause := make(chan error, 1)
	err = chatter.Redial(ctx, testRepo, srv.Addresses()[0], func(ctx context.Context, c *chatter.Conn) error {
		v, _ := ctx.Value(ctxKey{}).(string)
		got <- v
		send(t, c, num(1)) // the server closes after it
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return chatter.Permanent(errDone)
	}, chatter.WithBackoff(fastBackoff))
	if err != errDone {
		t.Fatalf("Redial = %v", err)
	}
	if v := <-got; v != "trace-7" {
		t.Errorf("run's ctx value = %q, want the parent's %q", v, "trace-7")
	}
	if c := <-cause; !errors.Is(c, chatter.ErrPeerClosed) {
		t.Errorf("run's ctx cause = %v, want the connection's (ErrPeerClosed)", c)
	}
}
