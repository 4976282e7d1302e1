package chatter

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Defaults of the connection options. Every resource a peer can make a
// connection hold is bounded by one of them: memory by the receive queue,
// the send buffer, the control-frame cap and the maximum message size;
// time by the handshake, frame-read and ping timeouts; a server's
// descriptors by the connection cap.
const (
	DefaultPingTimeout      = 20 * time.Second
	DefaultPingDelay        = 20 * time.Second
	DefaultQueueSize        = 1024 // received messages, as hat-drivers' queue
	DefaultQueueBytes       = 4 << 20
	DefaultMaxMessageSize   = 64 << 20
	DefaultSendBufferSize   = 1 << 20
	DefaultFrameReadTimeout = 30 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxConnections   = 10_000
	DefaultFlushTimeout     = 5 * time.Second
	DefaultReplyGrace       = time.Second
)

// QueueUnbounded, given to [WithQueueSize] and [WithQueueBytes], removes
// their bounds on received messages, as in the legacy original: a peer
// that sends faster than the application reads then grows memory without
// limit.
const QueueUnbounded = -1

// MaxQueuedControlBytes bounds the control frames (pongs) a connection
// queues for a peer that does not read what it is sent. Past it, the
// reader waits for the writer, as any sender waits for the send buffer: a
// peer that floods pings without reading stops being read.
const MaxQueuedControlBytes = 4 << 10

// Option configures Connect, NewConn, Listen and NewServer. Options are
// applied in order and validated once, when the connection or server
// starts. Zero values mean the default.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	pingTimeout      time.Duration
	queueSize        int // 0: unbounded (QueueUnbounded given)
	queueBytes       int // 0: unbounded (QueueUnbounded given)
	pemFile          string
	tlsConfig        *tls.Config
	maxMessageSize   int
	sendBufferSize   int
	keepConnections  bool
	rawPayloads      bool
	dropLateReplies  bool
	newPayload       func(module, name string) sbsUnmarshaler // WithPayloadTypes
	wire             Wire
	pingDelay        time.Duration
	frameTimeout     time.Duration // 0: none
	handshakeTimeout time.Duration // 0: none
	maxConnections   int           // 0: no limit
	flushTimeout     time.Duration
	replyGrace       time.Duration
	logger           *slog.Logger
	// warn rate-limits the warnings a flood of peers could otherwise
	// repeat without end; a server's connections share their server's.
	warn         *logLimiter
	observer     Observer
	dial         func(ctx context.Context, network, address string) (net.Conn, error)
	backoff      Backoff
	redialEvents func(RedialEvent)
	// connectedHook is a Client's (WithConnectedHook).
	connectedHook func(ctx context.Context, c *Conn) error
}

func newConfig(opts []Option) (*config, error) {
	c := &config{pingTimeout: DefaultPingTimeout, pingDelay: DefaultPingDelay}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	switch {
	case c.pingTimeout < 0:
		return nil, fmt.Errorf("chatter: negative ping timeout %v", c.pingTimeout)
	case c.queueSize < QueueUnbounded:
		return nil, fmt.Errorf("chatter: queue size %d (want a bound, 0 for the default or QueueUnbounded)", c.queueSize)
	case c.queueBytes < QueueUnbounded:
		return nil, fmt.Errorf("chatter: queue bytes %d (want a bound, 0 for the default or QueueUnbounded)", c.queueBytes)
	case c.maxMessageSize < 0:
		return nil, fmt.Errorf("chatter: negative maximum message size %d", c.maxMessageSize)
	case c.sendBufferSize < 0:
		return nil, fmt.Errorf("chatter: negative send buffer size %d", c.sendBufferSize)
	case c.pingDelay < 0:
		return nil, fmt.Errorf("chatter: negative ping delay %v", c.pingDelay)
	case c.wire > WireAuto:
		return nil, fmt.Errorf("chatter: unknown wire generation %d", c.wire)
	case c.flushTimeout < 0:
		return nil, fmt.Errorf("chatter: negative flush timeout %v", c.flushTimeout)
	case c.replyGrace < 0:
		return nil, fmt.Errorf("chatter: negative reply grace %v", c.replyGrace)
	}
	c.queueSize = orDefault(c.queueSize, DefaultQueueSize)
	c.queueBytes = orDefault(c.queueBytes, DefaultQueueBytes)
	c.maxMessageSize = orDefault(c.maxMessageSize, DefaultMaxMessageSize)
	c.sendBufferSize = orDefault(c.sendBufferSize, DefaultSendBufferSize)
	c.maxConnections = orDefault(c.maxConnections, DefaultMaxConnections)
	c.frameTimeout = orDefault(c.frameTimeout, DefaultFrameReadTimeout)
	c.handshakeTimeout = orDefault(c.handshakeTimeout, DefaultHandshakeTimeout)
	c.flushTimeout = orDefault(c.flushTimeout, DefaultFlushTimeout)
	c.replyGrace = orDefault(c.replyGrace, DefaultReplyGrace)
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.warn = newLogLimiter()
	return c, nil
}

// orDefault maps 0 to the default and a negative value (the "no limit"
// of the options that have one) to 0, which the code reads as no limit.
func orDefault[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// WithPingTimeout sets the keepalive's timeout T. On the legacy wire it is
// also the period: every T the connection sends HatPing.MsgPing and closes
// itself if no answer arrives within T; 0 disables pings. On the current
// wire it is how long to wait, after a ping, for anything at all to arrive
// before closing; 0 there means the default (the original closes right
// after its first ping, which nobody wants). The default is 20 s, as in the
// originals.
func WithPingTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.pingTimeout = d })
}

// WithQueueSize bounds the number of received messages waiting for the
// application. While the queue is full the connection stops reading its
// socket, so a slow reader slows the peer down and nothing is dropped. The
// default is 1024 (0 means the default); [QueueUnbounded] removes the
// bound, as in the legacy original. [WithQueueBytes] bounds the same
// queue in bytes; whichever bound is reached first stops the reading.
//
// While the queue is full, this side does not read the peer's pings and
// pongs either. Its own ping timeout does not fire then (the stall is its
// own application's doing), but the peer's may: a peer that pings sees no
// answer while the application does not read. A Request's reply may wait
// behind unread messages too: while Requests are waiting, the connection
// reads one more batch (at most 64 messages) past the bound for each, so
// that their replies can come through, and no more.
func WithQueueSize(n int) Option {
	return optionFunc(func(c *config) { c.queueSize = n })
}

// WithQueueBytes bounds the payload bytes of the received messages
// waiting for the application, as WithQueueSize bounds their number:
// while the queue holds this much, the connection stops reading its
// socket. A message counts its payload (a frame of 32 KiB or more, its
// whole buffer). Beyond the bound come the messages of the Messages
// channel's own buffer (at most 16) and of the batch being read (at most
// 64), and the batches let through for waiting Requests, as for
// WithQueueSize; one message larger than the bound is still taken when
// nothing else waits. The default is 4 MiB (0 means the default);
// [QueueUnbounded] removes the bound, which the legacy original did not
// have either: then 1,024 messages of 64 MiB may wait.
//
// A large bound costs speed as well as memory: a backlog of tens of MiB
// that fills and drains swings the garbage collector's goal with it, and
// the runtime gives memory back to the system only to take it again.
func WithQueueBytes(n int) Option {
	return optionFunc(func(c *config) { c.queueBytes = n })
}

// WithPEMFile names a PEM file holding a certificate and its private key,
// used for ssl+sbs addresses. A server presents it; a client presents it as
// its own certificate and, as in the original, does NOT verify the server.
// Use WithTLSConfig for verification.
func WithPEMFile(path string) Option {
	return optionFunc(func(c *config) { c.pemFile = path })
}

// WithTLSConfig gives the full TLS configuration for ssl+sbs addresses, for
// verified or mutual TLS. It takes precedence over WithPEMFile. The config
// is cloned; MinVersion is raised to TLS 1.2 if lower.
func WithTLSConfig(cfg *tls.Config) Option {
	return optionFunc(func(c *config) { c.tlsConfig = cfg })
}

// WithMaxMessageSize caps the body of one frame, in both directions. A peer
// announcing a larger frame has its connection closed before anything is
// allocated for it; sending a larger message fails with
// ErrMessageTooLarge. The default is 64 MiB (0 means the default).
func WithMaxMessageSize(n int) Option {
	return optionFunc(func(c *config) { c.maxMessageSize = n })
}

// WithSendBufferSize bounds the bytes queued for writing. Send blocks
// (honouring its context) while this much is waiting for a peer that does
// not read. One message larger than the bound is still accepted when
// nothing else is queued. The default is 1 MiB (0 means the default). A
// larger bound costs no copying: beyond 1 MiB the queue is a list of
// segments, allocated as they fill and dropped once the writer has idled.
func WithSendBufferSize(n int) Option {
	return optionFunc(func(c *config) { c.sendBufferSize = n })
}

// WithKeepConnections makes a server's accepted connections outlive it:
// closing the server then stops accepting but leaves them open. By default
// closing a server closes every connection it accepted, as in the original.
func WithKeepConnections() Option {
	return optionFunc(func(c *config) { c.keepConnections = true })
}

// WithPayloadTypes decodes received payloads of the types newValue knows
// straight into Go values, once: for a message of type module.name,
// newValue returns a new value to decode into (nil for a type it does not
// know, which is decoded as without the option), and Msg.Data.Data is
// that value, a pointer to a type written by sbs-gen. [Decode] into the
// same type then copies it, without decoding again. sbs-gen -registry
// writes such a function, NewSBS:
//
//	conn, err := chatter.Connect(ctx, repo, addr, chatter.WithPayloadTypes(msgs.NewSBS))
//
// A payload that does not decode is a protocol error on the legacy wire
// and Msg.DecodeErr on the current one, as without the option. It takes
// precedence over WithRawPayloads for the types newValue knows.
func WithPayloadTypes[V interface{ UnmarshalSBS(data []byte) error }](newValue func(module, name string) V) Option {
	return optionFunc(func(c *config) {
		if newValue == nil {
			c.newPayload = nil
			return
		}
		c.newPayload = func(module, name string) sbsUnmarshaler {
			v := newValue(module, name)
			if any(v) == nil {
				return nil
			}
			return v
		}
	})
}

// WithDropLateReplies drops a reply that comes after its [Conn.Request]
// gave up, instead of delivering it to Messages marked [Msg.Late]. Either
// way Stats.LateReplies counts it, so none is lost unseen.
func WithDropLateReplies() Option {
	return optionFunc(func(c *config) { c.dropLateReplies = true })
}

// WithRawPayloads leaves received payloads encoded: each Msg carries its
// payload bytes in Msg.Raw and Data.Data is nil, and the repository is not
// consulted on receipt, so types it does not know are delivered too. Use it
// to decode into typed values (generated code or sbs bindings) without the
// dynamic value model, or to forward payloads unread.
func WithRawPayloads() Option {
	return optionFunc(func(c *config) { c.rawPayloads = true })
}

// WithWire selects the wire generation: WireLegacy (the default),
// WireCurrent, or for servers WireAuto. Connect refuses WireAuto: a client's
// first frame already commits it to one generation.
func WithWire(w Wire) Option {
	return optionFunc(func(c *config) { c.wire = w })
}

// WithPingDelay sets, for the current wire, how long nothing may be
// received before the connection sends HatChatter.Ping; every received
// frame restarts the wait. The default is 20 s; 0 never pings (pings from
// the peer are still answered). The legacy wire ignores it.
func WithPingDelay(d time.Duration) Option {
	return optionFunc(func(c *config) { c.pingDelay = d })
}

// WithFrameReadTimeout bounds how long one frame may take to arrive once
// its first bytes are in: a peer that sends a header and then trickles the
// rest is closed with ErrFrameTimeout, pings or no pings. The default is
// 30 s (0 means the default); a negative d removes the limit (the
// originals have none). Raise it for large messages over slow links: at
// 10 Mbit/s a 64 MiB frame takes about a minute.
func WithFrameReadTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.frameTimeout = d })
}

// WithHandshakeTimeout bounds how long a new connection may take to become
// a Chatter connection: the TLS handshake on ssl+sbs, and on a WireAuto
// server the first frame, from which the generation is decided. A server
// closes a connection that misses it, with ErrHandshakeTimeout, and logs
// it at warning level (rate-limited); Connect fails. The default is 10 s
// (0 means the default); a negative d removes the limit.
func WithHandshakeTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.handshakeTimeout = d })
}

// WithMaxConnections caps a server's open connections: while n are open, a
// new one is accepted and closed at once (logged at warning level,
// rate-limited), so a flood of connections cannot exhaust file descriptors
// or memory. A connection counts from the moment it is accepted, its TLS
// handshake included: a slot is a descriptor, and the handshake timeout
// bounds how long a client that never completes it holds one. The default
// is 10,000 (0 means the default); a negative n removes the limit. Connect
// ignores it.
func WithMaxConnections(n int) Option {
	return optionFunc(func(c *config) { c.maxConnections = n })
}

// WithLogger sets the logger for connection and server events. The
// default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}

// WithFlushTimeout bounds how long closing a connection ([Conn.Close], a
// server's Close, the end of the reply grace) spends writing what was
// already queued to a peer that does not read; what is left after it is
// dropped. The default is 5 s; 0 means the default.
func WithFlushTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.flushTimeout = d })
}

// WithReplyGrace sets how long a connection whose reading has ended — the
// peer ended its stream or sent a frame that breaks the protocol, or a
// server's Shutdown stopped it — stays open for writing after the
// application has taken the last message read: replies sent within it are
// still written, then the connection closes. The default is 1 s; 0 means
// the default.
func WithReplyGrace(d time.Duration) Option {
	return optionFunc(func(c *config) { c.replyGrace = d })
}

// WithDialer sets the function Connect (and Redial) dials with, in place of
// a net.Dialer's DialContext: for a proxy, a socket option such as SO_MARK,
// a source address, or a test's in-memory network. It is called with
// network "tcp" and the address's HOST:PORT, and with a context that
// carries the dial's deadline; the TLS handshake, if any, runs over what it
// returns. Servers ignore it.
func WithDialer(dial func(ctx context.Context, network, address string) (net.Conn, error)) Option {
	return optionFunc(func(c *config) { c.dial = dial })
}
