package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// gochatterSystem runs client and server of pkg/chatter over 127.0.0.1,
// with the default options except where a workload says otherwise.
type gochatterSystem struct{}

func (gochatterSystem) name() string { return "gochatter" }

// gochatterKeepSystem is gochatter whose receiver keeps every message, as
// an application that does not call Msg.Release does: each large body is
// a fresh allocation, like the raw row's. It runs the large-payload
// workloads only (Release does nothing for frames under 32 KiB, so the
// other rows would repeat gochatter's).
type gochatterKeepSystem struct{}

func (gochatterKeepSystem) name() string { return "gochatter-keep" }

func (gochatterKeepSystem) oneWay(ctx context.Context, size int, rx func(int64, int)) (sender, error) {
	if size < 32<<10 {
		return nil, errNotMeasured
	}
	return chatterOneWay(ctx, size, rx, false)
}

func (gochatterKeepSystem) echo(context.Context, int) ([]caller, func() error, error) {
	return nil, nil, errNotMeasured
}

func (gochatterKeepSystem) idle(context.Context, int) (func() error, error) {
	return nil, errNotMeasured
}

const benchSchema = `module Bench

Num = Integer
Blob = Bytes
`

var benchRepo = sbs.MustRepository(sbs.NamedText("bench.sbs", benchSchema))

const closeTimeout = 10 * time.Second

// listenChatter starts a server that hands each accepted connection to
// onConn, on the connection's own goroutine.
func listenChatter(ctx context.Context, onConn chatter.Handler, opts ...chatter.Option) (*chatter.Server, error) {
	return chatter.Listen(ctx, benchRepo, "tcp+sbs://127.0.0.1:0", onConn, opts...)
}

// shutdownAll closes every connection and the server and waits for all of
// their goroutines.
func shutdownAll(srv *chatter.Server, conns ...*chatter.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var errs []error
	for _, c := range conns {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
			break
		}
	}
	if srv != nil {
		if err := srv.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := srv.Wait(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (gochatterSystem) oneWay(ctx context.Context, size int, rx func(int64, int)) (sender, error) {
	return chatterOneWay(ctx, size, rx, true)
}

// chatterOneWay connects a gochatter sender to a receiver that hands each
// message back with Release when release is set.
func chatterOneWay(ctx context.Context, size int, rx func(int64, int), release bool) (sender, error) {
	recvDone := make(chan struct{})
	var once sync.Once
	srv, err := listenChatter(ctx, func(_ context.Context, c *chatter.Conn) {
		// Only the first connection is the benchmark's.
		first := false
		once.Do(func() { first = true })
		if !first {
			return
		}
		defer close(recvDone)
		for m := range c.Messages() {
			switch v := m.Data.Data.(type) {
			case int64:
				rx(v, 0)
			case []byte:
				rx(seqOf(v), len(v))
			default:
				rx(-1, -1)
			}
			if release {
				m.Release() // large payloads' buffers go back for the next frames
			}
		}
	}, chatter.WithPingTimeout(0))
	if err != nil {
		return nil, err
	}
	client, err := chatter.Connect(ctx, benchRepo, srv.Addresses()[0], chatter.WithPingTimeout(0),
		chatter.WithSendBufferSize(queueBytes))
	if err != nil {
		return nil, errors.Join(err, shutdownAll(srv))
	}
	s := &chatterSender{srv: srv, client: client, recvDone: recvDone}
	if size > 0 {
		s.buf = make([]byte, size)
		s.data = chatter.Data{Module: "Bench", Type: "Blob", Data: s.buf}
	}
	return s, nil
}

type chatterSender struct {
	srv      *chatter.Server
	client   *chatter.Conn
	recvDone chan struct{}
	buf      []byte
	data     chatter.Data
}

func (s *chatterSender) send(ctx context.Context, seq int64) error {
	d := s.data
	if s.buf != nil {
		putSeq(s.buf, seq) // Send has encoded the previous one: reuse is safe
	} else {
		d = chatter.Data{Module: "Bench", Type: "Num", Data: seq}
	}
	_, err := s.client.Send(ctx, d)
	return err
}

func (s *chatterSender) flush(ctx context.Context) error { return s.client.Drain(ctx) }

func (s *chatterSender) close() error {
	// Closing the client ends the server's connection (peer closed), which
	// ends the receiving loop.
	err := shutdownAll(nil, s.client)
	select {
	case <-s.recvDone:
	case <-time.After(closeTimeout):
		err = errors.Join(err, errors.New("gochatter: receiver did not end"))
	}
	return errors.Join(err, shutdownAll(s.srv))
}

func (gochatterSystem) echo(ctx context.Context, conns int) ([]caller, func() error, error) {
	bg := context.Background()
	srv, err := listenChatter(ctx, func(_ context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			if _, err := c.Send(bg, m.Data, chatter.InConversation(m.Conv)); err != nil {
				return
			}
		}
	}, chatter.WithPingTimeout(0))
	if err != nil {
		return nil, nil, err
	}
	var clients []*chatter.Conn
	closeAll := func() error { return shutdownAll(srv, clients...) }
	var callers []caller
	for range conns {
		c, err := chatter.Connect(ctx, benchRepo, srv.Addresses()[0], chatter.WithPingTimeout(0))
		if err != nil {
			return nil, nil, errors.Join(err, closeAll())
		}
		clients = append(clients, c)
		callers = append(callers, chatterCaller{c})
	}
	return callers, closeAll, nil
}

type chatterCaller struct{ c *chatter.Conn }

func (cc chatterCaller) call(ctx context.Context, v int64) (int64, error) {
	m, err := cc.c.Request(ctx, chatter.Data{Module: "Bench", Type: "Num", Data: v})
	if err != nil {
		return 0, err
	}
	got, ok := m.Data.Data.(int64)
	if !ok {
		return 0, fmt.Errorf("reply of type %T", m.Data.Data)
	}
	return got, nil
}

func (gochatterSystem) idle(ctx context.Context, n int) (func() error, error) {
	accepted := make(chan struct{}, n)
	// Default options: pings every 20 s.
	srv, err := listenChatter(ctx, func(context.Context, *chatter.Conn) { accepted <- struct{}{} })
	if err != nil {
		return nil, err
	}
	addr := srv.Addresses()[0]
	clients, err := dialAll(ctx, n, func(ctx context.Context) (*chatter.Conn, error) {
		return chatter.Connect(ctx, benchRepo, addr)
	})
	closeAll := func() error { return shutdownAll(srv, clients...) }
	if err != nil {
		return nil, errors.Join(err, closeAll())
	}
	if err := waitN(ctx, accepted, n); err != nil {
		return nil, errors.Join(err, closeAll())
	}
	return closeAll, nil
}

// dialAll opens n connections with a few dials at a time, so as not to
// overflow the listen backlog. On error it returns what it did open.
func dialAll[C any](ctx context.Context, n int, dial func(context.Context) (C, error)) ([]C, error) {
	const parallel = 16
	out := make([]C, n)
	ok := make([]bool, n)
	errs := make([]error, parallel)
	var wg sync.WaitGroup
	for w := range parallel {
		wg.Go(func() {
			for i := w; i < n; i += parallel {
				c, err := dial(ctx)
				if err != nil {
					errs[w] = fmt.Errorf("connection %d: %w", i, err)
					return
				}
				out[i], ok[i] = c, true
			}
		})
	}
	wg.Wait()
	opened := out[:0]
	for i, c := range out {
		if ok[i] {
			opened = append(opened, c)
		}
	}
	return opened, errors.Join(errs...)
}

// waitN receives n signals from ch, or fails after a while.
func waitN(ctx context.Context, ch <-chan struct{}, n int) error {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for i := range n {
		select {
		case <-ch:
		case <-t.C:
			return fmt.Errorf("only %d of %d connections accepted", i, n)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func putSeq(b []byte, seq int64) { binary.BigEndian.PutUint64(b, uint64(seq)) }

func seqOf(b []byte) int64 {
	if len(b) < 8 {
		return -1
	}
	return int64(binary.BigEndian.Uint64(b))
}
