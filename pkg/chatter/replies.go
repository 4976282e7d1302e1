package chatter

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
type replyTable struct {
	waiting map[convKey]chan Msg // made with the first Request
	settled bool
}

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

// cancel removes a Request that gave up. It returns false when the
// Request was no longer waiting: its reply was routed to its channel
// already (or the table was settled and the channel closed).
func (t *replyTable) cancel(k convKey, reply chan Msg) bool {
	if r, ok := t.waiting[k]; !ok || r != reply {
		return false
	}
	delete(t.waiting, k)
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
