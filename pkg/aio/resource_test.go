package aio_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/gochatter/gochatter/pkg/aio"
)

// conn is a resource the way pkg/chatter builds one: its own lifecycle
// methods around an unexported group.
type conn struct {
	g  *aio.Group
	in *aio.Queue[string]
}

func newConn(parent *aio.Group) *conn {
	c := &conn{g: parent.NewChild(), in: aio.NewQueue[string](4)}
	c.g.Spawn(func(ctx context.Context) error {
		<-ctx.Done()
		c.in.Close()
		return nil
	})
	return c
}

func (c *conn) Context() context.Context       { return c.g.Context() }
func (c *conn) Done() <-chan struct{}          { return c.g.Closed() }
func (c *conn) Wait(ctx context.Context) error { return c.g.Wait(ctx) }
func (c *conn) Close() error                   { return c.g.Shutdown(context.Background()) }

var _ aio.Resource = (*conn)(nil)

func TestResource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		server := aio.NewGroup()
		c := newConn(server)
		if isClosed(c.Done()) || c.Context().Err() != nil {
			t.Fatal("new resource looks closed")
		}
		reason := errors.New("peer went away")
		c.g.CloseWithCause(reason)
		if context.Cause(c.Context()) != reason {
			t.Fatalf("context cause %v, want %v", context.Cause(c.Context()), reason)
		}
		if err := c.Wait(t.Context()); err != reason {
			t.Fatalf("Wait = %v, want %v", err, reason)
		}
		if !isClosed(c.Done()) || !c.in.IsClosed() {
			t.Fatal("the resource's goroutine did not run its cleanup")
		}
		if server.IsClosing() {
			t.Error("closing a resource closed its parent")
		}
		if err := c.Close(); err != reason {
			t.Errorf("Close of a failed resource = %v, want %v", err, reason)
		}

		// Closing the parent closes every resource made in it, plainly.
		a, b := newConn(server), newConn(server)
		if err := server.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, r := range []aio.Resource{a, b} {
			if !isClosed(r.Done()) {
				t.Error("resource not closed with its parent")
			}
			if err := r.Wait(t.Context()); err != nil {
				t.Errorf("Wait after the parent's plain close = %v", err)
			}
		}
	})
}
