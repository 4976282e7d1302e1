package aio

import (
	"context"
	"errors"
	"log/slog"
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
// A function that returns by itself does not close the group: deciding that
// one goroutine's end is the end of all of them is the caller's choice, made
// by calling Close from that function. An error returned by a spawned
// function goes to the group's error handler (see [WithErrorHandler]) and
// does not stop the others.
//
// Panics are not recovered. A panic in a spawned function is a bug; turning
// it into an error would leave a half-dead program running with broken
// invariants, delay the crash arbitrarily and hide the panicking stack from
// crash tooling. The program crashes, as with a bare go statement.
//
// All methods are safe for concurrent use, including from the group's own
// goroutines. The zero Group is an open group with no parent and the default
// error handler; a Group must not be copied after first use.
type Group struct {
	mu       sync.Mutex
	parent   *Group
	handler  func(error)
	ctx      context.Context
	cancel   context.CancelCauseFunc
	closing  chan struct{}
	closed   chan struct{}
	cause    error // non-nil once closing has begun
	done     bool  // closed has been closed
	running  int   // spawned functions not yet returned
	children map[*Group]struct{}
}

// A GroupOption configures a [Group] made by [NewGroup] or [Group.NewChild].
type GroupOption func(*groupOptions)

type groupOptions struct {
	handler func(error)
}

// WithErrorHandler sets the function that receives the non-nil errors
// returned by spawned functions. It is called in the goroutine that ran the
// function, before the group counts that function as finished, so it must
// not wait for the group to close. A nil h selects the default, which logs
// with slog.Warn("aio: spawned function failed", "err", err). A child group
// inherits its parent's handler unless given its own.
//
// Errors returned after the group began closing that only say the function
// was stopped are not reported: those that match (errors.Is) the close
// cause, context.Canceled or [ErrClosed]. Any other error is.
func WithErrorHandler(h func(error)) GroupOption {
	return func(o *groupOptions) { o.handler = h }
}

func defaultErrorHandler(err error) {
	slog.Warn("aio: spawned function failed", "err", err)
}

// NewGroup returns a new, open group with no parent. Its context derives
// from context.Background.
func NewGroup(opts ...GroupOption) *Group {
	g := &Group{}
	g.configure(nil, opts)
	return g
}

// NewChild returns a new group whose life is bounded by g's: closing g closes
// the child, and g is closed only after the child is. Closing the child
// leaves g open. The child's context derives from g's. If g is already
// closing, the child is returned already closing (and, having no goroutines,
// already closed). Once a child is closed g forgets it, so a long-lived group
// may create and close any number of children.
func (g *Group) NewChild(opts ...GroupOption) *Group {
	g.mu.Lock()
	g.init()
	c := &Group{}
	c.configure(g, opts)
	if g.cause != nil {
		cause := g.cause
		g.mu.Unlock()
		c.parent = nil // never registered: nothing to report to g
		c.CloseWithCause(cause)
		return c
	}
	if g.children == nil {
		g.children = make(map[*Group]struct{})
	}
	g.children[c] = struct{}{}
	g.mu.Unlock()
	return c
}

// configure sets up a new group; p, if not nil, is the parent, locked.
func (g *Group) configure(p *Group, opts []GroupOption) {
	var o groupOptions
	if p != nil {
		o.handler = p.handler
	}
	for _, opt := range opts {
		opt(&o)
	}
	g.handler = o.handler
	base := context.Background()
	if p != nil {
		g.parent = p
		base = p.ctx
	}
	g.ctx, g.cancel = context.WithCancelCause(base)
	g.closing = make(chan struct{})
	g.closed = make(chan struct{})
}

// init makes a zero Group ready; g.mu is held.
func (g *Group) init() {
	if g.ctx == nil {
		g.configure(nil, nil)
	}
}

// Spawn runs fn in a new goroutine owned by g. fn's ctx is g's context: it
// is cancelled, with the close cause, when g begins closing, and fn should
// return soon after. If g is already closing Spawn does not run fn and
// returns [ErrClosed].
func (g *Group) Spawn(fn func(ctx context.Context) error) error {
	g.mu.Lock()
	g.init()
	if g.cause != nil {
		g.mu.Unlock()
		return ErrClosed
	}
	g.running++
	ctx := g.ctx
	g.mu.Unlock()

	go func() {
		// No recover: see the Group documentation.
		if err := fn(ctx); err != nil {
			g.report(ctx, err)
		}
		g.mu.Lock()
		g.running--
		g.finishLocked()
	}()
	return nil
}

func (g *Group) report(ctx context.Context, err error) {
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed) ||
		errors.Is(err, context.Cause(ctx))) {
		return
	}
	h := g.handler
	if h == nil {
		h = defaultErrorHandler
	}
	h(err)
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
func (g *Group) Context() context.Context {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	return g.ctx
}

// Close begins closing g with the cause [ErrClosed] and returns without
// waiting. It is idempotent and may be called from any goroutine, including
// one spawned in g.
func (g *Group) Close() { g.CloseWithCause(ErrClosed) }

// CloseWithCause is [Group.Close] recording err as the reason, if g was not
// already closing; a nil err means [ErrClosed]. The first reason sticks: it is
// what [Group.Cause] and context.Cause(g.Context()) report. Children are
// closed with the same reason.
func (g *Group) CloseWithCause(err error) {
	if err == nil {
		err = ErrClosed
	}
	g.mu.Lock()
	g.init()
	if g.cause != nil {
		g.mu.Unlock()
		return
	}
	g.cause = err
	g.cancel(err)
	close(g.closing)
	children := make([]*Group, 0, len(g.children))
	for c := range g.children {
		children = append(children, c)
	}
	g.mu.Unlock()

	for _, c := range children {
		c.CloseWithCause(err)
	}
	g.mu.Lock()
	g.finishLocked()
}

// Cause returns the reason g is closing: nil while g is open, [ErrClosed]
// after a plain Close, otherwise the first error given to CloseWithCause.
func (g *Group) Cause() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cause
}

// Closing returns a channel that is closed when g begins closing.
func (g *Group) Closing() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	return g.closing
}

// Closed returns a channel that is closed when g is closed: closing has begun,
// every spawned function has returned and every child group is closed.
func (g *Group) Closed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init()
	return g.closed
}

// IsClosing reports whether g has begun closing (it stays true once closed).
func (g *Group) IsClosing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cause != nil
}

// IsClosed reports whether g is closed.
func (g *Group) IsClosed() bool {
	select {
	case <-g.Closed():
		return true
	default:
		return false
	}
}

// Wait waits until g is closed and returns nil, or until ctx is done and
// returns ctx.Err(). Wait does not begin closing g: see [Group.Shutdown].
func (g *Group) Wait(ctx context.Context) error {
	closed := g.Closed()
	select {
	case <-closed:
		return nil
	default:
	}
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown begins closing g and waits, as [Group.Wait], until it is closed
// or ctx is done. Calling it from a function spawned in g deadlocks until ctx
// is done; call Close there instead.
func (g *Group) Shutdown(ctx context.Context) error {
	g.Close()
	return g.Wait(ctx)
}
