package aio

import (
	"context"
	"iter"
	"sync"
	"sync/atomic"
)

// A Queue is a FIFO queue of values of type T shared by any number of
// putters and getters, optionally bounded, that can be closed.
//
// [Queue.Put] waits while a bounded queue is full and [Queue.Get] waits while
// the queue is empty; both give up when their context ends, leaving the queue
// as it was: a Put that returns an error has not inserted, a Get that returns
// an error has not removed. [Queue.Close] wakes every waiter: putters get
// [ErrClosed] at once, getters still receive every item put before Close,
// then ErrClosed. Waiting putters are admitted, and waiting getters served,
// in the order they began to wait.
//
// For select statements, [Queue.NotEmpty] and [Queue.NotFull] return one-shot
// signal channels; follow them with [Queue.GetNowait] or [Queue.PutNowait],
// which may still find the queue empty or full if another goroutine came
// first.
//
// All methods are safe for concurrent use. A Queue must be made with
// [NewQueue] and must not be copied.
type Queue[T any] struct {
	mu       sync.Mutex
	buf      []T // ring buffer; len(buf) is 0 or a power of two
	head     int // index of the oldest item
	n        int // number of items
	max      int // 0: unbounded
	closed   bool
	getters  waitList[T]   // parked in Get or GetUntilEmpty; only while n == 0
	putters  waitList[T]   // parked in Put; only while n == max
	notEmpty chan struct{} // made on demand while empty and open; closed on put or Close
	notFull  chan struct{} // made on demand while full and open; closed on get or Close
	free     freeList[T]
}

// shrinkCap: a queue that empties with a buffer larger than this lets it go,
// so a burst does not pin memory for the queue's whole life.
const shrinkCap = 1024

// closedChan is the signal returned by NotEmpty and NotFull when the
// condition already holds.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// NewQueue returns an open queue holding at most maxSize items; maxSize 0
// (or less) means unbounded.
func NewQueue[T any](maxSize int) *Queue[T] {
	return &Queue[T]{max: max(maxSize, 0)}
}

// Put appends v, waiting while the queue is full. It returns [ErrClosed] if
// the queue is closed (before or while waiting), or ctx.Err() if ctx ends
// first; in both cases v was not added. A Put that was admitted just as ctx
// ended reports success.
func (q *Queue[T]) Put(ctx context.Context, v T) error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return ErrClosed
	}
	if q.max == 0 || q.n < q.max {
		q.push(v)
		q.mu.Unlock()
		return nil
	}
	_, err := q.wait(ctx, &q.putters, v)
	return err
}

// PutNowait appends v if it can do so without waiting. It returns [ErrClosed]
// if the queue is closed and [ErrFull] if it has no room.
func (q *Queue[T]) PutNowait(v T) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if q.max != 0 && q.n >= q.max {
		return ErrFull
	}
	q.push(v)
	return nil
}

// Get removes and returns the oldest item, waiting while the queue is empty.
// Items put before Close are still returned; once the queue is closed and
// drained Get returns [ErrClosed]. If ctx ends first Get returns ctx.Err()
// and removes nothing. An item at hand is returned even if ctx is done.
func (q *Queue[T]) Get(ctx context.Context) (T, error) {
	q.mu.Lock()
	if q.n > 0 {
		v := q.pop()
		q.mu.Unlock()
		return v, nil
	}
	if q.closed {
		q.mu.Unlock()
		var zero T
		return zero, ErrClosed
	}
	var zero T
	return q.wait(ctx, &q.getters, zero)
}

// GetNowait removes and returns the oldest item if there is one. Otherwise it
// returns [ErrClosed] if the queue is closed, [ErrEmpty] if not.
func (q *Queue[T]) GetNowait() (T, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		var zero T
		if q.closed {
			return zero, ErrClosed
		}
		return zero, ErrEmpty
	}
	return q.pop(), nil
}

// GetUntilEmpty waits, as [Queue.Get], until there is at least one item,
// then empties the queue and returns the newest item, dropping the older
// ones, as hat's Queue.get_until_empty does: a getter that only cares about
// the latest state skips what it has fallen behind on. Its errors are Get's.
// [Queue.GetAll] returns every item instead.
func (q *Queue[T]) GetUntilEmpty(ctx context.Context) (T, error) {
	var zero T
	q.mu.Lock()
	if q.n == 0 {
		if q.closed {
			q.mu.Unlock()
			return zero, ErrClosed
		}
		return q.wait(ctx, &q.getters, zero) // handed over while empty: the newest
	}
	v := q.buf[(q.head+q.n-1)&(len(q.buf)-1)]
	q.clearLocked()
	q.mu.Unlock()
	return v, nil
}

// GetAll waits, as [Queue.Get], until there is at least one item, then
// removes and returns all of them, oldest first, in a new slice: one wake-up
// for a whole batch. Its errors are Get's.
func (q *Queue[T]) GetAll(ctx context.Context) ([]T, error) {
	q.mu.Lock()
	if q.n == 0 {
		if q.closed {
			q.mu.Unlock()
			return nil, ErrClosed
		}
		var zero T
		v, err := q.wait(ctx, &q.getters, zero)
		if err != nil {
			return nil, err
		}
		return []T{v}, nil // handed over while the queue was empty: that is all
	}
	out := make([]T, q.n)
	k := copy(out, q.buf[q.head:min(q.head+q.n, len(q.buf))])
	copy(out[k:], q.buf[:q.n-k])
	q.clearLocked()
	q.mu.Unlock()
	return out, nil
}

// clearLocked empties the buffer and admits waiting putters. q.mu is held.
func (q *Queue[T]) clearLocked() {
	clear(q.buf)
	q.head, q.n = 0, 0
	if len(q.buf) > shrinkCap {
		q.buf = nil
	}
	q.admit()
}

// Len returns the number of items in the queue.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// MaxSize returns the bound given to [NewQueue]; 0 means unbounded.
func (q *Queue[T]) MaxSize() int { return q.max }

// Close closes the queue: Put and PutNowait fail with [ErrClosed] from now on,
// and every waiting putter is woken to fail the same way; getters drain the
// items left, then get ErrClosed. Close is idempotent.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	q.closed = true
	for q.getters.head != nil {
		q.getters.wake(false)
	}
	for q.putters.head != nil {
		q.putters.wake(false)
	}
	if q.notEmpty != nil {
		close(q.notEmpty)
		q.notEmpty = nil
	}
	if q.notFull != nil {
		close(q.notFull)
		q.notFull = nil
	}
}

// IsClosed reports whether [Queue.Close] has been called (items may remain).
func (q *Queue[T]) IsClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// All returns an iterator over the items as [Queue.Get] removes them. The
// iteration ends when the queue is closed and drained, or when ctx ends;
// check ctx.Err() afterwards to tell which. Breaking out of the loop leaves
// the remaining items in the queue.
func (q *Queue[T]) All(ctx context.Context) iter.Seq[T] {
	return func(yield func(T) bool) {
		for {
			v, err := q.Get(ctx)
			if err != nil || !yield(v) {
				return
			}
		}
	}
}

// NotEmpty returns a channel that is closed once the queue has an item or is
// closed: at once if that is already so. It is a one-shot signal for select;
// call NotEmpty again after each use:
//
//	for {
//		select {
//		case <-q.NotEmpty():
//			v, err := q.GetNowait() // ErrEmpty: another getter came first
//		case <-ctx.Done():
//		}
//	}
//
// An item put while a goroutine is parked in [Queue.Get] goes straight to it
// and does not fire the signal.
func (q *Queue[T]) NotEmpty() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n > 0 || q.closed {
		return closedChan
	}
	if q.notEmpty == nil {
		q.notEmpty = make(chan struct{})
	}
	return q.notEmpty
}

// NotFull returns a channel that is closed once the queue has room or is
// closed: at once if that is already so (always, for an unbounded queue). It
// is a one-shot signal for select, to be followed by [Queue.PutNowait].
// Room made while goroutines are parked in [Queue.Put] goes to them first.
func (q *Queue[T]) NotFull() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.max == 0 || q.n < q.max || q.closed {
		return closedChan
	}
	if q.notFull == nil {
		q.notFull = make(chan struct{})
	}
	return q.notFull
}

// push adds v: straight to the first waiting getter if there is one (the
// buffer is then empty), otherwise to the buffer. q.mu is held, the queue is
// open and has room.
func (q *Queue[T]) push(v T) {
	if w := q.getters.head; w != nil {
		w.v = v
		q.getters.wake(true)
		return
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = v
	q.n++
	if q.notEmpty != nil {
		close(q.notEmpty)
		q.notEmpty = nil
	}
}

// pop removes and returns the oldest item, then admits a waiting putter into
// the room made. q.mu is held and the queue is not empty.
func (q *Queue[T]) pop() T {
	var zero T
	v := q.buf[q.head]
	q.buf[q.head] = zero // let the garbage collector have it
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	if q.n == 0 {
		q.head = 0
		if len(q.buf) > shrinkCap {
			q.buf = nil
		}
	}
	q.admit()
	return v
}

// admit moves the items of waiting putters into the buffer while there is
// room, waking each, then signals NotFull if room is left. q.mu is held.
func (q *Queue[T]) admit() {
	for q.putters.head != nil && q.n < q.max {
		w := q.putters.head
		if q.n == len(q.buf) {
			q.grow()
		}
		q.buf[(q.head+q.n)&(len(q.buf)-1)] = w.v
		q.n++
		q.putters.wake(true)
	}
	if q.notFull != nil && q.n < q.max {
		close(q.notFull)
		q.notFull = nil
	}
}

// grow doubles the buffer (to at most the power of two that holds max items)
// and unrolls the ring so the oldest item is at index 0.
func (q *Queue[T]) grow() {
	c := max(2*len(q.buf), 8)
	if q.max != 0 {
		c = min(c, ceilPow2(q.max))
	}
	buf := make([]T, c)
	k := copy(buf, q.buf[q.head:])
	copy(buf[k:], q.buf[:q.head])
	q.buf, q.head = buf, 0
}

func ceilPow2(n int) int {
	c := 1
	for c < n {
		c <<= 1
	}
	return c
}

// wait parks the calling goroutine on l, a putter with the item v, until a
// waker serves it or ctx ends. It is called with q.mu held and returns with
// it released. A getter returns the item handed to it; a putter, the zero
// value. Whoever wakes a waiter has already done its operation for it (or
// found the queue closed), so a woken waiter does not lock again; a waiter
// whose ctx ends just as it is served keeps the result.
func (q *Queue[T]) wait(ctx context.Context, l *waitList[T], v T) (T, error) {
	var zero T
	done := ctx.Done()
	if done != nil {
		select {
		case <-done:
			q.mu.Unlock()
			return zero, ctx.Err()
		default:
		}
	}
	w := q.free.get()
	w.v = v
	l.push(w)
	q.mu.Unlock()

	if done == nil {
		<-w.ready
	} else {
		select {
		case <-w.ready:
		case <-done:
			q.mu.Lock()
			if w.queued {
				l.remove(w)
				q.mu.Unlock()
				w.v = zero
				q.free.put(w)
				return zero, ctx.Err()
			}
			q.mu.Unlock()
			<-w.ready // served in the meantime: the token is there
		}
	}
	v, ok := w.v, w.ok
	w.v = zero
	q.free.put(w)
	if !ok {
		return zero, ErrClosed
	}
	return v, nil
}

// A waiter is a goroutine parked in a Queue. Its ready channel has room for
// the one token that wakes it, so waking never blocks; the token is always
// consumed before the waiter is reused.
type waiter[T any] struct {
	ready      chan struct{}
	prev, next *waiter[T] // in a waitList
	queued     bool       // in a waitList
	v          T          // a putter's item, or the item handed to a getter
	ok         bool       // served; false if woken by Close
	nextFree   *waiter[T]
}

// A waitList is a FIFO list of waiters, guarded by the queue's mutex.
type waitList[T any] struct {
	head, tail *waiter[T]
}

func (l *waitList[T]) push(w *waiter[T]) {
	w.prev, w.next, w.queued, w.ok = l.tail, nil, true, false
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
}

func (l *waitList[T]) remove(w *waiter[T]) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		l.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.tail = w.prev
	}
	w.prev, w.next, w.queued = nil, nil, false
}

// wake removes the first waiter, records whether it was served and wakes it.
// The list is not empty.
func (l *waitList[T]) wake(ok bool) {
	w := l.head
	l.remove(w)
	w.ok = ok
	w.ready <- struct{}{}
}

// A freeList keeps a queue's spare waiters, so that parking does not
// allocate. It holds as many waiters as were ever parked at once. Waiters
// are taken with the queue's mutex held, and given back without it (a
// served waiter does not lock again): with a single taker at a time, this
// lock-free stack cannot suffer the ABA problem. It is per queue rather than
// a sync.Pool so that a queue used inside a testing/synctest bubble never
// touches a channel made in another bubble.
type freeList[T any] struct {
	top atomic.Pointer[waiter[T]]
}

// get takes a waiter; the queue's mutex is held.
func (f *freeList[T]) get() *waiter[T] {
	for {
		w := f.top.Load()
		if w == nil {
			return &waiter[T]{ready: make(chan struct{}, 1)}
		}
		if f.top.CompareAndSwap(w, w.nextFree) {
			w.nextFree = nil
			return w
		}
	}
}

func (f *freeList[T]) put(w *waiter[T]) {
	for {
		top := f.top.Load()
		w.nextFree = top
		if f.top.CompareAndSwap(top, w) {
			return
		}
	}
}
