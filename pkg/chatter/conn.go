package chatter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gochatter/gochatter/pkg/aio"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// Conn is a Chatter connection, made by [Connect] or [NewConn], or accepted
// by a [Server].
//
// Received messages arrive on [Conn.Messages] (or [Conn.Receive]) in the
// order they were read; [Conn.Send], [Conn.Request] and every other method
// may be called from any number of goroutines.
//
// A connection runs its supervisor, which reads the socket and owns the
// connection's state, and while they have work a writer, a deliverer and
// a goroutine for conversation timeout callbacks (see the package doc).
// Its lifecycle is its own methods: [Conn.Close] ends it and waits for them,
// [Conn.Done] is closed once they have all returned, [Conn.Wait] waits for
// that, [Conn.Err] says why it ended, and [Conn.Context] is cancelled when it
// begins closing, for goroutines of the application bound to it.
//
// When reading ends because of the peer (the end of its stream, or a frame
// that breaks the protocol), the connection does not vanish at once: what
// it had read is still delivered, then Messages is closed, and what the
// application sends in reply within a short grace ([WithReplyGrace]) is
// written before the socket closes.
type Conn struct {
	repo   *sbs.Repository
	nc     net.Conn // the stream: a *tls.Conn on ssl+sbs
	raw    net.Conn // the socket under nc, closed directly when nothing is flushed
	cfg    *config
	log    *slog.Logger
	local  string
	remote string
	tag    any // the observer's, set before the connection runs

	// tlsSock is what nc writes through on a TLS connection that Connect
	// or a Server made, nil otherwise: it lets the supervisor write a lone
	// keepalive frame (see tlsSocket).
	tlsSock *tlsSocket

	group *aio.Group
	sup   *supervisor // the supervisor's state: the supervisor's alone
	mail  mailbox     // how other goroutines reach the supervisor
	out   *outbox     // what waits to be written
	msgs  chan Msg    // Messages
	// replyChans keeps the channels of answered Requests for reuse.
	replyChans replyChans
	stats      connStats
	life       lifecycle
	// releaseSocket, if set, runs once the socket is closed (a server
	// counting its connections).
	releaseSocket func()

	// owner is the Closing channel of the server group that owns the
	// connection, nil for others: closing the server drops what is
	// undelivered, however the connection had ended.
	owner <-chan struct{}

	// handshakeDeadline, on a server connection, is when the handshake
	// timeout ends; the supervisor enforces it for a WireAuto first frame.
	handshakeDeadline time.Time

	// wire is the connection's generation; on a WireAuto connection the
	// supervisor writes it once, from the first frame, and then closes
	// wireReady: read it only after wireReady (Wire does).
	wire      Wire
	wireReady chan struct{}
}

// Connect dials a Chatter server at address (tcp+sbs://HOST:PORT or
// ssl+sbs://HOST:PORT). ctx and the handshake timeout
// ([WithHandshakeTimeout], 10 s) bound the dial and the TLS handshake only;
// the connection lives until it is closed. repo must hold the payload types
// both sides use; the Hat and HatPing modules need not be in it.
func Connect(ctx context.Context, repo *sbs.Repository, addr string, opts ...Option) (*Conn, error) {
	a, err := parseAddress(addr)
	if err != nil {
		return nil, err
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.wire == WireAuto {
		return nil, errors.New("chatter: WireAuto is for servers: a client must choose its wire generation")
	}
	var tlsCfg *tls.Config
	if a.scheme == schemeSSL {
		if tlsCfg, err = cfg.clientTLS(a.host); err != nil {
			return nil, err
		}
	}
	if cfg.handshakeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.handshakeTimeout)
		defer cancel()
	}
	dial := cfg.dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	raw, err := dial(ctx, "tcp", a.hostPort())
	if err != nil {
		return nil, fmt.Errorf("chatter: connect %s: %w", addr, err)
	}
	nc := raw
	if tlsCfg != nil {
		tc, err := tlsClient(ctx, raw, tlsCfg)
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("chatter: connect %s: TLS handshake: %w", addr, err)
		}
		nc = tc
	}
	// c.Context() carries ctx's values, not its end: ctx bounds the dial.
	c := newConn(nc, raw, repo, cfg, a.scheme, aio.NewGroupFrom(ctx), nil, time.Time{}, nil)
	c.log.Debug("chatter: connected", "local", c.local, "remote", c.remote, "wire", c.Wire())
	return c, nil
}

// NewConn runs the Chatter protocol over an established stream, such as one
// end of net.Pipe, a *tls.Conn whose handshake is done, or a connection made
// by other means. The options that concern dialing and servers are ignored;
// WireAuto is refused, as in Connect.
func NewConn(nc net.Conn, repo *sbs.Repository, opts ...Option) (*Conn, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.wire == WireAuto {
		return nil, errors.New("chatter: WireAuto is for servers: a connection must choose its wire generation")
	}
	s, raw := schemeTCP, nc
	if tc, ok := nc.(*tls.Conn); ok {
		s, raw = schemeSSL, tc.NetConn()
	}
	return newConn(nc, raw, repo, cfg, s, aio.NewGroup(), nil, time.Time{}, nil), nil
}

// readBufferSize is the supervisor's starting read buffer; it grows with
// large frames and shrinks back when they are gone.
const readBufferSize = 256

// messagesChannelSize is the Messages channel's buffer. When the
// application falls behind, the rest of the receive queue waits with a
// deliverer (delivery.go), which exists only then: an idle connection
// does not hold a buffer of the whole queue's size.
const messagesChannelSize = 16

// closedChan is a closed channel, for what is decided from the start.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// newConn starts the connection's supervisor in g; the writer starts when
// there is something to write. A server gives the end of the connection's
// handshake timeout, which the supervisor enforces on a WireAuto
// connection's first frame.
func newConn(nc, raw net.Conn, repo *sbs.Repository, cfg *config, s scheme, g, owner *aio.Group, handshakeDeadline time.Time, released func()) *Conn {
	c := &Conn{
		handshakeDeadline: handshakeDeadline,
		repo:              repo,
		nc:                nc,
		raw:               raw,
		cfg:               cfg,
		log:               cfg.logger,
		local:             formatAddress(s, nc.LocalAddr()),
		remote:            formatAddress(s, nc.RemoteAddr()),
		group:             g,
		wire:              cfg.wire,
		releaseSocket:     released,
	}
	size := messagesChannelSize
	if q := cfg.queueSize; q > 0 && q < size {
		size = q
	}
	c.msgs = make(chan Msg, size)
	c.mail = mailbox{c: c, kick: make(chan struct{}, 1)}
	c.life.supervisorDone = make(chan struct{})
	c.out = newOutbox(cfg.sendBufferSize, func() bool { return g.Spawn(c.writeLoop) == nil })
	tc, isTLS := c.nc.(*tls.Conn)
	if isTLS {
		// The raw socket, not the tlsSocket, is what a close or a linger
		// acts on directly.
		c.raw, c.tlsSock = socketUnder(tc)
	}
	if !isTLS || c.tlsSock != nil {
		// Not over a TLS connection made elsewhere (NewConn), whose
		// writes a deadline could break.
		c.out.writeLone = c.writeLone
	}
	if owner != nil {
		c.owner = owner.Closing()
	}
	if cfg.wire != WireAuto {
		c.wireReady = closedChan // decided: shared, not one closed channel per connection
	} else {
		c.wireReady = make(chan struct{})
	}
	c.sup = newSupervisor(c)
	if o := cfg.observer; o != nil {
		c.tag = o.TagConn(c)
		o.Opened(c) // before any goroutine can report it Closed
	}
	if g.Spawn(c.sup.run) != nil {
		// The group was closing already (a server closing while it
		// accepts): the connection ends before it began.
		c.begin(ErrClosed, true, modeAbort)
		close(c.msgs)
		c.raw.Close()
		c.released()
		close(c.life.supervisorDone)
	}
	return c
}

// released runs once the socket is closed.
func (c *Conn) released() {
	if c.releaseSocket != nil {
		c.releaseSocket()
	}
	if o := c.cfg.observer; o != nil {
		o.Closed(c, c.Err())
	}
}

// Wire reports the connection's wire generation; WireAuto while a server
// connection in auto mode has not yet received its first frame.
func (c *Conn) Wire() Wire {
	select {
	case <-c.wireReady:
		return c.wire
	default:
		return WireAuto
	}
}

// decideWire fixes an auto connection's generation. The supervisor calls
// it once, with the first frame.
func (c *Conn) decideWire(w Wire) {
	c.wire = w
	close(c.wireReady)
	c.log.Info("chatter: wire generation decided by the first frame", "local", c.local, "remote", c.remote, "wire", w)
}

// awaitWire waits until the generation is known, for sends on an auto
// connection that has not heard from its peer yet.
func (c *Conn) awaitWire(ctx context.Context) error {
	select {
	case <-c.wireReady:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.group.Closing():
		return c.closedErr()
	}
}

// LocalAddress is this end's address in the original's form,
// e.g. "tcp+sbs://127.0.0.1:51234".
func (c *Conn) LocalAddress() string { return c.local }

// RemoteAddress is the peer's address in the original's form.
func (c *Conn) RemoteAddress() string { return c.remote }

// Messages returns the channel on which received messages arrive, in order.
// It is closed once reading has ended and every message read before has
// been delivered, so
//
//	for msg := range conn.Messages() { ... }
//
// reads everything the peer sent, and [Conn.Err] then says why it ended.
// After [Conn.Close] the messages not yet delivered are dropped (those
// already in the channel's buffer stay readable). Replies to [Conn.Request]
// do not appear here. Messages and Receive share one stream: use one or the
// other.
func (c *Conn) Messages() <-chan Msg { return c.msgs }

// DiscardMessages tells the connection that the application will not read
// [Conn.Messages]: received messages that are not replies to a Request are
// dropped from then on, those queued and not yet read too, and counted in
// Stats.MessagesDiscarded; pings are still answered. A connection that only
// sends needs it, or its bounded receive queue fills, and then it stops
// reading the socket (and sees no more pongs or replies). Messages is still
// closed when the connection ends.
func (c *Conn) DiscardMessages() { c.mail.post(event{kind: evDiscard}) }

// Receive returns the next received message, waiting for it until ctx
// ends. Once every message has been delivered and reading has ended it
// returns an error wrapping ErrClosed and the reason.
func (c *Conn) Receive(ctx context.Context) (Msg, error) {
	select {
	case m, ok := <-c.msgs:
		if !ok {
			return Msg{}, c.closedErr()
		}
		return m, nil
	default:
	}
	select {
	case m, ok := <-c.msgs:
		if !ok {
			return Msg{}, c.closedErr()
		}
		return m, nil
	case <-ctx.Done():
		return Msg{}, ctx.Err()
	}
}
