package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/gochatter/gochatter/pkg/chatter"
	"io"
	"math/bits"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// rawSystem is the ceiling a library can aim at: Chatter's framing
// (| m | k, m bytes big-endian | body |) over TCP with no protocol at all,
// but shaped as a connection of a messaging library is: a writer goroutine,
// fed by a channel bounded in bytes (rawQueueFor), coalesces frames into a
// bufio.Writer and flushes when the channel is empty; a reader reads each
// body into a fresh slice and hands it to a handler. Bodies are the bare payload (8 bytes for an
// integer).
type rawSystem struct{}

func (rawSystem) name() string { return "raw" }

// rawParseSystem is the old, lower bar: one-way traffic written straight
// into a bufio.Writer by the sending goroutine and parsed in place by the
// reader, which hands nothing to anyone. It is reported for reference.
type rawParseSystem struct{}

func (rawParseSystem) name() string { return "raw-parse" }

const (
	// rawBufSize sizes the buffers for traffic; idle connections get
	// bufio's default (4 KiB), the least a real implementation would hold.
	rawBufSize     = 64 << 10
	rawIdleBufSize = 4 << 10
	rawMaxFrame    = 64 << 20
	// rawQueue is the writer's channel capacity, in bodies; see
	// rawQueueFor for its bound in bytes.
	rawQueue = 1024
)

// queueBytes bounds what a one-way sender may queue on its connection:
// gochatter's send buffer (chatter.WithSendBufferSize) and raw's writer
// channel alike, so that neither holds a larger heap than the other (see
// rawQueueFor). -queue sets it; the default is gochatter's.
var queueBytes = chatter.DefaultSendBufferSize

// sizeText writes n bytes as MiB or KiB when it is a whole number of them.
func sizeText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// rawQueueFor is the writer's channel capacity for bodies of size bytes:
// rawQueue, but no more than queueBytes of them. A library bounds what
// it queues in bytes. A channel of 1,024 bodies of 64 KiB holds 64 MiB, and
// a live heap that large makes the garbage collector run about ten times
// less often than it does for a connection that holds 1 MiB: that alone
// made the raw row's 64 KiB figure 2.8 to 3.9 times higher (1,695 to 1,762
// MB/s against 437 to 622), which is a measure of the heap and not of the
// framing.
func rawQueueFor(size int) int {
	return min(rawQueue, max(1, queueBytes/max(size, 1)))
}

func writeFrame(w *bufio.Writer, body []byte) error {
	var hdr [9]byte
	k := uint64(len(body))
	m := (bits.Len64(k) + 7) / 8
	hdr[0] = byte(m)
	for i := range m {
		hdr[m-i] = byte(k >> (8 * i))
	}
	if _, err := w.Write(hdr[:1+m]); err != nil {
		return err
	}
	_, err := w.Write(body)
	return err
}

// readFrame reads one frame's body into buf (grown as needed).
func readFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	k, err := readHeader(r)
	if err != nil {
		return buf, err
	}
	if uint64(cap(buf)) < k {
		buf = make([]byte, k)
	}
	buf = buf[:k]
	_, err = io.ReadFull(r, buf)
	return buf, noEOF(err)
}

// readFreshFrame reads one frame's body into a new slice, which the caller
// may keep.
func readFreshFrame(r *bufio.Reader) ([]byte, error) {
	k, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, k)
	_, err = io.ReadFull(r, buf)
	return buf, noEOF(err)
}

func readHeader(r *bufio.Reader) (uint64, error) {
	m, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	if m > 8 {
		return 0, fmt.Errorf("raw: length of %d bytes", m)
	}
	var k uint64
	for range m {
		b, err := r.ReadByte()
		if err != nil {
			return 0, noEOF(err)
		}
		k = k<<8 | uint64(b)
	}
	if k > rawMaxFrame {
		return 0, fmt.Errorf("raw: frame of %d bytes", k)
	}
	return k, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// rawConn is one end of a raw connection: a writer goroutine that drains
// its channel into a bufio.Writer, and a reader goroutine that hands each
// body, in a slice of its own, to handle.
type rawConn struct {
	nc      net.Conn
	out     chan []byte
	stop    chan struct{} // closed by close: the writer ends
	wdone   chan error
	rdone   chan error
	closing sync.Once
}

func newRawConn(nc net.Conn, bufSize, queue int, handle func([]byte)) *rawConn {
	c := &rawConn{nc: nc, out: make(chan []byte, queue), stop: make(chan struct{}),
		wdone: make(chan error, 1), rdone: make(chan error, 1)}
	go c.write(bufSize)
	go c.read(bufSize, handle)
	return c
}

func (c *rawConn) write(bufSize int) {
	w := bufio.NewWriterSize(c.nc, bufSize)
	for {
		var body []byte
		select {
		case body = <-c.out:
		case <-c.stop:
			c.wdone <- w.Flush()
			return
		}
		if err := writeFrame(w, body); err != nil {
			c.wdone <- err
			return
		}
		// Take everything queued meanwhile, then flush once.
		for more := true; more; {
			select {
			case body = <-c.out:
				if err := writeFrame(w, body); err != nil {
					c.wdone <- err
					return
				}
			default:
				more = false
			}
		}
		if err := w.Flush(); err != nil {
			c.wdone <- err
			return
		}
	}
}

func (c *rawConn) read(bufSize int, handle func([]byte)) {
	r := bufio.NewReaderSize(c.nc, bufSize)
	for {
		body, err := readFreshFrame(r)
		if err != nil {
			if err == io.EOF || errors.Is(err, net.ErrClosed) {
				err = nil
			}
			c.rdone <- err
			return
		}
		handle(body)
	}
}

// send queues a body; the writer owns it from then on.
func (c *rawConn) send(ctx context.Context, body []byte) error {
	select {
	case c.out <- body:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drain waits until the writer has taken everything queued and written it.
func (c *rawConn) drain(ctx context.Context) error {
	for len(c.out) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Microsecond):
		}
	}
	return nil
}

// close stops the writer (which flushes) and closes the socket, which ends
// the reader; it returns their errors.
func (c *rawConn) close() error {
	c.closing.Do(func() { close(c.stop) })
	werr := <-c.wdone
	err := c.nc.Close()
	return errors.Join(werr, err, <-c.rdone)
}

// rawPair is a listener's one accepted connection and the dialled end.
func rawPair(ctx context.Context) (client, server net.Conn, err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	var d net.Dialer
	client, err = d.DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	if server, err = l.Accept(); err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, server, nil
}

func (rawSystem) oneWay(ctx context.Context, size int, rx func(int64, int)) (sender, error) {
	client, server, err := rawPair(ctx)
	if err != nil {
		return nil, err
	}
	handle := func(body []byte) {
		if size == 0 && len(body) == 8 {
			rx(seqOf(body), 0)
		} else {
			rx(seqOf(body), len(body))
		}
	}
	s := &rawSender{size: max(size, 8)}
	s.tx = newRawConn(client, rawBufSize, rawQueueFor(s.size), func([]byte) {})
	s.rx = newRawConn(server, rawBufSize, rawQueue, handle)
	return s, nil
}

type rawSender struct {
	size   int
	tx, rx *rawConn
}

func (s *rawSender) send(ctx context.Context, seq int64) error {
	body := make([]byte, s.size) // the writer owns what it is given
	putSeq(body, seq)
	return s.tx.send(ctx, body)
}

func (s *rawSender) flush(ctx context.Context) error { return s.tx.drain(ctx) }

func (s *rawSender) close() error {
	// The sender's end first: its writer flushes, its socket closes, and
	// the receiver reads to the end.
	err := s.tx.close()
	return errors.Join(err, s.rx.close())
}

func (rawParseSystem) oneWay(ctx context.Context, size int, rx func(int64, int)) (sender, error) {
	client, server, err := rawPair(ctx)
	if err != nil {
		return nil, err
	}
	s := &rawParseSender{conn: client, server: server, w: bufio.NewWriterSize(client, rawBufSize),
		buf: make([]byte, max(size, 8)), recvDone: make(chan error, 1)}
	go func() {
		r := bufio.NewReaderSize(server, rawBufSize)
		var body []byte
		for {
			var err error
			if body, err = readFrame(r, body); err != nil {
				if err == io.EOF {
					err = nil
				}
				s.recvDone <- err
				return
			}
			if size == 0 && len(body) == 8 {
				rx(seqOf(body), 0)
			} else {
				rx(seqOf(body), len(body))
			}
		}
	}()
	return s, nil
}

type rawParseSender struct {
	conn, server net.Conn
	w            *bufio.Writer
	buf          []byte
	recvDone     chan error
}

func (s *rawParseSender) send(_ context.Context, seq int64) error {
	putSeq(s.buf, seq)
	return writeFrame(s.w, s.buf)
}

func (s *rawParseSender) flush(context.Context) error { return s.w.Flush() }

func (s *rawParseSender) close() error {
	err := s.conn.Close()
	select {
	case rerr := <-s.recvDone:
		err = errors.Join(err, rerr)
	case <-time.After(closeTimeout):
		err = errors.Join(err, errors.New("raw-parse: receiver did not end"))
	}
	return errors.Join(err, s.server.Close())
}

// errNotMeasured: a system that takes part in some workloads only.
var errNotMeasured = errors.New("not measured")

func (rawParseSystem) echo(context.Context, int) ([]caller, func() error, error) {
	return nil, nil, errNotMeasured
}

func (rawParseSystem) idle(context.Context, int) (func() error, error) { return nil, errNotMeasured }

// rawEchoServer echoes every frame on every connection it accepts.
type rawEchoServer struct {
	l       net.Listener
	bufSize int
	wg      sync.WaitGroup

	mu    sync.Mutex
	conns []*rawConn
	err   error
}

func startRawEcho(bufSize int) (*rawEchoServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &rawEchoServer{l: l, bufSize: bufSize}
	s.wg.Go(s.accept)
	return s, nil
}

func (s *rawEchoServer) accept() {
	for {
		nc, err := s.l.Accept()
		if err != nil {
			return // closed
		}
		var c *rawConn
		ready := make(chan struct{})
		c = newRawConn(nc, s.bufSize, rawQueue, func(body []byte) {
			<-ready
			c.send(context.Background(), body) // the fresh body goes back as it is
		})
		close(ready)
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
	}
}

func (s *rawEchoServer) accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// close stops accepting, closes every connection and waits.
func (s *rawEchoServer) close() error {
	err := s.l.Close()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		if cerr := c.close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && !errors.Is(cerr, syscall.ECONNRESET) && !errors.Is(cerr, syscall.EPIPE) {
			err = errors.Join(err, cerr)
		}
	}
	return errors.Join(err, s.err)
}

func (rawSystem) echo(ctx context.Context, conns int) ([]caller, func() error, error) {
	srv, err := startRawEcho(rawBufSize)
	if err != nil {
		return nil, nil, err
	}
	var clients []*rawCaller
	closeAll := func() error {
		var errs []error
		for _, c := range clients {
			errs = append(errs, c.close())
		}
		return errors.Join(append(errs, srv.close())...)
	}
	var callers []caller
	for range conns {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", srv.l.Addr().String())
		if err != nil {
			return nil, nil, errors.Join(err, closeAll())
		}
		c := newRawCaller(nc, rawBufSize)
		clients = append(clients, c)
		callers = append(callers, c)
	}
	return callers, closeAll, nil
}

// rawCaller pipelines calls on one connection: replies come back in the
// order of the requests, so a FIFO of waiting callers is all it needs.
type rawCaller struct {
	c   *rawConn
	bad atomic.Pointer[string]

	mu      sync.Mutex
	pending []chan int64
}

func newRawCaller(nc net.Conn, bufSize int) *rawCaller {
	rc := &rawCaller{}
	rc.c = newRawConn(nc, bufSize, rawQueue, func(body []byte) {
		rc.mu.Lock()
		if len(rc.pending) == 0 {
			rc.mu.Unlock()
			msg := "raw: reply to no request"
			rc.bad.Store(&msg)
			return
		}
		ch := rc.pending[0]
		rc.pending = rc.pending[1:]
		rc.mu.Unlock()
		ch <- seqOf(body) // buffered
	})
	return rc
}

func (c *rawCaller) call(ctx context.Context, v int64) (int64, error) {
	ch := make(chan int64, 1)
	body := make([]byte, 8)
	putSeq(body, v)
	// The FIFO and the writer's channel in the same order.
	c.mu.Lock()
	c.pending = append(c.pending, ch)
	err := c.c.send(ctx, body)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	select {
	case got := <-ch:
		return got, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (c *rawCaller) close() error {
	err := c.c.close()
	if bad := c.bad.Load(); bad != nil {
		err = errors.Join(err, errors.New(*bad))
	}
	return err
}

func (rawSystem) idle(ctx context.Context, n int) (func() error, error) {
	srv, err := startRawEcho(rawIdleBufSize)
	if err != nil {
		return nil, err
	}
	addr := srv.l.Addr().String()
	clients, err := dialAll(ctx, n, func(ctx context.Context) (*rawCaller, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return newRawCaller(nc, rawIdleBufSize), nil
	})
	closeAll := func() error {
		var errs []error
		for _, c := range clients {
			errs = append(errs, c.close())
		}
		return errors.Join(append(errs, srv.close())...)
	}
	if err != nil {
		return nil, errors.Join(err, closeAll())
	}
	deadline := time.Now().Add(time.Minute)
	for {
		accepted := srv.accepted()
		if accepted >= n {
			return closeAll, nil
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("raw: only %d of %d connections accepted", accepted, n), closeAll())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
