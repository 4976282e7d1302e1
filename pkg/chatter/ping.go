package chatter

import (
	"context"
	"sync/atomic"
	"time"
)

// keepalive is a connection's ping, in its generation. All of it lives
// here, and it belongs to the supervisor goroutine:
//
//   - legacy: every ping timeout T a HatPing.MsgPing in a new conversation
//     with last = false; the pong (any message of that conversation) ends
//     the wait, and a ping still unanswered when the next is due — T after
//     it was sent — closes the connection with ErrPingTimeout. The peer's
//     pings are answered by the reader.
//   - current: a HatChatter.Ping once the ping delay D has passed with
//     nothing received; then anything received within T restarts the
//     wait, and nothing at all closes the connection with ErrPingTimeout.
//
// On both wires a ping awaited past its timeout does not close the
// connection while the link is seen to move: on a slow link the ping, or
// its pong, can wait behind data queued before it for longer than T, while
// a black hole moves nothing. It moves when bytes were read since the ping
// went out (the reader stamps every read, Conn.lastRead, a frame still
// arriving included), or when this side wrote more than the ping itself
// since (a stream of one-way messages to a silent peer; into a black hole
// the socket's buffer fills and writing stops). Then the wait starts over:
// a new ping on the legacy wire, the idle wait on the current one. None of
// it changes when pings are sent, which the original's transcripts fix.
//
// Keepalive starts once the wire generation is known and stops when
// reading ends: with the reader gone nothing could answer, and the peer
// would be blamed for our own end.
type keepalive struct {
	c      <-chan time.Time // fires for the supervisor's select; nil when off
	ticker *time.Ticker     // legacy
	timer  *time.Timer      // current

	current bool
	timeout time.Duration
	// awaiting: a ping is out and its answer has not come. out mirrors it
	// for the reader, which leaves the supervisor every message meanwhile
	// (see readBatch).
	awaiting bool
	out      *atomic.Bool
	// legacy: the ping's conversation.
	pingConv convKey
	// current: the idle delay, and when anything last arrived.
	delay    time.Duration
	lastRecv time.Time
	// pingAt is when the ping now awaited went out, writtenAtPing how many
	// bytes had been written then and pingLen the ping's frame: see
	// linkMoved.
	pingAt        time.Time
	writtenAtPing int64
	pingLen       int
}

// await notes whether a ping waits for its answer.
func (k *keepalive) await(b bool) {
	k.awaiting = b
	if k.out != nil {
		k.out.Store(b)
	}
}

func (k *keepalive) start(c *Conn) {
	k.out = &c.sup.pingOut
	cfg := c.cfg
	if c.Wire() == WireCurrent {
		if cfg.pingDelay <= 0 {
			return
		}
		k.current, k.delay, k.timeout = true, cfg.pingDelay, cfg.pingTimeout
		if k.timeout <= 0 {
			k.timeout = DefaultPingTimeout
		}
		k.lastRecv = time.Now()
		k.timer = time.NewTimer(k.delay)
		k.c = k.timer.C
		return
	}
	if cfg.pingTimeout > 0 {
		k.timeout = cfg.pingTimeout
		k.ticker = time.NewTicker(cfg.pingTimeout)
		k.c = k.ticker.C
	}
}

func (k *keepalive) stop() {
	if k.ticker != nil {
		k.ticker.Stop()
	}
	if k.timer != nil {
		k.timer.Stop()
	}
	k.c = nil
	k.await(false)
}

// received notes that a batch of frames arrived. On the current wire the
// idle wait is measured lazily from lastRecv when the timer fires, so
// steady traffic costs no timer resets; only the end of a ping's wait
// restarts the timer here.
func (k *keepalive) received() {
	if !k.current {
		return
	}
	k.lastRecv = time.Now()
	if k.awaiting {
		k.await(false)
		k.timer.Reset(k.delay)
	}
}

// heard notes a message of conversation key: on the legacy wire, one of
// the ping's conversation answers it.
func (k *keepalive) heard(key convKey) {
	if k.awaiting && !k.current && key == k.pingConv {
		k.await(false)
	}
}

// fire handles the keepalive timer; it returns ErrPingTimeout when the
// peer has not answered in time.
func (s *supervisor) fireKeepalive(ctx context.Context, now time.Time) error {
	k := &s.ka
	if k.awaiting && s.stalled {
		// Our own full queue has kept the reader from the answer: that is
		// not the peer's fault. Wait another period, knowing whether the
		// reader is still held up.
		s.stalled = s.full()
		if k.current {
			k.timer.Reset(k.timeout)
		}
		return nil
	}
	lastRead := s.c.lastReadTime()
	if k.awaiting {
		if !s.linkMoved(lastRead) {
			// Legacy: the ping sent one period ago has no answer. Current:
			// nothing at all arrived within the timeout after our ping.
			s.c.log.Debug("chatter: ping timeout", "local", s.c.local, "remote", s.c.remote, "timeout", k.timeout)
			return ErrPingTimeout
		}
		// No answer yet, but the link moves: it is slow, not dead.
		k.await(false)
	}
	if k.current {
		if lastRead.After(k.lastRecv) {
			k.lastRecv = lastRead // bytes read since, whoever routed them
		}
		if idle := now.Sub(k.lastRecv); idle < k.delay {
			k.timer.Reset(k.delay - idle)
			return nil
		}
		e := envelope{module: "HatChatter", typ: "Ping", token: true, owner: true, current: true}
		k.await(true) // before the ping can be answered
		if s.c.out.enqueue(ctx, s.c.group.Closing(), &e, sendMeta{newConv: true, kind: framePing}) != nil {
			k.await(false)
			return nil // closing
		}
		k.timer.Reset(k.timeout)
		k.pingLen = frameLen(&e)
	} else {
		// HatPing.MsgPing as a new conversation with last = false; the
		// peer answers with MsgPong in the same conversation.
		e := envelope{module: "HatPing", typ: "MsgPing", token: true, owner: true}
		k.await(true) // before the ping can be answered
		if s.c.out.enqueue(ctx, s.c.group.Closing(), &e, sendMeta{newConv: true, kind: framePing}) != nil {
			k.await(false)
			return nil // closing
		}
		k.pingConv = convKey{first: e.first, owner: true}
		k.pingLen = frameLen(&e)
	}
	s.c.stats.pingsOut.Add(1)
	k.await(true)
	k.pingAt, k.writtenAtPing = now, s.c.out.writtenBytes()
	s.stalled = s.full()
	return nil
}

// linkMoved reports whether the link was seen to move since the ping now
// awaited went out: bytes read, or more written than the ping itself.
func (s *supervisor) linkMoved(lastRead time.Time) bool {
	k := &s.ka
	return lastRead.After(k.pingAt) || s.c.out.writtenBytes()-k.writtenAtPing > int64(k.pingLen)
}

// frameLen is the length of e's frame on the wire, once it is numbered.
func frameLen(e *envelope) int {
	n := e.sizeBody()
	return len(appendFrameHeader(make([]byte, 0, 9), n)) + n
}
