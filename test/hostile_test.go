package test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// The hostile-peer suite: peers that flood, stall, trickle, lie about
// sizes, exhaust descriptors or never read. Each case checks the bound that
// is supposed to hold, measures it, and checks that a well-behaved client
// is served during and after. Every loop is bounded in count and time; the
// figures it logs are the README's "Reliability" table.

// echoServer is an in-process server answering requests, closed at the end
// of the test.
func echoServer(t *testing.T, opts ...chatter.Option) *chatter.Server {
	t.Helper()
	return listenWith(t, chatter.SBSRepository, func(ctx context.Context, c *chatter.Conn) {
		answerRequests(ctx, c, nil)
	}, opts...)
}

// wellServed checks that a new, well-behaved client gets its request
// answered within 10 s, and closes it again.
func wellServed(t *testing.T, addr string, opts ...chatter.Option) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	opts = append([]chatter.Option{chatter.WithLogger(quietLog)}, opts...)
	c, err := chatter.Connect(ctx, chatter.SBSRepository, addr, opts...)
	if err != nil {
		t.Errorf("a well-behaved client cannot connect: %v", err)
		return
	}
	defer c.Close()
	if err := requestEcho(ctx, c, 42); err != nil {
		t.Errorf("a well-behaved client is not served: %v", err)
	}
}

// keepServing makes a request every few milliseconds from one client
// until stop is closed, and reports how many were answered, or the first
// failure.
func keepServing(t *testing.T, addr string, stop <-chan struct{}) (served func() (int, error)) {
	t.Helper()
	c := connectTo(t, chatter.SBSRepository, addr)
	var n atomic.Int64
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			case <-time.After(5 * time.Millisecond):
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := requestEcho(ctx, c, n.Load())
			cancel()
			if err != nil {
				done <- err
				return
			}
			n.Add(1)
		}
	}()
	return func() (int, error) { err := <-done; return int(n.Load()), err }
}

// dialRaw opens a TCP connection that speaks no protocol; it is closed at
// the end of the test.
func dialRaw(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	hp := addr[strings.Index(addr, "://")+3:]
	nc, err := net.DialTimeout("tcp", hp, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc.(*net.TCPConn)
}

// heapPeak samples the Go heap in use every 10 ms until stopped and returns
// the peak's growth over the start.
func heapPeak() (stop func() uint64) {
	runtime.GC()
	base, _ := heapAndStack()
	var peak atomic.Uint64
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if h, _ := heapAndStack(); h > base && h-base > peak.Load() {
				peak.Store(h - base)
			}
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(quit)
		<-finished
		return peak.Load()
	}
}

// closedByServer waits, at most d, for the server to close a raw
// connection that sends nothing, and says how long that took.
func closedByServer(t *testing.T, nc net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	nc.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, nc) // whatever the server says, until it closes
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the server did not close the connection within %v: %v", d, err)
	}
	return time.Since(start)
}

// A peer writes pings as fast as it can and never reads: its pongs queue
// up to the control-frame cap, then the server stops reading it. Memory
// stays bounded and other clients are served throughout.
func TestHostilePingFlood(t *testing.T) {
	verifyNoLeaks(t)
	srv := echoServer(t, chatter.WithPingTimeout(0))
	addr := srv.Addresses()[0]
	stopServing := make(chan struct{})
	served := keepServing(t, addr, stopServing)
	peak := heapPeak()
	const flooders = 4
	var wg sync.WaitGroup
	var pings atomic.Int64
	for range flooders {
		nc := dialRaw(t, addr)
		wg.Go(func() {
			// Until the server stops reading (a write blocks for 500 ms),
			// at most 2 s, at most 10 million pings.
			deadline := time.Now().Add(2 * time.Second)
			var batch []byte
			id := int64(1)
			for i := 0; i < 10_000_000/64 && time.Now().Before(deadline); i++ {
				batch = batch[:0]
				for range 64 {
					batch = append(batch, legacyFrame(id, "HatPing", "MsgPing", nil)...)
					id++
				}
				nc.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := nc.Write(batch); err != nil {
					break
				}
				pings.Add(64)
			}
		})
	}
	wg.Wait()
	grown := peak()
	close(stopServing)
	n, err := served()
	if err != nil {
		t.Errorf("the well-behaved client failed during the flood: %v", err)
	}
	t.Logf("ping flood: %d flooders wrote %d pings (%.0f per flooder) before the server stopped reading them; "+
		"server heap grew at most %s; %d requests of another client answered meanwhile",
		flooders, pings.Load(), float64(pings.Load())/flooders, fmtMiB(grown), n)
	if bound := uint64(16 << 20); grown > bound {
		t.Errorf("heap grew %s under the flood, want under %s", fmtMiB(grown), fmtMiB(bound))
	}
	wellServed(t, addr)
}

// Silent clients: one that never starts TLS, one that never sends a first
// frame to a WireAuto server, one that connects to a plain server and
// never answers a ping. Each is dropped within its bound; a well-behaved
// client is served meanwhile, although the silent ones hold slots.
func TestHostileSilentClients(t *testing.T) {
	verifyNoLeaks(t)
	const handshake = 300 * time.Millisecond
	const ping = 300 * time.Millisecond
	pem := writeSelfSigned(t)
	cases := []struct {
		name, addr string
		opts       []chatter.Option
		bound      time.Duration
	}{
		{"TLS, never starts the handshake", "ssl+sbs://127.0.0.1:0",
			[]chatter.Option{chatter.WithPEMFile(pem), chatter.WithHandshakeTimeout(handshake)}, handshake},
		{"auto server, never sends a frame", "tcp+sbs://127.0.0.1:0",
			[]chatter.Option{chatter.WithWire(chatter.WireAuto), chatter.WithHandshakeTimeout(handshake)}, handshake},
		{"plain server, never answers pings", "tcp+sbs://127.0.0.1:0",
			[]chatter.Option{chatter.WithPingTimeout(ping)}, 2 * ping},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]chatter.Option{chatter.WithMaxConnections(3)}, tc.opts...)
			srv, err := chatter.Listen(t.Context(), chatter.SBSRepository, tc.addr, func(ctx context.Context, c *chatter.Conn) {
				answerRequests(ctx, c, nil)
			}, append(opts, chatter.WithLogger(quietLog))...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { closeServer(t, srv) })
			addr := srv.Addresses()[0]
			silent := []net.Conn{dialRaw(t, addr), dialRaw(t, addr)}
			var clientOpts []chatter.Option
			if strings.HasPrefix(addr, "tcp") {
				clientOpts = append(clientOpts, chatter.WithPingTimeout(0))
			}
			wellServed(t, addr, clientOpts...) // the third slot
			var wg sync.WaitGroup
			took := make([]time.Duration, len(silent))
			for i, nc := range silent {
				wg.Go(func() { took[i] = closedByServer(t, nc, 10*time.Second) })
			}
			wg.Wait()
			for srv.OpenConnections() != 0 {
				time.Sleep(time.Millisecond)
			}
			t.Logf("%s: dropped after %v and %v (bound %v)", tc.name, took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), tc.bound)
			for _, d := range took {
				if d > tc.bound+2*time.Second {
					t.Errorf("silent client dropped after %v, want about %v", d, tc.bound)
				}
			}
			wellServed(t, addr, clientOpts...)
		})
	}
}

// A peer trickles one byte a second, pings or no pings: the frame-read
// timeout drops it.
func TestHostileSlowloris(t *testing.T) {
	verifyNoLeaks(t)
	const timeout = time.Second
	srv := echoServer(t, chatter.WithPingTimeout(0), chatter.WithFrameReadTimeout(timeout))
	addr := srv.Addresses()[0]
	const tricklers = 10
	frame := legacyFrame(1, "", "Bytes", sbs.AppendBytes(nil, make([]byte, 40)))
	var wg sync.WaitGroup
	took := make([]time.Duration, tricklers)
	for i := range tricklers {
		nc := dialRaw(t, addr)
		wg.Go(func() {
			start := time.Now()
			// At most the frame's length, at most 10 s.
			for j := 0; j < len(frame) && time.Since(start) < 10*time.Second; j++ {
				if _, err := nc.Write(frame[j : j+1]); err != nil {
					break
				}
				nc.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := nc.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
					break // the server closed it
				}
			}
			took[i] = time.Since(start)
		})
	}
	wellServed(t, addr)
	wg.Wait()
	worst := time.Duration(0)
	for _, d := range took {
		worst = max(worst, d)
	}
	t.Logf("slowloris: %d tricklers at 1 byte/s dropped after at most %v (frame-read timeout %v)", tricklers, worst.Round(time.Millisecond), timeout)
	if worst > timeout+3*time.Second {
		t.Errorf("a trickler held its connection %v, want about %v", worst, timeout)
	}
	wellServed(t, addr)
}

// A header claiming 2^60 bytes is refused before anything is allocated.
func TestHostileHugeHeader(t *testing.T) {
	verifyNoLeaks(t)
	srv := echoServer(t)
	addr := srv.Addresses()[0]
	peak := heapPeak()
	var took time.Duration
	for range 100 {
		nc := dialRaw(t, addr)
		if _, err := nc.Write([]byte{8, 0x10, 0, 0, 0, 0, 0, 0, 0}); err != nil {
			t.Fatal(err)
		}
		took = max(took, closedByServer(t, nc, 10*time.Second))
		nc.Close()
	}
	grown := peak()
	t.Logf("2^60-byte headers: 100 connections each closed within %v; heap grew at most %s", took.Round(time.Millisecond), fmtMiB(grown))
	if grown > 8<<20 {
		t.Errorf("heap grew %s for headers that claim 2^60 bytes", fmtMiB(grown))
	}
	wellServed(t, addr)
}

// 100 connections each send a frame cut short and close: every server
// connection ends with the reason, none is left, the server serves on.
func TestHostileTruncatedFrames(t *testing.T) {
	verifyNoLeaks(t)
	const n = 100
	ends := make(chan error, n)
	srv := listenWith(t, chatter.SBSRepository, func(ctx context.Context, c *chatter.Conn) {
		answerRequests(ctx, c, nil)
		ends <- c.Err()
	}, chatter.WithPingTimeout(0))
	addr := srv.Addresses()[0]
	frame := legacyFrame(1, "", "Integer", sbs.AppendInteger(nil, 7))
	for i := range n {
		nc := dialRaw(t, addr)
		if _, err := nc.Write(frame[:1+i%(len(frame)-1)]); err != nil {
			t.Fatal(err)
		}
		nc.Close()
	}
	for range n {
		select {
		case err := <-ends: // one per truncated connection, before wellServed adds its own
			if !errors.Is(err, chatter.ErrProtocol) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("a truncated connection ended with %v, want ErrProtocol and io.ErrUnexpectedEOF", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("not every truncated connection ended")
		}
	}
	for srv.OpenConnections() != 0 {
		time.Sleep(time.Millisecond)
	}
	t.Logf("truncated frames: %d connections ended with ErrProtocol (unexpected EOF), 0 left open", n)
	wellServed(t, addr)
}

// 2,000 idle connections that never send anything: the server holds a
// bounded amount per connection and serves a new client at once.
func TestHostileIdleConnections(t *testing.T) {
	const n = 2000
	raiseFileLimit(t, 2*n+256)
	verifyNoLeaks(t)
	srv := echoServer(t)
	addr := srv.Addresses()[0]
	runtime.GC()
	heap0, stack0 := heapAndStack()
	for range n {
		dialRaw(t, addr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for srv.OpenConnections() != n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := srv.OpenConnections(); got != n {
		t.Fatalf("%d of %d connections open", got, n)
	}
	time.Sleep(100 * time.Millisecond) // every connection's goroutines started
	runtime.GC()
	heap1, stack1 := heapAndStack()
	perConn := (float64(heap1) + float64(stack1) - float64(heap0) - float64(stack0)) / n
	start := time.Now()
	wellServed(t, addr)
	t.Logf("idle: %d silent connections, %s of heap and stacks each on the server; a new client served in %v",
		n, fmtKiB(perConn), time.Since(start).Round(time.Millisecond))
	if bound := 64.0 * 1024; perConn > bound {
		t.Errorf("%s per idle connection, want under %s", fmtKiB(perConn), fmtKiB(bound))
	}
}

// A peer sends requests as fast as it can and never reads the replies: the
// server's send buffer fills, its handler waits, its queue fills, and it
// stops reading the peer. Memory stays bounded; others are served.
func TestHostileRequestsNeverRead(t *testing.T) {
	verifyNoLeaks(t)
	const sendBuffer = 64 << 10
	const queue = 64
	srv := echoServer(t, chatter.WithPingTimeout(0), chatter.WithSendBufferSize(sendBuffer), chatter.WithQueueSize(queue))
	addr := srv.Addresses()[0]
	stopServing := make(chan struct{})
	served := keepServing(t, addr, stopServing)
	peak := heapPeak()
	nc := dialRaw(t, addr)
	payload := sbs.AppendBytes(nil, make([]byte, 1000))
	var batch []byte
	requests := 0
	deadline := time.Now().Add(3 * time.Second)
	for id := int64(1); requests < 1_000_000 && time.Now().Before(deadline); {
		batch = batch[:0]
		for range 16 {
			b := sbs.AppendInteger(nil, id)
			b = sbs.AppendInteger(b, id)
			b = sbs.AppendBoolean(b, true)
			b = sbs.AppendBoolean(b, true)
			b = sbs.AppendBoolean(b, false) // last = false: a request
			b = sbs.AppendInteger(b, 0)
			b = sbs.AppendString(b, "Bytes")
			b = sbs.AppendBytes(b, payload)
			batch = append(append(batch, frameHeader(len(b))...), b...)
			id++
		}
		nc.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := nc.Write(batch); err != nil {
			break
		}
		requests += 16
	}
	grown := peak()
	close(stopServing)
	n, err := served()
	if err != nil {
		t.Errorf("the well-behaved client failed meanwhile: %v", err)
	}
	t.Logf("requests never read: %d 1 KiB requests written before the server stopped reading; heap grew at most %s "+
		"(send buffer %d KiB, queue %d); %d requests of another client answered meanwhile",
		requests, fmtMiB(grown), sendBuffer>>10, queue, n)
	if requests >= 1_000_000 {
		t.Error("the server never stopped reading a peer that reads nothing")
	}
	if bound := uint64(16 << 20); grown > bound {
		t.Errorf("heap grew %s, want under %s", fmtMiB(grown), fmtMiB(bound))
	}
	wellServed(t, addr)
}

// Good requests followed by a bad frame in one write: every good one is
// delivered and answered before the connection closes.
func TestHostileBadFrameAfterGoodOnes(t *testing.T) {
	verifyNoLeaks(t)
	srv := echoServer(t, chatter.WithPingTimeout(0), chatter.WithReplyGrace(100*time.Millisecond))
	nc := dialRaw(t, srv.Addresses()[0])
	const good = 10
	var burst []byte
	for i := range int64(good) {
		b := sbs.AppendInteger(nil, i+1)
		b = sbs.AppendInteger(b, i+1)
		b = sbs.AppendBoolean(b, true)
		b = sbs.AppendBoolean(b, true)
		b = sbs.AppendBoolean(b, false)
		b = sbs.AppendInteger(b, 0)
		b = sbs.AppendString(b, "Integer")
		b = sbs.AppendBytes(b, sbs.AppendInteger(nil, i))
		burst = append(append(burst, frameHeader(len(b))...), b...)
	}
	burst = append(burst, legacyFrame(99, "Unknown", "Type", nil)...)
	if _, err := nc.Write(burst); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	replies := 0
	br := bufio.NewReader(nc)
	for {
		m, err := br.ReadByte()
		if err != nil {
			break
		}
		head := make([]byte, m)
		if _, err := io.ReadFull(br, head); err != nil {
			break
		}
		k := 0
		for _, b := range head {
			k = k<<8 | int(b)
		}
		if _, err := io.ReadFull(br, make([]byte, k)); err != nil {
			break
		}
		replies++
	}
	t.Logf("bad frame after %d good ones in one write: %d replies before the close", good, replies)
	if replies != good {
		t.Errorf("%d replies, want %d", replies, good)
	}
	wellServed(t, srv.Addresses()[0])
}

// Descriptor exhaustion: a server in a child process whose RLIMIT_NOFILE is
// lowered gets a burst of connections beyond it. accept fails with "too
// many open files"; the server backs off, keeps its connections, and serves
// a well-behaved client once the burst is over.
func TestHostileDescriptorExhaustion(t *testing.T) {
	verifyNoLeaks(t)
	child := startServerHelper(t, "emfile-server")
	const burst = 200
	var conns []net.Conn
	for range burst {
		nc, err := net.DialTimeout("tcp", strings.TrimPrefix(child.addr, "tcp+sbs://"), 10*time.Second)
		if err != nil {
			t.Fatalf("dialing the burst: %v", err)
		}
		conns = append(conns, nc)
	}
	// Wait until the server has said that accepting fails.
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(child.stderr.String(), "too many open files") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(child.stderr.String(), "too many open files") {
		t.Fatalf("the child never ran out of descriptors; stderr:\n%s", child.stderr.String())
	}
	select {
	case <-child.done:
		t.Fatalf("the server died of EMFILE; stderr:\n%s", child.stderr.String())
	default:
	}
	for _, nc := range conns {
		nc.Close()
	}
	start := time.Now()
	wellServed(t, child.addr)
	warns := strings.Count(child.stderr.String(), "accept failed")
	t.Logf("descriptor exhaustion: %d connections against RLIMIT_NOFILE %d; %d accept warnings logged (rate-limited); "+
		"a client served %v after the burst closed", burst, emfileLimit, warns, time.Since(start).Round(time.Millisecond))
	select {
	case <-child.done:
		t.Errorf("the server ended: %v; stderr:\n%s", child.err, child.stderr.String())
	default:
	}
}

// emfileLimit is the descriptor limit of the emfile-server helper.
const emfileLimit = 64

// emfileServer is the helper process of TestHostileDescriptorExhaustion: an
// echo server under a low descriptor limit, logging warnings to stderr,
// until its standard input ends.
func emfileServer() int {
	lim := syscall.Rlimit{Cur: emfileLimit, Max: emfileLimit}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv, err := chatter.Listen(context.Background(), chatter.SBSRepository, "tcp+sbs://127.0.0.1:0",
		func(ctx context.Context, c *chatter.Conn) { answerRequests(ctx, c, nil) }, chatter.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	fmt.Printf("listening on %s\n", srv.Addresses()[0])
	waitStdinOrTimeout()
	return 0
}

// waitStdinOrTimeout waits until standard input ends (the test is gone) or
// the process timeout passes.
func waitStdinOrTimeout() {
	stdinClosed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	timer := time.NewTimer(processTimeout)
	defer timer.Stop()
	select {
	case <-stdinClosed:
	case <-timer.C:
	}
}

// serverHelper is a server running in a child process of the tests.
type serverHelper struct {
	*helperProcess
	addr string
}

// startServerHelper starts a helper in mode that serves, and waits for its
// "listening on ADDRESS" line.
func startServerHelper(t *testing.T, mode string) *serverHelper {
	t.Helper()
	h, line := startHelper(t, mode, "")
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("helper %s: read %q, want listening on ADDRESS; stderr:\n%s", mode, line, h.stderr.String())
	}
	return &serverHelper{helperProcess: h, addr: addr}
}
