package aio

import (
	"context"
	"sync"
)

// A Group owns a set of goroutines and child groups, and closes them
// together.
//
// Closing is a one-way, two-step affair. [Group.Close] (or
// [Group.CloseWithCause]) begins closing: it cancels the group's context, so
// every function started by [Group.Spawn] is asked to return, closes every
// child group, and refuses new work; then it returns at once. The group is
// closed — [Group.Closed] fires — once every spawned function has returned and
// every child group is closed. [Group.Wait] and [Group.Shutdown] wait for
// that.
//
// As in errgroup, the first spawned function to return a non-nil error
// closes the group with that error as its cause: the others see their
// context cancelled, and [Group.Wait] returns the error. A function that
// returns nil leaves the group open; that is how a goroutine that has
// finished its job ends without ending the others.
//
// Panics are not recovered. A panic in a spawned function is a bug; turning
// it into an error would leave a half-dead program running with broken
// invariants, delay the crash arbitrarily and hide the panicking stack from
// crash tooling. The program crashes, as with a bare go statement.
//
// All methods are safe for concurrent use, including from the group's own
// goroutines. A Group must be made with [NewGroup] or [Group.NewChild]: its
// channels and context exist from the start, so that the accessors need no
// lock.
type Group struct {
	parent  *Group
	ctx     context.Context
	cancel  context.CancelCauseFunc
	closing chan struct{} // closed when closing begins, after cause is set
	closed  chan struct{} // closed when everything in the group has ended

	mu       sync.Mutex
	cause    error // written once, under mu, before closing is closed
	plain    bool  // closing was begun by Close, not by a failure
	done     bool  // closed has been closed
	running  int   // spawned functions not yet returned
	children map[*Group]struct{}
}

// NewGroup returns a new, open group with no parent. Its context derives
// from context.Background.
func NewGroup() *Group { return newGroup(context.Background(), nil) }

// NewGroupFrom returns a new, open group with no parent whose context
// carries ctx's values (trace ids, loggers) but not its end: ctx ending
// does not close the group. A group that must close with ctx does so
// with context.AfterFunc(ctx, func() { g.Close() }).
func NewGroupFrom(ctx context.Context) *Group {
	return newGroup(context.WithoutCancel(ctx), nil)
}

func newGroup(base context.Context, parent *Group) *Group {
	g := &Group{
		parent:  parent,
		closing: make(chan struct{}),
		closed:  make(chan struct{}),
	}
	g.ctx, g.cancel = context.WithCancelCause(base)
	return g
}

// NewChild returns a new group whose life is bounded by g's: closing g closes
// the child, with the same cause, and g is closed only after the child is.
// Closing the child leaves g open. The child's context derives from g's. If
// g is already closing, the child is returned already closing (and, having no
// goroutines, already closed). Once a child is closed g forgets it, so a
// long-lived group may create and close any number of children.
func (g *Group) NewChild() *Group {
	c := newGroup(g.ctx, g)
	g.mu.Lock()
	if g.cause != nil {
		cause, plain := g.cause, g.plain
		g.mu.Unlock()
		c.parent = nil // never registered: nothing to report to g
		c.begin(cause, plain)
		return c
	}
	if g.children == nil {
		g.children = make(map[*Group]struct{})
	}
	g.children[c] = struct{}{}
	g.mu.Unlock()
	return c
}

// Spawn runs fn in a new goroutine owned by g. fn's ctx is g's context: it
// is cancelled, with the close cause, when g begins closing, and fn should
// return soon after. If fn returns a non-nil error while g is open, g closes
// with that error as its cause; errors returned once g is closing are
// dropped, the cause being already decided. If g is already closing Spawn
// does not run fn and returns [ErrClosed].
func (g *Group) Spawn(fn func(ctx context.Context) error) error {
	g.mu.Lock()
	if g.cause != nil {
		g.mu.Unlock()
		return ErrClosed
	}
	g.running++
	g.mu.Unlock()

	go func() {
		// No recover: see the Group documentation.
		if err := fn(g.ctx); err != nil {
			g.begin(err, false)
		}
		g.mu.Lock()
		g.running--
		g.finishLocked()
	}()
	return nil
}

// finishLocked marks g closed if it is closing and nothing is left in it.
// It is called with g.mu held and releases it. A child leaves its parent's
// bookkeeping before its Closed channel fires, and fires it before the parent
// can fire its own.
func (g *Group) finishLocked() {
	if g.cause == nil || g.done || g.running > 0 || len(g.children) > 0 {
		g.mu.Unlock()
		return
	}
	g.done = true
	p := g.parent
	g.mu.Unlock()
	if p == nil {
		close(g.closed)
		return
	}
	p.mu.Lock()
	delete(p.children, g)
	close(g.closed)
	p.finishLocked()
}

// Context returns g's context. It is cancelled when g begins closing, and
// context.Cause reports the close cause (see [Group.Cause]). Use it to bind
// work that is not spawned in g to g's life.
func (g *Group) Context() context.Context { return g.ctx }

// Close begins closing g with the cause [ErrClosed] and returns without
// waiting. It is idempotent and may be called from any goroutine, including
// one spawned in g. A group closed this way has not failed: [Group.Wait]
// returns nil.
func (g *Group) Close() { g.begin(ErrClosed, true) }

// CloseWithCause begins closing g, as [Group.Close] does, recording err as
// the reason, unless g was already closing. A nil err means a plain Close.
// The first reason sticks: it is what [Group.Cause], [Group.Wait] and
// context.Cause(g.Context()) report. Children are closed with the same
// reason.
func (g *Group) CloseWithCause(err error) {
	if err == nil {
		g.Close()
		return
	}
	g.begin(err, false)
}

// begin starts closing g with cause, unless it is already closing, and
// reports whether this call did it.
func (g *Group) begin(cause error, plain bool) bool {
	g.mu.Lock()
	if g.cause != nil {
		g.mu.Unlock()
		return false
	}
	g.cause, g.plain = cause, plain
	g.cancel(cause)
	close(g.closing)
	children := make([]*Group, 0, len(g.children))
	for c := range g.children {
		children = append(children, c)
	}
	g.mu.Unlock()

	for _, c := range children {
		c.begin(cause, plain)
	}
	g.mu.Lock()
	g.finishLocked()
	return true
}

// Cause returns the reason g is closing: nil while g is open, [ErrClosed]
// after a plain Close, otherwise the first error given to CloseWithCause or
// returned by a spawned function.
func (g *Group) Cause() error {
	select {
	case <-g.closing:
		return g.cause // written before closing was closed
	default:
		return nil
	}
}

// Closing returns a channel that is closed when g begins closing.
func (g *Group) Closing() <-chan struct{} { return g.closing }

// Closed returns a channel that is closed when g is closed: closing has begun,
// every spawned function has returned and every child group is closed.
func (g *Group) Closed() <-chan struct{} { return g.closed }

// IsClosing reports whether g has begun closing (it stays true once closed).
func (g *Group) IsClosing() bool { return isDone(g.closing) }

// IsClosed reports whether g is closed.
func (g *Group) IsClosed() bool { return isDone(g.closed) }

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Wait waits until g is closed, or until ctx is done and returns ctx.Err().
// Once g is closed it returns nil if g was closed by a plain Close (or by its
// parent's), and the cause otherwise: the error of the first spawned
// function that failed, or the one given to CloseWithCause. Wait does not
// begin closing g: see [Group.Shutdown].
func (g *Group) Wait(ctx context.Context) error {
	select {
	case <-g.closed:
		return g.result()
	default:
	}
	select {
	case <-g.closed:
		return g.result()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// result is what Wait reports once g is closed; cause and plain were set
// before closing began, so no lock is needed.
func (g *Group) result() error {
	if g.plain {
		return nil
	}
	return g.cause
}

// Shutdown begins closing g and waits, as [Group.Wait], until it is closed
// or ctx is done. Calling it from a function spawned in g deadlocks until ctx
// is done; call Close there instead.
func (g *Group) Shutdown(ctx context.Context) error {
	g.Close()
	return g.Wait(ctx)
}
