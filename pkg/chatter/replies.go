package chatter

import "sync"

// replyTable holds the Requests waiting for their reply. It is the
// supervisor's, like all its state; Requests reach it through the
// supervisor's mailbox:
//
//   - a Request registers (evRequest) in the critical section of the
//     outbox that numbers its frame, so before the frame can be written
//     and any reply can come; the supervisor takes its mailbox before it
//     routes each batch, so the reply finds the registration;
//   - a Request that gives up posts evCancel and takes a reply that is
//     already in its channel, if there is one; the supervisor, taking the
//     cancel, removes the registration, and if it had routed the reply to
//     the channel in the meantime and the Request did not take it,
//     delivers it to Messages instead — a reply goes to exactly one place;
//   - when reading ends no reply can come: the supervisor closes every
//     waiting channel (settle), and the mailbox refuses later
//     registrations.
//
// The table also remembers the last maxGaveUp Requests that gave up
// before their reply came, so that the reply, when it comes, is marked
// Msg.Late (or dropped and counted, WithDropLateReplies). A reply to an
// older one arrives unmarked: the bound keeps a peer that never answers
// from growing the table.
type replyTable struct {
	waiting map[convKey]chan Msg // made with the first Request
	settled bool

	gaveUp     map[convKey]struct{} // made with the first Request to give up
	gaveUpRing []convKey            // gaveUp's keys, oldest first at gaveUpNext
	gaveUpNext int
}

// maxGaveUp bounds how many Requests that gave up the table remembers, to
// mark their replies late: 1024 keys, 16 KiB, per connection at most.
const maxGaveUp = 1024

// add registers a Request's reply channel; after settle it closes the
// channel instead (no reply can come) and returns false.
func (t *replyTable) add(k convKey, reply chan Msg) bool {
	if t.settled {
		close(reply)
		return false
	}
	if t.waiting == nil {
		t.waiting = make(map[convKey]chan Msg)
	}
	t.waiting[k] = reply
	return true
}

// claim takes the Request a message of conversation k answers out of the
// table, and returns its channel; nil when none waits.
func (t *replyTable) claim(k convKey) chan Msg {
	if len(t.waiting) == 0 {
		return nil
	}
	reply, ok := t.waiting[k]
	if ok {
		delete(t.waiting, k)
	}
	return reply
}

// cancel removes a Request that gave up, and with remember keeps it in
// mind so that its reply is known late (a Conn.Ping's pong is no reply to
// mark). It returns false when the Request was no longer waiting: its
// reply was routed to its channel already (or the table was settled and
// the channel closed).
func (t *replyTable) cancel(k convKey, reply chan Msg, remember bool) bool {
	if r, ok := t.waiting[k]; !ok || r != reply {
		return false
	}
	delete(t.waiting, k)
	if !remember {
		return true
	}
	if t.gaveUp == nil {
		t.gaveUp = make(map[convKey]struct{})
	}
	if len(t.gaveUpRing) < maxGaveUp {
		t.gaveUpRing = append(t.gaveUpRing, k)
	} else {
		delete(t.gaveUp, t.gaveUpRing[t.gaveUpNext]) // forget the oldest
		t.gaveUpRing[t.gaveUpNext] = k
		t.gaveUpNext = (t.gaveUpNext + 1) % maxGaveUp
	}
	t.gaveUp[k] = struct{}{}
	return true
}

// late reports whether a message of conversation k, which no Request
// claims, answers a Request that gave up; it forgets the Request, since
// only the first message of the conversation is its reply.
func (t *replyTable) late(k convKey) bool {
	if len(t.gaveUp) == 0 {
		return false
	}
	if _, ok := t.gaveUp[k]; !ok {
		return false
	}
	delete(t.gaveUp, k) // its ring slot is reused in turn
	return true
}

// settle closes every waiting channel, and every later one: reading has
// ended, or the connection is closing. It returns how many waited.
func (t *replyTable) settle() int {
	t.settled = true
	n := len(t.waiting)
	for k, reply := range t.waiting {
		close(reply)
		delete(t.waiting, k)
	}
	return n
}

// len is how many Requests wait.
func (t *replyTable) len() int { return len(t.waiting) }

// replyChans holds the reply channels of Requests that took their reply,
// for the next Requests on the connection: a channel is the largest of a
// Request's allocations (two, as its buffer holds a Msg). awaitReply puts
// one back only when it took the reply itself, so a channel in the pool is
// empty, open, and in no reply table. The pool is the connection's, not
// the package's: a channel belongs to the synctest bubble it was made in,
// and a connection lives in one.
type replyChans struct{ pool sync.Pool }

func (r *replyChans) get() chan Msg {
	if v := r.pool.Get(); v != nil {
		return v.(chan Msg)
	}
	return make(chan Msg, 1)
}

func (r *replyChans) put(reply chan Msg) { r.pool.Put(reply) }
