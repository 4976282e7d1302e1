package chatter

import (
	"context"
	"time"
)

// delivererLinger is how long a deliverer that has caught up waits for
// the next backlog before it ends.
const delivererLinger = time.Second

// Delivery to Messages.
//
// The supervisor puts each received message into the Messages channel
// itself while the channel has room. When the application falls behind
// and the channel is full, the messages that do not fit go, a batch at a
// time, to a deliverer: a goroutine that owns that backlog and moves it
// into the channel as the application takes what is there, while the
// supervisor goes on reading. While the deliverer holds messages, every
// message goes to it, so that order holds; once it has caught up it says
// so (idle), and the supervisor delivers directly again. It waits for the
// next backlog for delivererLinger, then ends: a connection whose
// application keeps up has none.
//
// The deliverer bounds its backlog, in messages and in payload bytes
// (WithQueueSize, WithQueueBytes): past either bound it takes no more
// batches, the supervisor waits to hand over the next, and the socket is
// not read — the peer is slowed down and nothing is dropped. While
// Requests wait for replies, it takes one batch more for each, so that
// their replies can come through behind the backlog.
//
// The bound in bytes is not only about memory: a stream of 64 KiB
// messages that an application keeps, with a 64 MiB send buffer on the
// peer, reached 1,046 MB/s against raw framing's 1,752 while the queue
// could hold 1,024 of them (64 MiB), and 2,023 against 1,964 with 64 of
// them (4 MiB) (test/peers, -queue 67108864 -only payload64k). A backlog
// that large swings the live heap by its size: the garbage collector's
// goal swings with it, the runtime gives the memory back to the system
// and takes it again, and every body is then written into pages that
// fault in fresh (a sixth of the CPU time in the perf profile).

// handoff is a batch of messages for the deliverer.
type handoff struct {
	msgs []Msg
	// allow is how many messages it may hold past the queue's bound: a
	// batch for each Request waiting, or everything, for the last batch.
	allow int
	// last says that reading has ended: Messages closes once everything
	// is delivered.
	last bool
}

// deliverer moves a backlog into the Messages channel; see above.
type deliverer struct {
	// in brings batches from the supervisor alone. It is unbuffered: a
	// batch is taken only by a deliverer that goes on, never left behind
	// by one that ends.
	in chan handoff
	// spent takes the batches' slices back to the supervisor, for reuse.
	spent chan []Msg
	// idle says the deliverer has caught up: everything handed over is in
	// the channel. It is sent (capacity 1) only while the deliverer holds
	// nothing, so one still buffered when the supervisor hands a batch
	// over is stale, and the supervisor drops it then.
	idle chan struct{}
	stop chan struct{} // closed by the supervisor: drop everything, and end
	done chan struct{} // closed when the deliverer has returned
	// closedMsgs is set, before done closes, when the deliverer closed the
	// Messages channel (it was given the last batch and delivered it).
	closedMsgs bool
	// counted is set, before stop closes, when what it drops counts as
	// discarded (DiscardMessages, not a local close).
	counted bool
}

// runDeliverer delivers d's backlog, beginning with first, into msgs.
func (c *Conn) runDeliverer(d *deliverer, first handoff) {
	defer close(d.done)
	var b backlog
	limit := c.cfg.queueSize - cap(c.msgs)
	if c.cfg.queueSize == 0 {
		limit = int(^uint(0) >> 1) // QueueUnbounded
	}
	byteLimit := c.cfg.queueBytes
	if byteLimit == 0 {
		byteLimit = int(^uint(0) >> 1) // QueueUnbounded
	}
	// overBytes counts the messages taken while the backlog's bytes were
	// already at their bound, which allow lets through.
	overBytes := 0
	allow, last := 0, false
	take := func(h handoff) {
		if b.bytes >= byteLimit {
			overBytes += len(h.msgs)
		} else {
			overBytes = 0
		}
		for i := range h.msgs {
			b.push(h.msgs[i])
		}
		allow, last = h.allow, last || h.last
		clear(h.msgs)
		select {
		case d.spent <- h.msgs[:0]:
		default:
		}
	}
	take(first)
	var linger *time.Timer
	for {
		// Move what fits without blocking: one select per message costs
		// more than the move itself.
		for b.len > 0 && trySend(c.msgs, b.frontRef()) {
			b.pop()
		}
		if b.len == 0 {
			if last {
				close(c.msgs)
				d.closedMsgs = true
				return
			}
			signal(d.idle) // caught up: the supervisor delivers directly again
			if linger == nil {
				linger = time.NewTimer(delivererLinger)
				defer linger.Stop()
			} else {
				linger.Reset(delivererLinger)
			}
			select {
			case h := <-d.in:
				take(h)
				continue
			case <-d.stop:
				return
			case <-linger.C:
				return
			}
		}
		in := d.in
		if last || b.len >= limit+allow || b.bytes >= byteLimit && overBytes >= allow {
			in = nil // full: the supervisor waits to hand over the next
		}
		select {
		case h := <-in:
			take(h)
		case c.msgs <- *b.frontRef():
			b.pop()
		case <-d.stop:
			if d.counted {
				c.stats.discarded.Add(uint64(b.len))
			}
			for b.len > 0 {
				b.pop()
			}
			if last {
				close(c.msgs)
				d.closedMsgs = true
			}
			return
		}
	}
}

// deliver puts a routed message into Messages: straight into the channel
// when it has room and no backlog waits, else to the deliverer (collected
// in s.overflow, handed over at the end of the batch).
func (s *supervisor) deliver(m Msg) {
	if s.dropping {
		s.c.stats.discarded.Add(1)
		return
	}
	if s.dlBusy {
		select {
		case <-s.dl.idle:
			s.dlBusy = false
		default:
		}
	}
	if !s.dlBusy && len(s.overflow) == 0 {
		select {
		case s.c.msgs <- m:
			return
		default:
		}
	}
	if s.overflow == nil && s.dl != nil {
		select {
		case s.overflow = <-s.dl.spent:
		default:
		}
	}
	s.overflow = append(s.overflow, m)
}

// handOverflow hands the messages that did not fit to the deliverer,
// starting one if none runs. It waits while the deliverer is full — the
// socket is not read meanwhile — minding the mailbox, the timers and the
// connection's end. last marks the end of reading.
func (s *supervisor) handOverflow(ctx context.Context, last bool) {
	s.lock.check()
	if len(s.overflow) == 0 && !last {
		return
	}
	h := handoff{msgs: s.overflow, allow: s.replies.len() * s.maxBatch, last: last}
	if last {
		h.allow = int(^uint(0) >> 1)
	}
	s.overflow = nil
	defer func() { s.handing = false }()
	for {
		s.reapDeliverer()
		if s.dl == nil {
			if len(h.msgs) == 0 {
				// Nothing waits behind the channel: close it here.
				if last {
					s.closeMsgs()
				}
				return
			}
			if !s.startDeliverer(h) {
				// Closing: shutdown delivers what is left.
				s.overflow = append(h.msgs, s.overflow...)
				return
			}
			s.dlBusy = true
			return
		}
		select {
		case s.dl.in <- h:
			s.handed()
			return
		default:
		}
		// The deliverer is busy, or full: wait, not reading meanwhile.
		// Stats hears first of the Requests this batch answered (the next
		// read would tell it, but the wait may be long).
		s.reportEnded()
		s.handing = true
		s.ka.stalled = true
		s.armTimer()
		select {
		case s.dl.in <- h:
			s.handed()
			return
		case <-s.dl.done:
			// It ended as it caught up: h goes to the next one.
		case <-s.c.mail.kick:
			s.takeMail()
			if s.dropping {
				return
			}
		case <-s.timer.C:
			s.timerSet = false
			s.fireDue()
		case <-ctx.Done():
			s.overflow = append(h.msgs, s.overflow...)
			return
		}
	}
}

// handed notes a batch taken by the deliverer: it holds messages now, and
// an idle signal it sent before is stale.
func (s *supervisor) handed() {
	s.dlBusy = true
	select {
	case <-s.dl.idle:
	default:
	}
}

// startDeliverer starts a deliverer with its first batch; false when the
// connection is closing.
func (s *supervisor) startDeliverer(first handoff) bool {
	d := &deliverer{
		in: make(chan handoff), spent: make(chan []Msg, 2), idle: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if s.c.group.Spawn(func(context.Context) error { s.c.runDeliverer(d, first); return nil }) != nil {
		return false
	}
	s.dl = d
	return true
}

// reapDeliverer notices a deliverer that has ended, and whether it closed
// the Messages channel.
func (s *supervisor) reapDeliverer() {
	if s.dl == nil {
		return
	}
	select {
	case <-s.dl.done:
		if s.dl.closedMsgs {
			s.msgsClosed = true
		}
		s.dl, s.dlBusy = nil, false
	default:
	}
}

// stopDeliverer makes the deliverer drop its backlog and end, and waits
// for it.
func (s *supervisor) stopDeliverer() {
	if s.dl == nil {
		return
	}
	close(s.dl.stop)
	<-s.dl.done
	s.reapDeliverer()
}

// closeMsgs closes the Messages channel, once.
func (s *supervisor) closeMsgs() {
	if !s.msgsClosed {
		s.msgsClosed = true
		close(s.c.msgs)
	}
}

// heldBytes is what a received message counts against WithQueueBytes:
// the size of a large frame's own buffer, which the message keeps alive
// whole, or else its payload's bytes (Raw, or a Bytes or String value).
// The fixed cost of a message is WithQueueSize's to bound. It is read
// before the message is delivered: after, the application may hand the
// buffer back (Release) for the reader to reuse.
func (m *Msg) heldBytes() int {
	if m.buf != nil {
		return cap(m.buf.b)
	}
	n := len(m.Raw)
	switch v := m.Data.Data.(type) {
	case []byte:
		n += len(v)
	case string:
		n += len(v)
	}
	return n
}

// trySend puts *m into ch if it has room now.
func trySend(ch chan<- Msg, m *Msg) bool {
	select {
	case ch <- *m:
		return true
	default:
		return false
	}
}
