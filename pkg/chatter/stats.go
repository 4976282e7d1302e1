package chatter

import "sync/atomic"

// Stats are a connection's counters since it was made.
type Stats struct {
	MessagesIn  uint64 // application messages received (pings and pongs not counted)
	MessagesOut uint64 // application messages queued by Send and Request
	BytesIn     uint64 // bytes read from the socket
	BytesOut    uint64 // bytes written to the socket
	PingsIn     uint64 // pings received (each answered with a pong)
	PingsOut    uint64 // pings sent by the keepalive
	PongsIn     uint64 // pongs received
	// MessagesUnsent counts application messages that Send or Request
	// queued (MessagesOut counts them) and the connection dropped before
	// their frames were written whole: it failed first, or closing ran
	// out of its flush timeout. Messages written to the socket may still
	// be lost with a connection that fails; see the package's delivery
	// guarantees.
	MessagesUnsent uint64
	// MessagesDiscarded counts messages dropped after DiscardMessages.
	MessagesDiscarded uint64
	// LateReplies counts replies that came after their Request gave up:
	// delivered to Messages marked Msg.Late, or dropped with
	// WithDropLateReplies.
	LateReplies uint64
	// OpenConversations counts the conversations this side is tracking: a
	// conversation timeout armed or a Request waiting for its reply.
	OpenConversations int
}

// connStats are the counters, each written by the one goroutine that owns
// the event and read atomically by Stats.
type connStats struct {
	messagesIn atomic.Uint64 // reader, once a batch
	bytesIn    atomic.Int64  // reader, once a batch
	pingsIn    atomic.Uint64 // reader, once a batch
	pongsIn    atomic.Uint64 // reader, once a batch
	pingsOut   atomic.Uint64 // supervisor
	discarded  atomic.Uint64 // supervisor, deliverer
	unsent     atomic.Uint64 // writer, supervisor
	late       atomic.Uint64 // supervisor
}

// Stats returns the connection's counters. It may be called at any time
// from any goroutine.
func (c *Conn) Stats() Stats {
	c.out.mu.Lock()
	out, written := c.out.messages, c.out.written
	c.out.mu.Unlock()
	c.mail.mu.Lock()
	open := c.mail.armed + c.mail.requests
	c.mail.mu.Unlock()
	return Stats{
		MessagesIn:        c.stats.messagesIn.Load(),
		MessagesOut:       out,
		BytesIn:           uint64(c.stats.bytesIn.Load()),
		BytesOut:          uint64(written),
		PingsIn:           c.stats.pingsIn.Load(),
		PingsOut:          c.stats.pingsOut.Load(),
		PongsIn:           c.stats.pongsIn.Load(),
		MessagesUnsent:    c.stats.unsent.Load(),
		MessagesDiscarded: c.stats.discarded.Load(),
		LateReplies:       c.stats.late.Load(),
		OpenConversations: open,
	}
}
