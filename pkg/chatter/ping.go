package chatter

import (
	"context"
	"time"
)

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
	if err := s.c.out.enqueue(ctx, s.c.Closing(), &e, true, queueControl); err != nil {
		return // closing
	}
	s.pingConv = convKey{first: e.first, owner: true}
	s.pinging = true
	s.arm(s.pingConv, time.Now().Add(s.c.cfg.pingTimeout), nil)
}
