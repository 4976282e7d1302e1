package chatter

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/gochatter/gochatter/pkg/aio"
)

// supervisor is the goroutine that owns a connection's conversation
// timeouts, its keepalive, the delivery of received messages behind a full
// channel and the end of reading (when it settles the reply table). Other
// goroutines never touch that state: the reader hands it batches, senders
// post events through the outbox's mailbox, and timers are its own.
type supervisor struct {
	c *Conn

	// From the reader: batches of received messages, the last one with the
	// reason reading ended. Capacity 1, and the supervisor stops taking
	// batches while it holds undelivered messages of a bounded queue, so a
	// slow application stops the reader.
	inbound chan readBatch
	// Batches the supervisor is done with, back to the reader for reuse.
	spent chan []inbound
	// To the application.
	msgs chan Msg
	// Conversation timeout callbacks, run in order on their own goroutine,
	// which starts with the first callback (most connections never have
	// one, and an idle connection should cost little).
	callbacks        *aio.Queue[func()]
	callbacksStarted bool

	// Owned by the supervisor goroutine.
	backlog backlog
	conv    conversations
	ka      keepalive
	timer   *time.Timer // the earliest conversation timeout
	spare   []supEvent  // the mailbox buffer to swap in next
	// end is why reading ended; nil while the reader runs.
	end        *readEnd
	msgsClosed bool
	grace      grace
	// extra counts the batches taken past a full queue for the sake of
	// waiting Requests; stalled says that the reader was held up by a
	// full queue since the last ping went out.
	extra   int
	stalled bool
	// dropping: the application said it will not read (DiscardMessages).
	dropping bool
	// wireReady is the connection's, until it has fired.
	wireReady <-chan struct{}
	woke      wakeup // what the last wait returned

	// For the reader's own deliveries (readBatch): batches counts the
	// batches taken; caughtUp is batches, published whenever the backlog is
	// empty, so a reader that has handed over as many knows that everything
	// it read before is in the channel. pingOut is set while a keepalive
	// ping waits for its answer, which the supervisor must see.
	batches  uint64
	caughtUp atomic.Uint64
	pingOut  atomic.Bool
}

// readBatch is what the reader hands over: messages, and with the last
// batch the reason reading ended.
type readBatch struct {
	msgs []inbound
	end  *readEnd
}

type supEventKind uint8

const (
	// evRegister: a frame starting a conversation with a conversation
	// timeout was queued.
	evRegister supEventKind = iota + 1
	// evSent: a message was queued in an existing conversation, which
	// cancels its timeout.
	evSent
	// evDiscard: the application will not read Messages.
	evDiscard
)

// supEvent is a sender's event for the supervisor.
type supEvent struct {
	kind     supEventKind
	key      convKey
	deadline time.Time // evRegister
	cb       func(Conversation)
}

// messagesChannelSize is the Messages channel's buffer; the rest of the
// receive queue waits in the supervisor's backlog, which grows in chunks
// with what is queued, so that an idle connection does not hold a buffer
// of the whole queue's size.
const messagesChannelSize = 16

func newSupervisor(c *Conn) *supervisor {
	size := messagesChannelSize
	if q := c.cfg.queueSize; q > 0 && q < size {
		size = q
	}
	return &supervisor{
		c:         c,
		inbound:   make(chan readBatch, 1),
		spent:     make(chan []inbound, 2),
		msgs:      make(chan Msg, size),
		callbacks: aio.NewQueue[func()](0),
		conv:      newConversations(),
	}
}

// handOver gives the supervisor a batch; false means the connection is
// closing, and the reader should stop. A closing connection still takes
// the batch unless the close was local: after a failure, what was read is
// delivered, and the supervisor's shutdown takes batches until the reader
// has returned.
func (s *supervisor) handOver(ctx context.Context, b readBatch) bool {
	select {
	case s.inbound <- b:
		return true
	case <-ctx.Done():
	}
	if !s.c.life.discarded.Load() {
		s.inbound <- b
	}
	return false
}

// newBatch returns an empty batch for the reader, reusing a spent one when
// there is one.
func (s *supervisor) newBatch() []inbound {
	select {
	case b := <-s.spent:
		return b
	default:
		// Small: a batch grows by append to what the traffic needs (at
		// most the reader's batch limit), and an idle connection keeps the
		// spent ones it has.
		return make([]inbound, 0, 2)
	}
}

// recycle hands a routed batch back to the reader.
func (s *supervisor) recycle(b []inbound) {
	if b == nil {
		return
	}
	clear(b)
	select {
	case s.spent <- b[:0]:
	default:
	}
}

func (s *supervisor) run(ctx context.Context) error {
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	// The keepalive starts once the wire generation is known: at once, or
	// for a server in auto mode after the first frame, so that nothing is
	// sent before the peer has shown its generation. The reader kicks the
	// supervisor when it has decided.
	s.wireReady = s.c.wireReady
	s.checkWire()
	// No defer, and the wakeup in s: this frame stays on the stack for the
	// supervisor's whole life (see wait).
	for {
		if s.backlog.len == 0 {
			s.extra = 0
			s.waitIdle(ctx, &s.woke)
		} else {
			s.wait(ctx, &s.woke)
		}
		if !s.act(ctx, &s.woke) {
			s.exit()
			return nil
		}
	}
}

// exit stops the supervisor's timers as it returns.
func (s *supervisor) exit() {
	s.grace.stop()
	s.ka.stop()
	s.timer.Stop()
	s.c.life.exited(1)
}

// checkWire starts the keepalive once the generation is known.
func (s *supervisor) checkWire() {
	if s.wireReady == nil {
		return
	}
	select {
	case <-s.wireReady:
		s.wireReady = nil
		if s.end == nil {
			s.ka.start(s.c)
		}
	default:
	}
}

// wakeKind is what woke the supervisor.
type wakeKind uint8

const (
	wakeBatch wakeKind = iota + 1
	wakeDelivered
	wakeEvents
	wakeTimer
	wakeTick
	wakeDone
)

// wakeup is what the supervisor waited for, and what came with it.
type wakeup struct {
	kind  wakeKind
	batch readBatch
	now   time.Time
	full  bool // the receive queue was full when the batch was taken
}

// wait blocks until the supervisor has something to do while it holds
// messages to deliver; waitIdle, when it holds none.
//
// Waiting is apart from act, and small, because an idle connection spends
// its life there: the stack a goroutine has while it waits is what it
// keeps, and the garbage collector shrinks only stacks almost empty. So a
// connection with nothing to deliver waits in waitIdle, whose select has no
// send case and no message to copy, and the supervisor's whole stack at rest
// fits the smallest goroutine stack. For the same reason the keepalive and the reply
// grace, which never run together, share one case, and the decision of a
// WireAuto connection's generation comes as a kick.
func (s *supervisor) wait(ctx context.Context, w *wakeup) {
	*w = wakeup{}
	// Take new batches unless the queue is full: then the reader waits,
	// and with it the socket. While Requests wait, one batch more each, so
	// that their replies can come through.
	in := s.inbound
	if w.full = s.full(); w.full && s.extra >= int(s.c.out.replies.n.Load()) {
		in = nil
		s.stalled = true
	}
	if !w.full {
		s.extra = 0
	}
	s.waitDelivering(ctx, w, in)
}

// tick is the channel of the periodic timer: the keepalive's while
// reading, the reply grace's after.
func (s *supervisor) tick() <-chan time.Time {
	if s.end != nil {
		return s.grace.c
	}
	return s.ka.c
}

//go:noinline
func (s *supervisor) waitIdle(ctx context.Context, w *wakeup) {
	*w = wakeup{}
	select {
	case w.batch = <-s.inbound:
		w.kind = wakeBatch
	case <-s.c.out.kick:
		w.kind = wakeEvents
	case w.now = <-s.timer.C:
		w.kind = wakeTimer
	case w.now = <-s.tick():
		w.kind = wakeTick
	case <-ctx.Done():
		w.kind = wakeDone
	}
}

//go:noinline
func (s *supervisor) waitDelivering(ctx context.Context, w *wakeup, in <-chan readBatch) {
	select {
	case w.batch = <-in:
		w.kind = wakeBatch
	case s.msgs <- *s.backlog.frontRef():
		w.kind = wakeDelivered
	case <-s.c.out.kick:
		w.kind = wakeEvents
	case w.now = <-s.timer.C:
		w.kind = wakeTimer
	case w.now = <-s.tick():
		w.kind = wakeTick
	case <-ctx.Done():
		w.kind = wakeDone
	}
}

// act acts on what woke the supervisor; false means the connection is
// closing and the supervisor is done.
func (s *supervisor) act(ctx context.Context, w *wakeup) bool {
	switch w.kind {
	case wakeBatch:
		b := w.batch
		w.batch = readBatch{}
		s.batches++
		if w.full {
			s.extra++
		}
		// Events first: a sender posts its registration before its
		// frame can be written, so a reply in this batch finds it.
		s.takeEvents()
		s.ka.received()
		s.route(b.msgs)
		s.recycle(b.msgs)
		if b.end != nil {
			s.readEnded(b.end)
		}
	case wakeDelivered:
		s.shiftBacklog()
	case wakeEvents:
		s.takeEvents()
		s.checkWire()
	case wakeTimer:
		s.expire(w.now)
	case wakeTick:
		if s.end == nil {
			if err := s.fireKeepalive(ctx, w.now); err != nil {
				s.ka.stop()
				s.c.stop(err, false, modeAbort)
			}
		} else if s.grace.tick(w.now, len(s.msgs)) {
			// The application took everything and had the grace to
			// answer: the connection ends for the reason reading did.
			s.c.stop(s.end.err, s.end.local, modeFlush)
		}
	case wakeDone:
		s.shutdown()
		return false
	}
	if s.end != nil && !s.msgsClosed && s.backlog.len == 0 {
		// Everything read has gone into the channel.
		close(s.msgs)
		s.msgsClosed = true
		s.grace.start(s.c.cfg.replyGrace, len(s.msgs))
	}
	if s.backlog.len == 0 {
		s.caughtUp.Store(s.batches)
	}
	s.resetTimer()
	s.c.stats.timeouts.Store(int64(len(s.conv.timeouts)))
	return true
}

// full reports whether the receive queue is at its bound: the backlog
// holds messages, so the channel is full, and the two hold QueueSize.
func (s *supervisor) full() bool {
	q := s.c.cfg.queueSize
	return q > 0 && s.backlog.len > 0 && s.backlog.len+cap(s.msgs) >= q
}

// takeEvents handles every event posted so far.
func (s *supervisor) takeEvents() {
	evs := s.c.out.takeEvents(s.spare, false)
	gone := 0
	for i := range evs {
		gone += s.handle(&evs[i])
	}
	clear(evs)
	s.spare = evs
	s.c.out.timeoutsGone(gone)
}

// handle applies one event and returns how many registered timeouts it
// removed.
func (s *supervisor) handle(ev *supEvent) (gone int) {
	switch ev.kind {
	case evRegister:
		if s.conv.arm(ev.key, ev.deadline, ev.cb) {
			gone++
		}
	case evSent:
		if s.conv.disarm(ev.key) {
			gone++
		}
	case evDiscard:
		s.dropping = true
		n := s.backlog.len
		for s.backlog.len > 0 {
			s.backlog.pop()
		}
		for drained := false; !drained; {
			select {
			case <-s.msgs:
				n++
			default:
				drained = true
			}
		}
		s.c.stats.discarded.Add(uint64(n))
	}
	return gone
}

// route deals with a batch of received messages in order.
func (s *supervisor) route(batch []inbound) {
	s.c.out.claimReplies(batch)
	gone := 0
	for i := range batch {
		in := &batch[i]
		k := keyOf(in.msg.Conv)
		if s.conv.disarm(k) {
			gone++
		}
		s.ka.heard(k)
		if in.kind != inboundApp {
			continue // pings are answered by the reader
		}
		if in.reply != nil {
			in.reply <- in.msg // capacity 1, one reply per Request
			continue
		}
		s.deliver(in.msg)
	}
	s.c.out.timeoutsGone(gone)
}

// readEnded handles the end of reading: no reply can come any more, the
// keepalive has nothing to listen with, and what was read is delivered
// before Messages closes.
//
// A connection that never received a message owes no reply: it closes at
// once (flushing what the application queued) instead of waiting out the
// grace, so that peers that connect and break the protocol straight away
// do not hold a descriptor each for the grace.
func (s *supervisor) readEnded(end *readEnd) {
	s.end = end
	s.c.out.settleReplies()
	s.ka.stop()
	if !end.abort && s.c.stats.messagesIn.Load() == 0 {
		s.c.stop(end.err, end.local, modeFlush)
	}
}

// deliver passes a message to the application, keeping order: straight
// into the channel when nothing waits before it, else behind the backlog.
func (s *supervisor) deliver(m Msg) {
	if s.dropping {
		s.c.stats.discarded.Add(1)
		return
	}
	if s.backlog.len == 0 {
		select {
		case s.msgs <- m:
			return
		default:
		}
	}
	s.backlog.push(m)
}

func (s *supervisor) shiftBacklog() {
	s.backlog.pop()
	// Move whatever else fits without blocking.
	for s.backlog.len > 0 {
		select {
		case s.msgs <- s.backlog.front():
			s.backlog.pop()
		default:
			return
		}
	}
}

// shutdown runs when the connection begins closing. Timeouts are dropped
// without running and pending Requests are told. After a failure, messages
// read before the end are still delivered, until the application has them
// all or closes the connection; after a local close they are dropped.
func (s *supervisor) shutdown() {
	s.c.unblock()
	// Logged here, by a goroutine of the connection's group, so that the
	// record is written before Done fires.
	s.c.log.Debug("chatter: connection closing", "local", s.c.local, "remote", s.c.remote, "reason", s.c.reason())
	for _, ev := range s.c.out.takeEvents(nil, true) {
		s.handle(&ev)
	}
	s.c.out.settleReplies()
	s.callbacks.Close()
	if s.msgsClosed {
		return
	}
	defer close(s.msgs)
	life := &s.c.life
	// The reader may be delivering a batch itself (readBatch): the channel
	// closes only once it is off it. It is on its way out: the group's
	// context has ended and unblock has cut its read short. Until it has
	// returned, its batches are taken (see handOver).
	for reading := true; reading; {
		select {
		case b := <-s.inbound:
			if !life.discarded.Load() {
				s.route(b.msgs)
			}
		case <-life.readerExited:
			reading = false
		}
	}
	select { // a batch handed over as the reader returned
	case b := <-s.inbound:
		if !life.discarded.Load() {
			s.route(b.msgs)
		}
	default:
	}
	if life.discarded.Load() {
		return
	}
	for s.backlog.len > 0 {
		select {
		case s.msgs <- s.backlog.front():
			s.backlog.pop()
		case <-s.c.out.kick:
			// A local close sets discarded, then kicks.
			if life.discarded.Load() {
				return
			}
		case <-s.c.owner:
			// The owning server closed: a local close, even of a
			// connection that had already failed.
			return
		}
	}
}

// expire fires every conversation timeout that is due.
func (s *supervisor) expire(now time.Time) {
	gone := 0
	for t := s.conv.popDue(now); t != nil; t = s.conv.popDue(now) {
		gone++
		if t.cb == nil {
			continue
		}
		if !s.callbacksStarted {
			s.callbacksStarted = true
			// Fails only when closing; then callbacks are dropped anyway.
			_ = s.c.group.Spawn(s.runCallbacks)
		}
		conv := Conversation{Conn: s.c, Owner: t.key.owner, FirstID: t.key.first}
		cb := t.cb
		// Unbounded queue: PutNowait fails only when closing, and then the
		// callback is dropped as the protocol says.
		_ = s.callbacks.PutNowait(func() { cb(conv) })
	}
	s.c.out.timeoutsGone(gone)
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
		life.inCallback.Store(true)
		if ctx.Err() != nil {
			life.inCallback.Store(false)
			return nil
		}
		cb()
		life.inCallback.Store(false)
	}
}

// resetTimer points the timer at the earliest deadline.
func (s *supervisor) resetTimer() {
	if d, ok := s.conv.next(); ok {
		s.timer.Reset(time.Until(d))
	} else {
		s.timer.Stop()
	}
}

// grace is the wait between the end of reading and the end of the
// connection: first for the application to take the last message out of
// the Messages channel (checked every drainPoll), then for the reply grace
// to pass.
type grace struct {
	c       <-chan time.Time
	timer   *time.Timer
	length  time.Duration
	waiting bool // for the channel to empty; false: the grace runs
}

// drainPoll is how often a connection whose reading has ended checks that
// the application has taken the last message from the channel's buffer.
const drainPoll = 10 * time.Millisecond

func (g *grace) start(length time.Duration, buffered int) {
	g.length = length
	g.waiting = buffered > 0
	d := length
	if g.waiting {
		d = drainPoll
	}
	g.timer = time.NewTimer(d)
	g.c = g.timer.C
}

// tick reports whether the grace is over.
func (g *grace) tick(now time.Time, buffered int) bool {
	switch {
	case !g.waiting:
		g.c = nil
		return true
	case buffered > 0:
		g.timer.Reset(drainPoll)
	default:
		g.waiting = false
		g.timer.Reset(g.length)
	}
	return false
}

func (g *grace) stop() {
	if g.timer != nil {
		g.timer.Stop()
	}
	g.c = nil
}
