package chatter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gochatter/gochatter/pkg/aio"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// Data is a message's payload: a value of the SBS type Module.Type. Module
// is "" for the builtin types (Boolean, Integer, Float, String, Bytes,
// None), which the wire writes as Maybe's Nothing. Data holds the value in
// the sbs package's value model.
type Data struct {
	Module string
	Type   string
	Data   any
}

// Conversation identifies a conversation on a connection: the id of its
// first message and whether this side started it. It is comparable and can
// be used as a map key.
type Conversation struct {
	Conn    *Conn
	Owner   bool
	FirstID int64
}

// Msg is a received message.
type Msg struct {
	Data Data
	Conv Conversation
	// First is set on the message that started its conversation.
	First bool
	// Last is set when the sender ended the conversation with this message.
	Last bool
	// Token is set when the sender handed the turn to this side.
	Token bool
	// Raw is the payload as it came off the wire, set only on connections
	// made WithRawPayloads; Data.Data is then nil, and the application
	// decodes Raw itself (with a Type of its repository, or generated
	// code's UnmarshalSBS).
	Raw RawPayload
	// DecodeErr is set, on the current wire only, when the payload's type
	// is not in the repository or the payload does not decode with it. The
	// message is still delivered, with Raw holding the payload, because the
	// current generation never interprets payloads (the legacy wire closes
	// the connection instead).
	DecodeErr error
}

// Conn is a Chatter connection, made by [Connect] or accepted by a [Server].
//
// Received messages arrive on [Conn.Messages] (or [Conn.Receive]) in the
// order they were read; [Conn.Send] and [Conn.Request] may be called from
// any number of goroutines. Every goroutine of the connection belongs to its
// [aio.Group]; [Conn.Close] ends them all, and [Conn.Closed] is closed once
// they have ended. A connection that ends by itself (the peer closed it, a
// ping went unanswered, a frame did not decode) keeps delivering what it had
// already read; [Conn.Err] says why it ended.
type Conn struct {
	aio.Lifecycle

	repo   *sbs.Repository
	nc     net.Conn
	cfg    *config
	log    *slog.Logger
	local  string
	remote string

	out   *outbox
	sup   *supervisor
	stats connStats
	// released, if set, runs once the socket is closed (a server counting
	// its connections).
	released func()

	// wire is the connection's generation, written once before wireReady is
	// closed: at once, or by the reader from the first frame (WireAuto).
	wire      Wire
	wireReady chan struct{}
	wireKnown atomic.Bool // wireReady is closed; cheaper to test on every send
	// ending is set as soon as the connection starts closing, so that Send
	// can refuse at once without a select on the group's channels.
	ending atomic.Bool

	closing   <-chan struct{} // the group's Closing channel, kept to avoid its lock
	parent    <-chan struct{} // the server's Closing channel, if it owns the connection
	closeOnce sync.Once
	discard   chan struct{} // closed by Close: drop what was not delivered
}

// Closing returns a channel closed when the connection begins to close.
func (c *Conn) Closing() <-chan struct{} { return c.closing }

// parentClosing is the owning server's Closing channel, or nil.
func (c *Conn) parentClosing() <-chan struct{} { return c.parent }

// Connect dials a Chatter server at address (tcp+sbs://HOST:PORT or
// ssl+sbs://HOST:PORT). ctx bounds the dial and the TLS handshake only; the
// connection lives until it is closed. repo must hold the payload types
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
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", a.hostPort())
	if err != nil {
		return nil, fmt.Errorf("chatter: connect %s: %w", addr, err)
	}
	if tlsCfg != nil {
		tc := tls.Client(nc, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("chatter: connect %s: TLS handshake: %w", addr, err)
		}
		nc = tc
	}
	c := newConn(nc, repo, cfg, a.scheme, aio.NewGroup(aio.WithErrorHandler(logHandler(cfg.logger))), nil, nil)
	c.log.Debug("chatter: connected", "local", c.local, "remote", c.remote, "wire", c.wire)
	return c, nil
}

// NewConn runs the Chatter protocol over an established stream, such as one
// end of net.Pipe or a connection made by other means. The options that
// concern dialing and TLS are ignored.
func NewConn(nc net.Conn, repo *sbs.Repository, opts ...Option) (*Conn, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	s := schemeTCP
	if _, ok := nc.(*tls.Conn); ok {
		s = schemeSSL
	}
	return newConn(nc, repo, cfg, s, aio.NewGroup(aio.WithErrorHandler(logHandler(cfg.logger))), nil, nil), nil
}

func logHandler(l *slog.Logger) func(error) {
	return func(err error) { l.Warn("chatter: goroutine failed", "err", err) }
}

// readBufferSize is the reader's starting buffer; it grows with large
// frames and shrinks back when they are gone.
const readBufferSize = 4 << 10

func newConn(nc net.Conn, repo *sbs.Repository, cfg *config, s scheme, g *aio.Group, parentClosing <-chan struct{}, released func()) *Conn {
	c := &Conn{
		Lifecycle: aio.NewLifecycle(g),
		repo:      repo,
		nc:        nc,
		cfg:       cfg,
		log:       cfg.logger,
		local:     formatAddress(s, nc.LocalAddr()),
		remote:    formatAddress(s, nc.RemoteAddr()),
		out:       newOutbox(cfg.sendBufferSize),
		discard:   make(chan struct{}),
		closing:   g.Closing(),
		parent:    parentClosing,
		wireReady: make(chan struct{}),
		released:  released,
	}
	if cfg.wire != WireAuto {
		c.decideWire(cfg.wire)
	}
	c.sup = newSupervisor(c)
	ctx := g.Context()
	// Closing the group unblocks socket I/O through deadlines rather than a
	// watcher goroutine: the reader stops at once, the writer gets a short
	// grace period to flush what Close left queued.
	context.AfterFunc(ctx, func() {
		c.ending.Store(true)
		nc.SetReadDeadline(time.Now())
		if c.gracefulClose() {
			nc.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
		} else {
			nc.SetWriteDeadline(time.Now())
		}
	})
	// Spawn fails only on a closing group (a server closing while it
	// accepts, or a peer that already hung up). The supervisor starts
	// first: it alone closes the Messages channel, and a reader that hit
	// the end of the stream before the supervisor existed would otherwise
	// leave that channel open for ever. The reader starts last, so that it
	// never runs without the writer that closes the socket.
	if g.Spawn(c.sup.run) != nil {
		close(c.sup.msgs)
		c.abandon()
		return c
	}
	if g.Spawn(c.writeLoop) != nil {
		c.abandon()
		return c
	}
	_ = g.Spawn(c.readLoop) // if this fails, the writer closes the socket
	return c
}

// abandon closes the socket of a connection whose writer never started.
func (c *Conn) abandon() {
	c.nc.Close()
	if c.released != nil {
		c.released()
	}
}

// closeFlushTimeout bounds how long Close waits for queued frames to reach
// a peer that does not read.
const closeFlushTimeout = 5 * time.Second

// gracefulClose reports whether the connection is ending by a local Close
// (of the connection or its server), when queued frames are still flushed.
func (c *Conn) gracefulClose() bool {
	cause := c.Group().Cause()
	return errors.Is(cause, aio.ErrClosed) || errors.Is(cause, ErrClosed)
}

// decideWire fixes the connection's generation.
func (c *Conn) decideWire(w Wire) {
	c.wire = w
	close(c.wireReady)
	c.wireKnown.Store(true)
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

// awaitWire waits until the generation is known, for sends on an auto
// connection that has not heard from its peer yet.
func (c *Conn) awaitWire(ctx context.Context) error {
	select {
	case <-c.wireReady:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing:
		return c.closedErr()
	}
}

// LocalAddress is this end's address in the original's form,
// e.g. "tcp+sbs://127.0.0.1:51234".
func (c *Conn) LocalAddress() string { return c.local }

// RemoteAddress is the peer's address in the original's form.
func (c *Conn) RemoteAddress() string { return c.remote }

// Close ends the connection: it stops reading, flushes what was already
// queued for sending (for at most a few seconds), closes the socket and
// drops received messages that were not yet delivered (those already in the
// Messages channel's buffer stay readable). It returns at once and is safe
// to call more than once and from any goroutine; use [Conn.Wait] or
// [Conn.Closed] to wait for the end.
func (c *Conn) Close() {
	c.ending.Store(true)
	c.closeOnce.Do(func() { close(c.discard) })
	c.Group().CloseWithCause(ErrClosed)
}

// Err reports why the connection ended: nil while it is open, an error
// wrapping ErrClosed after Close, or the reason it ended by itself
// (ErrPeerClosed, ErrPingTimeout, ErrProtocol, ErrMessageTooLarge, or a
// socket error).
func (c *Conn) Err() error {
	if !c.Group().IsClosing() {
		return nil
	}
	return c.cause()
}

// cause is the reason the connection is closing, with a local Close of the
// connection's group (or of its server's) reported as ErrClosed.
func (c *Conn) cause() error {
	cause := c.Group().Cause()
	if errors.Is(cause, aio.ErrClosed) {
		return ErrClosed
	}
	return cause
}

// closedErr is what calls on an ended connection return.
func (c *Conn) closedErr() error { return &closedError{c.cause()} }

// Messages returns the channel on which received messages arrive, in order.
// It is closed when the connection has ended and every message read before
// the end has been delivered, so
//
//	for msg := range conn.Messages() { ... }
//
// reads everything the peer sent. Replies to [Conn.Request] do not appear
// here. Messages and Receive share one stream: use one or the other.
func (c *Conn) Messages() <-chan Msg { return c.sup.msgs }

// Receive returns the next received message, waiting for it until ctx
// ends. Once the connection has ended and every message has been delivered
// it returns an error wrapping ErrClosed.
func (c *Conn) Receive(ctx context.Context) (Msg, error) {
	select {
	case m, ok := <-c.sup.msgs:
		if !ok {
			return Msg{}, c.closedErr()
		}
		return m, nil
	default:
	}
	select {
	case m, ok := <-c.sup.msgs:
		if !ok {
			return Msg{}, c.closedErr()
		}
		return m, nil
	case <-ctx.Done():
		return Msg{}, ctx.Err()
	}
}

// Drain waits until every message sent before the call has been written to
// the socket (not necessarily read by the peer).
func (c *Conn) Drain(ctx context.Context) error {
	if err := c.out.drain(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return err
		}
		return c.closedErr()
	}
	return nil
}

// readLoop reads frames, decodes them and hands them to the supervisor in
// batches: every frame already buffered is decoded before the batch goes,
// so a busy connection pays for one channel hand-off per read, not per
// message. Pings are answered here, at once.
func (c *Conn) readLoop(ctx context.Context) error {
	fr := newFrameReader(c.nc, c.cfg.maxMessageSize, readBufferSize)
	if c.cfg.frameTimeout > 0 {
		fr.timer = &frameTimer{conn: c.nc, timeout: c.cfg.frameTimeout, closing: func() bool { return ctx.Err() != nil }}
	}
	dec := newDecoder(c)
	maxBatch := 64
	if q := c.cfg.queueSize; q > 0 && q < maxBatch {
		maxBatch = q
	}
	for {
		body, err := fr.next()
		if err != nil {
			return c.endRead(ctx, err)
		}
		batch := c.sup.newBatch()
		for {
			in, err := dec.decode(body, fr.owned)
			if err != nil {
				return c.endRead(ctx, err)
			}
			if in.kind == inboundPing {
				if err := c.sendPong(ctx, in); err != nil {
					return c.endRead(ctx, err)
				}
			}
			batch = append(batch, in)
			c.stats.countIn(in.kind)
			if len(batch) >= maxBatch || !fr.buffered() {
				break
			}
			if body, err = fr.next(); err != nil {
				// Deliver what decoded before reporting the error.
				c.sup.deliverFromReader(ctx, batch)
				return c.endRead(ctx, err)
			}
		}
		c.stats.bytesIn.Store(fr.total)
		if !c.sup.deliverFromReader(ctx, batch) {
			return nil
		}
	}
}

// endRead closes the connection with the reason reading stopped.
func (c *Conn) endRead(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil // closing already; the read was cut off on purpose
	}
	switch {
	case errors.Is(err, io.EOF):
		err = ErrPeerClosed
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("%w: stream ended inside a frame: %w", ErrProtocol, err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		// Close sets a deadline too, but then ctx has ended (see above);
		// this one is the frame-read timeout's.
		err = fmt.Errorf("%w: no complete frame within %v", ErrFrameTimeout, c.cfg.frameTimeout)
	}
	c.Group().CloseWithCause(err)
	return nil
}

// writeLoop is the only goroutine that writes to the socket.
func (c *Conn) writeLoop(ctx context.Context) error {
	defer func() {
		c.nc.Close()
		if c.released != nil {
			c.released()
		}
	}()
	var spare []byte
	for {
		select {
		case <-c.out.wake:
		case <-ctx.Done():
			rest := c.out.fail(c.closedErr())
			if len(rest) > 0 && c.gracefulClose() {
				c.nc.Write(rest) // bounded by the write deadline Close set
			}
			return nil
		}
		b := c.out.take(spare)
		if b == nil {
			continue
		}
		n, err := c.nc.Write(b)
		c.out.wrote(n)
		if err != nil {
			c.out.fail(&closedError{err})
			if ctx.Err() == nil {
				c.Group().CloseWithCause(fmt.Errorf("chatter: write: %w", err))
			}
			return nil
		}
		// Keep the buffer for the next swap unless a burst made it large.
		if cap(b) <= 4*c.cfg.sendBufferSize {
			spare = b
		} else {
			spare = nil
		}
	}
}

// Send sends data as a message. Without options it starts a new
// conversation and ends it at once (last = true) handing over the turn
// (token = true), as the original's send does; [InConversation], [Last],
// [Token] and [ConversationTimeout] change that. It returns the
// conversation the message belongs to.
//
// Send encodes the payload, queues the frame and returns; the writer
// goroutine writes it. It blocks only while the send buffer is full (the
// peer does not read), until ctx ends. On an ended connection it returns an
// error wrapping ErrClosed.
func (c *Conn) Send(ctx context.Context, data Data, opts ...SendOption) (Conversation, error) {
	var sc sendConfig
	for _, o := range opts {
		sc = o.applySend(sc)
	}
	return c.send(ctx, data, sc, nil)
}

// Request sends data as the first message of a new conversation with last
// = false and waits for the peer's first message in that conversation,
// which it returns instead of delivering it to Messages. It honours ctx:
// when ctx ends first, Request returns ctx's error and a reply that arrives
// later is delivered to Messages. [Token] and [ConversationTimeout] apply;
// [InConversation] and [Last] are ignored.
func (c *Conn) Request(ctx context.Context, data Data, opts ...SendOption) (Msg, error) {
	var sc sendConfig
	for _, o := range opts {
		sc = o.applySend(sc)
	}
	sc.inConv = false
	sc.last, sc.lastSet = false, true
	reply := make(chan Msg, 1)
	conv, err := c.send(ctx, data, sc, reply)
	if err != nil {
		return Msg{}, err
	}
	select {
	case m := <-reply:
		return m, nil
	case <-ctx.Done():
		c.sup.cancelRequest(conv)
		// The reply may have been handed over just before the cancel.
		select {
		case m := <-reply:
			return m, nil
		default:
		}
		return Msg{}, ctx.Err()
	case <-c.Closing():
		select {
		case m := <-reply:
			return m, nil
		default:
		}
		return Msg{}, c.closedErr()
	}
}

var payloadPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (c *Conn) send(ctx context.Context, data Data, sc sendConfig, reply chan Msg) (Conversation, error) {
	if c.ending.Load() {
		return Conversation{}, c.closedErr()
	}
	if !c.wireKnown.Load() {
		if err := c.awaitWire(ctx); err != nil {
			return Conversation{}, err
		}
	}
	bp := payloadPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 256<<10 {
			payloadPool.Put(bp)
		}
	}()
	payload, err := c.encodePayload((*bp)[:0], data)
	*bp = payload[:0]
	if err != nil {
		return Conversation{}, err
	}
	e := envelope{
		token:   !sc.tokenSet || sc.token,
		last:    !sc.lastSet || sc.last,
		module:  data.Module,
		typ:     data.Type,
		payload: payload,
		owner:   true,
		current: c.wire == WireCurrent,
	}
	if sc.inConv {
		e.first, e.owner = sc.conv.FirstID, sc.conv.Owner
	}
	if size := e.sizeBody(); size > c.cfg.maxMessageSize {
		return Conversation{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, size, c.cfg.maxMessageSize)
	}
	// A conversation timeout or a pending reply must be registered before
	// the frame can reach the peer; see queueHold.
	register := reply != nil || (sc.timeout > 0 && !e.last)
	var flags queueFlags
	if register {
		flags = queueHold
	}
	if err := c.out.enqueue(ctx, c.closing, &e, !sc.inConv, flags); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return Conversation{}, err
		}
		return Conversation{}, c.closedErr()
	}
	conv := Conversation{Conn: c, Owner: e.owner, FirstID: e.first}
	if register {
		c.sup.register(conv, sc.timeout, sc.onTimeout, reply, e.last)
		c.out.release()
	} else if sc.inConv {
		c.sup.sent(conv)
	}
	return conv, nil
}

// encodePayload appends data's payload to b: as given for a RawPayload, by
// the value's own AppendSBS method when it has one (generated code), and
// otherwise through the repository.
func (c *Conn) encodePayload(b []byte, data Data) ([]byte, error) {
	switch v := data.Data.(type) {
	case RawPayload:
		return append(b, v...), nil
	case sbsAppender:
		b, err := v.AppendSBS(b)
		if err != nil {
			return b, fmt.Errorf("chatter: send %s: %w", payloadName(data), err)
		}
		return b, nil
	}
	t, err := c.repo.Type(data.Module, data.Type)
	if err != nil {
		return b, fmt.Errorf("chatter: send: %w", err)
	}
	b, err = t.Append(b, data.Data)
	if err != nil {
		return b, fmt.Errorf("chatter: send %s: %w", t, err)
	}
	return b, nil
}

// RawPayload is a payload already encoded in SBS. Sent as Data.Data, it
// goes on the wire as it is, with no repository look-up; it is also what
// Msg.Raw holds on receipt.
type RawPayload []byte

// sbsAppender is implemented by values that encode themselves, such as
// types written by sbs-gen.
type sbsAppender interface {
	AppendSBS(dst []byte) ([]byte, error)
}

// payloadName names a payload type for errors: Module.Type, or Type for a
// builtin.
func payloadName(d Data) string {
	if d.Module == "" {
		return d.Type
	}
	return d.Module + "." + d.Type
}

// sendPong answers a ping in its conversation.
func (c *Conn) sendPong(ctx context.Context, ping inbound) error {
	e := envelope{first: ping.first, owner: !ping.ownerFlag, token: true, last: true, module: "HatPing", typ: "MsgPong"}
	if c.wire == WireCurrent {
		e.module, e.typ, e.current = "HatChatter", "Pong", true
	}
	if err := c.out.enqueue(ctx, c.Closing(), &e, false, queueControl); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
