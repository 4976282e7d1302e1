package aio_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/gochatter/gochatter/pkg/aio"
)

// conn is a resource the way pkg/chatter builds one: Lifecycle embedded by
// value in a struct used through a pointer.
type conn struct {
	aio.Lifecycle
	in *aio.Queue[string]
}

func newConn(parent *aio.Group) *conn {
	c := &conn{Lifecycle: aio.NewLifecycle(parent.NewChild()), in: aio.NewQueue[string](4)}
	c.Group().Spawn(func(ctx context.Context) error {
		<-ctx.Done()
		c.in.Close()
		return nil
	})
	return c
}

var _ aio.Resource = (*conn)(nil)
var _ aio.Resource = aio.Lifecycle{}

func TestLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		server := aio.NewGroup()
		c := newConn(server)
		state := func() [3]bool { return [3]bool{c.IsOpen(), c.IsClosing(), c.IsClosed()} }
		if got := state(); got != [3]bool{true, false, false} {
			t.Fatalf("new resource: open/closing/closed = %v", got)
		}
		if c.Cause() != nil || isClosed(c.Closing()) || isClosed(c.Closed()) {
			t.Fatal("new resource looks closed")
		}
		reason := errors.New("peer went away")
		c.CloseWithCause(reason)
		if got := state(); got[0] || !got[1] {
			t.Fatalf("closing resource: open/closing/closed = %v", got)
		}
		if !isClosed(c.Closing()) || c.Cause() != reason {
			t.Fatalf("Closing not signalled or Cause %v", c.Cause())
		}
		if err := c.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := state(); got != [3]bool{false, true, true} {
			t.Fatalf("closed resource: open/closing/closed = %v", got)
		}
		if !c.in.IsClosed() {
			t.Error("the resource's goroutine did not run its cleanup")
		}
		if server.IsClosing() {
			t.Error("closing a resource closed its parent")
		}

		// Closing the parent closes every resource made in it.
		a, b := newConn(server), newConn(server)
		if err := server.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		if !a.IsClosed() || !b.IsClosed() {
			t.Error("resources not closed with their parent")
		}
		var r aio.Resource = a
		if r.Group() != a.Group() || !r.Group().IsClosed() {
			t.Error("Resource.Group does not give the resource's group")
		}
		c.Close()
		if err := c.Shutdown(t.Context()); err != nil || c.Cause() != reason {
			t.Errorf("Shutdown of a closed resource: %v, cause %v", err, c.Cause())
		}
	})
}
