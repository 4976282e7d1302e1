package chatter

import "sync/atomic"

// replies is the table of Requests waiting for their reply, the one piece
// of conversation state that is not the supervisor's alone.
//
// A reply is a message the reader has just decoded, and the caller of
// Request is parked on its channel; routing every reply through the
// supervisor costs a goroutine hand-off on every round trip. So the table
// sits in the outbox, under its lock, and whoever routes a received
// message — the reader delivering itself, or the supervisor — claims the
// replies among a batch in one critical section, then sends each into its
// channel (capacity 1, so that never blocks) after letting go of the lock:
//
//   - enqueue registers a Request in the critical section that numbers its
//     frame, so before the frame can be written and any reply can come;
//   - a Request that gives up removes itself;
//   - the supervisor settles the table when reading ends: no reply can
//     come any more, every waiting channel is closed, and later
//     registrations are closed at once.
//
// The lock makes each reply go to exactly one place: into its Request's
// channel, or, once the Request has given up, to Messages. It is the
// outbox's own, not one nested inside it, because a sender holding the
// outbox's lock while it waits for another would stall every other sender
// behind it (with 64 Requests in flight that convoy cost a fifth of the
// rate).
type replies struct {
	waiting map[convKey]chan Msg // under outbox.mu
	settled bool                 // under outbox.mu
	// n is len(waiting), readable without the lock: while it is 0 no
	// received message can be a reply.
	n atomic.Int64
}

// addReply registers a Request's reply channel. After settleReplies it
// closes the channel instead: no reply can come. Call with mu held.
func (o *outbox) addReply(k convKey, reply chan Msg) {
	t := &o.replies
	if t.settled {
		close(reply)
		return
	}
	if t.waiting == nil {
		t.waiting = make(map[convKey]chan Msg)
	}
	t.waiting[k] = reply
	t.n.Store(int64(len(t.waiting)))
}

// claimReplies takes out of the table the Requests that messages of batch
// answer, and marks those messages with their Request's channel; the
// caller then sends each such message into its channel, in batch order.
func (o *outbox) claimReplies(batch []inbound) {
	t := &o.replies
	if t.n.Load() == 0 {
		return
	}
	o.mu.Lock()
	for i := range batch {
		if len(t.waiting) == 0 {
			break
		}
		in := &batch[i]
		if in.kind != inboundApp {
			continue
		}
		k := keyOf(in.msg.Conv)
		if reply, ok := t.waiting[k]; ok {
			delete(t.waiting, k)
			in.reply = reply
		}
	}
	t.n.Store(int64(len(t.waiting)))
	o.mu.Unlock()
}

// cancelReply removes a Request that gives up and closes its channel;
// false means it was no longer waiting: its reply is claimed (it is in the
// channel, or about to be), or the table was settled and the channel
// closed.
func (o *outbox) cancelReply(k convKey, reply chan Msg) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := &o.replies
	if r, ok := t.waiting[k]; !ok || r != reply {
		return false
	}
	delete(t.waiting, k)
	t.n.Store(int64(len(t.waiting)))
	close(reply)
	return true
}

// settleReplies closes every waiting channel and every later one: reading
// has ended, or the connection is closing.
func (o *outbox) settleReplies() {
	o.mu.Lock()
	defer o.mu.Unlock()
	t := &o.replies
	t.settled = true
	for k, reply := range t.waiting {
		close(reply)
		delete(t.waiting, k)
	}
	t.n.Store(0)
}
