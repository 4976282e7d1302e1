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
// On both wires, bytes read since the ping went out prove the peer alive
// even when its answer has not come: on a slow link the ping, or the pong,
// can wait behind data queued before it for longer than T, while a black
// hole sends nothing at all. The reader stamps every read (Conn.lastRead),
// a frame still arriving included. What the current wire cannot tell, as
// in the original, is a peer that is silent because this side's own
// message takes longer than D + T to reach it: only the peer's bytes count,
// and it sends none.
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
	// pingAt is when the ping now awaited went out: bytes read after it
	// prove the peer alive (see Conn.lastRead).
	pingAt time.Time
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
		if !lastRead.After(k.pingAt) {
			// Legacy: the ping sent one period ago has no answer. Current:
			// nothing at all arrived within the timeout after our ping.
			s.c.log.Debug("chatter: ping timeout", "local", s.c.local, "remote", s.c.remote, "timeout", k.timeout)
			return ErrPingTimeout
		}
		// No answer yet, but bytes came in since the ping: the peer is
		// there, and the link slow — a large frame crossing, or our ping
		// (or its pong) behind data queued before it. A black hole sends
		// nothing; a slow link is not a dead one.
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
	}
	s.c.stats.pingsOut.Add(1)
	k.await(true)
	k.pingAt = now
	s.stalled = s.full()
	return nil
}
