package chatter

import (
	"context"
	"sync"
)

// outbox holds the frames waiting to be written. Senders append encoded
// frames to buf under mu; the writer goroutine alone touches the socket: it
// swaps buf for an empty buffer and writes everything it took in one call,
// so frames queued during a write go out together in the next one.
//
// mu guards bytes and counters only; nobody holds it across I/O or while
// waiting for another goroutine.
type outbox struct {
	mu      sync.Mutex
	buf     []byte
	nextID  int64 // id of the last message queued
	queued  int64 // bytes ever queued
	written int64 // bytes ever written to the socket
	holds   int   // frames whose conversation is being registered; see hold
	// messages counts application messages queued, for Stats.
	messages uint64
	err      error // set when the writer stops; every later send fails with it
	limit    int   // bytes queued before senders wait
	// changed is closed and replaced whenever space frees, bytes are
	// written or the outbox fails; it is nil while nobody waits on it.
	changed chan struct{}
	// wake tells the writer there is work; capacity 1, never blocks.
	wake chan struct{}
}

func newOutbox(limit int) *outbox {
	return &outbox{limit: limit, wake: make(chan struct{}, 1)}
}

// waitChan returns the channel closed on the next change. Call with mu held.
func (o *outbox) waitChan() chan struct{} {
	if o.changed == nil {
		o.changed = make(chan struct{})
	}
	return o.changed
}

// broadcast wakes everybody waiting for a change. Call with mu held.
func (o *outbox) broadcast() {
	if o.changed != nil {
		close(o.changed)
		o.changed = nil
	}
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// queueFlags say how a frame is queued.
type queueFlags uint8

const (
	// control frames (ping, pong) bypass the size limit: they are small
	// and must not wait behind a peer that does not read.
	queueControl queueFlags = 1 << iota
	// queueHold keeps the writer from taking the frame until release is
	// called: the sender first registers the conversation with the
	// supervisor, so that a reply can never arrive before the supervisor
	// knows what to do with it.
	queueHold
)

// enqueue numbers e with the connection's next id (and makes it the first
// message of a new conversation when newConv is set) and queues its frame.
// It waits while the outbox is over its limit, honouring ctx and done.
func (o *outbox) enqueue(ctx context.Context, done <-chan struct{}, e *envelope, newConv bool, flags queueFlags) error {
	// The size for the limit check; the id is not known yet, so the frame
	// may come out a few bytes longer.
	size := e.sizeBody()
	o.mu.Lock()
	for {
		if o.err != nil {
			err := o.err
			o.mu.Unlock()
			return err
		}
		if flags&queueControl != 0 || len(o.buf) == 0 || len(o.buf)+size <= o.limit {
			break
		}
		ch := o.waitChan()
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			// The writer fails the outbox when it stops; loop to report it.
			<-ch
		}
		o.mu.Lock()
	}
	o.nextID++
	e.id = o.nextID
	if newConv {
		e.first = e.id
	}
	before := len(o.buf)
	o.buf = e.appendBody(appendFrameHeader(o.buf, e.sizeBody()))
	o.queued += int64(len(o.buf) - before)
	if flags&queueHold != 0 {
		o.holds++
	}
	if flags&queueControl == 0 {
		o.messages++
	}
	o.mu.Unlock()
	if flags&queueHold == 0 {
		o.signal()
	}
	return nil
}

// release lets the writer take a frame queued with queueHold.
func (o *outbox) release() {
	o.mu.Lock()
	o.holds--
	o.mu.Unlock()
	o.signal()
}

// take hands the writer everything queued, leaving spare as the new
// buffer. It returns nil while nothing is queued or a held frame waits.
func (o *outbox) take(spare []byte) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.buf) == 0 || o.holds > 0 {
		return nil
	}
	b := o.buf
	o.buf = spare[:0]
	o.broadcast()
	return b
}

// wrote records n bytes written to the socket.
func (o *outbox) wrote(n int) {
	o.mu.Lock()
	o.written += int64(n)
	o.broadcast()
	o.mu.Unlock()
}

// fail stops the outbox: later sends fail with err. It returns what was
// still queued.
func (o *outbox) fail(err error) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.err == nil {
		o.err = err
	}
	b := o.buf
	o.buf = nil
	o.broadcast()
	return b
}

// drain waits until every byte queued before the call has been written.
func (o *outbox) drain(ctx context.Context) error {
	o.mu.Lock()
	target := o.queued
	for o.written < target {
		if o.err != nil {
			err := o.err
			o.mu.Unlock()
			return err
		}
		ch := o.waitChan()
		o.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		o.mu.Lock()
	}
	o.mu.Unlock()
	return nil
}
