package aio

import "context"

// A Resource is anything whose life is bounded the way a [Group]'s is: a
// connection, a server, a subscription. It is the Go shape of hat's
// aio.Resource, and the method set chatter.Conn and chatter.Server give.
//
// A type implements it with methods of its own around an unexported Group,
// rather than by embedding one: the Group's Spawn and NewChild are the
// type's machinery, not its API.
//
//	type Echo struct {
//		g *aio.Group
//		// ...
//	}
//
//	func (e *Echo) Context() context.Context       { return e.g.Context() }
//	func (e *Echo) Done() <-chan struct{}          { return e.g.Closed() }
//	func (e *Echo) Wait(ctx context.Context) error { return e.g.Wait(ctx) }
//	func (e *Echo) Close() error                   { return e.g.Shutdown(context.Background()) }
type Resource interface {
	// Context is cancelled when the resource begins closing; its cause says
	// why. Work tied to the resource's life uses it.
	Context() context.Context
	// Done is closed once the resource has closed: every goroutine it owns
	// has returned.
	Done() <-chan struct{}
	// Wait waits until Done, or until ctx ends, and returns why the
	// resource closed: nil for a plain Close.
	Wait(ctx context.Context) error
	// Close closes the resource, waits for its goroutines and returns what
	// Wait would. It is idempotent.
	Close() error
}
