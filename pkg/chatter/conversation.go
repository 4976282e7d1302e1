package chatter

import (
	"container/heap"
	"time"
)

// SendOption changes how [Conn.Send] or [Conn.Request] sends a message.
type SendOption interface{ applySend(sendConfig) sendConfig }

type sendConfig struct {
	conv      Conversation
	inConv    bool
	last      bool
	lastSet   bool
	token     bool
	tokenSet  bool
	timeout   time.Duration
	onTimeout func(Conversation)
	waitReady bool // a Client's; a Conn ignores it
}

type convOption struct{ conv Conversation }

func (o convOption) applySend(c sendConfig) sendConfig {
	c.conv, c.inConv = o.conv, true
	return c
}

// InConversation sends the message in an existing conversation instead of
// starting a new one.
func InConversation(conv Conversation) SendOption { return convOption{conv} }

type lastOption bool

func (o lastOption) applySend(c sendConfig) sendConfig {
	c.last, c.lastSet = bool(o), true
	return c
}

// Last sets the message's last flag: true (the default) ends the
// conversation, false keeps it open for more messages.
func Last(last bool) SendOption { return lastOption(last) }

type tokenOption bool

func (o tokenOption) applySend(c sendConfig) sendConfig {
	c.token, c.tokenSet = bool(o), true
	return c
}

// Token sets the message's token flag: true (the default) hands the turn
// to the peer. The protocol carries it; nothing enforces it.
func Token(token bool) SendOption { return tokenOption(token) }

type timeoutOption struct {
	d  time.Duration
	cb func(Conversation)
}

func (o timeoutOption) applySend(c sendConfig) sendConfig {
	c.timeout, c.onTimeout = o.d, o.cb
	return c
}

// ConversationTimeout arms a timeout on the message's conversation (for a
// message with last = false): if no message of the conversation is received
// or sent within d, cb runs once with the conversation. Any message of the
// conversation, in either direction, cancels it; closing the connection
// drops it without running cb. Callbacks run one at a time on a goroutine
// of the connection, so a slow callback delays the next one.
func ConversationTimeout(d time.Duration, cb func(Conversation)) SendOption {
	return timeoutOption{d, cb}
}

// convKey is a conversation as seen from this side.
type convKey struct {
	first int64
	owner bool
}

func keyOf(c Conversation) convKey { return convKey{c.FirstID, c.Owner} }

// conversations is the state of the conversation timeouts a connection
// has armed. It belongs to the supervisor; senders reach it only through
// events in its mailbox. (Requests waiting for their reply are in the
// reply table, replies.go.)
type conversations struct {
	timeouts map[convKey]*convTimer
	heap     timerHeap
}

// convTimer is an armed conversation timeout.
type convTimer struct {
	key      convKey
	deadline time.Time
	cb       func(Conversation)
	index    int // in the heap; -1 when removed
}

// arm sets a conversation's timeout, replacing any earlier one; it reports
// whether it replaced one.
func (cs *conversations) arm(k convKey, deadline time.Time, cb func(Conversation)) (replaced bool) {
	replaced = cs.disarm(k)
	t := &convTimer{key: k, deadline: deadline, cb: cb}
	if cs.timeouts == nil {
		cs.timeouts = make(map[convKey]*convTimer) // most connections never arm one
	}
	cs.timeouts[k] = t
	heap.Push(&cs.heap, t)
	return replaced
}

// disarm cancels a conversation's timeout and reports whether it had one.
func (cs *conversations) disarm(k convKey) bool {
	if len(cs.timeouts) == 0 {
		return false
	}
	t, ok := cs.timeouts[k]
	if !ok {
		return false
	}
	delete(cs.timeouts, k)
	heap.Remove(&cs.heap, t.index)
	return true
}

// popDue removes and returns the earliest timeout if it is due at now.
func (cs *conversations) popDue(now time.Time) *convTimer {
	if len(cs.heap) == 0 || cs.heap[0].deadline.After(now) {
		return nil
	}
	t := heap.Pop(&cs.heap).(*convTimer)
	delete(cs.timeouts, t.key)
	return t
}

// next is the earliest deadline; ok is false when no timeout is armed.
func (cs *conversations) next() (deadline time.Time, ok bool) {
	if len(cs.heap) == 0 {
		return time.Time{}, false
	}
	return cs.heap[0].deadline, true
}

// timerHeap orders armed timeouts by deadline.
type timerHeap []*convTimer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	t := x.(*convTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}
