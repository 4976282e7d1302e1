package chatter

import (
	"crypto/tls"
	"errors"
	"time"
)

// An Observer is told what connections do, for metrics, tracing or logs of
// the application's own. Set one with [WithObserver] on Connect, NewConn,
// Redial, NewClient, Listen or NewServer; a server's observer sees every
// connection it accepts. Embed [NopObserver] to implement only some
// methods; the contrib/prometheus module has one ready-made.
//
// Methods are called on the goroutines doing the work — Received,
// ConversationTimedOut and PingAnswered on the connection's supervisor,
// Sent and the Request methods on the goroutine calling Send or Request —
// so they must be quick and must not block; they must not wait for the
// connection either (Closed runs as its socket closes). Without an
// observer, all of this costs a nil check.
type Observer interface {
	// TagConn is called once for each connection, first; what it returns
	// is the connection's [Conn.Tag], for the observer's own state of that
	// connection (say, its labels resolved once).
	TagConn(c *Conn) any
	// Opened: a connection was made or accepted, its TLS handshake done.
	Opened(c *Conn)
	// Closed: a connection's socket has closed; err is c.Err(), and
	// [CloseReason] classifies it.
	Closed(c *Conn, err error)
	// Received: an application message arrived, before it is delivered.
	// Pings and pongs are not reported.
	Received(c *Conn, m MsgInfo)
	// Sent: Send or Request queued an application message.
	Sent(c *Conn, m MsgInfo)
	// RequestStarted: a Request queued its message (reported to Sent as
	// well) and waits for the reply.
	RequestStarted(c *Conn, r RequestInfo)
	// RequestDone: a Request returned, with its reply (r.Err nil) or not;
	// r.Duration is how long it took from the call.
	RequestDone(c *Conn, r RequestInfo)
	// ConversationTimedOut: a conversation's timeout (ConversationTimeout)
	// fired; its callback runs after this.
	ConversationTimedOut(c *Conn, conv Conversation)
	// PingAnswered: the keepalive's ping was answered, rtt after it was
	// queued (so time behind queued data counts).
	PingAnswered(c *Conn, rtt time.Duration)
}

// RequestInfo describes a [Conn.Request] for an [Observer].
type RequestInfo struct {
	Module, Type string // Module is "" for a builtin type
	// Conv is the conversation the request started; its FirstID is 0 when
	// the request was never queued (RequestDone only).
	Conv Conversation
	// Duration is how long the Request took, from its call (RequestDone).
	Duration time.Duration
	// Err is nil when the reply came, and otherwise what Request returned
	// (RequestDone).
	Err error
}

// NopObserver is an [Observer] that does nothing: embed it in an observer
// that implements only some of the methods.
type NopObserver struct{}

func (NopObserver) TagConn(*Conn) any                        { return nil }
func (NopObserver) Opened(*Conn)                             {}
func (NopObserver) Closed(*Conn, error)                      {}
func (NopObserver) Received(*Conn, MsgInfo)                  {}
func (NopObserver) Sent(*Conn, MsgInfo)                      {}
func (NopObserver) RequestStarted(*Conn, RequestInfo)        {}
func (NopObserver) RequestDone(*Conn, RequestInfo)           {}
func (NopObserver) ConversationTimedOut(*Conn, Conversation) {}
func (NopObserver) PingAnswered(*Conn, time.Duration)        {}

// Tag is what the connection's [Observer] returned from TagConn for it,
// or nil.
func (c *Conn) Tag() any { return c.tag }

// MsgInfo describes a message for an [Observer].
type MsgInfo struct {
	Module, Type string // Module is "" for a builtin type
	Size         int    // the payload's encoded size, in bytes
	Conv         Conversation
}

// WithObserver sets an [Observer] of connections and their messages.
func WithObserver(o Observer) Option {
	return optionFunc(func(c *config) { c.observer = o })
}

// TLSConnectionState returns the TLS state of an ssl+sbs connection: the
// negotiated version and cipher suite, the server name, and the peer's
// verified certificate chains and certificates (on a server that asks for
// client certificates, the client's: its identity). ok is false on a
// connection without TLS.
func (c *Conn) TLSConnectionState() (state tls.ConnectionState, ok bool) {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return tls.ConnectionState{}, false
	}
	return tc.ConnectionState(), true
}

// ServerStats are a server's totals since it started.
type ServerStats struct {
	// Accepted counts the connections its listeners accepted, refused and
	// failed ones included.
	Accepted uint64 `json:"accepted"`
	// Open is the number of connections whose sockets are open.
	Open int `json:"open"`
	// Closing is how many of the Open connections have stopped reading —
	// the peer ended its stream or broke the protocol, or Shutdown stopped
	// them — and stay open only to write the replies of the reply grace
	// and to linger (see Server.Shutdown): a peer that has left counts
	// here until then. Open minus Closing is the connections in use.
	Closing int `json:"closing"`
	// Refused counts connections closed at once because the server was at
	// its connection limit (WithMaxConnections).
	Refused uint64 `json:"refused"`
	// HandshakeFailures counts TLS handshakes that failed or timed out:
	// connections that never became Conns. (A WireAuto connection whose
	// first frame does not come in time is a Conn; it counts in
	// Closed.HandshakeTimeout.)
	HandshakeFailures uint64 `json:"handshake_failures"`
	// AcceptErrors counts failed accepts, each retried after a backoff.
	AcceptErrors uint64 `json:"accept_errors"`
	// Closed counts the connections that ended, by reason.
	Closed CloseCounts `json:"closed"`
	// Messages and bytes over every connection the server accepted, those
	// that ended included (see Stats for what each counts).
	MessagesIn  uint64 `json:"messages_in"`
	MessagesOut uint64 `json:"messages_out"`
	// MessagesUnsent counts messages queued and dropped unwritten by
	// connections that failed (see Stats.MessagesUnsent).
	MessagesUnsent uint64 `json:"messages_unsent"`
	BytesIn        uint64 `json:"bytes_in"`
	BytesOut       uint64 `json:"bytes_out"`
}

// CloseCounts counts ended connections by the reason [Conn.Err] gives.
type CloseCounts struct {
	Local            uint64 `json:"local"`             // closed by this side: Close, the server's Close or Shutdown
	Peer             uint64 `json:"peer"`              // ErrPeerClosed
	PingTimeout      uint64 `json:"ping_timeout"`      // ErrPingTimeout
	FrameTimeout     uint64 `json:"frame_timeout"`     // ErrFrameTimeout
	HandshakeTimeout uint64 `json:"handshake_timeout"` // ErrHandshakeTimeout
	WireMismatch     uint64 `json:"wire_mismatch"`     // ErrWireMismatch
	Protocol         uint64 `json:"protocol"`          // other ErrProtocol
	TooLarge         uint64 `json:"too_large"`         // ErrMessageTooLarge
	Other            uint64 `json:"other"`             // socket errors and the rest
}

// count adds one connection that ended with err.
func (cc *CloseCounts) count(err error) {
	switch CloseReason(err) {
	case CloseLocal:
		cc.Local++
	case ClosePeer:
		cc.Peer++
	case ClosePingTimeout:
		cc.PingTimeout++
	case CloseFrameTimeout:
		cc.FrameTimeout++
	case CloseHandshakeTimeout:
		cc.HandshakeTimeout++
	case CloseWireMismatch:
		cc.WireMismatch++
	case CloseProtocol:
		cc.Protocol++
	case CloseTooLarge:
		cc.TooLarge++
	default:
		cc.Other++
	}
}

// Why a connection ended, as [CloseReason] names it: the names of
// [CloseCounts]' JSON fields, fit for a metric label.
const (
	CloseLocal            = "local"
	ClosePeer             = "peer"
	ClosePingTimeout      = "ping_timeout"
	CloseFrameTimeout     = "frame_timeout"
	CloseHandshakeTimeout = "handshake_timeout"
	CloseWireMismatch     = "wire_mismatch"
	CloseProtocol         = "protocol"
	CloseTooLarge         = "too_large"
	CloseOther            = "other"
)

// CloseReason classifies why a connection ended, from what [Conn.Err] (or
// Close, Wait, Observer.Closed) gives: CloseLocal when this side closed it
// (Close, its server's Close or Shutdown, a Client or Redial stopping),
// ClosePeer, ClosePingTimeout, and so on; CloseOther for socket errors and
// the rest. It returns "" for nil, a connection still open.
func CloseReason(err error) string {
	if err == nil {
		return ""
	}
	var r *closedError
	switch {
	case errors.As(err, &r) && r.local:
		return CloseLocal
	case errors.Is(err, ErrPeerClosed):
		return ClosePeer
	case errors.Is(err, ErrPingTimeout):
		return ClosePingTimeout
	case errors.Is(err, ErrFrameTimeout):
		return CloseFrameTimeout
	case errors.Is(err, ErrHandshakeTimeout):
		return CloseHandshakeTimeout
	case errors.Is(err, ErrWireMismatch):
		return CloseWireMismatch
	case errors.Is(err, ErrProtocol):
		return CloseProtocol
	case errors.Is(err, ErrMessageTooLarge):
		return CloseTooLarge
	}
	return CloseOther
}

// add adds a connection's message and byte counters to the totals.
func (s *ServerStats) add(st Stats) {
	s.MessagesIn += st.MessagesIn
	s.MessagesOut += st.MessagesOut
	s.MessagesUnsent += st.MessagesUnsent
	s.BytesIn += st.BytesIn
	s.BytesOut += st.BytesOut
}
