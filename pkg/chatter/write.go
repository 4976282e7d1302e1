package chatter

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// outbox holds the frames waiting to be written, and the events that tell
// the supervisor about them.
//
// Senders append encoded frames to buf under mu; the writer goroutine alone
// touches the socket: it swaps buf for an empty buffer and writes everything
// it took in one call, so frames queued during a write go out together in
// the next one.
//
// The same critical section that numbers a frame and queues it also
// registers what must be known before the peer can answer it: a Request's
// reply channel goes into the reply table, a conversation timeout into the
// supervisor's mailbox, before the frame can be written, with no hold on
// the other frames. The supervisor alone acts on those events; the mailbox
// is only their channel.
//
// mu guards bytes, counters and the mailbox; nobody holds it across I/O or
// while waiting for another goroutine.
type outbox struct {
	mu      sync.Mutex
	buf     []byte
	nextID  int64 // id of the last message queued
	queued  int64 // bytes ever queued
	written int64 // bytes ever written to the socket
	// messages counts application messages queued, for Stats; bufMsgs
	// those of them in buf.
	messages uint64
	bufMsgs  int
	err      error // set when the writer stops; every later send fails with it
	limit    int   // bytes queued before senders wait
	// control counts the bytes of pongs in buf, bounded by
	// MaxQueuedControlBytes.
	control int
	// changed is closed and replaced whenever space frees, bytes are
	// written or the outbox fails; it is nil while nobody waits on it.
	changed chan struct{}
	// wake tells the writer there is work; capacity 1, never blocks.
	wake chan struct{}

	// The supervisor's mailbox: events in the order they happened, and
	// whether the supervisor has stopped taking them.
	events       []supEvent
	eventsClosed bool
	// kick tells the supervisor the mailbox has events; capacity 1.
	kick chan struct{}
	// timeouts counts conversation timeouts registered and not yet known
	// to be gone; while it is 0, a send in an existing conversation has no
	// timeout to cancel and posts nothing, and the reader may deliver
	// messages itself (see Conn.deliver). Senders add (under mu, with the
	// registration), the supervisor subtracts.
	timeouts atomic.Int64

	// replies holds the Requests waiting for their reply; enqueue registers
	// them under mu, before their frame can be written.
	replies replies
}

func newOutbox(limit int) *outbox {
	return &outbox{limit: limit, wake: make(chan struct{}, 1), kick: make(chan struct{}, 1)}
}

// waitChan returns the channel closed on the next change. Call with mu held.
func (o *outbox) waitChan() chan struct{} {
	if o.changed == nil {
		o.changed = make(chan struct{})
	}
	return o.changed
}

// broadcast wakes everybody waiting for a change. Call with mu held.
func (o *outbox) broadcast() {
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// frameKind says which bound a queued frame counts against.
type frameKind uint8

const (
	// frameData, an application message, waits while the send buffer is
	// full.
	frameData frameKind = iota
	// framePong, the answer to a peer's ping, does not wait behind data
	// (it is small, and the peer's keepalive is waiting for it) but counts
	// against MaxQueuedControlBytes: a peer that pings without reading
	// makes the reader wait, and so stops being read.
	framePong
	// framePing, the keepalive's own, never waits: there is at most one
	// per ping period, and the supervisor that sends it must not block.
	framePing
)

// sendMeta says how a frame is queued and what the supervisor must learn
// from it.
type sendMeta struct {
	// newConv makes the frame the first message of a new conversation.
	newConv bool
	kind    frameKind
	// reply, for a Request, receives the peer's first answer.
	reply chan Msg
	// timeout arms a conversation timeout running onTimeout.
	timeout   time.Duration
	onTimeout func(Conversation)
	// cancels is set for a message in an existing conversation, which
	// cancels that conversation's timeout.
	cancels bool
}

// enqueue numbers e with the connection's next id (and makes it the first
// message of a new conversation when m.newConv is set), queues its frame
// and posts the supervisor's events for it. It waits while the outbox is
// over its limit, honouring ctx and done.
func (o *outbox) enqueue(ctx context.Context, done <-chan struct{}, e *envelope, m sendMeta) error {
	// The size for the limit check; the id is not known yet, so the frame
	// may come out a few bytes longer.
	size := e.sizeBody()
	register := m.reply != nil || m.timeout > 0
	o.mu.Lock()
	for {
		if o.err != nil {
			err := o.err
			o.mu.Unlock()
			return err
		}
		if register && o.eventsClosed {
			o.mu.Unlock()
			return errSupervisorGone
		}
		if o.hasRoom(m.kind, size) {
			break
		}
		ch := o.waitChan()
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			// The writer fails the outbox when it stops; loop to report it.
			<-ch
		}
		o.mu.Lock()
	}
	o.nextID++
	e.id = o.nextID
	if m.newConv {
		e.first = e.id
	}
	before := len(o.buf)
	o.buf = e.appendBody(appendFrameHeader(o.buf, e.sizeBody()))
	o.queued += int64(len(o.buf) - before)
	switch m.kind {
	case frameData:
		o.messages++
		o.bufMsgs++
	case framePong:
		o.control += len(o.buf) - before
	}
	kick := false
	key := convKey{first: e.first, owner: e.owner}
	switch {
	case register:
		if m.reply != nil {
			o.addReply(key, m.reply)
		}
		if m.timeout > 0 {
			o.timeouts.Add(1)
			o.events = append(o.events, supEvent{kind: evRegister, key: key, deadline: time.Now().Add(m.timeout), cb: m.onTimeout})
			kick = true
		}
	case m.cancels && o.timeouts.Load() > 0 && !o.eventsClosed:
		o.events = append(o.events, supEvent{kind: evSent, key: key})
		kick = true
	}
	o.mu.Unlock()
	signal(o.wake)
	if kick {
		signal(o.kick)
	}
	return nil
}

// hasRoom reports whether a frame of kind with a body of size bytes may be
// queued now. Call with mu held.
func (o *outbox) hasRoom(kind frameKind, size int) bool {
	switch kind {
	case framePing:
		return true
	case framePong:
		return o.control == 0 || o.control+size <= MaxQueuedControlBytes
	}
	return len(o.buf) == 0 || len(o.buf)+size <= o.limit
}

// errSupervisorGone: a registration came after the supervisor stopped
// taking them, which happens only while the connection closes.
var errSupervisorGone = errors.New("chatter: connection closing")

// post puts an event in the supervisor's mailbox. It reports false when
// the supervisor no longer takes events (the connection is closing; the
// supervisor then settled everything it knew of).
func (o *outbox) post(ev supEvent) bool {
	o.mu.Lock()
	if o.eventsClosed {
		o.mu.Unlock()
		return false
	}
	o.events = append(o.events, ev)
	o.mu.Unlock()
	signal(o.kick)
	return true
}

// takeEvents hands the supervisor the events posted so far, leaving spare
// as the new mailbox. With closing set, no event is accepted afterwards.
func (o *outbox) takeEvents(spare []supEvent, closing bool) []supEvent {
	o.mu.Lock()
	evs := o.events
	o.events = spare[:0]
	if closing {
		o.eventsClosed = true
		o.events = nil
	}
	o.mu.Unlock()
	return evs
}

// timeoutsGone records that n registered timeouts are no longer armed.
func (o *outbox) timeoutsGone(n int) {
	if n != 0 {
		o.timeouts.Add(-int64(n))
	}
}

// take hands the writer everything queued, and how many application
// messages that is, leaving spare as the new buffer. It returns nil while
// nothing is queued.
func (o *outbox) take(spare []byte) ([]byte, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.buf) == 0 {
		return nil, 0
	}
	b, msgs := o.buf, o.bufMsgs
	o.buf = spare[:0]
	o.bufMsgs = 0
	o.control = 0
	o.broadcast()
	return b, msgs
}

// writtenBytes is how many bytes have been written to the socket.
func (o *outbox) writtenBytes() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.written
}

// wrote records n bytes written to the socket.
func (o *outbox) wrote(n int) {
	o.mu.Lock()
	o.written += int64(n)
	o.broadcast()
	o.mu.Unlock()
}

// fail stops the outbox: later sends fail with err. It returns what was
// still queued, and how many application messages that is.
func (o *outbox) fail(err error) ([]byte, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = err
	}
	b, msgs := o.buf, o.bufMsgs
	o.buf = nil
	o.bufMsgs = 0
	o.broadcast()
	return b, msgs
}

// drain waits until every byte queued before the call has been written.
func (o *outbox) drain(ctx context.Context) error {
	o.mu.Lock()
	target := o.queued
	for o.written < target {
		if o.err != nil {
			err := o.err
			o.mu.Unlock()
			return err
		}
		ch := o.waitChan()
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		o.mu.Lock()
	}
	o.mu.Unlock()
	return nil
}

// writeLoop is the only goroutine that writes to the socket, and the one
// that closes it. The wait is here and the work in writeOnce, so that the
// stack an idle writer keeps is small (see the supervisor's wait).
func (c *Conn) writeLoop(ctx context.Context) error {
	// No defer: it would enlarge this frame, which is on the stack for
	// the writer's whole life.
	var spare []byte
	for {
		select {
		case <-c.out.wake:
		case <-ctx.Done():
			c.closeOnDone()
			c.life.exited(1)
			return nil
		}
		var ok bool
		if spare, ok = c.writeOnce(ctx, spare); !ok {
			c.life.exited(1)
			return nil
		}
	}
}

// closeOnDone closes the socket once the connection has begun closing,
// flushing what is queued if the close mode says so.
//
//go:noinline
func (c *Conn) closeOnDone() {
	c.unblock()
	rest, msgs := c.out.fail(c.closedErr())
	c.closeSocket(rest, msgs)
}

// writeOnce writes everything queued, in one call, and returns the buffer
// to swap in next time; false means the socket failed and the writer is
// done.
//
//go:noinline
func (c *Conn) writeOnce(ctx context.Context, spare []byte) ([]byte, bool) {
	if c.out.replies.n.Load() > 1 {
		// Several Requests wait for their replies, so their callers are
		// running or about to (replies were just routed to them) and will
		// queue their next frames in a moment. Yielding once lets those
		// frames join this write: one syscall for many. Without it the
		// writer, woken on the idle core, writes each frame alone: with 64
		// Requests in flight (BenchmarkInFlight64) 337 k instead of 593 k
		// req/s, both ends busy with write and read calls. With one Request,
		// or plain Sends, there is nobody to wait for.
		runtime.Gosched()
	}
	b, msgs := c.out.take(spare)
	if b == nil {
		return spare, true
	}
	n, err := c.writeChunks(b)
	if err != nil {
		lost := c.dropped(b, n, msgs)
		rest, restMsgs := c.out.fail(&closedError{cause: err})
		lost += c.dropped(rest, 0, restMsgs)
		if ctx.Err() != nil {
			// Closing already: the write ran out of the flush timeout.
			c.unsentOnClose(lost, err)
		}
		if ctx.Err() == nil {
			c.stop(fmt.Errorf("chatter: write: %w", err), false, modeAbort)
		}
		c.abortSocket()
		return nil, false
	}
	// Keep the buffer for the next swap unless a burst made it large.
	if cap(b) <= 4*c.cfg.sendBufferSize {
		return b, true
	}
	return nil, true
}

// writeChunk is the most the writer hands the socket in one call. A
// large batch is written in pieces so that the bytes written grow as the
// peer takes them, not all at once at the end: the keepalive counts them
// as a sign that a slow link still moves (see linkMoved).
const writeChunk = 128 << 10

// writeChunks writes b in pieces of at most writeChunk bytes, recording
// each.
func (c *Conn) writeChunks(b []byte) (int, error) {
	total := 0
	for total < len(b) {
		n, err := c.nc.Write(b[total:min(len(b), total+writeChunk)])
		c.out.wrote(n)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// lingerTimeout bounds how long a closing connection whose reader stopped
// before the peer's end of stream keeps discarding the peer's input after
// its own last frame; see closeSocket.
const lingerTimeout = time.Second

// closeSocket writes rest when the connection closes in flush mode (within
// the write deadline the close set), then closes the socket.
//
// When the reader stopped early (a frame that broke the protocol, a
// server's Shutdown) after messages that may have been answered, the peer
// may still be sending. Closing a socket with
// unread input makes TCP reset the connection, and the peer can lose the
// replies just written; so the connection first ends its side (a FIN) and
// discards what arrives until the peer ends its own, for at most
// lingerTimeout, as HTTP servers do.
func (c *Conn) closeSocket(rest []byte, msgs int) {
	if c.life.closeMode() != modeFlush {
		c.dropped(rest, 0, msgs)
		c.abortSocket()
		return
	}
	if len(rest) > 0 {
		n, err := c.nc.Write(rest)
		c.out.wrote(n)
		if err != nil {
			c.unsentOnClose(c.dropped(rest, n, msgs), err)
			c.abortSocket()
			return
		}
	}
	if c.life.unreadInput.Load() && c.stats.messagesIn.Load() > 0 {
		<-c.life.readerDone // the reader no longer touches the socket
		c.linger()
	}
	c.nc.Close()
	c.releaseSocket()
}

// dropped counts the application messages of b, a batch of msgs frames
// of which the first n bytes were written, that will never be written:
// the connection failed, or ran out of its flush timeout, first. A message
// counts as dropped unless its frame went out whole. It returns how many
// it counted.
func (c *Conn) dropped(b []byte, n, msgs int) int {
	if msgs == 0 {
		return 0
	}
	if n > 0 {
		msgs -= dataFramesWritten(b, n, c.Wire())
	}
	c.stats.unsent.Add(uint64(msgs))
	return msgs
}

// unsentOnClose records that a close that meant to flush dropped n
// messages, because writing failed with err (the flush timeout's deadline,
// most often): Close reports it. Only the writer calls it, before it
// returns; Close reads it after.
func (c *Conn) unsentOnClose(n int, err error) {
	if n == 0 || c.life.closeMode() != modeFlush {
		return
	}
	l := &c.life
	l.unsent += n
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("the flush timeout (%v) ran out", c.cfg.flushTimeout)
	}
	l.unsentErr = fmt.Errorf("%w: %d dropped on close: %w", ErrUnsent, l.unsent, err)
}

// dataFramesWritten counts the application messages whose frames lie
// whole within the first n bytes of b, a run of frames this side encoded.
// It runs only when a write failed.
func dataFramesWritten(b []byte, n int, w Wire) int {
	fr := newFrameReader(bytes.NewReader(b[:n]), len(b), len(b))
	count := 0
	for {
		body, err := fr.next()
		if err != nil {
			return count
		}
		if e, _, err := DecodeEnvelope(body, w); err == nil && !e.Control() {
			count++
		}
	}
}

// abortSocket closes the socket without another write: not through nc,
// whose TLS close would try to send an alert to a peer that may not read.
func (c *Conn) abortSocket() {
	c.raw.Close()
	c.releaseSocket()
}

func (c *Conn) releaseSocket() {
	if c.released != nil {
		c.released()
	}
	if o := c.cfg.observer; o != nil {
		o.Closed(c, c.Err())
	}
}

// linger ends this side of the stream and discards the peer's input until
// it ends its own or lingerTimeout passes.
func (c *Conn) linger() {
	type closeWriter interface{ CloseWrite() error }
	cw, ok := c.raw.(closeWriter)
	if !ok {
		return // net.Pipe and the like: nothing to reset
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		tc.CloseWrite() // the close_notify alert
	}
	if cw.CloseWrite() != nil {
		return
	}
	c.raw.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.Copy(io.Discard, c.raw)
}
