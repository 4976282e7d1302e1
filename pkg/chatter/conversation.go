package chatter

import (
	"container/heap"
	"context"
	"sync/atomic"
	"time"

	"github.com/gochatter/gochatter/pkg/aio"
)

// SendOption changes how [Conn.Send] or [Conn.Request] sends a message.
type SendOption interface{ applySend(sendConfig) sendConfig }

type sendConfig struct {
	conv      Conversation
	inConv    bool
	last      bool
	lastSet   bool
	token     bool
	tokenSet  bool
	timeout   time.Duration
	onTimeout func(Conversation)
}

type convOption struct{ conv Conversation }

func (o convOption) applySend(c sendConfig) sendConfig {
	c.conv, c.inConv = o.conv, true
	return c
}

// InConversation sends the message in an existing conversation instead of
// starting a new one.
func InConversation(conv Conversation) SendOption { return convOption{conv} }

type lastOption bool

func (o lastOption) applySend(c sendConfig) sendConfig {
	c.last, c.lastSet = bool(o), true
	return c
}

// Last sets the message's last flag: true (the default) ends the
// conversation, false keeps it open for more messages.
func Last(last bool) SendOption { return lastOption(last) }

type tokenOption bool

func (o tokenOption) applySend(c sendConfig) sendConfig {
	c.token, c.tokenSet = bool(o), true
	return c
}

// Token sets the message's token flag: true (the default) hands the turn
// to the peer. The protocol carries it; nothing enforces it.
func Token(token bool) SendOption { return tokenOption(token) }

type timeoutOption struct {
	d  time.Duration
	cb func(Conversation)
}

func (o timeoutOption) applySend(c sendConfig) sendConfig {
	c.timeout, c.onTimeout = o.d, o.cb
	return c
}

// ConversationTimeout arms a timeout on the message's conversation (for a
// message with last = false): if no message of the conversation is received
// or sent within d, cb runs once with the conversation. Any message of the
// conversation, in either direction, cancels it; closing the connection
// drops it without running cb. Callbacks run one at a time on a goroutine
// of the connection, so a slow callback delays the next one.
func ConversationTimeout(d time.Duration, cb func(Conversation)) SendOption {
	return timeoutOption{d, cb}
}

// convKey is a conversation as seen from this side.
type convKey struct {
	first int64
	owner bool
}

func keyOf(c Conversation) convKey { return convKey{c.FirstID, c.Owner} }

// supervisor is the goroutine that owns a connection's conversation state:
// conversation timeouts, pending requests and the delivery of received
// messages. Other goroutines never touch that state; they send it events.
type supervisor struct {
	c *Conn

	// From the reader: batches of received messages. Capacity 1, and the
	// supervisor stops taking batches while it holds undelivered messages
	// of a bounded queue, so a slow application stops the reader.
	inbound chan []inbound
	// Batches the supervisor is done with, back to the reader for reuse.
	spent chan []inbound
	// From senders: registrations and cancellations.
	events chan supEvent
	// To the application.
	msgs chan Msg
	// Conversation timeout callbacks, run in order on their own goroutine,
	// which starts with the first callback (most connections never have
	// one, and an idle connection should cost little).
	callbacks        *aio.Queue[func()]
	callbacksStarted bool
	// Whether any conversation timeout is armed, so that plain sends on an
	// existing conversation skip the cancel event when none is.
	armed atomic.Int32

	// Owned by the supervisor goroutine.
	backlog  backlog
	timeouts map[convKey]*convTimer
	heap     timerHeap
	pending  map[convKey]chan Msg
	pingConv convKey
	pinging  bool
	ka       keepalive
}

type supEventKind uint8

const (
	evRegister supEventKind = iota + 1
	evSent
	evCancelRequest
)

type supEvent struct {
	kind    supEventKind
	conv    Conversation
	timeout time.Duration
	cb      func(Conversation)
	reply   chan Msg
	last    bool
}

// convTimer is an armed conversation timeout.
type convTimer struct {
	key      convKey
	deadline time.Time
	cb       func(Conversation) // nil for the ping's own timeout
	index    int                // in the heap; -1 when removed
}

// unboundedChannelSize is the Messages channel's buffer when the receive
// queue is unbounded; the rest waits in the supervisor's backlog.
const unboundedChannelSize = 32

func newSupervisor(c *Conn) *supervisor {
	size := c.cfg.queueSize
	if size == 0 {
		size = unboundedChannelSize
	}
	return &supervisor{
		c:         c,
		inbound:   make(chan []inbound, 1),
		spent:     make(chan []inbound, 2),
		events:    make(chan supEvent, 8),
		msgs:      make(chan Msg, size),
		callbacks: aio.NewQueue[func()](0),
		timeouts:  make(map[convKey]*convTimer),
		pending:   make(map[convKey]chan Msg),
	}
}

// deliverFromReader hands a batch to the supervisor; false means the
// connection is closing.
func (s *supervisor) deliverFromReader(ctx context.Context, batch []inbound) bool {
	select {
	case s.inbound <- batch:
		return true
	case <-ctx.Done():
		return false
	}
}

// newBatch returns an empty batch for the reader, reusing a spent one when
// there is one.
func (s *supervisor) newBatch() []inbound {
	select {
	case b := <-s.spent:
		return b
	default:
		return make([]inbound, 0, 16)
	}
}

// recycle hands a routed batch back to the reader.
func (s *supervisor) recycle(b []inbound) {
	clear(b)
	select {
	case s.spent <- b[:0]:
	default:
	}
}

// post sends an event unless the connection is closing, in which case the
// event no longer matters.
func (s *supervisor) post(ev supEvent) {
	select {
	case s.events <- ev:
	case <-s.c.Closing():
	}
}

// register tells the supervisor about a conversation timeout or a pending
// request before the frame that starts it is written.
func (s *supervisor) register(conv Conversation, d time.Duration, cb func(Conversation), reply chan Msg, last bool) {
	s.post(supEvent{kind: evRegister, conv: conv, timeout: d, cb: cb, reply: reply, last: last})
}

// sent reports a message sent in an existing conversation, which cancels
// its timeout.
func (s *supervisor) sent(conv Conversation) {
	if s.armed.Load() > 0 {
		s.post(supEvent{kind: evSent, conv: conv})
	}
}

func (s *supervisor) cancelRequest(conv Conversation) {
	s.post(supEvent{kind: evCancelRequest, conv: conv})
}

func (s *supervisor) run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	defer s.ka.stop()
	// The keepalive starts once the wire generation is known: at once, or
	// for a server in auto mode after the first frame, so that nothing is
	// sent before the peer has shown its generation.
	wireReady := s.c.wireReady
	bounded := s.c.cfg.queueSize > 0
	for {
		// Take new batches unless a bounded queue is full: then the
		// reader waits, and with it the socket.
		in := s.inbound
		var out chan<- Msg
		var head Msg
		if s.backlog.len > 0 {
			out, head = s.msgs, s.backlog.front()
			if bounded {
				in = nil
			}
		}
		select {
		case batch := <-in:
			s.takeEvents()
			s.ka.received()
			s.route(batch)
			s.recycle(batch)
		case out <- head:
			s.shiftBacklog()
		case ev := <-s.events:
			s.handle(ev)
		case now := <-timer.C:
			s.expire(now)
		case <-wireReady:
			wireReady = nil
			s.ka.start(s.c)
		case now := <-s.ka.c:
			s.keepalive(ctx, now)
		case <-ctx.Done():
			s.shutdown()
			return nil
		}
		s.resetTimer(timer)
		tracked := len(s.timeouts) + len(s.pending)
		if s.pinging {
			tracked-- // the keepalive's own conversation
		}
		s.c.stats.tracked.Store(int64(tracked))
	}
}

// takeEvents handles every event already posted. A sender posts its
// registration before its frame can be written, so handling these first
// guarantees that a reply in the batch finds the registration in place.
func (s *supervisor) takeEvents() {
	for {
		select {
		case ev := <-s.events:
			s.handle(ev)
		default:
			return
		}
	}
}

func (s *supervisor) handle(ev supEvent) {
	k := keyOf(ev.conv)
	switch ev.kind {
	case evRegister:
		s.disarm(k)
		if ev.reply != nil {
			s.pending[k] = ev.reply
		}
		if ev.timeout > 0 && !ev.last {
			s.arm(k, time.Now().Add(ev.timeout), ev.cb)
		}
	case evSent:
		s.disarm(k)
	case evCancelRequest:
		delete(s.pending, k)
	}
}

// route deals with a batch of received messages in order.
func (s *supervisor) route(batch []inbound) {
	for i := range batch {
		in := &batch[i]
		k := keyOf(in.msg.Conv)
		s.disarm(k)
		if in.kind != inboundApp {
			continue // pings are answered by the reader; pongs only disarm
		}
		if reply, ok := s.pending[k]; ok {
			delete(s.pending, k)
			reply <- in.msg // capacity 1, one reply per request
			continue
		}
		s.deliver(in.msg)
	}
}

// deliver passes a message to the application, keeping order: straight
// into the channel when nothing waits before it, else behind the backlog.
func (s *supervisor) deliver(m Msg) {
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

// shutdown runs when the connection starts closing. Timeouts are dropped
// without running. Messages read before the end are still delivered when
// the connection ended by itself, until the application has them all or
// closes the connection; after a local Close they are dropped.
func (s *supervisor) shutdown() {
	// Logged here, by a goroutine of the connection's group, so that the
	// record is written before Closed fires.
	s.c.log.Debug("chatter: connection closing", "local", s.c.local, "remote", s.c.remote, "reason", s.c.cause())
	s.timeouts, s.heap, s.pending = nil, nil, nil
	s.armed.Store(0)
	s.callbacks.Close()
	defer close(s.msgs)
	if s.c.gracefulClose() {
		return
	}
	// The reader may have handed over a last batch before it stopped.
	select {
	case batch := <-s.inbound:
		for i := range batch {
			if batch[i].kind == inboundApp {
				s.deliver(batch[i].msg)
			}
		}
	default:
	}
	for ; s.backlog.len > 0; s.backlog.pop() {
		select {
		case s.msgs <- s.backlog.front():
		case <-s.c.discard:
			return
		case <-s.c.parentClosing():
			return
		}
	}
}

// runCallbacks runs conversation timeout callbacks one at a time, so that
// a callback may call Send or Request without blocking the supervisor.
func (s *supervisor) runCallbacks(ctx context.Context) error {
	for {
		cb, err := s.callbacks.Get(ctx)
		if err != nil || ctx.Err() != nil {
			return nil // closing: pending callbacks are dropped
		}
		cb()
	}
}

// arm sets a conversation's timeout, replacing any earlier one.
func (s *supervisor) arm(k convKey, deadline time.Time, cb func(Conversation)) {
	s.disarm(k)
	t := &convTimer{key: k, deadline: deadline, cb: cb}
	s.timeouts[k] = t
	heap.Push(&s.heap, t)
	s.armed.Store(int32(len(s.timeouts)))
}

// disarm cancels a conversation's timeout, if it has one.
func (s *supervisor) disarm(k convKey) {
	t, ok := s.timeouts[k]
	if !ok {
		return
	}
	delete(s.timeouts, k)
	heap.Remove(&s.heap, t.index)
	s.armed.Store(int32(len(s.timeouts)))
	if s.pinging && k == s.pingConv {
		s.pinging = false
	}
}

// expire fires every timeout that is due.
func (s *supervisor) expire(now time.Time) {
	for len(s.heap) > 0 && !s.heap[0].deadline.After(now) {
		t := heap.Pop(&s.heap).(*convTimer)
		delete(s.timeouts, t.key)
		s.armed.Store(int32(len(s.timeouts)))
		if t.cb == nil {
			// The ping's conversation timed out: the peer is gone.
			s.c.log.Debug("chatter: ping timeout", "local", s.c.local, "remote", s.c.remote, "timeout", s.c.cfg.pingTimeout)
			s.c.Group().CloseWithCause(ErrPingTimeout)
			continue
		}
		conv := Conversation{Conn: s.c, Owner: t.key.owner, FirstID: t.key.first}
		cb := t.cb
		if !s.callbacksStarted {
			s.callbacksStarted = true
			// Fails only when closing; then callbacks are dropped anyway.
			_ = s.c.Group().Spawn(s.runCallbacks)
		}
		// Unbounded queue: PutNowait fails only when closing, and then the
		// callback is dropped as the protocol says.
		_ = s.callbacks.PutNowait(func() { cb(conv) })
	}
}

// resetTimer points the timer at the earliest deadline.
func (s *supervisor) resetTimer(timer *time.Timer) {
	if len(s.heap) == 0 {
		timer.Stop()
		return
	}
	timer.Reset(time.Until(s.heap[0].deadline))
}

// timerHeap orders armed timeouts by deadline.
type timerHeap []*convTimer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*convTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
