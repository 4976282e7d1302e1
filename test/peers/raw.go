package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// rawSystem is the ceiling: Chatter's framing (| m | k, m bytes
// big-endian | body |) over one TCP connection with no protocol at all —
// a bufio.Writer that writes frames and a bufio.Reader that parses them.
// Bodies are the bare payload (8 bytes for an integer).
type rawSystem struct{}

func (rawSystem) name() string { return "raw" }

const (
	// rawBufSize sizes the buffers for traffic; idle connections get
	// bufio's default (4 KiB), the least a real implementation would hold.
	rawBufSize     = 64 << 10
	rawIdleBufSize = 4 << 10
	rawMaxFrame    = 64 << 20
)

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
	m, err := r.ReadByte()
	if err != nil {
		return buf, err
	}
	if m > 8 {
		return buf, fmt.Errorf("raw: length of %d bytes", m)
	}
	var k uint64
	for range m {
		b, err := r.ReadByte()
		if err != nil {
			return buf, noEOF(err)
		}
		k = k<<8 | uint64(b)
	}
	if k > rawMaxFrame {
		return buf, fmt.Errorf("raw: frame of %d bytes", k)
	}
	if uint64(cap(buf)) < k {
		buf = make([]byte, k)
	}
	buf = buf[:k]
	_, err = io.ReadFull(r, buf)
	return buf, noEOF(err)
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
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
	s := &rawSender{conn: client, server: server, w: bufio.NewWriterSize(client, rawBufSize),
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

type rawSender struct {
	conn, server net.Conn
	w            *bufio.Writer
	buf          []byte
	recvDone     chan error
}

func (s *rawSender) send(_ context.Context, seq int64) error {
	putSeq(s.buf, seq)
	return writeFrame(s.w, s.buf)
}

func (s *rawSender) flush(context.Context) error { return s.w.Flush() }

func (s *rawSender) close() error {
	err := s.conn.Close()
	select {
	case rerr := <-s.recvDone:
		err = errors.Join(err, rerr)
	case <-time.After(closeTimeout):
		err = errors.Join(err, errors.New("raw: receiver did not end"))
	}
	return errors.Join(err, s.server.Close())
}

// rawEchoServer echoes every frame on every connection it accepts,
// flushing whenever it has read all that had arrived.
type rawEchoServer struct {
	l       net.Listener
	bufSize int
	wg      sync.WaitGroup

	mu    sync.Mutex
	conns []net.Conn
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
		c, err := s.l.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(c) })
	}
}

func (s *rawEchoServer) serve(c net.Conn) {
	r := bufio.NewReaderSize(c, s.bufSize)
	w := bufio.NewWriterSize(c, s.bufSize)
	var body []byte
	var err error
	for {
		if body, err = readFrame(r, body); err != nil {
			break
		}
		if err = writeFrame(w, body); err != nil {
			break
		}
		if r.Buffered() == 0 {
			if err = w.Flush(); err != nil {
				break
			}
		}
	}
	if err != io.EOF && !errors.Is(err, net.ErrClosed) {
		s.mu.Lock()
		s.err = errors.Join(s.err, err)
		s.mu.Unlock()
	}
}

// close stops accepting, closes every connection and waits for the
// goroutines.
func (s *rawEchoServer) close() error {
	err := s.l.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
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
	conn    net.Conn
	bufSize int
	dead    chan struct{} // closed when the reader ends
	done    chan error
	waiting atomic.Int32 // callers waiting for mu

	mu      sync.Mutex
	w       *bufio.Writer
	pending []chan int64
	buf     [8]byte
}

func newRawCaller(nc net.Conn, bufSize int) *rawCaller {
	c := &rawCaller{conn: nc, bufSize: bufSize, w: bufio.NewWriterSize(nc, bufSize), dead: make(chan struct{}), done: make(chan error, 1)}
	go c.read()
	return c
}

func (c *rawCaller) read() {
	defer close(c.dead)
	r := bufio.NewReaderSize(c.conn, c.bufSize)
	var body []byte
	for {
		var err error
		if body, err = readFrame(r, body); err != nil {
			if err == io.EOF || errors.Is(err, net.ErrClosed) {
				err = nil
			}
			c.done <- err
			return
		}
		c.mu.Lock()
		if len(c.pending) == 0 {
			c.mu.Unlock()
			c.done <- errors.New("raw: reply to no request")
			return
		}
		ch := c.pending[0]
		c.pending = c.pending[1:]
		c.mu.Unlock()
		ch <- seqOf(body) // buffered
	}
}

func (c *rawCaller) call(ctx context.Context, v int64) (int64, error) {
	ch := make(chan int64, 1)
	c.waiting.Add(1)
	c.mu.Lock()
	c.waiting.Add(-1)
	c.pending = append(c.pending, ch)
	putSeq(c.buf[:], v)
	err := writeFrame(c.w, c.buf[:])
	// Coalesce: a caller waiting for the lock will write after this one
	// and flush both.
	if err == nil && c.waiting.Load() == 0 {
		err = c.w.Flush()
	}
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	select {
	case got := <-ch:
		return got, nil
	case <-c.dead:
		return 0, errors.New("raw: connection ended")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (c *rawCaller) close() error {
	err := c.conn.Close()
	<-c.dead
	return errors.Join(err, <-c.done)
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
		srv.mu.Lock()
		accepted := len(srv.conns)
		srv.mu.Unlock()
		if accepted >= n {
			return closeAll, nil
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("raw: only %d of %d connections accepted", accepted, n), closeAll())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
