package chatter

import (
	"context"
	"time"
)

// keepalive is the supervisor's ping timer, in the connection's generation:
//
//   - legacy: every ping timeout T a ping in a new conversation whose
//     conversation timeout is T; the pong (any message of that
//     conversation) disarms it, expiry closes the connection.
//   - current: a ping after the ping delay D has passed with nothing
//     received; then anything received within T restarts the idle wait,
//     and nothing closes the connection.
//
// It belongs to the supervisor goroutine.
type keepalive struct {
	c        <-chan time.Time // fires for the supervisor's select; nil when off
	ticker   *time.Ticker     // legacy
	timer    *time.Timer      // current
	current  bool
	delay    time.Duration
	timeout  time.Duration
	lastRecv time.Time
	awaiting bool // current: a ping is out and nothing has arrived since
}

func (k *keepalive) start(c *Conn) {
	cfg := c.cfg
	if c.wire == WireCurrent {
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
}

// received notes that a batch of frames arrived. The idle wait is measured
// lazily from lastRecv when the timer fires, so steady traffic costs no
// timer resets; only the end of a ping's wait restarts the timer here.
func (k *keepalive) received() {
	if !k.current {
		return
	}
	k.lastRecv = time.Now()
	if k.awaiting {
		k.awaiting = false
		k.timer.Reset(k.delay)
	}
}

// keepalive handles the keepalive timer firing.
func (s *supervisor) keepalive(ctx context.Context, now time.Time) {
	k := &s.ka
	if !k.current {
		s.ping(ctx)
		return
	}
	if k.awaiting {
		// Nothing at all arrived within the timeout after our ping.
		s.c.log.Debug("chatter: ping timeout", "local", s.c.local, "remote", s.c.remote, "timeout", k.timeout)
		s.c.Group().CloseWithCause(ErrPingTimeout)
		return
	}
	if idle := now.Sub(k.lastRecv); idle < k.delay {
		k.timer.Reset(k.delay - idle)
		return
	}
	e := envelope{module: "HatChatter", typ: "Ping", token: true, owner: true, current: true}
	if err := s.c.out.enqueue(ctx, s.c.closing, &e, true, queueControl); err != nil {
		return // closing
	}
	s.c.stats.pingsOut.Add(1)
	k.awaiting = true
	k.timer.Reset(k.timeout)
}

// ping sends HatPing.MsgPing as a new conversation with last = false and
// arms that conversation's timeout: the peer answers with MsgPong in the
// same conversation, and if nothing of it arrives within the ping timeout
// the connection closes with ErrPingTimeout. A ping still waiting for its
// pong when the next one is due is left to time out on its own.
func (s *supervisor) ping(ctx context.Context) {
	if s.pinging {
		return
	}
	e := envelope{module: "HatPing", typ: "MsgPing", token: true, owner: true}
	if err := s.c.out.enqueue(ctx, s.c.closing, &e, true, queueControl); err != nil {
		return // closing
	}
	s.c.stats.pingsOut.Add(1)
	s.pingConv = convKey{first: e.first, owner: true}
	s.pinging = true
	s.arm(s.pingConv, time.Now().Add(s.c.cfg.pingTimeout), nil)
}
