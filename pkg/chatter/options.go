package chatter

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of the connection options.
const (
	DefaultPingTimeout    = 20 * time.Second
	DefaultMaxMessageSize = 64 << 20
	DefaultSendBufferSize = 1 << 20
	DefaultPingDelay      = 20 * time.Second
	DefaultFlushTimeout   = 5 * time.Second
	DefaultReplyGrace     = time.Second
)

// Option configures Connect and Listen. Options are applied in order and
// validated once, when Connect or Listen starts.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	pingTimeout     time.Duration
	queueSize       int
	pemFile         string
	tlsConfig       *tls.Config
	maxMessageSize  int
	sendBufferSize  int
	keepConnections bool
	rawPayloads     bool
	wire            Wire
	pingDelay       time.Duration
	frameTimeout    time.Duration
	maxConnections  int
	flushTimeout    time.Duration
	replyGrace      time.Duration
	logger          *slog.Logger
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		pingTimeout:    DefaultPingTimeout,
		maxMessageSize: DefaultMaxMessageSize,
		sendBufferSize: DefaultSendBufferSize,
		pingDelay:      DefaultPingDelay,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(c)
		}
	}
	switch {
	case c.pingTimeout < 0:
		return nil, fmt.Errorf("chatter: negative ping timeout %v", c.pingTimeout)
	case c.queueSize < 0:
		return nil, fmt.Errorf("chatter: negative queue size %d", c.queueSize)
	case c.maxMessageSize <= 0:
		return nil, fmt.Errorf("chatter: maximum message size must be positive, got %d", c.maxMessageSize)
	case c.sendBufferSize <= 0:
		return nil, fmt.Errorf("chatter: send buffer size must be positive, got %d", c.sendBufferSize)
	case c.frameTimeout < 0:
		return nil, fmt.Errorf("chatter: negative frame-read timeout %v", c.frameTimeout)
	case c.maxConnections < 0:
		return nil, fmt.Errorf("chatter: negative connection limit %d", c.maxConnections)
	case c.pingDelay < 0:
		return nil, fmt.Errorf("chatter: negative ping delay %v", c.pingDelay)
	case c.wire > WireAuto:
		return nil, fmt.Errorf("chatter: unknown wire generation %d", c.wire)
	case c.flushTimeout < 0:
		return nil, fmt.Errorf("chatter: negative flush timeout %v", c.flushTimeout)
	case c.replyGrace < 0:
		return nil, fmt.Errorf("chatter: negative reply grace %v", c.replyGrace)
	}
	if c.flushTimeout == 0 {
		c.flushTimeout = DefaultFlushTimeout
	}
	if c.replyGrace == 0 {
		c.replyGrace = DefaultReplyGrace
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c, nil
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
// default, 0, is unbounded, as in the original.
func WithQueueSize(n int) Option {
	return optionFunc(func(c *config) { c.queueSize = n })
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
// ErrMessageTooLarge. The default is 64 MiB.
func WithMaxMessageSize(n int) Option {
	return optionFunc(func(c *config) { c.maxMessageSize = n })
}

// WithSendBufferSize bounds the bytes queued for writing. Send blocks
// (honouring its context) while this much is waiting for a peer that does
// not read. One message larger than the bound is still accepted when
// nothing else is queued. The default is 1 MiB.
func WithSendBufferSize(n int) Option {
	return optionFunc(func(c *config) { c.sendBufferSize = n })
}

// WithKeepConnections makes a server's accepted connections outlive it:
// closing the server then stops accepting but leaves them open. By default
// closing a server closes every connection it accepted, as in the original.
func WithKeepConnections() Option {
	return optionFunc(func(c *config) { c.keepConnections = true })
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
// rest is closed with ErrFrameTimeout. The default, 0, waits as long as the
// keepalive lets it (the originals have no such limit).
func WithFrameReadTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.frameTimeout = d })
}

// WithMaxConnections caps a server's open connections: while n are open, a
// new one is accepted and closed at once (and logged), so a flood of
// connections cannot exhaust file descriptors or memory. The default, 0,
// is no limit. Connect ignores it.
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
