package chatter_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// pingFrame is a legacy HatPing.MsgPing starting conversation id.
func pingFrame(id int64) []byte {
	return legacyFrame(id, id, true, true, false, "HatPing", "MsgPing", nil)
}

// A peer that sends pings as fast as it can and never reads gets its pongs
// queued only up to MaxQueuedControlBytes: then the reader waits for the
// writer, and the peer's writes stop going anywhere.
func TestPingFloodIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe() // b never reads: every write of a blocks
		c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0))
		if err != nil {
			t.Fatal(err)
		}
		const tries = 100_000
		sent := 0
		b.SetWriteDeadline(time.Now().Add(time.Minute))
		for ; sent < tries; sent++ {
			if _, err := b.Write(pingFrame(int64(sent + 1))); err != nil {
				break
			}
		}
		// What the connection took in: the pongs it queued (bounded),
		// a batch or two of pings read and not yet answered, and what its
		// writer holds in its one blocked write.
		pong := len(legacyFrame(1, 1, false, true, true, "HatPing", "MsgPong", nil))
		bound := chatter.MaxQueuedControlBytes/pong + 3*64
		if sent == tries || sent > bound {
			t.Errorf("the connection took %d pings from a peer that reads nothing, want at most %d", sent, bound)
		}
		// The last ping written may be read and not yet answered.
		if st := c.Stats(); st.PingsIn+1 < uint64(sent) || st.PingsIn > uint64(sent) {
			t.Errorf("Stats.PingsIn = %d, want the %d pings written", st.PingsIn, sent)
		}
		t.Logf("%d pings taken before the reader waited (%d-byte pongs, %d-byte cap)", sent, pong, chatter.MaxQueuedControlBytes)
		c.Close()
		b.Close()
	})
}

// By default the receive queue is bounded: a sender that goes faster than
// the application reads ends up blocked instead of growing the receiver's
// memory.
func TestDefaultQueueIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sent := fillUntilBlocked(t, 1024, nil)
		// The receiver holds at most its queue and a batch or two; the
		// sender its 1 MiB send buffer and one write in flight.
		bound := chatter.DefaultQueueSize + 3*64 + 2*(chatter.DefaultSendBufferSize/1024+1)
		if sent > bound {
			t.Errorf("%d messages accepted with nobody reading, want at most %d", sent, bound)
		}
		t.Logf("%d KiB messages accepted before Send blocked", sent)
	})
}

// The receive queue is bounded in bytes too: large messages stop the
// reading long before the count bound would, so a slow application holds
// WithQueueBytes of them, not 1,024. An explicit bound and the default.
func TestQueueBytesIsBounded(t *testing.T) {
	const size = 64 << 10
	for _, tc := range []struct {
		name  string
		opts  []chatter.Option
		bound int // bytes
	}{
		{"default", nil, chatter.DefaultQueueBytes},
		{"1MiB", []chatter.Option{chatter.WithQueueBytes(1 << 20)}, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				sent := fillUntilBlocked(t, size, tc.opts)
				// The receiver holds its byte bound, the Messages channel's
				// 16 and a batch or two; the sender its 1 MiB send buffer
				// and one write in flight.
				bound := tc.bound/size + 16 + 3*64 + 2*(chatter.DefaultSendBufferSize/size+1)
				if sent > bound {
					t.Errorf("%d messages of %d KiB accepted with nobody reading, want at most %d", sent, size>>10, bound)
				}
				t.Logf("%d messages of %d KiB accepted before Send blocked", sent, size>>10)
			})
		})
	}
}

// QueueUnbounded lifts the bound in bytes: only the count bound is left.
func TestQueueBytesUnbounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 64 << 10
		sent := fillUntilBlocked(t, size, []chatter.Option{chatter.WithQueueBytes(chatter.QueueUnbounded)})
		if sent < chatter.DefaultQueueSize {
			t.Errorf("%d messages of %d KiB accepted, want at least the count bound, %d", sent, size>>10, chatter.DefaultQueueSize)
		}
	})
}

// fillUntilBlocked sends messages of size bytes over a pipe to a
// connection made with serverOpts whose application does not read, until
// Send blocks for a minute (of synctest's time); it then reads everything
// back, checking it, and returns how many were sent.
func fillUntilBlocked(t *testing.T, size int, serverOpts []chatter.Option) int {
	t.Helper()
	client, server := pipePair(t, []chatter.Option{chatter.WithPingTimeout(0)},
		append([]chatter.Option{chatter.WithPingTimeout(0)}, serverOpts...))
	defer closeAll(client, server)
	blob := chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, size)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sent := 0
	for ; sent < 100_000; sent++ {
		if _, err := client.Send(ctx, blob); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Send = %v, want it to block until the deadline", err)
			}
			break
		}
	}
	if sent == 100_000 {
		t.Fatalf("%d messages accepted with nobody reading: unbounded", sent)
	}
	for i := range sent {
		m := receive(t, server)
		if len(m.Data.Data.([]byte)) != size {
			t.Fatalf("message %d: %d bytes", i, len(m.Data.Data.([]byte)))
		}
	}
	return sent
}

// Our own full queue stops our reader, and with it the pongs; that is not
// the peer's fault, and our ping timeout does not blame it.
func TestOwnBackpressureDoesNotTimeOutThePeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := pipePair(t,
			[]chatter.Option{chatter.WithQueueSize(2), chatter.WithPingTimeout(time.Second)},
			[]chatter.Option{chatter.WithPingTimeout(0)})
		defer closeAll(client, server)
		const n = 2000
		sent := make(chan error, 1)
		go func() {
			for i := range int64(n) {
				if _, err := server.Send(context.Background(), num(i%64)); err != nil {
					sent <- err
					return
				}
			}
			sent <- nil
		}()
		time.Sleep(5 * time.Second) // the application pauses
		got := 0
		for range n {
			if _, err := client.Receive(context.Background()); err != nil {
				t.Fatalf("after %d of %d messages: %v", got, n, err)
			}
			got++
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		if err := client.Err(); err != nil {
			t.Errorf("connection ended: %v", err)
		}
	})
}

// A peer that streams to us while our application pauses, its own
// keepalive on, does not time us out: our full queue stops our reader, and
// with it the pongs we owe, but our own pings go on and show the peer we
// are alive. On both wires.
func TestOwnBackpressureKeepsThePeersKeepaliveSatisfied(t *testing.T) {
	for _, w := range []chatter.Wire{chatter.WireLegacy, chatter.WireCurrent} {
		t.Run(w.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ka := []chatter.Option{chatter.WithWire(w), chatter.WithPingTimeout(time.Second), chatter.WithPingDelay(time.Second)}
				client, server := pipePair(t,
					append([]chatter.Option{chatter.WithQueueSize(2)}, ka...),
					ka)
				defer closeAll(client, server)
				const n = 2000
				sent := make(chan error, 1)
				go func() {
					for i := range int64(n) {
						if _, err := server.Send(context.Background(), num(i%64)); err != nil {
							sent <- err
							return
						}
					}
					sent <- nil
				}()
				time.Sleep(10 * time.Second) // the application pauses
				if err := server.Err(); err != nil {
					t.Fatalf("the streaming side ended its connection while we paused: %v", err)
				}
				for got := range n {
					if _, err := client.Receive(context.Background()); err != nil {
						t.Fatalf("after %d of %d messages: %v", got, n, err)
					}
				}
				if err := <-sent; err != nil {
					t.Fatal(err)
				}
				if err := client.Err(); err != nil {
					t.Errorf("connection ended: %v", err)
				}
			})
		})
	}
}

// A send-only client says it will not read: what arrives is dropped and
// counted, its queue never fills, and Request replies still come.
func TestDiscardMessages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		client, server := pipePair(t,
			[]chatter.Option{chatter.WithQueueSize(4), chatter.WithPingTimeout(0)},
			[]chatter.Option{chatter.WithPingTimeout(0)})
		defer closeAll(client, server)
		go echo(server)
		for i := range int64(3) { // queued before the call: dropped too
			send(t, server, num(i))
		}
		synctest.Wait()
		client.DiscardMessages()
		const n = 5000
		for i := range int64(n) {
			send(t, server, num(i%64))
		}
		r, err := client.Request(context.Background(), num(42))
		if err != nil || r.Data.Data != int64(42) {
			t.Fatalf("Request while discarding = %v, %v", r.Data.Data, err)
		}
		synctest.Wait()
		if got := client.Stats().MessagesDiscarded; got != n+3 {
			t.Errorf("MessagesDiscarded = %d, want %d", got, n+3)
		}
		select {
		case m := <-client.Messages():
			t.Errorf("Messages delivered %+v after DiscardMessages", m)
		default:
		}
	})
}

// A complete frame whose body is cut short is a protocol error in the
// frame, not the stream ending inside a frame.
func TestTruncatedBodyIsNotAnEndOfStream(t *testing.T) {
	c, peer := rawPeer(t)
	body := []byte{0x81, 0x81, 1, 1, 1, 0x80, 0x83, 'N', 'u', 'm', 0x8a, 1, 2} // data claims 10 bytes, has 2
	go peer.Write(append([]byte{1, byte(len(body))}, body...))
	err := waitErr(t, c)
	if !errors.Is(err, chatter.ErrProtocol) || strings.Contains(err.Error(), "stream ended") {
		t.Errorf("Err = %v, want a protocol error naming the field, not an early end of stream", err)
	}
	if !strings.Contains(err.Error(), "data.data") {
		t.Errorf("Err = %v, want it to name data.data", err)
	}
}

// By default a peer that trickles a frame is dropped, pings or no pings.
func TestDefaultFrameReadTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0))
		if err != nil {
			t.Fatal(err)
		}
		go io.Copy(io.Discard, b)
		start := time.Now()
		frame := frameOf(t, "Test", "Blob", sbs.AppendBytes(nil, make([]byte, 50))) // over 30 s at a byte a second
		trickled := make(chan struct{})
		go func() {
			defer close(trickled)
			for _, x := range frame {
				if _, err := b.Write([]byte{x}); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
		for c.Err() == nil && time.Since(start) < time.Hour {
			time.Sleep(100 * time.Millisecond)
		}
		if !errors.Is(c.Err(), chatter.ErrFrameTimeout) {
			t.Errorf("Err = %v, want ErrFrameTimeout", c.Err())
		}
		if d := time.Since(start); d > chatter.DefaultFrameReadTimeout+2*time.Second {
			t.Errorf("dropped after %v, want within the default %v", d, chatter.DefaultFrameReadTimeout)
		}
		c.Close()
		b.Close()
		<-trickled
	})
}

// A silent client is dropped after the handshake timeout: on ssl+sbs one
// that never starts TLS, on a WireAuto server one that never sends a frame.
func TestHandshakeTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr string
		opts []chatter.Option
	}{
		{"tls", "ssl+sbs://127.0.0.1:0", []chatter.Option{chatter.WithPEMFile(writeSelfSigned(t, "server"))}},
		{"auto", "tcp+sbs://127.0.0.1:0", []chatter.Option{chatter.WithWire(chatter.WireAuto)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs lockedBuffer
			conns := make(chan *chatter.Conn, 1)
			opts := append(tc.opts, chatter.WithHandshakeTimeout(100*time.Millisecond),
				chatter.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			srv, err := chatter.Listen(t.Context(), testRepo, tc.addr, func(_ context.Context, c *chatter.Conn) { conns <- c }, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer closeServer(t, srv)
			hp := srv.Addresses()[0][len("ssl+sbs://"):]
			nc, err := net.Dial("tcp", hp)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := nc.Read(make([]byte, 1)); err == nil || n != 0 {
				t.Fatalf("the silent client read %d bytes, %v; want the server to close", n, err)
			} else if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) {
				// closed by the server, as it should be
			} else {
				t.Fatalf("the silent client's read: %v, want the server to close", err)
			}
			if tc.name == "auto" {
				c := <-conns
				waitEnded(t, c)
				if !errors.Is(c.Err(), chatter.ErrHandshakeTimeout) {
					t.Errorf("Err = %v, want ErrHandshakeTimeout", c.Err())
				}
			}
			for srv.OpenConnections() != 0 {
				time.Sleep(time.Millisecond)
			}
			if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "handshake") {
				t.Errorf("nothing logged at WARN about the handshake:\n%s", out)
			}
		})
	}
}

// flakyListener fails its first Accepts as a process out of descriptors
// does, then works.
type flakyListener struct {
	net.Listener
	fail atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fail.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// Accept errors back off and the server keeps serving; a listener closed
// under it ends it with the reason.
func TestAcceptErrorsBackOff(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &flakyListener{Listener: l}
	fl.fail.Store(8) // 5+10+20+...+640 ms of backoff: over a second
	var logs lockedBuffer
	srv, err := chatter.NewServer(testRepo, fl, func(ctx context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	}, chatter.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	c, err := chatter.Connect(t.Context(), testRepo, srv.Addresses()[0])
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.Request(t.Context(), num(3)); err != nil || r.Data.Data != int64(3) {
		t.Fatalf("Request = %v, %v", r.Data.Data, err)
	}
	c.Close()
	if n := fl.fail.Load(); n >= 0 {
		t.Errorf("%d failing accepts left: the server did not retry", n+1)
	}
	if out := logs.String(); !strings.Contains(out, "accept failed; retrying") || !strings.Contains(out, "too many open files") {
		t.Errorf("accept failures not logged:\n%s", out)
	}
	if srv.Err() != nil {
		t.Fatalf("server ended: %v", srv.Err())
	}
	l.Close() // closed under the server
	shutdown(t, srv.Wait)
	if err := srv.Err(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Err after its listener was closed = %v, want net.ErrClosed", err)
	}
}

// An IPv4 address listens on IPv4 only and reports itself as given, as
// the original does.
func TestListenIPv4Only(t *testing.T) {
	srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://0.0.0.0:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	addr := srv.Addresses()[0]
	if !strings.HasPrefix(addr, "tcp+sbs://0.0.0.0:") {
		t.Errorf("Addresses = %v, want tcp+sbs://0.0.0.0:PORT", srv.Addresses())
	}
	if !hasIPv6Loopback() {
		t.Skip("no IPv6 loopback")
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	if nc, err := net.Dial("tcp", "[::1]:"+port); err == nil {
		nc.Close()
		t.Error("a server on 0.0.0.0 accepted a connection on [::1]")
	}
}

// A large send buffer is a queue of segments: what is queued is not
// copied again as the queue grows. (A buffer that append grew, by a
// quarter at a time, copied five times its size as it filled, in single
// copies of tens of MiB that the garbage collector cannot interrupt; a
// 2-second stream of 64 KiB messages with a 64 MiB buffer reached 66 to
// 367 MB/s, against 787 to 843 with the default 1 MiB.)
func TestLargeSendBufferIsNotCopied(t *testing.T) {
	const limit = 16 << 20
	const size = 64 << 10
	a, b := net.Pipe() // b never reads: the writer blocks on its first batch
	c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0), chatter.WithSendBufferSize(limit))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer b.Close() // first: the writer's blocked write fails at once
	d := chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, size)}
	if _, err := c.Send(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	for ; (n+2)*(size+64) <= limit; n++ { // every one fits: none waits
		if _, err := c.Send(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	queued := n * size
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d messages, %d KiB queued, %d KiB allocated", n, queued>>10, allocated>>10)
	if allocated > uint64(queued+queued/2) {
		t.Errorf("queueing %d KiB allocated %d KiB, want at most 1.5 times as much", queued>>10, allocated>>10)
	}
}

// Messages queued in a send buffer of several segments reach the peer
// whole and in order, and Drain sees them all written.
func TestLargeSendBufferKeepsOrder(t *testing.T) {
	const n, size = 600, 20 << 10 // about 12 MiB: a dozen segments
	// The server takes few messages before it stops reading, so that most
	// wait in the client's queue.
	client, server := pairWith(t, "tcp",
		[]chatter.Option{chatter.WithPingTimeout(0), chatter.WithSendBufferSize(16 << 20)},
		[]chatter.Option{chatter.WithPingTimeout(0), chatter.WithQueueSize(1)})
	for i := range n {
		b := make([]byte, size)
		binary.BigEndian.PutUint32(b, uint32(i))
		if _, err := client.Send(t.Context(), chatter.Data{Module: "Test", Type: "Blob", Data: b}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		m, err := server.Receive(t.Context())
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		b, _ := m.Data.Data.([]byte)
		if len(b) != size || binary.BigEndian.Uint32(b) != uint32(i) {
			t.Fatalf("message %d: %d bytes, number %d", i, len(b), binary.BigEndian.Uint32(b))
		}
	}
	if err := client.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
}
