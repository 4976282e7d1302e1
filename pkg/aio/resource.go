package aio

import "context"

// A Resource is anything whose life is a [Group]: a connection, a server, a
// conversation. Closing the group closes the resource; the resource is
// closed when the group is.
type Resource interface {
	Group() *Group
}

// Lifecycle gives a type the closing methods of a [Resource] by embedding:
//
//	type Conn struct {
//		aio.Lifecycle
//		// ...
//	}
//
//	c := &Conn{Lifecycle: aio.NewLifecycle(parent.NewChild())}
//
// Every method delegates to the group given to [NewLifecycle], so they are
// safe for concurrent use. Lifecycle is a small value (one pointer) and may
// be copied; its zero value has no group and must not be used.
type Lifecycle struct {
	g *Group
}

// NewLifecycle returns a Lifecycle bound to g.
func NewLifecycle(g *Group) Lifecycle { return Lifecycle{g: g} }

// Group returns the resource's group, to spawn its goroutines in or to make
// child groups of.
func (l Lifecycle) Group() *Group { return l.g }

// Close begins closing the resource and returns at once; see [Group.Close].
func (l Lifecycle) Close() { l.g.Close() }

// CloseWithCause begins closing the resource for the reason err; see
// [Group.CloseWithCause].
func (l Lifecycle) CloseWithCause(err error) { l.g.CloseWithCause(err) }

// Cause returns the reason the resource is closing; see [Group.Cause].
func (l Lifecycle) Cause() error { return l.g.Cause() }

// Closing returns a channel closed when the resource begins closing.
func (l Lifecycle) Closing() <-chan struct{} { return l.g.Closing() }

// Closed returns a channel closed when the resource is closed.
func (l Lifecycle) Closed() <-chan struct{} { return l.g.Closed() }

// IsOpen reports whether the resource has not begun closing.
func (l Lifecycle) IsOpen() bool { return !l.g.IsClosing() }

// IsClosing reports whether the resource has begun closing.
func (l Lifecycle) IsClosing() bool { return l.g.IsClosing() }

// IsClosed reports whether the resource is closed.
func (l Lifecycle) IsClosed() bool { return l.g.IsClosed() }

// Wait waits until the resource is closed or ctx is done; see [Group.Wait].
func (l Lifecycle) Wait(ctx context.Context) error { return l.g.Wait(ctx) }

// Shutdown closes the resource and waits; see [Group.Shutdown].
func (l Lifecycle) Shutdown(ctx context.Context) error { return l.g.Shutdown(ctx) }
