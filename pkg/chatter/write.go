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
	"time"
)

// outbox holds the bytes waiting to be written: frames encoded by the
// goroutines that send, taken whole by the writer.
//
// Senders append frames to buf under mu, each numbered with the
// connection's next id in the same critical section, so that ids follow
// the stream. The writer swaps buf for an empty buffer and writes all it
// took, so frames queued during a write go out together in the next one.
// The outbox bounds what waits (limit) and starts the writer when there is
// something to write and no writer runs: an idle connection has none.
//
// What a frame means to the connection — a Request to route the reply of,
// a conversation timeout to arm — is the supervisor's business: enqueue
// posts it to the supervisor's mailbox from the critical section that
// numbers the frame, before the writer can take it (see mailbox).
//
// mu guards every field; nobody holds it across I/O or while waiting for
// another goroutine.
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
	// sealed are the full segments of a large queue, oldest first, all
	// older than buf, and sealedLen the bytes in them (see sendSegment);
	// free are segments already written, kept for reuse while the writer
	// runs.
	sealed    []segment
	sealedLen int
	free      [][]byte
	// control counts the bytes of pongs in buf, bounded by
	// MaxQueuedControlBytes.
	control int
	limit   int   // bytes queued before senders wait
	err     error // set once the connection closes: later sends fail with it
	// changed is closed and replaced whenever space frees, bytes are
	// written or the outbox closes; nil while nobody waits on it.
	changed chan struct{}

	// The writer: writing is set while a writer goroutine runs, which alone
	// clears it, as it leaves; writerDone closes then. wake tells a running
	// writer there is more (capacity 1).
	writing    bool
	writerDone chan struct{}
	wake       chan struct{}
	// spawn starts a writer goroutine; false when the connection is
	// closing and none can start.
	spawn func() bool
	// writeLone, when set, writes a lone control frame on the caller's
	// goroutine instead of starting a writer for it (see Conn.writeLone).
	writeLone func(b []byte)
	// head is what a lone write left of its frame (all of it, if the
	// socket took none): it goes out before anything in buf.
	head []byte
	// lostOnClose counts the messages a writer dropped when its write ran
	// out of the flush timeout of a closing connection, and lostErr is why:
	// the supervisor reports them as it closes the socket.
	lostOnClose int
	lostErr     error
}

func newOutbox(limit int, spawn func() bool) *outbox {
	return &outbox{limit: limit, wake: make(chan struct{}, 1), spawn: spawn}
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
	// makes the supervisor wait, and so stops being read.
	framePong
	// framePing, the keepalive's own, never waits: there is at most one
	// per ping period, and the supervisor that sends it must not block.
	framePing
	// frameProbe, a ping of Conn.Ping, waits for room as data does (an
	// application can ping in a loop) but is no application message.
	frameProbe
)

// sendMeta says how a frame is queued and what the supervisor must learn
// of it.
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
// message of a new conversation when m.newConv is set), posts to mb what
// the supervisor must know of it, and queues its frame. It waits while the
// outbox is over its limit, honouring ctx and done.
func (o *outbox) enqueue(ctx context.Context, done <-chan struct{}, mb *mailbox, e *envelope, m sendMeta) error {
	// The size for the limit check; the id is not known yet, so the frame
	// may come out a few bytes longer.
	size := e.sizeBody()
	o.mu.Lock()
	for {
		if o.err != nil {
			err := o.err
			o.mu.Unlock()
			return err
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
			// Closing: nothing more is queued, whoever closes the outbox.
			return errClosing
		}
		o.mu.Lock()
	}
	id := o.nextID + 1
	e.id = id
	if m.newConv {
		e.first = id
	}
	if err := mb.register(convKey{first: e.first, owner: e.owner}, &m); err != nil {
		o.mu.Unlock()
		return err
	}
	o.nextID = id
	empty := o.queuedLocked() == 0
	body := e.sizeBody() // with the id: it may have grown from size
	if need := len(o.buf) + maxFrameHeader + body; need > cap(o.buf) {
		o.makeRoom(need)
	}
	before := len(o.buf)
	o.buf = e.appendBody(appendFrameHeader(o.buf, body))
	o.queued += int64(len(o.buf) - before)
	switch m.kind {
	case frameData:
		o.messages++
		o.bufMsgs++
	case framePong:
		o.control += len(o.buf) - before
	}
	start := !o.writing
	if start {
		o.writing, o.writerDone = true, make(chan struct{})
	}
	if start && empty && o.writeLone != nil && (m.kind == framePing || m.kind == framePong) {
		// The supervisor's ping or pong, alone: it writes it itself, as
		// the writer for the moment (writing is set).
		b, _ := o.takeLocked(nil)
		o.mu.Unlock()
		o.writeLone(b)
		return nil
	}
	o.mu.Unlock()
	if start {
		o.startWriter()
	} else {
		signal(o.wake)
	}
	return nil
}

// sendSegment is as far as the send buffer grows by copying. A queue
// larger than that (WithSendBufferSize above 1 MiB) is a list of segments
// of about this size, filled in turn and written one at a time, so that
// what is queued is never copied again, however large the bound. A frame
// that does not fit in what is left of a segment begins the next one, so
// the segments hold at most twice the bytes queued (frames of just over
// half a segment each), and usually little more than them.
//
// A buffer that append grows, as before, copied five times its size as it
// filled (past 256 elements append adds a quarter at a time), in single
// copies of tens of MiB that the garbage collector, which cannot interrupt
// a copy, spun waiting for: a 2-second stream of 64 KiB messages with a
// 64 MiB buffer reached 66 to 367 MB/s, against 787 to 843 with 1 MiB.
const sendSegment = 1 << 20

// segment is a sealed part of the queue and the application messages in
// it.
type segment struct {
	b    []byte
	msgs int
}

// makeRoom gives buf room for need bytes: by doubling it, up to
// sendSegment (or the limit, if smaller), or, once it is a segment's size,
// by sealing it and beginning a new segment. Call with mu held.
func (o *outbox) makeRoom(need int) {
	if cap(o.buf) < sendSegment || len(o.buf) == 0 {
		nb := make([]byte, len(o.buf), max(need, min(2*cap(o.buf), o.limit, sendSegment)))
		copy(nb, o.buf)
		o.buf = nb
		return
	}
	o.sealed = append(o.sealed, segment{o.buf, o.bufMsgs})
	o.sealedLen += len(o.buf)
	o.bufMsgs = 0
	need -= len(o.buf)
	if n := len(o.free); n > 0 && cap(o.free[n-1]) >= need {
		o.buf = o.free[n-1]
		o.free[n-1] = nil
		o.free = o.free[:n-1]
		return
	}
	o.buf = make([]byte, 0, max(need, sendSegment))
}

// reuse keeps b, a segment the writer has written, for makeRoom: at most
// as many as the limit holds, and none larger than a segment's size
// twice (a single large message).
func (o *outbox) reuse(b []byte) {
	if b != nil && cap(b) >= sendSegment && cap(b) <= 2*sendSegment && len(o.free) < o.limit/sendSegment {
		o.free = append(o.free, b[:0])
	}
}

// loneWritten ends a lone write of b, of which n bytes went out (see
// Conn.writeLone), by the goroutine that holds the writer's role: what is
// left of b goes first, and a writer goroutine starts if anything waits,
// or if the TLS socket owes part of the record (owes), which a writer pays
// as it starts.
func (o *outbox) loneWritten(b []byte, n int, owes bool) {
	o.mu.Lock()
	if n < len(b) {
		o.head = b[n:]
	}
	if o.queuedLocked() == 0 && o.head == nil && !owes {
		o.writing = false
		close(o.writerDone)
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	o.startWriter()
}

// startWriter starts a writer goroutine for what enqueue queued. When the
// connection is closing none can start: the supervisor then writes what
// is queued as it closes the socket.
func (o *outbox) startWriter() {
	if o.spawn() {
		return
	}
	o.mu.Lock()
	o.writing = false
	close(o.writerDone)
	o.mu.Unlock()
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
	queued := o.queuedLocked()
	return queued == 0 || queued+size <= o.limit
}

// take hands the writer what is queued, and how many application
// messages that is: the oldest sealed segment, if any, or else the buffer,
// leaving spare in its place. It returns nil while nothing is queued.
func (o *outbox) take(spare []byte) ([]byte, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.takeLocked(spare)
}

func (o *outbox) takeLocked(spare []byte) ([]byte, int) {
	if o.head != nil {
		// What a lone write left of its control frame: alone, so that
		// a batch always begins with a frame of its own.
		h := o.head
		o.head = nil
		return h, 0
	}
	if len(o.sealed) > 0 {
		sg := o.sealed[0]
		o.sealed[0] = segment{}
		if o.sealed = o.sealed[1:]; len(o.sealed) == 0 {
			o.sealed = nil
		}
		o.sealedLen -= len(sg.b)
		o.reuse(spare)
		o.broadcast()
		return sg.b, sg.msgs
	}
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

// wrote records n bytes written to the socket.
func (o *outbox) wrote(n int) {
	o.mu.Lock()
	o.written += int64(n)
	o.broadcast()
	o.mu.Unlock()
}

// queuedBytes is how many bytes wait in the outbox.
func (o *outbox) queuedBytes() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queuedLocked()
}

// queuedLocked is how many bytes of frames wait: the sealed segments and
// buf (not head, the rest of a lone write). Call with mu held.
func (o *outbox) queuedLocked() int { return o.sealedLen + len(o.buf) }

// writtenBytes is how many bytes have been written to the socket.
func (o *outbox) writtenBytes() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.written
}

// close refuses every later send with err, keeping what is queued for the
// last flush.
func (o *outbox) close(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = err
	}
	o.broadcast()
}

// writer returns the channel that closes once no writer goroutine runs.
func (o *outbox) writer() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.writing {
		return nil
	}
	return o.writerDone
}

// drain waits until every byte queued before the call has been written.
func (o *outbox) drain(ctx context.Context) error {
	o.mu.Lock()
	target := o.queued
	for o.written < target {
		// Once the connection is closing, the answer is the close's
		// error, unless a writer that still runs records what it wrote:
		// its write may have gone out before the peer closed.
		var writer chan struct{}
		if o.err != nil {
			if !o.writing {
				err := o.err
				o.mu.Unlock()
				return err
			}
			writer = o.writerDone
		}
		ch := o.waitChan()
		o.mu.Unlock()
		select {
		case <-ch:
		case <-writer:
		case <-ctx.Done():
			return ctx.Err()
		}
		o.mu.Lock()
	}
	o.mu.Unlock()
	return nil
}

// writerLinger is how long a writer with nothing to write waits for more
// before it ends, at least (at most twice that, see lingerIdle): long
// enough that request after request reuses it, short enough that an idle
// connection soon has no writer.
const writerLinger = time.Second

// writeLoop is the writer: while it runs, the only goroutine that writes
// to the socket. It writes whatever is queued, and ends when it has been
// idle for writerLinger (to twice that), when the connection begins
// closing (the supervisor writes the rest), or when a write fails.
func (c *Conn) writeLoop(ctx context.Context) error {
	o := c.out
	var spare []byte
	idle := newLingerTimer()
	left := false // the idle path below left already
	defer func() {
		idle.Stop()
		if !left {
			o.mu.Lock()
			o.writing = false
			close(o.writerDone)
			o.mu.Unlock()
		}
	}()
	if c.tlsSock != nil {
		// What a lone write left owed goes before anything queued.
		if err := c.tlsSock.pay(); err != nil {
			c.writeFailed(ctx, nil, 0, 0, err)
			return nil
		}
	}
	for ctx.Err() == nil {
		if c.mail.requestsWaiting() > 1 {
			yieldToSenders()
		}
		b, msgs := o.take(spare)
		if b == nil {
			woken, err := c.lingerIdle(ctx, idle)
			if err != nil {
				return nil
			}
			if woken {
				continue
			}
			o.mu.Lock()
			if o.queuedLocked() == 0 && o.head == nil {
				// Leave in the critical section that would otherwise have
				// seen a writer running: a sender after this starts another.
				// The buffer a burst grew goes too, as spare does with this
				// goroutine: an idle connection holds no send buffer.
				o.buf, o.free = nil, nil
				o.writing = false
				close(o.writerDone)
				o.mu.Unlock()
				left = true
				return nil
			}
			o.mu.Unlock()
			idle.Reset(writerLinger)
			continue
		}
		n, err := c.writeChunks(b)
		if err != nil {
			c.writeFailed(ctx, b, n, msgs, err)
			return nil
		}
		// Keep the buffer for the next swap unless a burst made it large.
		spare = nil
		if cap(b) <= 4*c.cfg.sendBufferSize {
			spare = b
		}
	}
	return nil
}

// lingerTimer is the writer's idle timer: a period of writerLinger that
// runs on while the writer works, and whether the writer was woken since
// it last fired. Both are the writer's own.
type lingerTimer struct {
	t     *time.Timer
	woken bool
}

func newLingerTimer() *lingerTimer { return &lingerTimer{t: time.NewTimer(writerLinger)} }

func (l *lingerTimer) Reset(d time.Duration) { l.t.Reset(d) }
func (l *lingerTimer) Stop()                 { l.t.Stop() }

// lingerIdle waits, once the writer has found nothing to write, for a
// wake-up (woken), or until the idle timer fires with no wake-up since it
// last did: the writer ends between writerLinger and twice that after its
// last write. The timer runs a period at a time instead of being reset
// each time the writer goes idle, which on a busy connection is once a
// batch: resetting it each time cost BenchmarkRoundTrip 6.5 % (12 paired
// runs, 95 % interval 3.5–9.4 %), and reading the clock each time, to set
// it for the rest of the period only, was 1 % of BenchmarkConns100's
// profile (a clock read is slow on some virtual machines). A timer that
// runs a function instead of sending on its channel, which the runtime
// need not add to its heap as the writer blocks, made BenchmarkRoundTrip
// 10 % slower (10 paired runs, interval 7.6–12.1 %), and gained nothing.
func (c *Conn) lingerIdle(ctx context.Context, idle *lingerTimer) (woken bool, err error) {
	// Under load the next wake-up is often there already: a receive costs
	// less than a select.
	select {
	case <-c.out.wake:
		idle.woken = true
		return true, nil
	default:
	}
	for {
		select {
		case <-c.out.wake:
			idle.woken = true
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		case <-idle.t.C:
		}
		if !idle.woken {
			return false, nil
		}
		idle.woken = false
		idle.Reset(writerLinger)
	}
}

// loneWriteTimeout bounds how long the supervisor waits for the socket to
// take a lone control frame (see writeLone). A socket with room takes it
// at once; one without (a peer that does not read) leaves the rest to a
// writer goroutine, and the supervisor goes back to its timers.
const loneWriteTimeout = 10 * time.Millisecond

// writeLone writes b, a ping or pong that the supervisor queued when
// nothing else was queued and no writer ran, on the supervisor's own
// goroutine. Starting a writer goroutine for it instead would have that
// writer linger for writerLinger after each keepalive frame: with this, an
// idle connection's keepalive wakes no goroutine but the supervisor. The
// caller holds the writer's role meanwhile (outbox.writing), so there is
// still one writer at a time.
//
// The write has a deadline of its own, set and cleared under the
// lifecycle's lock and only while the connection is open, so that it never
// replaces the deadline a close set. On TLS the deadline is met below the
// record layer (tlsSocket): a TLS write that times out would break every
// later write, so what the socket does not take stays owed there, and the
// writer pays it first. A TLS connection made elsewhere (NewConn) has no
// tlsSocket and does not write alone.
func (c *Conn) writeLone(b []byte) {
	l := &c.life
	l.mu.Lock()
	open := l.mode == modeOpen
	if open {
		c.nc.SetWriteDeadline(time.Now().Add(loneWriteTimeout))
	}
	l.mu.Unlock()
	n, owes := 0, false
	var err error
	if open {
		write := func() { n, err = c.nc.Write(b) }
		if c.tlsSock != nil {
			owes = c.tlsSock.writeLone(write)
		} else {
			write()
		}
		l.mu.Lock()
		if l.mode == modeOpen {
			c.nc.SetWriteDeadline(time.Time{})
		}
		l.mu.Unlock()
		c.out.wrote(n)
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		// The connection ends first, so that no writer starts after the
		// broken frame.
		c.writeFailed(c.group.Context(), b, n, 0, err)
		c.out.loneWritten(nil, 0, false)
		return
	}
	c.out.loneWritten(b, n, owes)
}

// writeFailed ends the connection after a failed write of b, of which n
// bytes went out.
func (c *Conn) writeFailed(ctx context.Context, b []byte, n, msgs int, err error) {
	lost := c.dropped(b, n, msgs)
	if ctx.Err() != nil {
		// Closing already: the write ran out of the flush timeout. The
		// supervisor reports it, with what it then drops itself.
		c.out.mu.Lock()
		c.out.lostOnClose += lost
		c.out.lostErr = err
		c.out.mu.Unlock()
		return
	}
	c.begin(fmt.Errorf("chatter: write: %w", err), false, modeAbort)
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

// closeSocket ends the socket, as the connection's close mode says: the
// supervisor calls it as it shuts down, once no writer runs. In flush mode
// it writes what is still queued (within the write deadline the close
// set), and reports what it could not; then, if reading stopped before
// the peer ended its stream after messages that may have been answered,
// it lingers (see linger); then it closes the socket.
func (c *Conn) closeSocket(mode closeMode, lingering bool) {
	o := c.out
	o.mu.Lock()
	// What a lone write left of its frame (head) comes first, with no
	// messages of its own, then the segments of a large queue, then buf.
	var rest []segment
	for {
		b, msgs := o.takeLocked(nil)
		if b == nil {
			break
		}
		rest = append(rest, segment{b, msgs})
	}
	lost, lostErr := o.lostOnClose, o.lostErr
	o.mu.Unlock()
	// drop counts what is left unwritten from rest[i], of which n bytes
	// went out, on.
	drop := func(i, n int) int {
		lost := 0
		for j := i; j < len(rest); j++ {
			lost += c.dropped(rest[j].b, n, rest[j].msgs)
			n = 0
		}
		return lost
	}
	if mode != modeFlush {
		drop(0, 0)
		c.raw.Close()
		return
	}
	if c.tlsSock != nil {
		// On TLS, what a lone write left is owed below the record layer
		// (head is then nil).
		if err := c.tlsSock.pay(); err != nil {
			lost += drop(0, 0)
			lostErr = err
			rest = nil
		}
	}
	// After a write that fails, nothing more can go out: what follows a
	// broken frame would not be read as frames.
	for i, sg := range rest {
		n, err := c.nc.Write(sg.b)
		o.wrote(n)
		if err != nil {
			lost += drop(i, n)
			lostErr = err
			break
		}
	}
	if lost > 0 {
		c.life.unsentOnClose(lost, lostErr, c.cfg.flushTimeout)
		c.raw.Close()
		return
	}
	if lingering {
		c.linger()
	}
	c.nc.Close()
}

// linger ends this side of the stream and discards the peer's input until
// it ends its own or the reply grace passes: closing a socket with unread
// input makes TCP reset the connection, and the peer could lose the
// replies just written, so HTTP servers linger so too.
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
	c.raw.SetReadDeadline(time.Now().Add(c.cfg.replyGrace))
	io.Copy(io.Discard, c.raw)
}

// unsentReport is the error Close reports for n messages a flushing close
// had to drop because writing failed with err.
func unsentReport(n int, err error, flushTimeout time.Duration) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("the flush timeout (%v) ran out", flushTimeout)
	}
	return fmt.Errorf("%w: %d dropped on close: %w", ErrUnsent, n, err)
}

// yieldToSenders lets the goroutines that are about to queue frames do so
// before the writer takes the outbox, so that their frames share one
// write. It is the one scheduling hint in the connection core, and the
// exception doc.go names: the writer is woken through a channel, and the
// runtime runs a goroutine woken that way next on the waker's processor,
// ahead of everything already runnable there. When several Requests wait,
// the replies the supervisor has just routed made their callers runnable,
// each about to queue its next frame; without the yield the writer runs
// between each of them and writes every frame alone — a write call per
// Request on both ends. Measured with BenchmarkInFlight64 (64 Requests in
// flight, 2 cores): see doc.go. With one Request or plain Sends nobody is
// about to queue, and the writer does not yield.
func yieldToSenders() { runtime.Gosched() }
