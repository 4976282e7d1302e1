package aio_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gochatter/gochatter/pkg/aio"
)

// shutdown closes g and fails the test if it is not closed within a (real)
// minute: long enough never to fire on a slow machine, short enough to name
// the culprit instead of a global test timeout.
func shutdown(t *testing.T, g *aio.Group) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Shutdown reports the cause, which some tests chose; only a group
	// that does not close is a failure here.
	if err := g.Shutdown(ctx); ctx.Err() != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// waitCtx is a function for Spawn that returns when its context ends.
func waitCtx(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func TestSpawnContextCancelledOnClose(t *testing.T) {
	g := aio.NewGroup()
	causes := make(chan error, 1)
	started := make(chan struct{})
	if err := g.Spawn(func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil
	}); err != nil {
		t.Fatalf("Spawn: %v", err)
	}
	<-started
	if g.IsClosing() || g.Cause() != nil {
		t.Fatalf("open group: IsClosing %v, Cause %v", g.IsClosing(), g.Cause())
	}
	if err := g.Context().Err(); err != nil {
		t.Fatalf("open group's context: %v", err)
	}
	g.Close()
	if !g.IsClosing() || !isClosed(g.Closing()) {
		t.Fatal("Close did not begin closing")
	}
	shutdown(t, g)
	if got := <-causes; got != aio.ErrClosed {
		t.Errorf("spawned function saw cause %v, want ErrClosed", got)
	}
	if got := g.Cause(); got != aio.ErrClosed {
		t.Errorf("Cause() = %v, want ErrClosed", got)
	}
	if got := context.Cause(g.Context()); got != aio.ErrClosed {
		t.Errorf("context.Cause(Context()) = %v, want ErrClosed", got)
	}
	if !g.IsClosed() || !isClosed(g.Closed()) {
		t.Error("group not reported closed after Shutdown")
	}
}

func TestSpawnOnClosingGroup(t *testing.T) {
	g := aio.NewGroup()
	release := make(chan struct{})
	if err := g.Spawn(func(context.Context) error { <-release; return nil }); err != nil {
		t.Fatal(err)
	}
	g.Close()
	ran := false
	if err := g.Spawn(func(context.Context) error { ran = true; return nil }); !errors.Is(err, aio.ErrClosed) {
		t.Errorf("Spawn on closing group = %v, want ErrClosed", err)
	}
	close(release)
	shutdown(t, g)
	if err := g.Spawn(func(context.Context) error { ran = true; return nil }); !errors.Is(err, aio.ErrClosed) {
		t.Errorf("Spawn on closed group = %v, want ErrClosed", err)
	}
	if ran {
		t.Error("a function spawned on a closing group ran")
	}
}

func TestCloseParentClosesChildren(t *testing.T) {
	root := aio.NewGroup()
	child := root.NewChild()
	grandchild := child.NewChild()
	sibling := root.NewChild()
	for _, g := range []*aio.Group{root, child, grandchild, sibling} {
		if err := g.Spawn(waitCtx); err != nil {
			t.Fatal(err)
		}
	}
	root.Close()
	for name, g := range map[string]*aio.Group{"child": child, "grandchild": grandchild, "sibling": sibling} {
		if !g.IsClosing() {
			t.Errorf("%s not closing after the root's Close returned", name)
		}
		if g.Cause() != aio.ErrClosed {
			t.Errorf("%s cause = %v, want ErrClosed", name, g.Cause())
		}
	}
	shutdown(t, root)
	for name, g := range map[string]*aio.Group{"child": child, "grandchild": grandchild, "sibling": sibling} {
		if !g.IsClosed() {
			t.Errorf("%s not closed when the root is", name)
		}
	}
}

func TestCloseChildLeavesParentOpen(t *testing.T) {
	parent := aio.NewGroup()
	child := parent.NewChild()
	if err := child.Spawn(waitCtx); err != nil {
		t.Fatal(err)
	}
	shutdown(t, child)
	if parent.IsClosing() {
		t.Fatal("closing a child closed its parent")
	}
	if err := parent.Context().Err(); err != nil {
		t.Fatalf("parent context: %v", err)
	}
	if err := parent.Spawn(waitCtx); err != nil {
		t.Fatalf("Spawn on parent after child closed: %v", err)
	}
	shutdown(t, parent)
}

// TestClosedWaitsForEverything: Closed fires only once every goroutine of the
// group and every goroutine of every descendant has returned, and a child is
// reported closed before its parent.
func TestClosedWaitsForEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent := aio.NewGroup()
		child := parent.NewChild()
		var parentDone, childDone atomic.Bool
		releaseParent, releaseChild := make(chan struct{}), make(chan struct{})
		parent.Spawn(func(context.Context) error {
			<-releaseParent // ignores its context
			parentDone.Store(true)
			return nil
		})
		child.Spawn(func(context.Context) error {
			<-releaseChild
			childDone.Store(true)
			return nil
		})
		// Watch both groups report closed; a child must be reported closed
		// before its parent.
		watch := aio.NewGroup()
		record := make(chan string)
		for name, g := range map[string]*aio.Group{"parent": parent, "child": child} {
			watch.Spawn(func(context.Context) error {
				<-g.Closed()
				if name == "parent" && !(parentDone.Load() && childDone.Load() && isClosed(child.Closed())) {
					t.Error("parent closed before all its goroutines and children finished")
				}
				if name == "child" && !childDone.Load() {
					t.Error("child closed before its goroutine finished")
				}
				record <- name
				return nil
			})
		}

		parent.Close()
		synctest.Wait()
		if parent.IsClosed() || child.IsClosed() {
			t.Fatal("groups closed while their goroutines run")
		}
		close(releaseParent)
		synctest.Wait() // the parent's own goroutine is done, the child's is not
		if aio.NumRunning(parent) != 0 {
			t.Fatal("parent's goroutine still counted after it returned")
		}
		if parent.IsClosed() {
			t.Fatal("parent closed while a child's goroutine runs")
		}
		close(releaseChild)
		<-record
		<-record
		if err := parent.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		watch.Close()
	})
}

func TestCloseIsIdempotentAndWorksFromInside(t *testing.T) {
	g := aio.NewGroup()
	child := g.NewChild()
	start := make(chan struct{})
	for range 3 {
		if err := g.Spawn(func(ctx context.Context) error {
			<-start
			g.Close() // every goroutine closes its own group, concurrently
			g.Close()
			<-ctx.Done()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// A child's goroutine closing the parent, and the child itself.
	if err := child.Spawn(func(ctx context.Context) error {
		<-start
		child.Close()
		g.Close()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	close(start)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := g.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	g.Close()
	g.CloseWithCause(errors.New("late"))
	if g.Cause() != aio.ErrClosed {
		t.Errorf("Cause after repeated closes = %v, want ErrClosed", g.Cause())
	}
}

func TestCloseWithCauseKeepsFirstReason(t *testing.T) {
	first, second := errors.New("first"), errors.New("second")
	g := aio.NewGroup()
	child := g.NewChild()
	g.CloseWithCause(first)
	g.CloseWithCause(second)
	g.Close()
	for name, gr := range map[string]*aio.Group{"group": g, "child": child} {
		if got := gr.Cause(); got != first {
			t.Errorf("%s Cause() = %v, want %v", name, got, first)
		}
		if got := context.Cause(gr.Context()); got != first {
			t.Errorf("%s context.Cause = %v, want %v", name, got, first)
		}
	}
	late := g.NewChild()
	if got := late.Cause(); got != first {
		t.Errorf("child made after close: Cause() = %v, want %v", got, first)
	}
	g2 := aio.NewGroup()
	g2.CloseWithCause(nil)
	if got := g2.Cause(); got != aio.ErrClosed {
		t.Errorf("CloseWithCause(nil): Cause() = %v, want ErrClosed", got)
	}
	shutdown(t, g)
	shutdown(t, g2)
}

// TestFirstErrorCloses: as in errgroup, the first function to fail closes
// the group with its error; the others are cancelled with it as the cause,
// their own errors after that are dropped, and Wait reports the first.
func TestFirstErrorCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := aio.NewGroup()
		child := g.NewChild()
		boom := errors.New("boom")
		causes := make(chan error, 3)
		for range 2 {
			g.Spawn(func(ctx context.Context) error {
				<-ctx.Done()
				causes <- context.Cause(ctx)
				return errors.New("later failure") // dropped: the cause is decided
			})
		}
		child.Spawn(func(ctx context.Context) error {
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		})
		synctest.Wait()
		if g.IsClosing() {
			t.Fatal("group closing before anything failed")
		}
		g.Spawn(func(context.Context) error { return boom })
		if err := g.Wait(t.Context()); err != boom {
			t.Errorf("Wait = %v, want %v", err, boom)
		}
		for range 3 {
			if c := <-causes; c != boom {
				t.Errorf("a stopped function saw cause %v, want %v", c, boom)
			}
		}
		if g.Cause() != boom || child.Cause() != boom {
			t.Errorf("Cause = %v, child's %v; want %v", g.Cause(), child.Cause(), boom)
		}
		if err := child.Wait(t.Context()); err != boom {
			t.Errorf("child Wait = %v, want %v", err, boom)
		}
	})
}

// TestWaitReportsHowItClosed: nil after a plain Close, of the group or of
// its parent; the cause after CloseWithCause.
func TestWaitReportsHowItClosed(t *testing.T) {
	reason := errors.New("peer went away")
	parent := aio.NewGroup()
	child := parent.NewChild()
	failed := parent.NewChild()
	failed.CloseWithCause(reason)
	parent.Close()
	for name, c := range map[string]struct {
		g    *aio.Group
		want error
	}{"parent": {parent, nil}, "child of a plain Close": {child, nil}, "failed child": {failed, reason}} {
		if err := c.g.Wait(t.Context()); err != c.want {
			t.Errorf("%s: Wait = %v, want %v", name, err, c.want)
		}
	}
	if child.Cause() != aio.ErrClosed {
		t.Errorf("child's Cause = %v, want ErrClosed", child.Cause())
	}
	late := parent.NewChild()
	if err := late.Wait(t.Context()); err != nil {
		t.Errorf("child made after a plain Close: Wait = %v, want nil", err)
	}
}

// TestAccessorsAreStable: Closing, Closed and Context return what the
// constructor made, before and after Close.
func TestAccessorsAreStable(t *testing.T) {
	g := aio.NewGroup()
	closing, closed, ctx := g.Closing(), g.Closed(), g.Context()
	g.Close()
	if g.Closing() != closing || g.Closed() != closed || g.Context() != ctx {
		t.Error("an accessor returned a different channel or context after Close")
	}
	shutdown(t, g)
}

// TestWaitDeadline: a goroutine that does not stop when asked keeps the group
// from closing, and Wait gives up at its deadline (fake time).
func TestWaitDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := aio.NewGroup()
		release := make(chan struct{})
		g.Spawn(func(context.Context) error {
			<-release // ignores its context
			return nil
		})
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if err := g.Shutdown(ctx); err != context.DeadlineExceeded {
			t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Shutdown gave up after %v, want 5s", d)
		}
		if g.IsClosed() || !g.IsClosing() {
			t.Fatalf("IsClosing %v IsClosed %v, want true false", g.IsClosing(), g.IsClosed())
		}
		close(release)
		if err := g.Wait(t.Context()); err != nil {
			t.Fatalf("Wait after release: %v", err)
		}
	})
}

// TestReturningDoesNotClose: a goroutine that ends by itself without an
// error leaves the group open.
func TestReturningDoesNotClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := aio.NewGroup()
		child := g.NewChild()
		g.Spawn(func(context.Context) error { return nil })
		child.Spawn(func(context.Context) error { return nil })
		synctest.Wait()
		for name, gr := range map[string]*aio.Group{"group": g, "child": child} {
			if gr.IsClosing() || gr.IsClosed() || isClosed(gr.Closed()) {
				t.Errorf("%s closing after its only goroutine returned", name)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour)
		defer cancel()
		if err := g.Wait(ctx); err != context.DeadlineExceeded {
			t.Errorf("Wait on an open group = %v, want DeadlineExceeded", err)
		}
		g.Close()
		if err := g.Wait(t.Context()); err != nil {
			t.Errorf("Wait: %v", err)
		}
	})
}

// TestFinishedChildrenAreForgotten: a server making and closing a child per
// connection does not grow its parent's bookkeeping.
func TestFinishedChildrenAreForgotten(t *testing.T) {
	parent := aio.NewGroup()
	const n = 1000
	var wg sync.WaitGroup
	for i := range n {
		child := parent.NewChild()
		child.Spawn(waitCtx)
		if i%2 == 0 {
			shutdown(t, child) // closed by its owner
		} else {
			wg.Go(func() { shutdown(t, child) }) // closed concurrently
		}
	}
	wg.Wait()
	if got := aio.NumChildren(parent); got != 0 {
		t.Errorf("parent still tracks %d closed children", got)
	}
	open := parent.NewChild()
	if got := aio.NumChildren(parent); got != 1 {
		t.Errorf("parent tracks %d children, want 1 open one", got)
	}
	shutdown(t, parent)
	if !open.IsClosed() || aio.NumChildren(parent) != 0 {
		t.Error("closed parent still tracks its child")
	}
}

func TestNewChildOfClosingGroup(t *testing.T) {
	parent := aio.NewGroup()
	release := make(chan struct{})
	parent.Spawn(func(context.Context) error { <-release; return nil })
	parent.Close()
	child := parent.NewChild()
	if !child.IsClosing() || !child.IsClosed() {
		t.Errorf("child of closing group: IsClosing %v IsClosed %v, want both", child.IsClosing(), child.IsClosed())
	}
	if err := child.Spawn(waitCtx); !errors.Is(err, aio.ErrClosed) {
		t.Errorf("Spawn on child of closing group = %v, want ErrClosed", err)
	}
	if child.Context().Err() == nil {
		t.Error("child of closing group has a live context")
	}
	close(release)
	shutdown(t, parent)
}

// TestConcurrentUse hammers one tree from many goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	root := aio.NewGroup()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				c := root.NewChild()
				c.Spawn(waitCtx)
				c.Spawn(func(context.Context) error { return errors.New("x") })
				if c2 := c.NewChild(); j%3 == 0 {
					c2.Spawn(waitCtx)
				}
				_ = c.Context()
				if (i+j)%2 == 0 {
					c.Close()
				} else {
					c.CloseWithCause(errors.New("cause"))
				}
				_, _ = c.IsClosed(), c.Cause()
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			root.Spawn(func(context.Context) error { return nil })
		}
	})
	wg.Wait()
	shutdown(t, root)
	if got := aio.NumChildren(root); got != 0 {
		t.Errorf("root tracks %d children after close", got)
	}
}

// TestPanicIsNotRecovered runs itself in a child process: a panic in a
// spawned function must crash the program, not turn into an error.
func TestPanicIsNotRecovered(t *testing.T) {
	if os.Getenv("AIO_TEST_PANIC") == "1" {
		g := aio.NewGroup()
		g.Spawn(func(context.Context) error { panic("spawned bug") })
		g.Wait(context.Background())
		return
	}
	if testing.Short() {
		t.Skip("runs a child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPanicIsNotRecovered$")
	cmd.Env = append(os.Environ(), "AIO_TEST_PANIC=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(string(out), "panic: spawned bug") {
		t.Fatalf("child process: err %v, output:\n%s", err, out)
	}
}

// NewGroupFrom keeps the values of its ctx, not its end.
func TestNewGroupFrom(t *testing.T) {
	type key struct{}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, 7))
	g := aio.NewGroupFrom(ctx)
	cancel()
	if v := g.Context().Value(key{}); v != 7 {
		t.Errorf("value %v", v)
	}
	select {
	case <-g.Closing():
		t.Error("the group closed with its ctx")
	default:
	}
	if v := g.NewChild().Context().Value(key{}); v != 7 {
		t.Errorf("child's value %v", v)
	}
	g.Close()
}
