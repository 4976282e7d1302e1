package chatter

import (
	"crypto/tls"
	"errors"
)

// An Observer is told what connections do, for metrics, tracing or logs of
// the application's own. Set one with [WithObserver] on Connect, NewConn,
// Redial, Listen or NewServer; a server's observer sees every connection it
// accepts.
//
// Methods are called on the goroutines doing the work — Received on the
// connection's reader, Sent on the goroutine calling Send — so they must be
// quick and must not block; they must not wait for the connection either
// (Closed runs as its writer ends). Without an observer, all of this costs
// a nil check.
type Observer interface {
	// Opened: a connection was made or accepted, its TLS handshake done.
	Opened(c *Conn)
	// Closed: a connection's socket has closed; err is c.Err().
	Closed(c *Conn, err error)
	// Received: an application message arrived, before it is delivered.
	// Pings and pongs are not reported.
	Received(c *Conn, m MsgInfo)
	// Sent: Send or Request queued an application message.
	Sent(c *Conn, m MsgInfo)
}

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
	var r *closedError
	switch {
	case errors.As(err, &r) && r.local:
		cc.Local++
	case errors.Is(err, ErrPeerClosed):
		cc.Peer++
	case errors.Is(err, ErrPingTimeout):
		cc.PingTimeout++
	case errors.Is(err, ErrFrameTimeout):
		cc.FrameTimeout++
	case errors.Is(err, ErrHandshakeTimeout):
		cc.HandshakeTimeout++
	case errors.Is(err, ErrWireMismatch):
		cc.WireMismatch++
	case errors.Is(err, ErrProtocol):
		cc.Protocol++
	case errors.Is(err, ErrMessageTooLarge):
		cc.TooLarge++
	default:
		cc.Other++
	}
}

// add adds a connection's message and byte counters to the totals.
func (s *ServerStats) add(st Stats) {
	s.MessagesIn += st.MessagesIn
	s.MessagesOut += st.MessagesOut
	s.MessagesUnsent += st.MessagesUnsent
	s.BytesIn += st.BytesIn
	s.BytesOut += st.BytesOut
}
