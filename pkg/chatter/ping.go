package chatter

import (
	"context"
	"time"
)

// keepalive is a connection's ping, in its generation. All of it lives
// here, and it belongs to the supervisor:
//
//   - legacy: every ping timeout T a HatPing.MsgPing in a new conversation
//     with last = false; the pong (any message of that conversation) ends
//     the wait, and a ping still unanswered when the next is due — T after
//     it was sent — closes the connection with ErrPingTimeout. The peer's
//     pings are answered by the supervisor as it reads them.
//   - current: a HatChatter.Ping once the ping delay D has passed with
//     nothing received; then anything received within T restarts the
//     wait, and nothing at all closes the connection with ErrPingTimeout.
//
// On both wires a ping awaited past its timeout does not close the
// connection while the link is seen to move: on a slow link the ping, or
// its pong, can wait behind data queued before it for longer than T, while
// a black hole moves nothing. It moves when bytes were read since the ping
// went out (a frame still arriving included), or when this side wrote
// more than the ping itself since (a stream of one-way messages to a
// silent peer; into a black hole the socket's buffer fills and writing
// stops). Then the wait starts over: a new ping on the legacy wire, the
// idle wait on the current one. None of it changes when pings are sent,
// which the original's transcripts fix.
//
// While our own full receive queue keeps us from reading, a ping's answer
// cannot reach us, which is not the peer's fault: the wait starts over
// each period, and our pings still go out on schedule — they are all the
// peer hears from us, and its keepalive counts them.
//
// Keepalive has no goroutine and no timer of its own: due is when it next
// needs the supervisor, which reads the socket with a deadline no later
// than that. It starts once the wire generation is known and stops when
// reading ends: with nothing read, nothing could answer, and the peer
// would be blamed for our own end.
type keepalive struct {
	on      bool
	current bool
	timeout time.Duration // T
	delay   time.Duration // D, current
	due     time.Time     // when fire is next needed
	// awaiting: a ping is out and its answer has not come.
	awaiting bool
	pingConv convKey // legacy: the ping's conversation
	// pingAt is when the ping now awaited went out, writtenAtPing how
	// many bytes had been written then, and pingLen the ping's frame: see
	// linkMoved.
	pingAt        time.Time
	writtenAtPing int64
	pingLen       int
	// current: when bytes last arrived, as the supervisor saw it.
	lastRecv time.Time
	// stalled: the supervisor stopped reading, its own receive queue full,
	// since the ping went out.
	stalled bool
	// timing: the last ping's pong has not come yet, for the observer's
	// round trip; unlike awaiting, only a pong ends it.
	timing bool
}

// pongReceived reports the ping's round trip to the observer when a pong
// of conversation key answers the last ping: on the legacy wire one in
// the ping's conversation, on the current one any (a pong answers the
// one ping out).
func (s *supervisor) pongReceived(key convKey) {
	k := &s.ka
	o := s.c.cfg.observer
	if o == nil || !k.timing || (!k.current && key != k.pingConv) {
		return
	}
	k.timing = false
	o.PingAnswered(s.c, time.Since(k.pingAt))
}

func (s *supervisor) startKeepalive(now time.Time) {
	k, cfg := &s.ka, s.c.cfg
	if s.fr.total > 0 {
		// The first frame, which decided the generation, was read just
		// now; sawRead, with no keepalive yet, did not note when.
		s.lastRead = now
	}
	if s.c.Wire() == WireCurrent {
		if cfg.pingDelay <= 0 {
			return
		}
		k.on, k.current, k.delay, k.timeout = true, true, cfg.pingDelay, cfg.pingTimeout
		if k.timeout <= 0 {
			k.timeout = DefaultPingTimeout
		}
		k.lastRecv = now
		k.due = now.Add(k.delay)
		return
	}
	if cfg.pingTimeout > 0 {
		k.on, k.timeout = true, cfg.pingTimeout
		k.due = now.Add(k.timeout)
	}
}

func (k *keepalive) stop() {
	k.on, k.awaiting, k.timing = false, false, false
	k.due = time.Time{}
}

// received notes that bytes arrived at now. On the current wire the idle
// wait is measured from lastRecv when the keepalive is due, so steady
// traffic costs nothing here; only the end of a ping's wait moves due.
func (k *keepalive) received(now time.Time) {
	if !k.current {
		return
	}
	k.lastRecv = now
	if k.awaiting {
		k.awaiting = false
		k.due = now.Add(k.delay)
	}
}

// heard notes a message of conversation key: on the legacy wire, one of
// the ping's conversation answers it.
func (k *keepalive) heard(key convKey) {
	if k.awaiting && !k.current && key == k.pingConv {
		k.awaiting = false
	}
}

// fireKeepalive runs the keepalive when it is due; it returns
// ErrPingTimeout when the peer has not answered in time.
func (s *supervisor) fireKeepalive(ctx context.Context, now time.Time) error {
	k := &s.ka
	if k.awaiting && k.stalled {
		// Our own full queue has kept us from reading the answer: that is
		// not the peer's fault, and the wait starts over. The ping goes out
		// all the same, on schedule: while we do not read, our pings are
		// all the peer hears from us, and its own keepalive counts them
		// (its answers wait for us to read again; a late one is ignored).
		k.awaiting = false
	}
	if k.awaiting {
		if !s.linkMoved() {
			// Legacy: the ping sent one period ago has no answer. Current:
			// nothing at all arrived within the timeout after our ping.
			s.c.log.Debug("chatter: ping timeout", "local", s.c.local, "remote", s.c.remote, "timeout", k.timeout,
				"ping_age", now.Sub(k.pingAt), "last_read_age", now.Sub(s.lastRead),
				"written_since_ping", s.c.out.writtenBytes()-k.writtenAtPing, "queued", s.c.out.queuedBytes())
			return ErrPingTimeout
		}
		// No answer yet, but the link moves: it is slow, not dead.
		k.awaiting = false
	}
	var e envelope
	if k.current {
		if idle := now.Sub(k.lastRecv); idle < k.delay {
			k.due = k.lastRecv.Add(k.delay)
			return nil
		}
		e = envelope{module: "HatChatter", typ: "Ping", token: true, owner: true, current: true}
	} else {
		// HatPing.MsgPing as a new conversation with last = false; the
		// peer answers with MsgPong in the same conversation.
		e = envelope{module: "HatPing", typ: "MsgPing", token: true, owner: true}
	}
	// Bytes written since the ping was queued count as the link moving
	// once they exceed the ping itself, which may be written at once
	// (Conn.writeLone) or later by the writer.
	written := s.c.out.writtenBytes()
	if s.c.out.enqueue(ctx, s.c.group.Closing(), &s.c.mail, &e, sendMeta{newConv: true, kind: framePing}) != nil {
		return nil // closing
	}
	if !k.current {
		k.pingConv = convKey{first: e.first, owner: true}
	}
	k.awaiting, k.timing = true, true
	k.pingAt, k.writtenAtPing, k.pingLen = now, written, frameLen(&e)
	if k.current {
		k.due = now.Add(k.timeout)
	} else {
		// Every T from the start, as a ticker: a period late to fire does
		// not push the next ones later.
		for k.due = k.due.Add(k.timeout); !k.due.After(now); k.due = k.due.Add(k.timeout) {
		}
	}
	k.stalled = s.handing
	s.c.stats.pingsOut.Add(1)
	return nil
}

// linkMoved reports whether the link was seen to move since the ping now
// awaited went out: bytes read, or more written than the ping itself.
//
// On the legacy wire both ends ping every T, and each hears the other's
// ping about once a period; two ends that started together ping in step,
// and the peer's ping can land just after this side's check, period after
// period. So bytes read up to T/2 before the ping count too: a black hole
// is still found within two periods of its start (the bound the legacy
// wire has without this), as bytes read before it began can keep the link
// alive for at most the period they fell in.
func (s *supervisor) linkMoved() bool {
	k := &s.ka
	since := k.pingAt
	if !k.current {
		since = since.Add(-k.timeout / 2)
	}
	return s.lastRead.After(since) || s.c.out.writtenBytes()-k.writtenAtPing > int64(k.pingLen)
}

// frameLen is the length of e's frame on the wire, once it is numbered.
func frameLen(e *envelope) int {
	n := e.sizeBody()
	return len(appendFrameHeader(make([]byte, 0, 9), n)) + n
}

// Ping sends a ping, as the keepalive does, and waits for the peer's pong.
// The peer reads in order, so the answer shows that it has read, and
// parsed, everything sent before the ping — which Drain, which sees only
// the socket, cannot: a one-way sender confirms its messages with it
// (HTTP/2's PING serves the same). It returns the round trip, measured
// from the call. It fails with an error wrapping ErrClosed when the
// connection ends first (as it does when the peer cannot parse what was
// sent: a peer of the other wire generation), or with ctx's error. A pong
// that comes after ctx ended is ignored.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	w, err := c.sendingWire(ctx)
	if err != nil {
		return 0, err
	}
	e := envelope{module: "HatPing", typ: "MsgPing", token: true, owner: true}
	if w == WireCurrent {
		e = envelope{module: "HatChatter", typ: "Ping", token: true, owner: true, current: true}
	}
	reply := c.replyChans.get()
	if err := c.enqueue(ctx, &e, sendMeta{newConv: true, kind: frameProbe, reply: reply}); err != nil {
		return 0, err
	}
	if _, err := c.awaitReply(ctx, reply, convKey{first: e.first, owner: true}, true); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
