package chatter

import (
	"context"
	"sync"
	"time"
)

// How a connection ends.
//
// A connection's goroutines live in its aio.Group. Closing begins in one
// place, begin, which records why (the first reason holds) and how the
// socket closes, and stops the group; the supervisor sees the group stop,
// shuts down (shutdown) and closes the socket as begin decided
// (closeSocket). Those are the three verbs. Closing begins
//
//   - by a local close — Close, the server that owns the connection, or
//     the end of the reply grace after the peer's end: queued frames are
//     flushed, for at most the flush timeout (modeFlush);
//   - by a failure that makes writing pointless or impossible — a socket
//     error, a ping timeout: the socket closes at once (modeAbort).
//
// The peer ending its side, or breaking the protocol, does not close the
// connection yet: the supervisor records the reason, delivers what was
// read, closes Messages, and begins a local close when the reply grace
// has passed.

// closeMode is how the socket closes; it is decided when closing begins.
type closeMode uint8

const (
	modeOpen  closeMode = iota
	modeFlush           // write what is queued, within the flush timeout, then close
	modeAbort           // close at once: the peer cannot, or need not, take more
)

// lifecycle is how a connection ends, written by whoever begins it and
// read by the methods that report it. Its mutex is the only lock around
// it; the supervisor, which acts on it, learns of a close through the
// group's context.
type lifecycle struct {
	mu     sync.Mutex
	mode   closeMode    // set once, when closing begins
	reason *closedError // the first reason the connection began to end
	// unsentErr reports what a flushing close had to drop; the supervisor
	// sets it as it closes the socket, before its goroutine returns.
	unsentErr error
	// callback is set while a conversation timeout callback runs, so that
	// Close called from one does not wait for itself.
	callback bool
	// supervisorDone closes when the supervisor has returned: by then the
	// socket is closed and no writer runs.
	supervisorDone chan struct{}
}

// begin records why the connection ends (unless a reason was recorded
// before) and, unless mode is modeOpen, begins closing it as mode says:
// the socket's write deadline follows the mode, sends are refused, and
// the group stops, which the supervisor acts on. A local close also tells
// the supervisor to drop what is undelivered, even when the connection
// was ending already. It returns err, for a goroutine of the connection
// to return.
func (c *Conn) begin(err error, local bool, mode closeMode) error {
	l := &c.life
	l.mu.Lock()
	if l.reason == nil {
		l.reason = &closedError{cause: err, local: local}
	}
	first := mode != modeOpen && l.mode == modeOpen
	if first {
		l.mode = mode
	}
	reason := l.reason
	l.mu.Unlock()
	if local && mode != modeOpen {
		c.mail.localClose()
	}
	if !first {
		return err
	}
	if mode == modeFlush {
		c.nc.SetWriteDeadline(time.Now().Add(c.cfg.flushTimeout))
	} else {
		c.nc.SetWriteDeadline(time.Now())
	}
	c.out.close(reason)
	c.group.CloseWithCause(err)
	return err
}

// closeMode is the mode closing began in; modeOpen while it has not.
func (l *lifecycle) closeMode() closeMode {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mode
}

// unsentOnClose records that a flushing close dropped n messages because
// writing failed with err; Close and Wait report it.
func (l *lifecycle) unsentOnClose(n int, err error, flushTimeout time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mode == modeFlush && l.reason != nil && l.reason.local {
		l.unsentErr = unsentReport(n, err, flushTimeout)
	}
}

// Close ends the connection: it stops reading, flushes what was already
// queued for sending (for at most the flush timeout, [WithFlushTimeout]),
// closes the socket, drops received messages not yet delivered (those
// already in the Messages channel's buffer stay readable), and waits until
// the connection's goroutines have returned. It returns nil when this
// close is why the connection ended and everything queued was written to
// the socket; an error matching [ErrUnsent] when the flush timeout ran out
// (or the socket failed) first, the rest dropped; and otherwise the error
// [Conn.Err] reports (the peer had closed, a ping timed out, ...).
//
// Close is idempotent and may be called from any goroutine: from a handler,
// from a goroutine ranging over Messages, even from a conversation timeout
// callback (Close then does not wait for the callback that called it; Done
// and Wait still do).
func (c *Conn) Close() error {
	c.begin(ErrClosed, true, modeFlush)
	c.life.mu.Lock()
	fromCallback := c.life.callback
	c.life.mu.Unlock()
	if fromCallback {
		<-c.life.supervisorDone
	} else {
		<-c.group.Closed()
	}
	return c.result()
}

// Done returns a channel that is closed once the connection has ended and
// every goroutine it runs has returned.
func (c *Conn) Done() <-chan struct{} { return c.group.Closed() }

// Wait waits until the connection has ended ([Conn.Done]) or ctx ends, and
// returns what [Conn.Close] does: nil for a local close, otherwise the
// reason. It does not close the connection.
func (c *Conn) Wait(ctx context.Context) error {
	select {
	case <-c.group.Closed():
		return c.result()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Context returns a context that is cancelled when the connection begins
// closing; context.Cause then gives the reason. Handlers and goroutines of
// the application bound to the connection use it.
func (c *Conn) Context() context.Context { return c.group.Context() }

// Err reports whether the connection is over, and why: nil while it is
// open; once it has ended or begun to end, an error that matches ErrClosed
// (errors.Is) and also the reason: ErrClosed alone after a local close, or
// ErrPeerClosed, ErrPingTimeout, ErrFrameTimeout, ErrProtocol (with a
// *WireMismatchError where it applies), ErrMessageTooLarge, or the socket's
// error. Err is set as soon as reading ends, while messages already read
// are still being delivered.
func (c *Conn) Err() error {
	c.life.mu.Lock()
	defer c.life.mu.Unlock()
	if r := c.life.reason; r != nil {
		return r
	}
	return nil
}

// reason is why the connection is ending, bare (not wrapped in ErrClosed),
// for logs.
func (c *Conn) reason() error {
	c.life.mu.Lock()
	defer c.life.mu.Unlock()
	if r := c.life.reason; r != nil && r.cause != nil {
		return r.cause
	}
	return ErrClosed
}

// result is what Close and Wait return once the connection's goroutines
// are done: nil for a local close that wrote everything queued, a report
// of what it dropped if it did not, the reason for any other end.
func (c *Conn) result() error {
	c.life.mu.Lock()
	defer c.life.mu.Unlock()
	r := c.life.reason
	if r == nil || r.local {
		return c.life.unsentErr
	}
	return r
}

// closedErr is what calls on an ended connection return.
func (c *Conn) closedErr() error {
	if err := c.Err(); err != nil {
		return err
	}
	return &closedError{}
}

// stopReading asks the supervisor to stop reading, as a server's Shutdown
// does: what was read is delivered and answered within the reply grace,
// then the connection closes.
func (c *Conn) stopReading() { c.mail.stopReading() }
