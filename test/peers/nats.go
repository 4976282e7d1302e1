package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsSystem runs an embedded nats-server on 127.0.0.1 with nats.go
// clients: publish/subscribe for one-way traffic, request/reply for round
// trips. Every message crosses the broker, so it takes two TCP hops.
type natsSystem struct{}

func (natsSystem) name() string { return "nats" }

const (
	natsOneWaySubject = "bench.oneway"
	natsEchoSubject   = "bench.echo"
)

// natsServer is an embedded server and the first asynchronous error any of
// its clients reported (a slow consumer, say).
type natsServer struct {
	ns *server.Server

	mu     sync.Mutex
	asyncE error
}

func startNATS() (*natsServer, error) {
	ns, err := server.NewServer(&server.Options{
		Host:   "127.0.0.1",
		Port:   server.RANDOM_PORT,
		NoLog:  true,
		NoSigs: true,
	})
	if err != nil {
		return nil, err
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, errors.New("nats: server not ready")
	}
	return &natsServer{ns: ns}, nil
}

func (s *natsServer) connect() (*nats.Conn, error) {
	return nats.Connect(s.ns.ClientURL(), nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.asyncE == nil {
				s.asyncE = err
			}
		}))
}

// closeNATS closes the clients, then the server, and reports any
// asynchronous error seen.
func closeNATS(s *natsServer, clients ...*nats.Conn) error {
	for _, c := range clients {
		c.Close()
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asyncE
}

func (natsSystem) oneWay(ctx context.Context, size int, rx func(int64, int)) (sender, error) {
	s, err := startNATS()
	if err != nil {
		return nil, err
	}
	sub, err := s.connect()
	if err != nil {
		return nil, errors.Join(err, closeNATS(s))
	}
	pub, err := s.connect()
	if err != nil {
		return nil, errors.Join(err, closeNATS(s, sub))
	}
	subscription, err := sub.Subscribe(natsOneWaySubject, func(m *nats.Msg) {
		if size == 0 {
			rx(seqOf(m.Data), 0)
		} else {
			rx(seqOf(m.Data), len(m.Data))
		}
	})
	if err == nil {
		// Buffer without limit rather than drop (the default limits
		// drop messages when the handler falls behind).
		err = subscription.SetPendingLimits(-1, -1)
	}
	if err == nil {
		// The server has the subscription once it answers a ping.
		err = sub.FlushWithContext(ctx)
	}
	if err != nil {
		return nil, errors.Join(err, closeNATS(s, pub, sub))
	}
	return &natsSender{s: s, pub: pub, sub: sub, buf: make([]byte, max(size, 8))}, nil
}

type natsSender struct {
	s        *natsServer
	pub, sub *nats.Conn
	buf      []byte
}

func (n *natsSender) send(_ context.Context, seq int64) error {
	putSeq(n.buf, seq) // Publish copies it into its write buffer
	return n.pub.Publish(natsOneWaySubject, n.buf)
}

func (n *natsSender) flush(ctx context.Context) error { return n.pub.FlushWithContext(ctx) }

func (n *natsSender) close() error { return closeNATS(n.s, n.pub, n.sub) }

func (natsSystem) echo(ctx context.Context, conns int) ([]caller, func() error, error) {
	s, err := startNATS()
	if err != nil {
		return nil, nil, err
	}
	responder, err := s.connect()
	if err != nil {
		return nil, nil, errors.Join(err, closeNATS(s))
	}
	clients := []*nats.Conn{responder}
	closeAll := func() error { return closeNATS(s, clients...) }
	if _, err := responder.Subscribe(natsEchoSubject, func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
		return nil, nil, errors.Join(err, closeAll())
	}
	if err := responder.FlushWithContext(ctx); err != nil {
		return nil, nil, errors.Join(err, closeAll())
	}
	var callers []caller
	for range conns {
		c, err := s.connect()
		if err != nil {
			return nil, nil, errors.Join(err, closeAll())
		}
		clients = append(clients, c)
		callers = append(callers, natsCaller{c})
	}
	return callers, closeAll, nil
}

type natsCaller struct{ nc *nats.Conn }

func (n natsCaller) call(ctx context.Context, v int64) (int64, error) {
	m, err := n.nc.RequestWithContext(ctx, natsEchoSubject, binary.BigEndian.AppendUint64(nil, uint64(v)))
	if err != nil {
		return 0, err
	}
	if len(m.Data) != 8 {
		return 0, fmt.Errorf("reply of %d bytes", len(m.Data))
	}
	return seqOf(m.Data), nil
}

func (natsSystem) idle(ctx context.Context, n int) (func() error, error) {
	s, err := startNATS()
	if err != nil {
		return nil, err
	}
	// Default options: client and server ping every 2 minutes.
	clients, err := dialAll(ctx, n, func(context.Context) (*nats.Conn, error) { return s.connect() })
	closeAll := func() error { return closeNATS(s, clients...) }
	if err != nil {
		return nil, errors.Join(err, closeAll())
	}
	deadline := time.Now().Add(time.Minute)
	for s.ns.NumClients() < n {
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("nats: only %d of %d clients registered", s.ns.NumClients(), n), closeAll())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return closeAll, nil
}
