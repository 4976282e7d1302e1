package chatter

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Errors returned by this package wrap one of these (or an
// error of the standard library, such as a dial error); test them with
// errors.Is, never by their text.
var (
	// ErrClosed: the connection or server is closed or closing. Send,
	// Receive and Request on a closed connection return an error that wraps
	// ErrClosed and, where there is one, the reason the connection ended.
	ErrClosed = errors.New("chatter: connection closed")
	// ErrAddress: an address that is not tcp+sbs://HOST:PORT or
	// ssl+sbs://HOST:PORT.
	ErrAddress = errors.New("chatter: invalid address")
	// ErrProtocol: the peer sent something that is not a valid Chatter
	// frame: a malformed frame or Hat.Msg, a payload type the repository
	// does not know, or a payload that does not decode.
	ErrProtocol = errors.New("chatter: protocol error")
	// ErrMessageTooLarge: a frame (incoming or outgoing) larger than the
	// maximum message size.
	ErrMessageTooLarge = errors.New("chatter: message too large")
	// ErrPingTimeout: the peer did not answer a ping within the ping
	// timeout.
	ErrPingTimeout = errors.New("chatter: ping timeout")
	// ErrFrameTimeout: a frame that had begun to arrive was not complete
	// within the frame-read timeout (WithFrameReadTimeout).
	ErrFrameTimeout = errors.New("chatter: frame read timeout")
	// ErrHandshakeTimeout: a connection did not complete its TLS
	// handshake, or on a WireAuto server did not send its first frame,
	// within the handshake timeout (WithHandshakeTimeout).
	ErrHandshakeTimeout = errors.New("chatter: handshake timeout")
	// ErrPeerClosed: the peer ended the stream.
	ErrPeerClosed = errors.New("chatter: connection closed by peer")
	// ErrUnsent: Close could not write everything that was queued before
	// the flush timeout ([WithFlushTimeout]) ran out or the socket failed;
	// the rest was dropped, and Stats.MessagesUnsent counts it.
	ErrUnsent = errors.New("chatter: queued messages not sent")
	// ErrTypeMismatch: a Go value was sent in, or decoded from, a message
	// labelled with an SBS type that the value is not; the error is a
	// *[TypeMismatchError].
	ErrTypeMismatch = errors.New("chatter: payload type mismatch")
	// ErrNotConnected: a [Client] had no connection up (it was dialing,
	// running its Connected hook, or waiting to dial again), so the call
	// was not tried. The error also matches why the last attempt or
	// connection failed. [WaitForReady] waits for a connection instead.
	ErrNotConnected = errors.New("chatter: not connected")
)

// TypeMismatchError is the error of a Send or [Decode] whose Go value is
// not of the SBS type the message is labelled with. Send returns it before
// anything is written, so the connection is unharmed. errors.Is matches
// ErrTypeMismatch and, for a value bound by its structure, the binding's
// error (sbs.ErrBinding).
//
// The value's type is known by name when it says so itself (types written
// by sbs-gen, sbs.BoundValue), and otherwise only by its structure: a Go
// struct whose sbs binding to the labelled type fails.
type TypeMismatchError struct {
	Op    string // "send" or "decode"
	Label string // the message's payload type, Module.Type
	// Value names what the Go value is: its own SBS type, Module.Type,
	// when it has one; otherwise its Go type.
	Value string
	// Err is the binding's error for a value that does not name its type.
	Err error
}

func (e *TypeMismatchError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("chatter: %s %s: payload type mismatch: %v", e.Op, e.Label, e.Err)
	}
	return fmt.Sprintf("chatter: %s %s: payload type mismatch: the value is a %s", e.Op, e.Label, e.Value)
}

func (e *TypeMismatchError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrTypeMismatch, e.Err}
	}
	return []error{ErrTypeMismatch}
}

// RequestError is the error of a [Conn.Request] that got no reply: which
// request it was, and why. errors.Is matches its cause — ctx's error, or
// ErrClosed and the reason the connection ended — and, when ctx ended
// because the connection did (the connection's own context), both.
type RequestError struct {
	// Type is the request's payload type, Module.Type (a builtin's bare
	// name).
	Type string
	// Conv is the conversation the request started; its FirstID is 0 when
	// the request was never queued.
	Conv Conversation
	// Err is why: ctx's error, or an error matching ErrClosed.
	Err error
	// also is ctx's error when Err is the connection's.
	also error
}

func (e *RequestError) Error() string {
	if e.Conv.FirstID == 0 {
		return fmt.Sprintf("chatter: request %s: %s", e.Type, unprefixed(e.Err))
	}
	return fmt.Sprintf("chatter: request %s (conversation %d): %s", e.Type, e.Conv.FirstID, unprefixed(e.Err))
}

// unprefixed is err's text without the package's "chatter: " prefix, for
// an error that wraps it and says "chatter: " itself: one prefix a
// message, not a stutter of them.
func unprefixed(err error) string {
	return strings.TrimPrefix(err.Error(), "chatter: ")
}

func (e *RequestError) Unwrap() []error {
	if e.also != nil {
		return []error{e.Err, e.also}
	}
	return []error{e.Err}
}

// stoppedError is the error of a Server or Client that has stopped: it
// matches ErrClosed, and the cause when it ended for one, but says which
// it is ("chatter: server closed", "chatter: client closed: ...").
type stoppedError struct {
	what  string
	cause error
}

func (e *stoppedError) Error() string {
	if e.cause == nil {
		return "chatter: " + e.what + " closed"
	}
	return "chatter: " + e.what + " closed: " + unprefixed(e.cause)
}

func (e *stoppedError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrClosed}
	}
	return []error{ErrClosed, e.cause}
}

// notConnectedError is what a Client's calls return while it has no
// connection: it matches ErrNotConnected and why the last attempt or
// connection failed, when there was one.
type notConnectedError struct{ cause error }

func (e *notConnectedError) Error() string {
	if e.cause == nil {
		return ErrNotConnected.Error()
	}
	return ErrNotConnected.Error() + ": " + unprefixed(e.cause)
}

func (e *notConnectedError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrNotConnected}
	}
	return []error{ErrNotConnected, e.cause}
}

// errClosing: a send gave up waiting for room because the connection
// began closing; callers report the connection's reason instead.
var errClosing = errors.New("chatter: connection closing")

// AddressError reports an address that cannot be used, and why.
type AddressError struct {
	Address string
	Reason  string
}

func (e *AddressError) Error() string {
	return fmt.Sprintf("chatter: invalid address %q: %s", e.Address, e.Reason)
}

// Unwrap lets errors.Is(err, ErrAddress) match.
func (e *AddressError) Unwrap() error { return ErrAddress }

// closedError is what calls on an ended connection return, and what Err
// reports: it matches ErrClosed and also the reason the connection ended.
type closedError struct {
	cause error // why; nil or ErrClosed for a local close
	local bool  // the connection was closed by this side
}

func (e *closedError) Error() string {
	if e.cause == nil || e.cause == ErrClosed {
		return ErrClosed.Error()
	}
	cause := unprefixed(e.cause)
	if strings.HasPrefix(cause, "connection closed") {
		return "chatter: " + cause // "connection closed by peer", not closed twice
	}
	return ErrClosed.Error() + ": " + cause
}

func (e *closedError) Unwrap() []error {
	if e.cause == nil || e.cause == ErrClosed {
		return []error{ErrClosed}
	}
	return []error{ErrClosed, e.cause}
}
