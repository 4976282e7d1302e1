package chatter

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/gochatter/gochatter/pkg/aio"
)

// The supervisor is a connection's one goroutine that is always there. It
// reads the socket, decodes the frames and answers pings, and it owns
// everything that decides what happens to the connection: the Requests
// waiting for replies, the conversation timeouts, the keepalive, delivery
// to Messages, discard mode, the end of reading and the close. Nothing
// else touches that state (s.lock.check() asserts it in race builds);
// other goroutines post events to its mailbox.
//
// It waits in one place: a read of the socket, with a read deadline no
// later than its next timer. Its timers are due times it keeps, not
// runtime timers: the deadline ends the read when one is due. A goroutine
// that posts an event the supervisor must see before its deadline
// interrupts the read (mailbox.interrupt). An idle connection therefore
// runs nothing but the supervisor's read, and wakes only when its
// keepalive is due. It does not read when it must not: while the deliverer
// is full, and once reading has ended; then it waits on its mailbox's
// kick channel and a timer (see wait).

// supervisor is the supervisor's state: all of it owned by the supervisor
// goroutine.
type supervisor struct {
	c    *Conn
	lock goroutineLock

	// Reading.
	fr          *frameReader
	dec         *decoder
	handshaking bool // a WireAuto server connection waiting for its first frame
	maxBatch    int
	// readDeadline is what the socket's read deadline was last set to;
	// dirty when an interrupt may have changed it since.
	readDeadline time.Time
	dirty        bool
	// readSeen is fr.total when the supervisor last looked, and lastRead
	// when it last saw it grow: bytes read count as received for the
	// keepalive.
	readSeen int64
	lastRead time.Time
	// lightMark is fr.total when the keepalive last fired (see
	// lightTraffic).
	lightMark int64

	// Timers.
	conv    conversations
	ka      keepalive
	replies replyTable
	// timer serves the waits that do not read; timerSet says it is running.
	timer    *time.Timer
	timerSet bool
	// callbacks run the conversation timeouts' callbacks, one at a time,
	// on a goroutine started with the first; nil until then (most
	// connections never have one).
	callbacks *aio.Queue[func()]

	// Delivery (delivery.go).
	overflow   []Msg      // this batch's messages that did not fit
	dl         *deliverer // while a backlog waits behind the channel, and a while after
	dlBusy     bool       // dl holds messages: what follows goes to it
	msgsClosed bool
	dropping   bool // DiscardMessages, or a local close
	// handing: the supervisor waits for the deliverer to take a batch, and
	// does not read meanwhile.
	handing bool

	// localClose: closed by this side; what is undelivered is dropped.
	localClose bool

	// The end of reading: why, and the reply grace after it.
	end     *readEnd
	graceAt time.Time // when the grace ends; zero while delivery goes on

	// interrupter is the goroutine that interrupts the read when the
	// connection's context ends, while it may run.
	interrupter sync.WaitGroup

	spare []event // the mailbox buffer to swap in next
	// readNext: the last step routed a batch, and the next goes straight
	// to the read (see step).
	readNext bool
	// armed and answered count the conversation timeouts and Requests the
	// supervisor has removed since it last took its mailbox, to report.
	armed, answered int
}

func newSupervisor(c *Conn) *supervisor {
	s := &supervisor{
		c:        c,
		fr:       newFrameReader(c.nc, c.cfg.maxMessageSize, readBufferSize),
		dec:      newDecoder(c),
		maxBatch: 64,
	}
	s.handshaking = !c.handshakeDeadline.IsZero() && c.Wire() == WireAuto
	if q := c.cfg.queueSize; q > 0 && q < s.maxBatch {
		s.maxBatch = q
	}
	s.fr.onPartial = s.partialFrame
	return s
}

// run is the supervisor's goroutine.
func (s *supervisor) run(ctx context.Context) error {
	s.lock.set()
	// A close from anywhere ends the read. The function runs on a goroutine
	// of its own, which the supervisor waits for below: none outlives the
	// connection's Close.
	s.interrupter.Add(1)
	stop := context.AfterFunc(ctx, func() {
		s.c.mail.interrupt()
		s.interrupter.Done()
	})
	now := time.Now()
	if s.c.Wire() != WireAuto {
		s.startKeepalive(now)
	}
	for s.step(ctx) {
	}
	if stop() {
		s.interrupter.Done() // it will never run
	}
	s.interrupter.Wait()
	s.shutdown(ctx)
	return nil
}

// step does one thing the connection needs: take events, fire what is
// due, read and route a batch of frames, or wait. It returns false once
// the connection is closing.
//
// Right after a batch it goes straight to the next read: the read takes
// the events posted meanwhile under the lock it needs anyway (or returns
// at once to let this step take them), and its deadline ends it at once if
// a timer fell due. What a goroutine the batch woke waits for, when it
// runs on this processor, is this supervisor parking in that read.
func (s *supervisor) step(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	if !s.readNext {
		s.takeMail()
		s.handOverflow(ctx, false) // a late reply, from a cancelled Request
		s.fireDue()
		if ctx.Err() != nil {
			return false
		}
	}
	s.readNext = false
	if s.end != nil {
		s.afterReading(ctx)
		return true
	}
	body, err := s.read()
	if err != nil {
		s.readFailed(ctx, err)
		return true
	}
	s.batch(ctx, body)
	s.readNext = s.end == nil && len(s.overflow) == 0
	return true
}

// read reads the next frame, with a deadline no later than the next
// timer. It returns early, with an error, when a goroutine interrupts it.
func (s *supervisor) read() ([]byte, error) {
	mb := &s.c.mail
	d := s.deadline()
	mb.mu.Lock()
	s.reportLocked()
	if mb.interrupted || len(mb.events) > 0 {
		mb.interrupted = false
		mb.mu.Unlock()
		return nil, errInterrupted
	}
	if s.dirty || !d.Equal(s.readDeadline) {
		s.c.nc.SetReadDeadline(d)
		s.readDeadline, s.dirty = d, false
	}
	mb.reading, mb.deadline = true, d
	mb.mu.Unlock()
	body, err := s.fr.next()
	// One lock to end the read and take the events posted meanwhile: the
	// Requests whose replies this read may have brought among them.
	mb.mu.Lock()
	mb.reading = false
	if mb.interrupted {
		s.dirty = true // its deadline is in the past now
	}
	evs := s.swapMailLocked()
	mb.mu.Unlock()
	s.handleMail(evs)
	return body, err
}

// errInterrupted: read returned without reading, for the mailbox.
var errInterrupted = errors.New("chatter: read interrupted")

// deadline is the read deadline the next read needs: the next timer, the
// end of the frame-read timeout for a frame that has begun, the handshake
// timeout; zero for none.
func (s *supervisor) deadline() time.Time {
	d := s.due()
	if !s.fr.partial.IsZero() && s.c.cfg.frameTimeout > 0 {
		d = earliest(d, s.fr.partial.Add(s.c.cfg.frameTimeout))
	}
	if s.handshaking {
		d = earliest(d, s.c.handshakeDeadline)
	}
	return d
}

// partialFrame is told by the frame reader that a frame has begun and its
// reader must wait for the rest: the frame-read timeout starts, and the
// read's deadline moves up to it unless an interrupt came first.
func (s *supervisor) partialFrame() {
	if s.c.cfg.frameTimeout <= 0 {
		return
	}
	d := s.fr.partial.Add(s.c.cfg.frameTimeout)
	if !s.readDeadline.IsZero() && !d.Before(s.readDeadline) {
		return
	}
	mb := &s.c.mail
	mb.mu.Lock()
	if !mb.interrupted {
		s.c.nc.SetReadDeadline(d)
		s.readDeadline, mb.deadline = d, d
	}
	mb.mu.Unlock()
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// due is when the supervisor's next timer is due; zero for none.
func (s *supervisor) due() time.Time {
	d := s.ka.due
	if t, ok := s.conv.next(); ok {
		d = earliest(d, t)
	}
	return earliest(d, s.graceAt)
}

// readFailed handles a read that returned an error: an interrupt or a
// timer (nothing to do: the next step takes the mailbox and fires what is
// due), a frame or handshake that took too long, or the end of the
// stream.
func (s *supervisor) readFailed(ctx context.Context, err error) {
	s.sawRead()
	if err == errInterrupted || ctx.Err() != nil {
		return
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		s.readEnded(ctx, s.streamError(err))
		return
	}
	now := time.Now()
	switch {
	case s.handshaking && !now.Before(s.c.handshakeDeadline):
		s.c.cfg.warn.warn(s.c.log, "chatter: connection closed: no first frame within the handshake timeout",
			"remote", s.c.remote, "timeout", s.c.cfg.handshakeTimeout)
		// Nothing was read, so nothing is owed: no reply grace.
		s.readEnded(ctx, readEnd{err: errHandshake(s.c.cfg.handshakeTimeout), abort: true})
	case !s.fr.partial.IsZero() && s.c.cfg.frameTimeout > 0 && !now.Before(s.fr.partial.Add(s.c.cfg.frameTimeout)):
		s.readEnded(ctx, readEnd{err: errFrameTimeout(s.c.cfg.frameTimeout)})
	}
}

// lightTraffic is how many bytes a connection may read in one keepalive
// period and still count as quiet, so that it lets go of what its traffic
// grew (see quiet): more than keepalive frames, less than a burst that
// needs a larger buffer. It is checked as the keepalive fires, so it costs
// no wake-up of its own: a burst's buffers go at the end of the second
// keepalive period after it (40 s by default). A connection without
// keepalive keeps what it grew.
const lightTraffic = 4 << 10

// quiet drops what a burst of traffic or a large message left behind on a
// connection that has gone quiet: the read buffer grown for it, and the
// deliverer that ended meanwhile, with the slices it handed back. (The
// writer drops its buffers itself, as it ends after writerLinger.)
func (s *supervisor) quiet() {
	s.lock.check()
	s.fr.idle()
	s.reapDeliverer()
}

// sawRead notes bytes read since the supervisor last looked: the
// keepalive counts them as received. Without a keepalive nothing asks when
// they came, and the clock is not read.
func (s *supervisor) sawRead() {
	if s.fr.total != s.readSeen {
		s.readSeen = s.fr.total
		if s.ka.on {
			s.lastRead = time.Now()
			s.ka.received(s.lastRead)
		}
	}
}

// batch decodes body and every frame already buffered after it, up to a
// batch, answering pings and routing the rest, then hands the messages
// that did not fit in the Messages channel to the deliverer. What was
// decoded before a frame that breaks the protocol is routed all the same.
func (s *supervisor) batch(ctx context.Context, body []byte) {
	s.lock.check()
	s.sawRead()
	// The read took the events posted before it returned: a sender posts
	// its Request before its frame can be written, so a reply in this
	// batch, all of it read by then, finds it.
	fr, dec := s.fr, s.dec
	var end *readEnd
	control := false // a ping or pong was counted
	for n := 1; ; n++ {
		in, err := dec.decode(body, fr.own)
		if err != nil {
			end = &readEnd{err: err}
			break
		}
		if s.handshaking { // the first frame decided the generation
			s.handshaking = false
		}
		if in.kind == inboundPing {
			// The pong says all before it was read: Stats says so too by
			// the time the pinger can ask.
			dec.publish(&s.c.stats, fr.total, control)
			if err := s.c.sendPong(ctx, in, dec.wire); err != nil {
				end = &readEnd{err: err, abort: true}
				break
			}
		}
		if dec.decided {
			dec.decided = false
			s.c.decideWire(dec.wire)
			s.startKeepalive(time.Now())
		}
		dec.count(in.kind)
		control = control || in.kind != inboundApp
		s.route(&in)
		if n >= s.maxBatch || !fr.buffered() {
			break
		}
		if body, err = fr.next(); err != nil {
			e := s.streamError(err)
			end = &e
			break
		}
	}
	dec.publish(&s.c.stats, fr.total, control)
	s.handOverflow(ctx, false)
	if end != nil {
		s.readEnded(ctx, *end)
	}
}

// route deals with one received message: it cancels its conversation's
// timeout, answers the keepalive, and goes to its Request or to Messages.
func (s *supervisor) route(in *inbound) {
	k := keyOf(in.msg.Conv)
	if s.conv.disarm(k) {
		s.armed++
	}
	s.ka.heard(k)
	if in.kind != inboundApp {
		if in.kind == inboundPong {
			s.pongReceived(k)
			if reply := s.replies.claim(k); reply != nil {
				reply <- in.msg // a Conn.Ping's answer
				s.answered++
			}
		}
		return // pings were answered as they were read
	}
	if o := s.c.cfg.observer; o != nil {
		o.Received(s.c, MsgInfo{Module: in.msg.Data.Module, Type: in.msg.Data.Type, Size: in.size, Conv: in.msg.Conv})
	}
	if reply := s.replies.claim(k); reply != nil {
		reply <- in.msg // capacity 1, one reply per Request
		s.answered++
		return
	}
	if s.replies.late(k) {
		s.deliverLate(in.msg)
		return
	}
	s.deliver(in.msg)
}

// deliverLate delivers, marked, a reply whose Request gave up, or drops
// and counts it (WithDropLateReplies).
func (s *supervisor) deliverLate(m Msg) {
	s.c.stats.late.Add(1)
	if s.c.cfg.dropLateReplies {
		m.Release()
		return
	}
	m.Late = true
	s.deliver(m)
}

// readEnded handles the end of reading: no reply can come any more, the
// keepalive has nothing to listen with, and what was read is delivered
// before Messages closes; then the reply grace runs (afterReading).
//
// A connection that never received a message owes no reply: it closes at
// once (flushing what the application queued) instead of waiting out the
// grace, so that peers that connect and break the protocol straight away
// do not hold a descriptor each for the grace.
func (s *supervisor) readEnded(ctx context.Context, end readEnd) {
	if s.end != nil {
		return
	}
	s.end = &end
	s.c.begin(end.err, end.local, modeOpen) // the reason, for Err
	s.settleReplies()
	s.ka.stop()
	switch {
	case errors.Is(end.err, ErrWireMismatch):
		// A misconfigured peer, or a version skew: worth seeing in the log.
		s.c.cfg.warn.warn(s.c.log, "chatter: wire generation mismatch", "remote", s.c.remote, "err", end.err)
	case errors.Is(end.err, ErrProtocol) || errors.Is(end.err, ErrMessageTooLarge):
		// A peer that breaks the protocol is as worth seeing: a bug on
		// either side, a newer peer's message type, or a hostile one
		// (rate-limited, like every warning a peer can repeat).
		s.c.cfg.warn.warn(s.c.log, "chatter: the peer broke the protocol", "remote", s.c.remote, "err", end.err)
	}
	switch {
	case end.abort:
		s.c.begin(end.err, false, modeAbort)
	case s.c.stats.messagesIn.Load() == 0:
		s.c.begin(end.err, end.local, modeFlush)
	default:
		s.handOverflow(ctx, true)
	}
}

// routeBuffered routes, as the connection closes after a failure, the
// frames already read whole into the buffer: they were read, so they are
// delivered like the ones decoded before. Nothing more is read, pings are
// not answered, and a frame that does not decode ends it.
func (s *supervisor) routeBuffered() {
	if s.dropping || s.localClose || s.handshaking || s.end != nil {
		return // not wanted, or reading had ended already
	}
	for s.fr.buffered() {
		body, err := s.fr.next()
		if err != nil {
			break
		}
		in, err := s.dec.decode(body, s.fr.own)
		if err != nil {
			break
		}
		s.dec.count(in.kind)
		s.route(&in)
	}
	s.dec.publish(&s.c.stats, s.fr.total, true) // once, at the end
}

// afterReading waits, once reading has ended, for the deliverer to deliver
// the last messages, then for the reply grace: it runs from the moment
// everything read is in the Messages channel, and the connection closes
// when it ends with the channel empty — the application took the last
// message and had the grace to answer it. While the application has not
// taken everything, the grace starts over.
func (s *supervisor) afterReading(ctx context.Context) {
	if s.dropping { // DiscardMessages: nothing more goes to Messages
		s.stopDeliverer()
		s.closeMsgs()
	}
	s.reapDeliverer()
	if s.msgsClosed && s.graceAt.IsZero() {
		s.graceAt = time.Now().Add(s.c.cfg.replyGrace)
	}
	var done <-chan struct{}
	if s.dl != nil {
		done = s.dl.done
	}
	s.wait(ctx, done)
}

// fireDue fires every timer that is due.
func (s *supervisor) fireDue() {
	s.lock.check()
	d := s.due()
	if d.IsZero() {
		return
	}
	now := time.Now()
	if now.Before(d) {
		return
	}
	ctx := s.c.group.Context()
	s.expire(now)
	if s.ka.on && !s.ka.due.After(now) {
		if s.fr.total-s.lightMark <= lightTraffic {
			s.quiet()
		}
		s.lightMark = s.fr.total
		if err := s.fireKeepalive(ctx, now); err != nil {
			s.ka.stop()
			s.c.begin(err, false, modeAbort)
		}
	}
	if !s.graceAt.IsZero() && !s.graceAt.After(now) {
		if len(s.c.msgs) > 0 {
			s.graceAt = now.Add(s.c.cfg.replyGrace) // not all taken yet
		} else {
			s.graceAt = time.Time{}
			s.c.begin(s.end.err, s.end.local, modeFlush)
		}
	}
}

// wait blocks, without reading, until the mailbox kicks, the next timer
// is due, done closes or the connection begins closing.
func (s *supervisor) wait(ctx context.Context, done <-chan struct{}) {
	s.armTimer()
	select {
	case <-s.c.mail.kick:
	case <-s.timer.C:
		s.timerSet = false
	case <-done:
	case <-ctx.Done():
	}
}

// armTimer points the supervisor's timer at its next due time, for the
// waits that do not read.
func (s *supervisor) armTimer() {
	if s.timer == nil {
		s.timer = time.NewTimer(time.Hour)
		s.timer.Stop()
	}
	if s.timerSet {
		s.timer.Stop()
		s.timerSet = false
	}
	if d := s.due(); !d.IsZero() {
		s.timer.Reset(time.Until(d))
		s.timerSet = true
	}
}

// expire fires every conversation timeout that is due.
func (s *supervisor) expire(now time.Time) {
	for t := s.conv.popDue(now); t != nil; t = s.conv.popDue(now) {
		s.armed++
		if o := s.c.cfg.observer; o != nil {
			o.ConversationTimedOut(s.c, Conversation{Conn: s.c, Owner: t.key.owner, FirstID: t.key.first})
		}
		if t.cb == nil {
			continue
		}
		if s.callbacks == nil {
			s.callbacks = aio.NewQueue[func()](0)
			// Fails only when closing; then callbacks are dropped anyway.
			_ = s.c.group.Spawn(s.runCallbacks)
		}
		conv := Conversation{Conn: s.c, Owner: t.key.owner, FirstID: t.key.first}
		cb := t.cb
		// Unbounded queue: PutNowait fails only when closing, and then the
		// callback is dropped as the protocol says.
		_ = s.callbacks.PutNowait(func() { cb(conv) })
	}
}

// runCallbacks runs conversation timeout callbacks one at a time, so that
// a callback may call Send or Request without blocking the supervisor.
func (s *supervisor) runCallbacks(ctx context.Context) error {
	life := &s.c.life
	for {
		cb, err := s.callbacks.Get(ctx)
		if err != nil {
			return nil // closing: pending callbacks are dropped
		}
		// Set before checking ctx, so that a Close that saw it unset
		// began closing before this check, which then skips the call.
		life.mu.Lock()
		life.callback = true
		life.mu.Unlock()
		if ctx.Err() == nil {
			cb()
		}
		life.mu.Lock()
		life.callback = false
		life.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// settleReplies closes the reply table and the mailbox to Requests: no
// reply can come any more.
func (s *supervisor) settleReplies() {
	s.c.mail.mu.Lock()
	s.c.mail.closed = true
	s.c.mail.mu.Unlock()
	s.takeMail() // Requests posted before the mailbox closed
	s.answered += s.replies.settle()
}

// shutdown runs when the connection begins closing: timeouts are dropped
// without running, Requests are told, the socket closes as the close mode
// says once no writer runs, and then what was read is still delivered —
// after a failure, until the application has it all or closes the
// connection; after a local close it is dropped.
func (s *supervisor) shutdown(ctx context.Context) {
	c := s.c
	if c.life.closeMode() == modeOpen {
		// Closed from outside: the owning server closed its connections.
		// That is a local close.
		c.begin(ErrClosed, true, modeFlush)
	}
	// Logged here, by a goroutine of the connection's group, so that the
	// record is written before Done fires.
	c.log.Debug("chatter: connection closing", "local", c.local, "remote", c.remote, "reason", c.reason())
	s.settleReplies()
	s.ka.stop()
	if s.callbacks != nil {
		s.callbacks.Close()
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	// The socket: once the writer (which sees the group stop) has left.
	if w := c.out.writer(); w != nil {
		<-w
	}
	lingering := s.end != nil && !s.end.eof && !s.end.abort && c.stats.messagesIn.Load() > 0
	c.closeSocket(c.life.closeMode(), lingering)
	c.released()
	// What was read: the deliverer's backlog first, then what is left
	// here, in order, unless the application no longer wants it.
	s.armed += len(s.conv.timeouts) // dropped without running
	s.conv = conversations{}
	s.takeMail()
	s.routeBuffered()
	for s.dl != nil {
		if s.dropping || s.ownerClosed() || !s.dlBusy {
			s.stopDeliverer() // what it holds, if anything, is not wanted
			break
		}
		select {
		case <-s.dl.idle:
			s.dlBusy = false
		case <-s.dl.done:
			s.reapDeliverer()
		case <-c.mail.kick:
			s.takeMail()
		case <-c.owner:
		}
	}
	for len(s.overflow) > 0 && !s.msgsClosed && !s.dropping && !s.ownerClosed() {
		select {
		case c.msgs <- s.overflow[0]:
			s.overflow[0] = Msg{}
			s.overflow = s.overflow[1:]
		case <-c.mail.kick:
			s.takeMail()
		case <-c.owner:
		}
	}
	s.overflow = nil
	s.closeMsgs()
	close(c.life.supervisorDone)
}

// ownerClosed reports whether the server that owns the connection has
// closed: a local close, even of a connection that had already failed.
func (s *supervisor) ownerClosed() bool {
	select {
	case <-s.c.owner:
		return true
	default:
		return false
	}
}

// The mailbox.

// eventKind is what a goroutine tells the supervisor.
type eventKind uint8

const (
	// evRequest: a Request waits for the reply in its conversation.
	evRequest eventKind = iota + 1
	// evCancel: a Request gave up.
	evCancel
	// evArm: a conversation timeout, for a frame just queued.
	evArm
	// evSent: a message was queued in a conversation: its timeout is
	// cancelled.
	evSent
	// evDiscard: the application will not read Messages.
	evDiscard
	// evLocalClose: the connection was closed by this side: what is not
	// yet delivered is dropped.
	evLocalClose
	// evStopReading: a server's Shutdown.
	evStopReading
)

// event is one item of the mailbox.
type event struct {
	kind     eventKind
	key      convKey
	reply    chan Msg
	deadline time.Time // evArm
	cb       func(Conversation)
	probe    bool // evCancel: of a Conn.Ping, whose pong goes nowhere
}

// mailbox is how other goroutines reach the supervisor: they post
// events, and interrupt it when it must look before its next deadline.
// Its lock is taken by a sender inside the outbox's critical section
// (never the other way round), and by the supervisor once a batch.
type mailbox struct {
	c *Conn

	mu     sync.Mutex
	events []event
	// closed: reading has ended; no Request is taken any more.
	closed bool
	// armed counts conversation timeouts posted and not yet reported gone
	// by the supervisor: while it is 0, a send in an existing conversation
	// has no timeout to cancel and posts nothing. requests counts Requests
	// posted and not yet reported answered or gone. Stats reads both.
	armed, requests int
	// reading: the supervisor waits in a read of the socket, whose
	// deadline it set to deadline (zero: none).
	reading  bool
	deadline time.Time
	// interrupted: the supervisor must look at its mailbox before it reads
	// or waits again.
	interrupted bool
	// kick wakes a supervisor that waits without reading; capacity 1.
	kick chan struct{}
}

// register posts what the supervisor must know of a frame being queued:
// a Request, a conversation timeout, a message that cancels one. The
// outbox calls it with its lock held, after numbering the frame (key is
// its conversation) and before queuing it. An error means the frame must
// not be queued: reading has ended, and no reply can come.
func (mb *mailbox) register(k convKey, m *sendMeta) error {
	if m.reply == nil && m.timeout == 0 && !m.cancels {
		return nil
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if m.reply != nil {
		if mb.closed {
			return mb.c.closedErr()
		}
		mb.events = append(mb.events, event{kind: evRequest, key: k, reply: m.reply})
		mb.requests++
	}
	urgent := false
	switch {
	case m.timeout > 0:
		d := time.Now().Add(m.timeout)
		mb.events = append(mb.events, event{kind: evArm, key: k, deadline: d, cb: m.onTimeout})
		mb.armed++
		urgent = mb.deadline.IsZero() || d.Before(mb.deadline)
	case m.cancels && mb.armed > 0:
		mb.events = append(mb.events, event{kind: evSent, key: k})
	}
	if urgent {
		mb.interruptLocked()
	}
	return nil
}

// requestsWaiting is how many Requests wait for their replies, as far as
// the supervisor has reported: for Stats, and the writer's yield.
func (mb *mailbox) requestsWaiting() int {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	return mb.requests
}

// post puts an event in the mailbox and interrupts the supervisor.
func (mb *mailbox) post(ev event) {
	mb.mu.Lock()
	mb.events = append(mb.events, ev)
	mb.interruptLocked()
	mb.mu.Unlock()
}

func (mb *mailbox) localClose()  { mb.post(event{kind: evLocalClose}) }
func (mb *mailbox) stopReading() { mb.post(event{kind: evStopReading}) }

// interrupt makes the supervisor look at its mailbox (and at the group's
// context) at once.
func (mb *mailbox) interrupt() {
	mb.mu.Lock()
	mb.interruptLocked()
	mb.mu.Unlock()
}

// aLongTimeAgo is a read deadline in the past: the read returns at once.
var aLongTimeAgo = time.Unix(1, 0)

func (mb *mailbox) interruptLocked() {
	mb.interrupted = true
	if mb.reading {
		mb.c.nc.SetReadDeadline(aLongTimeAgo)
		mb.reading = false
	}
	signal(mb.kick)
}

// takeMail handles every event posted so far.
func (s *supervisor) takeMail() {
	s.lock.check()
	mb := &s.c.mail
	mb.mu.Lock()
	evs := s.swapMailLocked()
	mb.mu.Unlock()
	s.handleMail(evs)
}

// swapMailLocked takes the events posted so far out of the mailbox, and
// reports what ended since the last time; the caller holds its lock and
// passes the events to handleMail once it has let go.
func (s *supervisor) swapMailLocked() []event {
	mb := &s.c.mail
	evs := mb.events
	mb.events = s.spare[:0]
	mb.interrupted = false
	s.reportLocked()
	return evs
}

// reportLocked tells the mailbox, whose lock the caller holds, of the
// Requests answered or given up and the timeouts gone since it last heard.
func (s *supervisor) reportLocked() {
	mb := &s.c.mail
	mb.armed -= s.armed
	mb.requests -= s.answered
	s.armed, s.answered = 0, 0
}

// handleMail handles the events swapMailLocked took.
func (s *supervisor) handleMail(evs []event) {
	for i := range evs {
		s.handle(&evs[i])
	}
	clear(evs)
	s.spare = evs
	s.reportEnded()
}

// reportEnded tells the mailbox of the Requests answered or given up and
// the timeouts gone since it last heard, for Stats: now, after the events
// or the batch that ended them, not at the next batch, which may be long
// in coming on a quiet connection. After a batch the next read tells it,
// in the lock it takes anyway, unless the supervisor must wait first
// (handOverflow).
func (s *supervisor) reportEnded() {
	if s.armed == 0 && s.answered == 0 {
		return
	}
	mb := &s.c.mail
	mb.mu.Lock()
	s.reportLocked()
	mb.mu.Unlock()
}

// handle applies one event.
func (s *supervisor) handle(ev *event) {
	switch ev.kind {
	case evRequest:
		if !s.replies.add(ev.key, ev.reply) {
			s.answered++
		}
	case evCancel:
		if s.replies.cancel(ev.key, ev.reply, !ev.probe) {
			s.answered++
		} else {
			// Routed already: if the Request did not take its reply, it
			// goes to Messages.
			select {
			case m, ok := <-ev.reply:
				if ok && !ev.probe {
					s.deliverLate(m) // handOverflow hands it over if it did not fit
				}
			default:
			}
		}
	case evArm:
		if s.conv.arm(ev.key, ev.deadline, ev.cb) {
			s.armed++ // it replaced one
		}
	case evSent:
		if s.conv.disarm(ev.key) {
			s.armed++
		}
	case evDiscard:
		s.discard(true)
	case evLocalClose:
		s.localClose = true
		s.discard(false)
	case evStopReading:
		if s.end == nil {
			s.readEnded(s.c.group.Context(), readEnd{err: ErrClosed, local: true})
		}
	}
}

// discard drops what is undelivered, and every message from now on. For
// DiscardMessages (counted) it also empties the Messages channel; after a
// local close what is in the channel stays readable.
func (s *supervisor) discard(counted bool) {
	if s.dropping {
		return
	}
	s.dropping = true
	if s.dl != nil {
		s.dl.counted = counted
		s.stopDeliverer()
	}
	n := len(s.overflow)
	s.overflow = nil
	if !counted {
		return
	}
	for !s.msgsClosed {
		select {
		case <-s.c.msgs:
			n++
			continue
		default:
		}
		break
	}
	s.c.stats.discarded.Add(uint64(n))
}
