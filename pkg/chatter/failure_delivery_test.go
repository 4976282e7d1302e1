package chatter_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// failingConn is a net.Conn whose writes fail once fail is set.
type failingConn struct {
	net.Conn
	fail atomic.Bool
}

var errWriteFailed = errors.New("write failed on purpose")

func (c *failingConn) Write(b []byte) (int, error) {
	if c.fail.Load() {
		return 0, errWriteFailed
	}
	return c.Conn.Write(b)
}

// TestWriteFailureDeliversWhatWasRead: when the connection fails because a
// write fails, every message its reader had decoded is still delivered —
// those waiting behind a full receive queue included — as the package
// promises for any failure. (The reader used to drop the batch it was
// handing over when the connection began closing: 64 of 200 decoded
// messages never reached Messages.)
func TestWriteFailureDeliversWhatWasRead(t *testing.T) {
	a, b := net.Pipe()
	fc := &failingConn{Conn: a}
	c, err := chatter.NewConn(fc, testRepo, chatter.WithPingTimeout(0), chatter.WithQueueSize(16))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := chatter.NewConn(b, testRepo, chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 200
	go func() {
		for i := range n {
			if _, err := peer.Send(ctx, num(int64(i))); err != nil {
				return
			}
		}
	}()
	// The application does not read: the queue fills, and the reader
	// holds decoded batches it cannot hand over. Wait until it has decoded
	// more than the channel holds and stopped.
	waitStalled(ctx, t, c)
	fc.fail.Store(true)
	if _, err := c.Send(ctx, num(-1)); err != nil {
		t.Fatal(err)
	}
	delivered := uint64(0)
	for range c.Messages() {
		delivered++
	}
	if err := c.Wait(ctx); !errors.Is(err, errWriteFailed) {
		t.Fatalf("Wait: %v, want the write's failure", err)
	}
	if in := c.Stats().MessagesIn; delivered != in {
		t.Errorf("decoded %d messages, delivered %d", in, delivered)
	}
}

// recordingConn is a failingConn that keeps every byte it read.
type recordingConn struct {
	failingConn
	mu   sync.Mutex
	read []byte
}

func (c *recordingConn) Read(b []byte) (int, error) {
	n, err := c.failingConn.Read(b)
	c.mu.Lock()
	c.read = append(c.read, b[:n]...)
	c.mu.Unlock()
	return n, err
}

// completeMessages counts the application messages whose frames lie whole
// in b.
func completeMessages(t *testing.T, b []byte) int {
	t.Helper()
	s := chatter.NewFrameScanner(bytes.NewReader(b), len(b)+1)
	n := 0
	for {
		body, err := s.Next()
		if err != nil {
			return n
		}
		if e, _, err := chatter.DecodeEnvelope(body, chatter.WireLegacy); err == nil && !e.Control() {
			n++
		}
	}
}

// TestWriteFailureDeliversWhatWasBuffered: frames already read into the
// buffer when a write fails count as read, and are delivered, not only
// the ones decoded before. (Found by the 1-hour soak: a server whose
// write failed dropped 40 messages whose bytes it had read.)
func TestWriteFailureDeliversWhatWasBuffered(t *testing.T) {
	a, b := net.Pipe()
	rc := &recordingConn{failingConn: failingConn{Conn: a}}
	c, err := chatter.NewConn(rc, testRepo, chatter.WithPingTimeout(0), chatter.WithQueueSize(16))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := chatter.NewConn(b, testRepo, chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Queued before the peer's writer runs, so that they go out in few
	// writes, and one read takes many frames into the buffer.
	const n = 400
	for i := range n {
		if _, err := peer.Send(ctx, num(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	// The application does not read: the queue fills and the supervisor
	// stops with frames still in its buffer.
	waitStalled(ctx, t, c)
	rc.fail.Store(true)
	if _, err := c.Send(ctx, num(-1)); err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for range c.Messages() {
		delivered++
	}
	rc.mu.Lock()
	want := completeMessages(t, rc.read)
	rc.mu.Unlock()
	if delivered != want {
		t.Errorf("the frames read held %d whole messages; %d delivered", want, delivered)
	}
}

// waitStalled waits until c's reader has decoded more than its Messages
// channel holds and stopped, held up by an application that does not read.
func waitStalled(ctx context.Context, t *testing.T, c *chatter.Conn) {
	t.Helper()
	for last := uint64(0); ; {
		time.Sleep(50 * time.Millisecond)
		in := c.Stats().MessagesIn
		if in > 16 && in == last {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("the reader did not get ahead of the queue")
		}
		last = in
	}
}
