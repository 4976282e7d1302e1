package chatter_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
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

// TestKeepaliveStartsNoWriter: on an idle connection the keepalive's pings
// and pongs are written by the supervisor itself, so no writer goroutine
// runs between them. (Before, each ping and each pong started a writer that
// lingered for a second: with pings every 100 ms, one was always there.)
func TestKeepaliveStartsNoWriter(t *testing.T) {
	for _, tc := range []struct {
		transport string
		wire      chatter.Wire
	}{
		{"tcp", chatter.WireLegacy}, {"tcp", chatter.WireCurrent},
		{"tls", chatter.WireLegacy}, {"tls", chatter.WireCurrent},
	} {
		wire := tc.wire
		t.Run(tc.transport+"/"+wire.String(), func(t *testing.T) {
			opts := []chatter.Option{chatter.WithWire(wire),
				chatter.WithPingTimeout(100 * time.Millisecond), chatter.WithPingDelay(100 * time.Millisecond)}
			client, server := pairWith(t, tc.transport, opts, opts)
			time.Sleep(300 * time.Millisecond)
			before := server.Stats().PingsIn + client.Stats().PingsIn
			writers := 0
			for range 10 {
				time.Sleep(100 * time.Millisecond)
				writers = max(writers, goroutinesIn("chatter.(*Conn).writeLoop"))
			}
			if after := server.Stats().PingsIn + client.Stats().PingsIn; after-before < 5 {
				t.Fatalf("%d pings in a second with a period of 100 ms", after-before)
			}
			if writers > 0 {
				t.Errorf("%d writer goroutines on an idle connection between keepalive frames, want none", writers)
			}
			if err := client.Err(); err != nil {
				t.Errorf("the connection ended: %v", err)
			}
		})
	}
}

// goroutinesIn counts the goroutines whose stacks have fn in them.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// A lone ping that the socket takes only in part, or not at all, within
// the supervisor's short write deadline is finished by a writer goroutine,
// before anything queued after it: the peer reads a whole ping, then the
// message sent while the ping was on its way.
//
// Over TLS the same holds for a connection made as Connect makes it: the
// socket takes part of the ping's record, or none of it, and the rest is
// written before the next record, so the peer's TLS reads both whole.
func TestLoneWriteCutShort(t *testing.T) {
	t.Run("part", func(t *testing.T) { testLoneWriteCutShort(t, false, false) })
	t.Run("none", func(t *testing.T) { testLoneWriteCutShort(t, true, false) })
	t.Run("tls/part", func(t *testing.T) { testLoneWriteCutShort(t, false, true) })
	t.Run("tls/none", func(t *testing.T) { testLoneWriteCutShort(t, true, true) })
}

// testLoneWriteCutShort: with none, the peer begins to read only once the
// ping has been counted as sent, that is once the lone write has given up
// without writing a byte. With overTLS, the connection is a TLS client's,
// and the peer a TLS server whose socket reads are slowed once its
// handshake is done.
func testLoneWriteCutShort(t *testing.T, none, overTLS bool) {
	a, b := net.Pipe()
	firstRead := make(chan struct{})
	slow := &slowReader{r: b, chunk: 3, pause: 30 * time.Millisecond, first: firstRead}
	var nc net.Conn = a
	var peer io.Reader = slow
	if overTLS {
		// A record is about twice a ping frame: larger chunks keep the
		// exchange well within the ping timeout.
		slow.chunk = 8
		gate := &slowConn{Conn: b, slow: slow}
		pem := writeSelfSigned(t, "peer")
		cert, err := tls.LoadX509KeyPair(pem, pem)
		if err != nil {
			t.Fatal(err)
		}
		srv := tls.Server(gate, &tls.Config{Certificates: []tls.Certificate{cert}})
		handshake := make(chan error, 1)
		go func() { handshake <- srv.HandshakeContext(t.Context()) }()
		tc, err := chatter.TLSClient(t.Context(), a, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		nc = tc
		// The server's handshake ends once the client's Finished is read,
		// which the client sent before its own handshake returned.
		if err := <-handshake; err != nil {
			t.Fatal(err)
		}
		gate.slowed.Store(true)
		peer = srv
	}
	c, err := chatter.NewConn(nc, testRepo, chatter.WithPingTimeout(time.Second))
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	defer c.Close()
	defer b.Close() // first: a TLS close_notify would wait for a reader
	type result struct {
		envs []chatter.Envelope
		err  error
	}
	got := make(chan result, 1)
	for none && c.Stats().PingsOut == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	go func() {
		sc := chatter.NewFrameScanner(peer, 1<<20)
		var r result
		for len(r.envs) < 2 {
			body, err := sc.Next()
			if err != nil {
				r.err = err
				break
			}
			e, _, err := chatter.DecodeEnvelope(body, chatter.WireLegacy)
			if err != nil {
				r.err = err
				break
			}
			r.envs = append(r.envs, e)
		}
		got <- r
	}()
	<-firstRead // the ping has begun to go out, a chunk of it
	if _, err := c.Send(t.Context(), num(7)); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("the peer read %d frames, then: %v", len(r.envs), r.err)
	}
	if r.envs[0].Type != "MsgPing" || r.envs[1].Type != "Num" {
		t.Errorf("frames %s, %s; want MsgPing, then Num", r.envs[0].Type, r.envs[1].Type)
	}
}

// slowReader hands out at most chunk bytes per Read, after a pause, and
// closes first after the first Read.
type slowReader struct {
	r     net.Conn
	chunk int
	pause time.Duration
	first chan struct{}
	reads int
}

// slowConn reads through slow once slowed is set, and at full speed
// before (a TLS handshake).
type slowConn struct {
	net.Conn
	slow   *slowReader
	slowed atomic.Bool
}

func (s *slowConn) Read(p []byte) (int, error) {
	if s.slowed.Load() {
		return s.slow.Read(p)
	}
	return s.Conn.Read(p)
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.reads > 0 {
		time.Sleep(s.pause)
	}
	n, err := s.r.Read(p[:min(len(p), s.chunk)])
	if s.reads++; s.reads == 1 {
		close(s.first)
	}
	return n, err
}
