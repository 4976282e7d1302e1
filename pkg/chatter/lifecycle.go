package chatter

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// How a connection ends.
//
// A connection's goroutines live in its aio.Group. Closing begins in one
// of three ways, and each records at that moment how the socket closes
// (closeMode), so that nothing later has to guess it from the cause:
//
//   - a local close, by Close, by the server that owns the connection, or
//     when the reply grace after a peer's end runs out: queued frames are
//     flushed, for at most the flush timeout (modeFlush);
//   - a failure that makes writing pointless or impossible — a socket
//     error, a ping timeout: the socket closes at once (modeAbort);
//   - the peer ending its side, or breaking the protocol, does not close
//     the connection yet: the reader stops and reports why, the supervisor
//     delivers what was read, closes Messages, and closes the connection
//     (modeFlush) when the reply grace has passed since the application
//     took the last message.
//
// The first reason the connection began to end is its Err. Messages not
// yet delivered are dropped only by a local close (discarded);
// after a failure the application still gets everything that was read.

// closeMode is how the socket closes; it is decided when closing begins.
type closeMode uint8

const (
	modeOpen  closeMode = iota
	modeFlush           // write what is queued, within the flush timeout, then close
	modeAbort           // close at once: the peer cannot, or need not, take more
)

// coreGoroutines is the number of goroutines Close always waits for: the
// reader, the writer and the supervisor.
const coreGoroutines = 3

// lifecycle is a connection's end: why, how, and who is still running.
type lifecycle struct {
	mu        sync.Mutex
	mode      closeMode // guarded by mu; set once, when closing begins
	unblocked bool      // guarded by mu: the socket's deadlines are set
	// discarded is set by a local close: messages not yet delivered are
	// dropped instead of waiting for the application. The supervisor is
	// kicked (outbox.kick) to notice.
	discarded atomic.Bool
	// discarding is set by DiscardMessages, so that the reader stops
	// delivering messages itself.
	discarding atomic.Bool
	// reason is the first reason the connection began to end, as the
	// error calls on it return.
	reason atomic.Pointer[closedError]
	// ending is set when closing begins, so that Send refuses at once
	// without a select on the group's channels.
	ending atomic.Bool
	// readStopped is set when the reader has been asked to stop (a
	// server's Shutdown), so that the deadline that wakes it is not taken
	// for a frame-read timeout.
	readStopped   atomic.Bool
	stopReadingAt atomic.Pointer[time.Time]
	// readEnded is set once the reader has ended: no reply can arrive.
	readEnded atomic.Bool
	// unreadInput is set when the reader stopped before the peer ended its
	// stream, so that the peer may still be sending.
	unreadInput atomic.Bool
	// inCallback is set while a conversation timeout callback runs, so
	// that Close called from one does not wait for itself.
	inCallback atomic.Bool
	// coreLeft counts the core goroutines still running. coreDone, made
	// only when somebody waits for them alone (Close from a callback),
	// closes when the last returns; coreFinished says that it did.
	coreLeft     atomic.Int32
	coreDone     chan struct{} // guarded by mu
	coreFinished bool          // guarded by mu
	// readerDone is made by the reader when it stops with input left
	// unread (before it sets unreadInput), and closed when it returns: the
	// writer lingers on the socket only once the reader is off it.
	readerDone chan struct{}
	// unsentErr reports the messages a close that meant to flush had to
	// drop (unsent counts them); written by the writer before it returns,
	// read by Close and Wait after.
	unsent    int
	unsentErr error
	// readerExited is closed when the reader has returned (or never
	// started): the supervisor closes the Messages channel, which the
	// reader also sends on, only then, and takes the reader's batches
	// until then.
	readerExited chan struct{}
}

// The channels a connection needs only on some paths are made on those
// paths: an idle connection should cost little.
func (l *lifecycle) init() {
	l.coreLeft.Store(coreGoroutines)
}

// exited records that n core goroutines have returned (or never started).
func (l *lifecycle) exited(n int32) {
	if l.coreLeft.Add(-n) != 0 {
		return
	}
	l.mu.Lock()
	l.coreFinished = true
	if l.coreDone != nil {
		close(l.coreDone)
	}
	l.mu.Unlock()
}

// waitCore waits until the reader, the writer and the supervisor have
// returned.
func (l *lifecycle) waitCore() {
	l.mu.Lock()
	if l.coreFinished {
		l.mu.Unlock()
		return
	}
	if l.coreDone == nil {
		l.coreDone = make(chan struct{})
	}
	done := l.coreDone
	l.mu.Unlock()
	<-done
}

// unblock binds the socket to the end of the connection: the reader is
// woken at once and the writer gets the flush timeout, or nothing.
// Deadlines unblock the I/O, so no goroutine has to watch for the end:
// the goroutine that begins closing calls this (stop), and the writer and
// the supervisor call it when they see the group closing, which covers a
// close from outside (the owning server's). Only the first call acts.
func (c *Conn) unblock() {
	l := &c.life
	l.mu.Lock()
	if l.unblocked {
		l.mu.Unlock()
		return
	}
	l.unblocked = true
	if l.mode == modeOpen {
		// Closed from outside: the owning server closed its
		// connections. That is a local close.
		l.mode = modeFlush
		l.ending.Store(true)
		l.discardLocked()
	}
	mode := l.mode
	l.mu.Unlock()
	c.setReason(ErrClosed, true)
	c.nc.SetReadDeadline(time.Now())
	if mode == modeFlush {
		c.nc.SetWriteDeadline(time.Now().Add(c.cfg.flushTimeout))
	} else {
		c.nc.SetWriteDeadline(time.Now())
	}
}

func (l *lifecycle) discardLocked() { l.discarded.Store(true) }

func (l *lifecycle) closeMode() closeMode {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mode
}

// setReason records why the connection is ending, unless a reason was
// recorded before, and returns the one that holds.
func (c *Conn) setReason(err error, local bool) *closedError {
	r := &closedError{cause: err, local: local}
	if c.life.reason.CompareAndSwap(nil, r) {
		return r
	}
	return c.life.reason.Load()
}

// stop begins closing the connection for err, the socket closing as mode
// says, unless closing has already begun. It returns err, for a goroutine
// of the connection to return.
func (c *Conn) stop(err error, local bool, mode closeMode) error {
	c.setReason(err, local)
	l := &c.life
	l.mu.Lock()
	first := l.mode == modeOpen
	if first {
		l.mode = mode
		l.ending.Store(true)
	}
	if local {
		// Also when the connection was already ending (a failure): the
		// application no longer wants what is undelivered.
		l.discardLocked()
	}
	l.mu.Unlock()
	if local {
		signal(c.out.kick)
	}
	if first {
		c.group.CloseWithCause(err)
		c.unblock()
	}
	return err
}

// Close ends the connection: it stops reading, flushes what was already
// queued for sending (for at most the flush timeout, [WithFlushTimeout]),
// closes the socket, drops received messages not yet delivered (those
// already in the Messages channel's buffer stay readable), and waits until
// the reader, the writer and the supervisor have returned. It returns nil
// when this close is why the connection ended and everything queued was
// written to the socket; an error matching [ErrUnsent] when the flush
// timeout ran out (or the socket failed) first, the rest dropped; and
// otherwise the error [Conn.Err] reports (the peer had closed, a ping
// timed out, ...).
//
// Close is idempotent and may be called from any goroutine: from a handler,
// from a goroutine ranging over Messages, even from a conversation timeout
// callback (Close then does not wait for the callback that called it; Done
// and Wait still do).
func (c *Conn) Close() error {
	c.stop(ErrClosed, true, modeFlush)
	if c.life.inCallback.Load() {
		c.life.waitCore()
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
	if r := c.life.reason.Load(); r != nil {
		return r
	}
	return nil
}

// reason is why the connection is ending, bare (not wrapped in ErrClosed),
// for logs.
func (c *Conn) reason() error {
	if r := c.life.reason.Load(); r != nil && r.cause != nil {
		return r.cause
	}
	return ErrClosed
}

// result is what Close and Wait return once the connection's goroutines
// are done: nil for a local close that wrote everything queued, a report
// of what it dropped if it did not, the reason for any other end.
func (c *Conn) result() error {
	r := c.life.reason.Load()
	if r == nil || r.local {
		return c.life.unsentErr
	}
	return r
}

// closedErr is what calls on an ended connection return.
func (c *Conn) closedErr() error {
	if r := c.life.reason.Load(); r != nil {
		return r
	}
	return &closedError{}
}

// stopReadingWindow is how long a connection told to stop reading (by a
// server's Shutdown) still reads: long enough to take what its socket
// already holds, which the peer sent before the shutdown began.
const stopReadingWindow = 20 * time.Millisecond

// stopReading asks the reader to stop, as a server's Shutdown does: what
// was read is delivered and answered within the reply grace, then the
// connection closes.
func (c *Conn) stopReading() {
	at := time.Now().Add(stopReadingWindow)
	if c.life.stopReadingAt.CompareAndSwap(nil, &at) {
		c.life.readStopped.Store(true)
		c.nc.SetReadDeadline(at)
	}
}
