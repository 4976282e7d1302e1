package test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// The load tests: a slow consumer behind a bounded queue, a graceful
// shutdown after a million messages, and a server closed under load.

// seqOf reads a Load.Msg's sequence number.
func seqOf(m chatter.Msg) (int64, error) {
	v, ok := m.Data.Data.(map[string]any)
	if !ok || m.Data.Module != "Load" || m.Data.Type != "Msg" {
		return 0, fmt.Errorf("not a Load.Msg: %s.%s %T", m.Data.Module, m.Data.Type, m.Data.Data)
	}
	seq, ok := v["seq"].(int64)
	if !ok {
		return 0, fmt.Errorf("Load.Msg without an int64 seq: %v", v)
	}
	return seq, nil
}

// orderCheck counts messages numbered from 0 and remembers the first one
// out of order.
type orderCheck struct {
	next int64
	err  error
}

func (o *orderCheck) see(seq int64) {
	if seq != o.next && o.err == nil {
		o.err = fmt.Errorf("message %d arrived where %d was due", seq, o.next)
	}
	o.next++
}

// TestSlowConsumerBoundedQueue: a receiver WithQueueSize(16) whose
// application stops reading for a while and then reads slowly, against a
// sender flooding 256-byte messages (about 54 MB in all) with the default
// send buffer. The flood does not fit the socket buffers, so the sender
// must block, the receiver must stop reading its socket, and the heap of
// both ends (one process) must stay small; once the consumer catches up,
// every message arrives, in order.
func TestSlowConsumerBoundedQueue(t *testing.T) {
	const (
		total     = 200_000
		pause     = time.Second
		heapBound = 64 << 20
	)
	pad := make([]byte, 256)
	release := make(chan struct{})
	type outcome struct {
		count int64
		err   error
	}
	done := make(chan outcome, 1)
	server := make(chan *chatter.Conn, 1)
	srv := listenWith(t, loadRepo, func(ctx context.Context, c *chatter.Conn) {
		server <- c
		select {
		case <-release:
		case <-ctx.Done():
		}
		var o orderCheck
		for m := range c.Messages() {
			seq, err := seqOf(m)
			if err != nil && o.err == nil {
				o.err = err
			}
			o.see(seq)
			if o.next%1000 == 0 {
				time.Sleep(time.Millisecond) // a slow application
			}
		}
		done <- outcome{o.next, o.err}
	}, chatter.WithQueueSize(16))

	heap0, stack0 := heapAndStack()
	client := connectTo(t, loadRepo, srv.Addresses()[0])
	var sc *chatter.Conn
	select {
	case sc = <-server:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection accepted")
	}

	// Sample the heap while the flood lasts.
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if h, _ := heapAndStack(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-tick.C:
			case <-stopSampling:
				return
			}
		}
	}()

	var sent atomic.Int64
	sendErr := make(chan error, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	start := time.Now()
	go func() {
		for i := range int64(total) {
			if _, err := client.Send(ctx, chatter.Data{Module: "Load", Type: "Msg", Data: map[string]any{"seq": i, "pad": pad}}); err != nil {
				sendErr <- fmt.Errorf("send %d: %w", i, err)
				return
			}
			sent.Add(1)
		}
		sendErr <- client.Drain(ctx)
	}()

	time.Sleep(pause)
	sentDuringPause, readDuringPause := sent.Load(), sc.Stats().MessagesIn
	close(release)
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	client.Close()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		t.Fatal("the consumer did not get to the end")
	}
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled

	t.Logf("%d messages (%s of frames) in %v; during the %v pause the sender queued %d and the receiver decoded %d",
		total, fmtMiB(client.Stats().BytesOut), elapsed.Round(time.Millisecond), pause, sentDuringPause, readDuringPause)
	t.Logf("heap in use: %s before, peak %s during the flood (both ends; stack %s before)",
		fmtMiB(heap0), fmtMiB(peak.Load()), fmtMiB(stack0))
	if sentDuringPause >= total {
		t.Errorf("the sender queued all %d messages while nothing was read: no backpressure", total)
	}
	if readDuringPause > 1000 {
		t.Errorf("the receiver decoded %d messages while the application read none: the queue is not bounded", readDuringPause)
	}
	if peak.Load() > heapBound {
		t.Errorf("heap peaked at %s, want under %s", fmtMiB(peak.Load()), fmtMiB(heapBound))
	}
	if o.err != nil {
		t.Error(o.err)
	}
	if o.count != total {
		t.Errorf("received %d messages, want %d", o.count, total)
	}
}

// TestGracefulShutdown: a sender queues a million small messages, calls
// Drain and Close; the receiver (in-process, over TCP) gets every one of
// them, in order, before its Messages channel closes.
func TestGracefulShutdown(t *testing.T) {
	total := int64(1_000_000)
	if testing.Short() {
		total = 100_000
	}
	type outcome struct {
		count int64
		err   error
		end   error
	}
	done := make(chan outcome, 1)
	srv := listenWith(t, loadRepo, func(ctx context.Context, c *chatter.Conn) {
		var o orderCheck
		for m := range c.Messages() {
			seq, ok := m.Data.Data.(int64)
			if !ok && o.err == nil {
				o.err = fmt.Errorf("got %+v, want an Integer", m.Data)
			}
			o.see(seq)
		}
		done <- outcome{o.next, o.err, c.Err()}
	}, chatter.WithQueueSize(4096))
	client := connectTo(t, loadRepo, srv.Addresses()[0])

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	start := time.Now()
	for i := range total {
		if _, err := client.Send(ctx, intPayload(i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	queued := time.Since(start)
	if err := client.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	drained := time.Since(start)
	client.Close()
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		t.Fatalf("the receiver did not see the end within 60 s")
	}
	t.Logf("%d messages: queued in %v, drained at %v, all received at %v",
		total, queued.Round(time.Millisecond), drained.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if o.err != nil {
		t.Error(o.err)
	}
	if o.count != total {
		t.Errorf("received %d messages, want %d", o.count, total)
	}
	if !errors.Is(o.end, chatter.ErrPeerClosed) {
		t.Errorf("receiver ended with %v, want ErrPeerClosed", o.end)
	}
	if err := client.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Send(ctx, intPayload(0)); !errors.Is(err, chatter.ErrClosed) {
		t.Errorf("Send after Close = %v, want ErrClosed", err)
	}
}

// TestServerCloseUnderLoad: clients send continuously, one of them to a
// connection whose application never reads (so its send buffer is full),
// when the server is closed. Every connection must end, on both sides,
// within a deadline; what each server connection received must be the
// first messages its client's Send accepted, in order; every Send after the
// end must fail with ErrClosed, and Drain on the stalled client must not
// claim that its unwritten bytes went out.
func TestServerCloseUnderLoad(t *testing.T) {
	verifyNoLeaks(t)
	const readers = 4
	type received struct {
		count int64
		err   error
	}
	var mu sync.Mutex
	got := make(map[string]received) // by the client's address
	var serverConns []*chatter.Conn
	// onConn runs on a goroutine of the connection, so once the server
	// has closed, every call has returned.
	srv := listenWith(t, loadRepo, func(ctx context.Context, c *chatter.Conn) {
		mu.Lock()
		serverConns = append(serverConns, c)
		mu.Unlock()
		m, ok := <-c.Messages()
		if !ok {
			return
		}
		if m.Data.Type == "String" {
			// The stalled one: read nothing more.
			<-ctx.Done()
			return
		}
		var o orderCheck
		for ok := true; ok; m, ok = <-c.Messages() {
			seq, isInt := m.Data.Data.(int64)
			if !isInt && o.err == nil {
				o.err = fmt.Errorf("got %+v, want an Integer", m.Data)
			}
			o.see(seq)
		}
		mu.Lock()
		got[c.RemoteAddress()] = received{o.next, o.err}
		mu.Unlock()
	}, chatter.WithQueueSize(16))
	addr := srv.Addresses()[0]

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	type sender struct {
		c        *chatter.Conn
		accepted atomic.Int64
		last     error // the Send error that ended the loop
		done     chan struct{}
	}
	var senders []*sender
	for range readers {
		s := &sender{c: connectTo(t, loadRepo, addr), done: make(chan struct{})}
		senders = append(senders, s)
		go func() {
			defer close(s.done)
			for i := int64(0); ; i++ {
				if _, err := s.c.Send(ctx, intPayload(i)); err != nil {
					s.last = err
					return
				}
				s.accepted.Add(1)
			}
		}()
	}
	stalled := &sender{c: connectTo(t, loadRepo, addr), done: make(chan struct{})}
	full := make(chan struct{})
	go func() {
		defer close(stalled.done)
		if _, err := stalled.c.Send(ctx, chatter.Data{Type: "String", Data: "stall"}); err != nil {
			stalled.last = err
			return
		}
		var once sync.Once
		for i := int64(0); ; i++ {
			sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
			_, err := stalled.c.Send(sctx, intPayload(i))
			scancel()
			switch {
			case err == nil:
				stalled.accepted.Add(1)
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
				once.Do(func() { close(full) }) // the send buffer is full
			default:
				stalled.last = err
				return
			}
		}
	}()

	// Close once every reader has sent a good deal and the stalled
	// client's buffer is full.
	select {
	case <-full:
	case <-ctx.Done():
		t.Fatal("the stalled client's send buffer never filled")
	}
	for _, s := range senders {
		for s.accepted.Load() < 10_000 {
			select {
			case <-s.done:
				t.Fatalf("a sender stopped early: %v", s.last)
			case <-ctx.Done():
				t.Fatal("senders too slow")
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	if srv.OpenConnections() != readers+1 {
		t.Fatalf("OpenConnections = %d, want %d", srv.OpenConnections(), readers+1)
	}
	closed := time.Now()
	srv.Close()
	wctx, wcancel := context.WithTimeout(ctx, 15*time.Second)
	defer wcancel()
	if err := srv.Wait(wctx); err != nil {
		t.Fatalf("server did not close: %v", err)
	}
	t.Logf("server closed with %d connections under load in %v", readers+1, time.Since(closed).Round(time.Millisecond))
	if n := srv.OpenConnections(); n != 0 {
		t.Errorf("OpenConnections = %d after close", n)
	}

	// Server side: every connection ended by the close; Send fails.
	mu.Lock()
	defer mu.Unlock()
	for _, c := range serverConns {
		if !errors.Is(c.Err(), chatter.ErrClosed) {
			t.Errorf("server connection %s ended with %v, want ErrClosed", c.RemoteAddress(), c.Err())
		}
		if _, err := c.Send(ctx, intPayload(0)); !errors.Is(err, chatter.ErrClosed) {
			t.Errorf("Send on a closed server connection = %v, want ErrClosed", err)
		}
	}

	// Client side: each ends by itself with the peer's close or a reset.
	for i, s := range append(senders, stalled) {
		select {
		case <-s.done:
		case <-wctx.Done():
			t.Fatalf("sender %d still sending after the server closed", i)
		}
		if err := s.c.Wait(wctx); wctx.Err() != nil {
			t.Fatalf("client %d did not end: %v", i, err)
		}
		if !peerGone(s.c.Err()) {
			t.Errorf("client %d ended with %v, want ErrPeerClosed or a reset", i, s.c.Err())
		}
		if !errors.Is(s.last, chatter.ErrClosed) {
			t.Errorf("client %d: the Send that failed returned %v, want ErrClosed", i, s.last)
		}
		if _, err := s.c.Send(ctx, intPayload(0)); !errors.Is(err, chatter.ErrClosed) {
			t.Errorf("client %d: Send after the end = %v, want ErrClosed", i, err)
		}
	}
	for i, s := range senders {
		r, ok := got[s.c.LocalAddress()]
		switch {
		case !ok:
			t.Errorf("client %d: the server saw none of its messages", i)
		case r.err != nil:
			t.Errorf("client %d: %v", i, r.err)
		case r.count > s.accepted.Load():
			t.Errorf("client %d: the server received %d messages, more than the %d Send accepted", i, r.count, s.accepted.Load())
		}
		derr := s.c.Drain(ctx)
		if derr != nil && !errors.Is(derr, chatter.ErrClosed) {
			t.Errorf("client %d: Drain = %v, want nil or ErrClosed", i, derr)
		}
		t.Logf("client %d: Send accepted %d, server read %d in order; ended with %v; Drain: %v", i, s.accepted.Load(), r.count, s.c.Err(), derr)
	}
	if err := stalled.c.Drain(ctx); !errors.Is(err, chatter.ErrClosed) {
		t.Errorf("stalled client: Drain with a full send buffer = %v, want ErrClosed", err)
	}
	t.Logf("stalled client: Send accepted %d; ended with %v", stalled.accepted.Load(), stalled.c.Err())
}
