package chatter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/gochatter/gochatter/pkg/aio"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// Server accepts Chatter connections. Each accepted connection is handed to
// the onConn function given to [Listen], which runs on a goroutine of that
// connection (so it may block, for example ranging over conn.Messages()).
// By default every accepted connection belongs to the server's group and
// closing the server closes them; see [WithKeepConnections].
type Server struct {
	aio.Lifecycle
	addresses []string
	open      atomic.Int64 // connections whose sockets are open
}

// Listen starts a server on address (tcp+sbs://HOST:PORT or
// ssl+sbs://HOST:PORT). Port 0 picks a free port; a host name that resolves
// to several addresses gives one listening socket each; an empty host
// listens on every interface. ctx bounds resolving and binding only.
// ssl+sbs needs WithPEMFile (the server's certificate and key) or
// WithTLSConfig.
func Listen(ctx context.Context, repo *sbs.Repository, addr string, onConn func(*Conn), opts ...Option) (*Server, error) {
	a, err := parseAddress(addr)
	if err != nil {
		return nil, err
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	var tlsCfg *tls.Config
	if a.scheme == schemeSSL {
		if tlsCfg, err = cfg.serverTLS(); err != nil {
			return nil, err
		}
	}
	hosts := []string{a.host}
	if a.host != "" && net.ParseIP(a.host) == nil {
		ips, err := net.DefaultResolver.LookupIPAddr(ctx, a.host)
		if err != nil {
			return nil, fmt.Errorf("chatter: listen %s: %w", addr, err)
		}
		hosts = hosts[:0]
		for _, ip := range ips {
			hosts = append(hosts, ip.String())
		}
	}
	var lc net.ListenConfig
	var listeners []net.Listener
	for _, h := range hosts {
		l, err := lc.Listen(ctx, "tcp", address{host: h, port: a.port}.hostPort())
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, fmt.Errorf("chatter: listen %s: %w", addr, err)
		}
		listeners = append(listeners, l)
	}
	g := aio.NewGroup(aio.WithErrorHandler(logHandler(cfg.logger)))
	s := &Server{Lifecycle: aio.NewLifecycle(g)}
	for _, l := range listeners {
		s.addresses = append(s.addresses, formatAddress(a.scheme, l.Addr()))
	}
	for _, l := range listeners {
		acc := &acceptor{s: s, l: l, repo: repo, cfg: cfg, tls: tlsCfg, scheme: a.scheme, onConn: onConn}
		if err := g.Spawn(acc.run); err != nil {
			l.Close()
		}
	}
	return s, nil
}

// Addresses lists the addresses the server is bound to, one per listening
// socket, with port 0 resolved to the real port.
func (s *Server) Addresses() []string { return append([]string(nil), s.addresses...) }

// acceptor runs one listening socket's accept loop.
type acceptor struct {
	s      *Server
	l      net.Listener
	repo   *sbs.Repository
	cfg    *config
	tls    *tls.Config
	scheme scheme
	onConn func(*Conn)
}

func (a *acceptor) run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { a.l.Close() })
	defer stop()
	defer a.l.Close()
	g := a.s.Group()
	for {
		nc, err := a.l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// The listener is broken: the server cannot go on.
			g.CloseWithCause(fmt.Errorf("chatter: accept: %w", err))
			return nil
		}
		if max := a.cfg.maxConnections; max > 0 && a.s.open.Load() >= int64(max) {
			a.cfg.logger.Warn("chatter: connection refused: server at its connection limit",
				"remote", nc.RemoteAddr().String(), "limit", max)
			nc.Close()
			continue
		}
		a.s.open.Add(1)
		var cg *aio.Group
		var parentClosing <-chan struct{}
		if a.cfg.keepConnections {
			cg = aio.NewGroup(aio.WithErrorHandler(logHandler(a.cfg.logger)))
		} else {
			cg = g.NewChild()
			parentClosing = g.Closing()
		}
		a.start(nc, cg, parentClosing)
	}
}

// start finishes the TLS handshake (on the connection's own goroutine, so a
// slow client cannot stall accepting) and runs the connection.
func (a *acceptor) start(nc net.Conn, cg *aio.Group, parentClosing <-chan struct{}) {
	var once sync.Once
	release := func() { once.Do(func() { a.s.open.Add(-1) }) }
	err := cg.Spawn(func(ctx context.Context) error {
		if a.tls != nil {
			tc := tls.Server(nc, a.tls)
			if err := tc.HandshakeContext(ctx); err != nil {
				a.cfg.logger.Debug("chatter: TLS handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
				nc.Close()
				release()
				cg.Close()
				return nil
			}
			nc = tc
		}
		c := newConn(nc, a.repo, a.cfg, a.scheme, cg, parentClosing, release)
		a.cfg.logger.Debug("chatter: connection accepted", "local", c.local, "remote", c.remote)
		if a.onConn != nil {
			a.onConn(c)
		}
		return nil
	})
	if err != nil {
		nc.Close()
		release()
	}
}

// OpenConnections is the number of accepted connections whose sockets are
// still open.
func (s *Server) OpenConnections() int { return int(s.open.Load()) }
