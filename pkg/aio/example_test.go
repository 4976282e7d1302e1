package aio_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gochatter/gochatter/pkg/aio"
)

// A group running a pool of workers that take jobs from one queue and put
// results on another. Closing the jobs queue lets the workers drain it and
// return; the group's Shutdown then waits for all of them.
func ExampleGroup() {
	ctx := context.Background()
	g := aio.NewGroup()
	jobs := aio.NewQueue[int](4)
	results := aio.NewQueue[string](0)

	for range 3 {
		g.Spawn(func(ctx context.Context) error {
			for n := range jobs.All(ctx) { // ends when jobs is closed and drained
				results.PutNowait(fmt.Sprintf("%d² = %d", n, n*n))
			}
			return nil
		})
	}
	for n := range 5 {
		jobs.Put(ctx, n+1) // waits while the workers are behind
	}
	jobs.Close()

	// The workers return by themselves; Shutdown waits for them (and would
	// cancel any still waiting on their context).
	if err := g.Shutdown(ctx); err != nil {
		fmt.Println("shutdown:", err)
	}
	results.Close()
	var out []string
	for r := range results.All(ctx) {
		out = append(out, r)
	}
	slices.Sort(out) // the workers finish in any order
	for _, r := range out {
		fmt.Println(r)
	}
	// Output:
	// 1² = 1
	// 2² = 4
	// 3² = 9
	// 4² = 16
	// 5² = 25
}

// The connection pattern: the first goroutine to fail closes the group with
// its error as the reason; the others see their context cancelled and stop,
// and Wait reports the reason.
func ExampleGroup_Spawn() {
	g := aio.NewGroup()
	errPeerGone := errors.New("peer went away")

	g.Spawn(func(ctx context.Context) error { // the writer
		<-ctx.Done()
		fmt.Println("writer stopped:", context.Cause(ctx))
		return nil
	})
	g.Spawn(func(ctx context.Context) error { // the reader
		return errPeerGone // say, the read failed
	})

	fmt.Println("closed:", g.Wait(context.Background()))
	// Output:
	// writer stopped: peer went away
	// closed: peer went away
}

// Child groups bound the life of one part of a program: a server closes one
// connection's group without touching the others, and closing the server
// closes them all.
func ExampleGroup_NewChild() {
	server := aio.NewGroup()
	conns := make([]*aio.Group, 3)
	for i := range conns {
		conns[i] = server.NewChild()
		conns[i].Spawn(func(ctx context.Context) error {
			<-ctx.Done()
			return nil
		})
	}

	conns[0].Shutdown(context.Background())
	fmt.Println(conns[0].IsClosed(), conns[1].IsClosed(), server.IsClosing())

	server.Shutdown(context.Background())
	fmt.Println(conns[1].IsClosed(), conns[2].IsClosed(), server.IsClosed())
	// Output:
	// true false false
	// true true true
}

// A producer and a consumer over a bounded queue. The producer closes the
// queue when done; the consumer still receives every item, then its loop
// ends.
func ExampleQueue() {
	ctx := context.Background()
	g := aio.NewGroup()
	q := aio.NewQueue[string](2)

	g.Spawn(func(ctx context.Context) error {
		defer q.Close()
		for _, word := range []string{"hello", "from", "the", "producer"} {
			if err := q.Put(ctx, word); err != nil { // waits while q is full
				return err
			}
		}
		return nil
	})

	for word := range q.All(ctx) {
		fmt.Println(word)
	}
	g.Shutdown(ctx)
	// Output:
	// hello
	// from
	// the
	// producer
}

// Consuming a queue in a select statement, next to other channels: wait on
// NotEmpty, then take with GetNowait. NotEmpty is a one-shot signal, so it is
// called afresh on each turn of the loop.
func ExampleQueue_NotEmpty() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q := aio.NewQueue[int](0)
	ticker := time.NewTicker(time.Hour) // say, a keepalive
	defer ticker.Stop()

	for n := range 3 {
		q.PutNowait(n)
	}
	q.Close()

	for {
		select {
		case <-q.NotEmpty():
			n, err := q.GetNowait()
			if errors.Is(err, aio.ErrEmpty) {
				continue // another consumer came first
			}
			if errors.Is(err, aio.ErrClosed) {
				fmt.Println("queue closed and drained")
				return
			}
			fmt.Println("got", n)
		case <-ticker.C:
			fmt.Println("keepalive")
		case <-ctx.Done():
			fmt.Println("gave up:", ctx.Err())
			return
		}
	}
	// Output:
	// got 0
	// got 1
	// got 2
	// queue closed and drained
}

// A writer takes everything queued at once, to write it in one go.
func ExampleQueue_GetAll() {
	ctx := context.Background()
	q := aio.NewQueue[string](0)
	for _, f := range []string{"frame1", "frame2", "frame3"} {
		q.PutNowait(f)
	}
	batch, err := q.GetAll(ctx)
	fmt.Println(batch, err, q.Len())
	// Output:
	// [frame1 frame2 frame3] <nil> 0
}

// A reader of state updates that only cares about the latest one skips
// those it fell behind on.
func ExampleQueue_GetUntilEmpty() {
	ctx := context.Background()
	q := aio.NewQueue[string](0)
	for _, s := range []string{"connecting", "connected", "degraded"} {
		q.PutNowait(s)
	}
	latest, err := q.GetUntilEmpty(ctx)
	fmt.Println(latest, err, q.Len())
	// Output:
	// degraded <nil> 0
}

// Echo is a resource: its own lifecycle methods over an unexported group,
// whose Spawn and NewChild stay its machinery.
type Echo struct {
	g  *aio.Group
	in *aio.Queue[string]
}

var _ aio.Resource = (*Echo)(nil)

func NewEcho(parent *aio.Group) *Echo {
	e := &Echo{g: parent.NewChild(), in: aio.NewQueue[string](8)}
	e.g.Spawn(func(ctx context.Context) error {
		defer e.g.Close() // the input is done, so is the echo
		for s := range e.in.All(ctx) {
			fmt.Println("echo:", s)
		}
		return nil
	})
	return e
}

func (e *Echo) Context() context.Context       { return e.g.Context() }
func (e *Echo) Done() <-chan struct{}          { return e.g.Closed() }
func (e *Echo) Wait(ctx context.Context) error { return e.g.Wait(ctx) }
func (e *Echo) Close() error                   { return e.g.Shutdown(context.Background()) }

func ExampleResource() {
	root := aio.NewGroup()
	e := NewEcho(root)
	e.in.Put(context.Background(), "ping")
	e.in.Close() // the echo goroutine drains its input, returns and closes e
	fmt.Println("wait:", e.Wait(context.Background()))
	<-e.Done()
	fmt.Println("closed, context:", e.Context().Err())
	root.Shutdown(context.Background())
	// Output:
	// echo: ping
	// wait: <nil>
	// closed, context: context canceled
}
