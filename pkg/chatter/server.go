package chatter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gochatter/gochatter/pkg/aio"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// A Handler serves one accepted connection. It runs on a goroutine of its
// own, so it may block, typically ranging over conn.Messages() until the
// connection ends. ctx is the connection's [Conn.Context]: it is cancelled
// when the connection begins closing, including when the server closes it.
//
// The connection does not depend on the handler: it stays open when the
// handler returns (the handler may have handed it to other goroutines), and
// closing it never waits for the handler, so a handler that is stuck cannot
// hold up [Conn.Close]. A connection accepted as the server closes may be
// closed without its handler ever being called.
type Handler func(ctx context.Context, conn *Conn)

// Server accepts Chatter connections and hands each to its [Handler].
//
// Its lifecycle is its own methods. [Server.Close] stops accepting, closes
// every connection it owns and waits for them; [Server.Shutdown] stops
// accepting and lets the connections finish what they had read first;
// [Server.Done] is closed, and [Server.Wait] returns, once the server and
// every handler it started have returned. With [WithKeepConnections] the
// accepted connections, and their handlers, outlive the server.
//
// All methods are safe for concurrent use.
type Server struct {
	repo     *sbs.Repository
	cfg      *config
	tls      *tls.Config
	handler  Handler
	scheme   scheme
	addrs    []string
	ls       []net.Listener
	open     atomic.Int64 // connections whose sockets are open
	group    *aio.Group   // everything; Done is its Closed
	accept   *aio.Group   // accept loops and handshakes
	conns    *aio.Group   // parent of every owned connection's group
	handlers *aio.Group   // handler goroutines of owned connections

	accepted          atomic.Uint64
	refused           atomic.Uint64
	handshakeFailures atomic.Uint64
	acceptErrors      atomic.Uint64

	mu sync.Mutex
	// live holds the connections whose sockets are open, true for those
	// the server owns (Shutdown's), false for kept ones.
	live     map[*Conn]bool
	totals   ServerStats // of the connections that ended
	running  int         // handlers of owned connections still running
	draining bool        // Shutdown began: connections just made are closed
}

// Listen starts a server on address (tcp+sbs://HOST:PORT or
// ssl+sbs://HOST:PORT) and hands each accepted connection to handler. Port
// 0 picks a free port; a host name that resolves to several addresses gives
// one listening socket each; an empty host listens on every interface.
// ssl+sbs needs WithPEMFile (the server's certificate and key) or
// WithTLSConfig.
//
// ctx bounds resolving and binding, and its values (trace ids, a logger)
// reach the server's context and every connection's, which the handler
// gets. Its end does not stop the server, as with net.ListenConfig:
// Shutdown or Close does, so that the program chooses between a graceful
// stop and an abrupt one. With a ctx that ends on a signal:
//
//	srv, err := chatter.Listen(ctx, repo, addr, handler)
//	...
//	<-ctx.Done()
//	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
//	defer cancel()
//	return srv.Shutdown(sctx) // closes what is left when sctx ends
func Listen(ctx context.Context, repo *sbs.Repository, addr string, handler Handler, opts ...Option) (*Server, error) {
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
		l, err := lc.Listen(ctx, listenNetwork(h), address{host: h, port: a.port}.hostPort())
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return nil, fmt.Errorf("chatter: listen %s: %w", addr, err)
		}
		listeners = append(listeners, l)
	}
	return serve(ctx, repo, listeners, a.scheme, tlsCfg, cfg, handler), nil
}

// listenNetwork is the network for listening on host: an IPv4 address
// listens on IPv4 only and an IPv6 address on IPv6 only, as the original
// does (0.0.0.0 is not [::]); the empty host listens on every interface.
func listenNetwork(host string) string {
	switch ip := net.ParseIP(host); {
	case ip == nil:
		return "tcp"
	case ip.To4() != nil:
		return "tcp4"
	}
	return "tcp6"
}

// NewServer serves Chatter on a listener the caller made: one from a
// systemd socket, an in-memory listener in tests, a Unix socket. The server
// owns l from then on and closes it when it closes. Connections are plain
// unless the options configure TLS (WithTLSConfig, or WithPEMFile), in
// which case each accepted connection does the TLS handshake first; a
// listener that already yields *tls.Conn (tls.NewListener) has its
// handshakes done the same way.
func NewServer(repo *sbs.Repository, l net.Listener, handler Handler, opts ...Option) (*Server, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	s := schemeTCP
	var tlsCfg *tls.Config
	if cfg.tlsConfig != nil || cfg.pemFile != "" {
		if tlsCfg, err = cfg.serverTLS(); err != nil {
			return nil, err
		}
		s = schemeSSL
	}
	return serve(context.Background(), repo, []net.Listener{l}, s, tlsCfg, cfg, handler), nil
}

// serve starts a server; its context, and so every connection's, carries
// base's values.
func serve(base context.Context, repo *sbs.Repository, listeners []net.Listener, s scheme, tlsCfg *tls.Config, cfg *config, handler Handler) *Server {
	g := aio.NewGroupFrom(base)
	srv := &Server{
		repo:     repo,
		cfg:      cfg,
		tls:      tlsCfg,
		handler:  handler,
		scheme:   s,
		group:    g,
		accept:   g.NewChild(),
		conns:    g.NewChild(),
		handlers: g.NewChild(),
		live:     make(map[*Conn]bool),
	}
	for _, l := range listeners {
		srv.addrs = append(srv.addrs, formatAddress(s, l.Addr()))
	}
	srv.ls = listeners
	for _, l := range listeners {
		if err := srv.accept.Spawn(func(ctx context.Context) error { return srv.acceptLoop(ctx, l) }); err != nil {
			l.Close()
		}
	}
	return srv
}

// stopAccepting closes the listening sockets, which ends the accept loops,
// and cancels the handshakes in progress. Whoever decides that the server
// stops calls it: no goroutine watches for that.
func (s *Server) stopAccepting(cause error) {
	s.accept.CloseWithCause(cause)
	for _, l := range s.ls {
		l.Close()
	}
}

// Addresses lists the addresses the server is bound to, one per listening
// socket, with port 0 resolved to the real port.
func (s *Server) Addresses() []string { return append([]string(nil), s.addrs...) }

// OpenConnections is the number of accepted connections whose sockets are
// still open.
func (s *Server) OpenConnections() int { return int(s.open.Load()) }

// Accept errors other than a closed listener are taken as temporary, as
// net/http and grpc-go do: too many open files, a connection aborted before
// it was accepted, no buffer space. The loop sleeps, from acceptBackoffMin
// doubling to acceptBackoffMax, and tries again; the connections already
// open go on.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// acceptLoop runs one listening socket until it is closed.
func (s *Server) acceptLoop(ctx context.Context, l net.Listener) error {
	var backoff time.Duration
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				// Closed by somebody else: the server cannot go on.
				err = fmt.Errorf("chatter: accept: %w", err)
				s.fail(err)
				return err
			}
			s.acceptErrors.Add(1)
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			s.cfg.warn.warn(s.cfg.logger, "chatter: accept failed; retrying", "err", err, "retry", backoff)
			if timer == nil {
				timer = time.NewTimer(backoff)
			} else {
				timer.Reset(backoff)
			}
			select {
			case <-timer.C:
			case <-ctx.Done():
				return nil
			}
			continue
		}
		backoff = 0
		s.accepted.Add(1)
		if max := s.cfg.maxConnections; max > 0 && s.open.Load() >= int64(max) {
			s.refused.Add(1)
			s.cfg.warn.warn(s.cfg.logger, "chatter: connection refused: server at its connection limit",
				"remote", nc.RemoteAddr().String(), "limit", max)
			nc.Close()
			continue
		}
		s.open.Add(1)
		var once sync.Once
		release := func() { once.Do(func() { s.open.Add(-1) }) }
		// The handshake runs on a goroutine of its own, so that a slow
		// client cannot stall accepting.
		if err := s.accept.Spawn(func(ctx context.Context) error { s.start(ctx, nc, release); return nil }); err != nil {
			nc.Close()
			release()
		}
	}
}

// fail stops the server for err, a listener that broke.
func (s *Server) fail(err error) {
	s.stopAccepting(err)
	s.conns.CloseWithCause(err)
	s.group.CloseWithCause(err)
}

// start finishes the TLS handshake, makes the connection and starts its
// handler.
func (s *Server) start(ctx context.Context, raw net.Conn, release func()) {
	var deadline time.Time
	if hto := s.cfg.handshakeTimeout; hto > 0 {
		deadline = time.Now().Add(hto)
	}
	nc := raw
	tc, isTLS := raw.(*tls.Conn)
	if isTLS {
		raw = tc.NetConn()
	} else if s.tls != nil {
		tc, isTLS = tls.Server(newTLSSocket(raw), s.tls), true
	}
	if isTLS {
		raw.SetDeadline(deadline)
		if err := tc.HandshakeContext(ctx); err != nil {
			s.handshakeFailures.Add(1)
			if ctx.Err() == nil {
				msg := "chatter: TLS handshake failed"
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					msg = "chatter: TLS handshake timed out"
				}
				s.cfg.warn.warn(s.cfg.logger, msg, "remote", raw.RemoteAddr().String(), "err", err)
			}
			raw.Close()
			release()
			return
		}
		raw.SetDeadline(time.Time{})
		nc = tc
	}
	sch := schemeTCP
	if isTLS {
		sch = schemeSSL
	}
	owned := !s.cfg.keepConnections
	s.mu.Lock()
	if s.draining && owned {
		s.mu.Unlock()
		raw.Close()
		release()
		return
	}
	if s.handler != nil && owned {
		s.running++
	}
	s.mu.Unlock()
	// An owned connection's group is a child of the server's; a kept one's
	// is its own. The connection leaves the registry when its socket
	// closes, which may happen before newConn returns (a server closing
	// meanwhile): gone says so, and the registration below is then skipped.
	g, owner := s.conns.NewChild(), s.conns
	if !owned {
		g, owner = aio.NewGroupFrom(s.group.Context()), nil
	}
	var gone atomic.Bool
	var made atomic.Pointer[Conn]
	c := newConn(nc, raw, s.repo, s.cfg, sch, g, owner, deadline, func() {
		release()
		gone.Store(true)
		if c := made.Load(); c != nil {
			s.ended(c)
		}
	})
	made.Store(c)
	s.mu.Lock()
	if !gone.Load() {
		s.live[c] = owned
	}
	s.mu.Unlock()
	s.cfg.logger.Debug("chatter: connection accepted", "local", c.local, "remote", c.remote)
	switch {
	case s.handler == nil:
	case !owned:
		// The connection outlives the server, and so does its handler:
		// nothing of the server waits for either.
		go s.handler(c.Context(), c)
	default:
		err := s.handlers.Spawn(func(context.Context) error {
			defer s.handlerDone()
			s.handler(c.Context(), c)
			return nil
		})
		if err != nil { // the server is closing, and so is c
			s.handlerDone()
		}
	}
}

// ended takes a connection whose socket has closed out of the registry and
// into the totals.
func (s *Server) ended(c *Conn) {
	st := c.Stats()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, c)
	s.totals.add(st)
	s.totals.Closed.count(c.Err())
}

// Stats returns the server's totals; it may be called at any time.
func (s *Server) Stats() ServerStats {
	s.mu.Lock()
	st := s.totals
	for c := range s.live {
		st.add(c.Stats())
		if c.Err() != nil { // reading has ended: the reason is set
			st.Closing++
		}
	}
	s.mu.Unlock()
	st.Accepted = s.accepted.Load()
	st.Refused = s.refused.Load()
	st.HandshakeFailures = s.handshakeFailures.Load()
	st.AcceptErrors = s.acceptErrors.Load()
	st.Open = s.OpenConnections()
	return st
}

func (s *Server) handlerDone() {
	s.mu.Lock()
	s.running--
	s.mu.Unlock()
}

// Close stops accepting, closes every connection the server owns (not
// those kept by WithKeepConnections), as [Conn.Close] does, and waits until
// the accept loops, the handshakes in progress and those connections have
// ended. It does not wait for the handlers: their contexts are cancelled
// and their connections' Messages channels closed, so they should return
// soon, and [Server.Wait] waits for them. Close may be called from a
// handler. It returns nil, or the error that had stopped the server (a
// listener that failed).
func (s *Server) Close() error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	// The connections first, with this package's ErrClosed as the cause
	// their contexts report; then everything else.
	s.stopAccepting(ErrClosed)
	s.conns.CloseWithCause(ErrClosed)
	s.group.Close()
	<-s.accept.Closed()
	<-s.conns.Closed()
	return s.result()
}

// Shutdown stops the server gracefully. It stops accepting; it tells every
// connection the server owns to stop reading, so that what each had read
// is delivered and the replies the handlers send within the reply grace
// ([WithReplyGrace]) are written before it closes; and it waits until every
// such connection has closed and every handler has returned. If ctx ends
// first, Shutdown closes what is left as Close does and returns ctx's
// error. Otherwise it returns what Close would.
//
// How long it takes: a connection that has read nothing closes at once. One
// that has read messages stays for the reply grace after its handler took
// the last of them, then ends its side of the stream and lingers — reads
// and discards — until the peer ends its own or for the reply grace again
// at most: closing a socket with unread input makes TCP reset the
// connection, which can destroy the replies just written before the peer
// reads them. A gochatter peer ends its stream after its own reply grace,
// so Shutdown takes about twice the grace. Measured on loopback with four
// clients: 2–3 ms when they had sent nothing; 431 ms with a 200 ms grace
// and 2.04 s with the default 1 s when each had made a Request, whether
// they went on reading or not. A peer that does not read at all adds the
// flush timeout at most ([WithFlushTimeout]). ServerStats.Closing counts
// the connections in these phases.
//
// Chatter has no message that says "going away" (HTTP/2's GOAWAY): a
// client learns of the Shutdown only when its connection closes. A
// Request whose message the server had not read when Shutdown began gets
// no answer; it returns when the connection closes, at the end of the
// reply grace, with a [*RequestError] matching [ErrClosed] and saying why
// (the peer closed the connection, or reset it), or its ctx's error if
// that ends first. A client that must not wait that long gives
// its Requests a deadline.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting(ErrClosed)
	select {
	case <-s.accept.Closed():
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
	s.mu.Lock()
	s.draining = true
	conns := make([]*Conn, 0, len(s.live))
	for c, owned := range s.live {
		if owned {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.stopReading()
	}
	// As net/http's Shutdown does, poll, from often to rarely: connections
	// and handlers end on their own schedule.
	poll := time.Millisecond
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for !s.idle() {
		select {
		case <-timer.C:
			poll = min(2*poll, 100*time.Millisecond)
			timer.Reset(poll)
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		}
	}
	return s.Close()
}

// idle reports whether no owned connection and no handler is left.
func (s *Server) idle() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, owned := range s.live {
		if owned {
			return false
		}
	}
	return s.running == 0
}

// Done returns a channel that is closed once the server has closed and
// every handler of the connections it owned has returned.
func (s *Server) Done() <-chan struct{} { return s.group.Closed() }

// Wait waits until [Server.Done] or until ctx ends; it returns ctx's error,
// or what Close does.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case <-s.group.Closed():
		return s.result()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Context returns a context cancelled when the server begins closing.
func (s *Server) Context() context.Context { return s.group.Context() }

// Err is nil while the server runs; once it has begun closing, an error
// matching ErrClosed and, if the server stopped because a listener failed,
// that failure too.
func (s *Server) Err() error {
	cause := s.group.Cause()
	if cause == nil {
		return nil
	}
	if cause == aio.ErrClosed {
		return &stoppedError{what: "server"}
	}
	return &stoppedError{what: "server", cause: cause}
}

// result is nil for a server closed by Close or Shutdown.
func (s *Server) result() error {
	cause := s.group.Cause()
	if cause == nil || cause == aio.ErrClosed {
		return nil
	}
	return &closedError{cause: cause}
}
