package aio_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gochatter/gochatter/pkg/aio"
)

// drain takes everything left in a closed queue.
func drain[T any](t *testing.T, q *aio.Queue[T]) []T {
	t.Helper()
	var out []T
	for {
		v, err := q.GetNowait()
		if errors.Is(err, aio.ErrClosed) {
			return out
		}
		if err != nil {
			t.Fatalf("GetNowait: %v", err)
		}
		out = append(out, v)
	}
}

func TestQueueFIFO(t *testing.T) {
	ctx := t.Context()
	for _, max := range []int{0, 1, 3, 8, 100} {
		q := aio.NewQueue[int](max)
		var want, got []int
		// Interleave puts and gets so the ring wraps and grows.
		next := 0
		for round := range 50 {
			for range 1 + round%7 {
				if err := q.PutNowait(next); errors.Is(err, aio.ErrFull) {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				want = append(want, next)
				next++
			}
			for range 1 + round%5 {
				if q.Len() == 0 {
					break
				}
				v, err := q.Get(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, v)
			}
		}
		q.Close()
		got = append(got, drain(t, q)...)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("maxSize %d: order (-put +got):\n%s", max, diff)
		}
	}
}

func TestQueueUnboundedGrowsAndShrinks(t *testing.T) {
	q := aio.NewQueue[int](0)
	for round := range 3 {
		for i := range 5000 {
			if err := q.PutNowait(i); err != nil {
				t.Fatal(err)
			}
		}
		if q.Len() != 5000 {
			t.Fatalf("round %d: Len = %d", round, q.Len())
		}
		for i := range 5000 {
			v, err := q.GetNowait()
			if err != nil || v != i {
				t.Fatalf("round %d: GetNowait = %v, %v; want %d", round, v, err, i)
			}
		}
	}
	if _, err := q.GetNowait(); !errors.Is(err, aio.ErrEmpty) {
		t.Errorf("GetNowait on empty queue = %v, want ErrEmpty", err)
	}
}

func TestQueueSizes(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{-5, 0}, {0, 0}, {1, 1}, {7, 7}} {
		q := aio.NewQueue[int](tc.in)
		if got := q.MaxSize(); got != tc.want {
			t.Errorf("NewQueue(%d).MaxSize() = %d, want %d", tc.in, got, tc.want)
		}
	}
	q := aio.NewQueue[int](3)
	for i := range 3 {
		if err := q.PutNowait(i); err != nil {
			t.Fatal(err)
		}
		if q.Len() != i+1 {
			t.Errorf("Len = %d, want %d", q.Len(), i+1)
		}
	}
	if err := q.PutNowait(3); !errors.Is(err, aio.ErrFull) {
		t.Errorf("PutNowait on full queue = %v, want ErrFull", err)
	}
	if q.IsClosed() {
		t.Error("new queue closed")
	}
	q.Close()
	q.Close() // idempotent
	if !q.IsClosed() {
		t.Error("IsClosed false after Close")
	}
	if err := q.PutNowait(3); !errors.Is(err, aio.ErrClosed) {
		t.Errorf("PutNowait on closed queue = %v, want ErrClosed", err)
	}
	if err := q.Put(t.Context(), 3); !errors.Is(err, aio.ErrClosed) {
		t.Errorf("Put on closed queue = %v, want ErrClosed", err)
	}
	// Items put before Close are still delivered, then ErrClosed.
	if diff := cmp.Diff([]int{0, 1, 2}, drain(t, q)); diff != "" {
		t.Errorf("items after close (-want +got):\n%s", diff)
	}
	if _, err := q.Get(t.Context()); !errors.Is(err, aio.ErrClosed) {
		t.Errorf("Get on closed, drained queue = %v, want ErrClosed", err)
	}
	if _, err := q.GetUntilEmpty(t.Context()); !errors.Is(err, aio.ErrClosed) {
		t.Errorf("GetUntilEmpty on closed, drained queue = %v, want ErrClosed", err)
	}
	if _, err := q.GetAll(t.Context()); !errors.Is(err, aio.ErrClosed) {
		t.Errorf("GetAll on closed, drained queue = %v, want ErrClosed", err)
	}
}

func TestQueuePutWaitsWhileFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := aio.NewQueue[string](1)
		q.PutNowait("a")
		var put atomic.Bool
		go func() {
			if err := q.Put(t.Context(), "b"); err != nil {
				t.Error(err)
			}
			put.Store(true)
		}()
		synctest.Wait()
		if put.Load() || q.Len() != 1 {
			t.Fatalf("Put on a full queue did not wait (Len %d)", q.Len())
		}
		if v, err := q.Get(t.Context()); v != "a" || err != nil {
			t.Fatalf("Get = %q, %v", v, err)
		}
		synctest.Wait()
		if !put.Load() {
			t.Fatal("Put still waiting after a Get made room")
		}
		if v, err := q.Get(t.Context()); v != "b" || err != nil {
			t.Fatalf("Get = %q, %v", v, err)
		}
	})
}

func TestQueueGetWaitsWhileEmpty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := aio.NewQueue[string](0)
		got := make(chan string, 1)
		go func() {
			v, err := q.Get(t.Context())
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("Get on an empty queue did not wait")
		}
		q.PutNowait("x")
		if v := <-got; v != "x" {
			t.Errorf("Get = %q, want x", v)
		}
	})
}

// TestQueueCloseWakesEveryone: blocked putters fail with ErrClosed and
// their items are not added; blocked getters get ErrClosed; items already
// queued are still delivered.
func TestQueueCloseWakesEveryone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		full := aio.NewQueue[int](2)
		full.PutNowait(1)
		full.PutNowait(2)
		empty := aio.NewQueue[int](2)
		errs := make(chan error, 10)
		for i := range 5 {
			go func() { errs <- full.Put(t.Context(), 10+i) }()
			go func() {
				_, err := empty.Get(t.Context())
				errs <- err
			}()
		}
		synctest.Wait()
		if len(errs) != 0 {
			t.Fatal("waiters returned before Close")
		}
		full.Close()
		empty.Close()
		for range 10 {
			if err := <-errs; !errors.Is(err, aio.ErrClosed) {
				t.Errorf("woken waiter got %v, want ErrClosed", err)
			}
		}
		if diff := cmp.Diff([]int{1, 2}, drain(t, full)); diff != "" {
			t.Errorf("items after close (-want +got):\n%s", diff)
		}
	})
}

// TestQueueCloseDeliversRemaining: getters blocked before close get the
// remaining items and then ErrClosed, each item exactly once.
func TestQueueCloseDeliversRemaining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := aio.NewQueue[int](0)
		type result struct {
			v   []int
			err error
		}
		results := make(chan result, 4)
		for range 4 {
			go func() {
				var r result
				for {
					v, err := q.Get(t.Context())
					if err != nil {
						r.err = err
						break
					}
					r.v = append(r.v, v)
				}
				results <- r
			}()
		}
		synctest.Wait()
		for i := range 10 {
			q.PutNowait(i)
		}
		q.Close()
		var all []int
		for range 4 {
			r := <-results
			if !errors.Is(r.err, aio.ErrClosed) {
				t.Errorf("getter ended with %v, want ErrClosed", r.err)
			}
			if !slices.IsSorted(r.v) {
				t.Errorf("one getter saw items out of order: %v", r.v)
			}
			all = append(all, r.v...)
		}
		slices.Sort(all)
		if diff := cmp.Diff([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, all); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
	})
}

// TestQueueCancelLeavesQueueConsistent: a Put whose context ends has not
// inserted, a Get whose context ends has not removed.
func TestQueueCancelLeavesQueueConsistent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := aio.NewQueue[string](1)
		q.PutNowait("kept")

		// Put waiting on a full queue, cancelled.
		ctx, cancel := context.WithCancel(t.Context())
		putErr := make(chan error)
		go func() { putErr <- q.Put(ctx, "dropped") }()
		synctest.Wait()
		cancel()
		if err := <-putErr; err != context.Canceled {
			t.Fatalf("cancelled Put = %v, want context.Canceled", err)
		}
		// Put whose deadline passes.
		dctx, dcancel := context.WithTimeout(t.Context(), time.Second)
		defer dcancel()
		if err := q.Put(dctx, "late"); err != context.DeadlineExceeded {
			t.Fatalf("Put past deadline = %v, want DeadlineExceeded", err)
		}
		if q.Len() != 1 {
			t.Fatalf("Len = %d after cancelled Puts, want 1", q.Len())
		}
		if v, _ := q.GetNowait(); v != "kept" {
			t.Fatalf("GetNowait = %q, want kept", v)
		}

		// Get waiting on an empty queue, cancelled, then an item arrives.
		ctx, cancel = context.WithCancel(t.Context())
		getErr := make(chan error)
		go func() {
			_, err := q.Get(ctx)
			getErr <- err
		}()
		go func() {
			_, err := q.GetUntilEmpty(ctx)
			getErr <- err
		}()
		go func() {
			_, err := q.GetAll(ctx)
			getErr <- err
		}()
		synctest.Wait()
		cancel()
		for range 3 {
			if err := <-getErr; err != context.Canceled {
				t.Fatalf("cancelled Get = %v, want context.Canceled", err)
			}
		}
		q.PutNowait("next")
		if v, err := q.GetNowait(); v != "next" || err != nil {
			t.Fatalf("GetNowait = %q, %v; want next", v, err)
		}
		// A done context does not stop a Get that has an item at hand.
		q.PutNowait("ready")
		if v, err := q.Get(ctx); v != "ready" || err != nil {
			t.Fatalf("Get with done ctx and an item = %q, %v", v, err)
		}
		if _, err := q.Get(ctx); err != context.Canceled {
			t.Fatalf("Get with done ctx on empty queue = %v", err)
		}
		if q.Len() != 0 {
			t.Fatalf("Len = %d, want 0", q.Len())
		}
	})
}

// TestQueueCancelWhileWoken: a getter whose context ends just as it is
// served either returns the item it was handed or leaves it to the next
// getter; the item is never lost nor delivered twice. Both orders of
// cancellation and put are tried.
func TestQueueCancelWhileWoken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		type result struct {
			v   int
			err error
		}
		for round := range 100 {
			q := aio.NewQueue[int](0)
			ctx, cancel := context.WithCancel(t.Context())
			first, second := make(chan result, 1), make(chan result, 1)
			go func() {
				v, err := q.Get(ctx)
				first <- result{v, err}
			}()
			synctest.Wait() // first is parked, at the head of the waiters
			go func() {
				v, err := q.Get(t.Context())
				second <- result{v, err}
			}()
			synctest.Wait()
			if round%2 == 0 {
				cancel()
				q.PutNowait(1)
			} else {
				q.PutNowait(1)
				cancel()
			}
			synctest.Wait()
			if q.Len() != 0 {
				t.Fatal("an item sits in the queue while a getter waits: lost wake-up")
			}
			r1 := <-first
			switch {
			case r1.err == nil && r1.v == 1:
				q.PutNowait(2) // release the second getter
				if r2 := <-second; r2.err != nil || r2.v != 2 {
					t.Fatalf("second getter: %v, %v; want 2", r2.v, r2.err)
				}
			case r1.err == context.Canceled:
				if r2 := <-second; r2.err != nil || r2.v != 1 {
					t.Fatalf("second getter: %v, %v; want 1", r2.v, r2.err)
				}
			default:
				t.Fatalf("first getter: %v, %v", r1.v, r1.err)
			}
			if round%2 == 1 && r1.err != nil {
				t.Fatal("a getter served before its context ended reported the cancellation")
			}
		}
	})
}

// wrappedQueue returns a full queue of 4 holding 2, 3, 4, 5, whose items
// wrap around the end of its ring: the head was moved on first.
func wrappedQueue() *aio.Queue[int] {
	q := aio.NewQueue[int](4)
	for i := range 3 {
		q.PutNowait(i)
	}
	q.GetNowait()
	q.GetNowait()
	for i := 3; i < 6; i++ {
		q.PutNowait(i)
	}
	return q
}

func TestQueueGetAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := wrappedQueue()
		// Two putters wait for room.
		for i := 6; i < 8; i++ {
			go func() {
				if err := q.Put(t.Context(), i); err != nil {
					t.Error(err)
				}
			}()
			synctest.Wait()
		}
		got, err := q.GetAll(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int{2, 3, 4, 5}, got); diff != "" {
			t.Errorf("GetAll (-want +got):\n%s", diff)
		}
		synctest.Wait() // both putters found room at once
		got, err = q.GetAll(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int{6, 7}, got); diff != "" {
			t.Errorf("GetAll after putters (-want +got):\n%s", diff)
		}

		// It waits for at least one item.
		res := make(chan []int)
		go func() {
			v, _ := q.GetAll(t.Context())
			res <- v
		}()
		synctest.Wait()
		q.PutNowait(8)
		if diff := cmp.Diff([]int{8}, <-res); diff != "" {
			t.Errorf("waiting GetAll (-want +got):\n%s", diff)
		}
	})
}

// GetUntilEmpty is hat's get_until_empty: the newest item, the queue
// emptied.
func TestQueueGetUntilEmpty(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := wrappedQueue()
		// A putter waits for room; emptying lets it in, after the newest
		// item was taken.
		go func() {
			if err := q.Put(t.Context(), 6); err != nil {
				t.Error(err)
			}
		}()
		synctest.Wait()
		if v, err := q.GetUntilEmpty(t.Context()); v != 5 || err != nil {
			t.Fatalf("GetUntilEmpty = %d, %v; want 5", v, err)
		}
		synctest.Wait()
		if n := q.Len(); n != 1 {
			t.Fatalf("Len after GetUntilEmpty with a waiting putter = %d, want 1", n)
		}
		if v, err := q.GetUntilEmpty(t.Context()); v != 6 || err != nil {
			t.Fatalf("GetUntilEmpty = %d, %v; want 6", v, err)
		}

		// It waits for at least one item.
		res := make(chan int)
		go func() {
			v, _ := q.GetUntilEmpty(t.Context())
			res <- v
		}()
		synctest.Wait()
		q.PutNowait(8)
		if v := <-res; v != 8 {
			t.Errorf("waiting GetUntilEmpty = %d, want 8", v)
		}
		if n := q.Len(); n != 0 {
			t.Errorf("Len = %d, want 0", n)
		}
	})
}

func TestQueueAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := aio.NewQueue[int](2)
		go func() {
			for i := range 10 {
				if err := q.Put(t.Context(), i); err != nil {
					t.Error(err)
				}
			}
			q.Close()
		}()
		var got []int
		for v := range q.All(t.Context()) {
			got = append(got, v)
			if v == 4 {
				break // leaves the rest in the queue
			}
		}
		for v := range q.All(t.Context()) {
			got = append(got, v)
		}
		if diff := cmp.Diff([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, got); diff != "" {
			t.Errorf("All (-want +got):\n%s", diff)
		}

		// All ends when its context does.
		open := aio.NewQueue[int](0)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		open.PutNowait(1)
		n := 0
		for range open.All(ctx) {
			n++
		}
		if n != 1 || ctx.Err() != context.DeadlineExceeded {
			t.Errorf("All on open queue: %d items, ctx %v", n, ctx.Err())
		}
	})
}

func TestQueueSignals(t *testing.T) {
	q := aio.NewQueue[int](1)
	if isClosed(q.NotEmpty()) {
		t.Error("NotEmpty ready on an empty queue")
	}
	if !isClosed(q.NotFull()) {
		t.Error("NotFull not ready on an empty queue")
	}
	notEmpty := q.NotEmpty()
	q.PutNowait(1)
	if !isClosed(notEmpty) || !isClosed(q.NotEmpty()) {
		t.Error("NotEmpty not signalled by a put")
	}
	notFull := q.NotFull()
	if isClosed(notFull) {
		t.Error("NotFull ready on a full queue")
	}
	q.GetNowait()
	if !isClosed(notFull) {
		t.Error("NotFull not signalled by a get")
	}
	if isClosed(q.NotEmpty()) {
		t.Error("NotEmpty ready after the queue emptied")
	}

	// Close signals both.
	q.PutNowait(1)
	notFull = q.NotFull()
	q.Close()
	if !isClosed(notFull) || !isClosed(q.NotEmpty()) || !isClosed(q.NotFull()) {
		t.Error("Close did not signal NotFull, or NotEmpty and NotFull not ready after Close")
	}
	empty := aio.NewQueue[int](1)
	notEmpty = empty.NotEmpty()
	empty.Close()
	if !isClosed(notEmpty) {
		t.Error("Close did not signal a pending NotEmpty")
	}

	if !isClosed(aio.NewQueue[int](0).NotFull()) {
		t.Error("NotFull not ready on an unbounded queue")
	}
}

// TestQueueSelect: NotEmpty and NotFull in select statements with other
// channels, and the GetNowait/PutNowait that follow them.
func TestQueueSelect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := aio.NewQueue[int](2)
		stop := make(chan struct{})
		var got []int
		done := make(chan struct{})
		go func() { // consumer
			defer close(done)
			for {
				select {
				case <-q.NotEmpty():
					v, err := q.GetNowait()
					if errors.Is(err, aio.ErrClosed) {
						return
					}
					if err == nil {
						got = append(got, v)
					}
				case <-stop:
					t.Error("stopped early")
					return
				}
			}
		}()
		for i := 0; i < 20; {
			select {
			case <-q.NotFull():
				if err := q.PutNowait(i); err == nil {
					i++
				} else if !errors.Is(err, aio.ErrFull) {
					t.Fatal(err)
				}
			case <-stop:
			}
		}
		q.Close()
		<-done
		close(stop)
		if diff := cmp.Diff(20, len(got)); diff != "" || !slices.IsSorted(got) {
			t.Errorf("got %v", got)
		}
	})
}

// TestQueueStress: many putters and getters, bounded and unbounded, some
// with contexts that end at random; every item that a Put reports as added
// is delivered exactly once, and no other. Run with -race.
func TestQueueStress(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  int
	}{{"unbounded", 0}, {"max=1", 1}, {"max=7", 7}} {
		t.Run(tc.name, func(t *testing.T) {
			const putters, getters, perPutter = 6, 6, 2000
			q := aio.NewQueue[int](tc.max)
			var added [putters * perPutter]atomic.Bool
			var seen [putters * perPutter]atomic.Int32
			var pw, gw sync.WaitGroup
			for p := range putters {
				pw.Go(func() {
					r := rand.New(rand.NewPCG(uint64(p), 1))
					for i := range perPutter {
						v := p*perPutter + i
						var err error
						switch r.IntN(4) {
						case 0: // a context that may end while waiting
							ctx, cancel := context.WithCancel(context.Background())
							if r.IntN(2) == 0 {
								cancel()
							} else {
								go cancel()
							}
							err = q.Put(ctx, v)
							cancel()
						case 1:
							err = q.PutNowait(v)
						default:
							err = q.Put(context.Background(), v)
						}
						switch {
						case err == nil:
							added[v].Store(true)
						case errors.Is(err, context.Canceled), errors.Is(err, aio.ErrFull):
						default:
							t.Errorf("put: %v", err)
						}
					}
				})
			}
			take := func(v int) {
				if seen[v].Add(1) != 1 {
					t.Errorf("item %d delivered twice", v)
				}
			}
			for g := range getters {
				gw.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 2))
					for {
						switch r.IntN(4) {
						case 0:
							ctx, cancel := context.WithCancel(context.Background())
							go cancel()
							v, err := q.Get(ctx)
							cancel()
							if err == nil {
								take(v)
							} else if errors.Is(err, aio.ErrClosed) {
								return
							}
						case 1:
							vs, err := q.GetAll(context.Background())
							if errors.Is(err, aio.ErrClosed) {
								return
							}
							for _, v := range vs {
								take(v)
							}
						case 2:
							v, err := q.GetNowait()
							if err == nil {
								take(v)
							} else if errors.Is(err, aio.ErrClosed) {
								return
							} else {
								<-q.NotEmpty()
							}
						default:
							v, err := q.Get(context.Background())
							if errors.Is(err, aio.ErrClosed) {
								return
							}
							take(v)
						}
					}
				})
			}
			pw.Wait()
			q.Close()
			gw.Wait()
			n := 0
			for v := range added {
				if added[v].Load() {
					n++
				}
				want := int32(0)
				if added[v].Load() {
					want = 1
				}
				if seen[v].Load() != want {
					t.Fatalf("item %d: added %v, delivered %d times", v, added[v].Load(), seen[v].Load())
				}
			}
			if n < putters*perPutter/3 {
				t.Errorf("only %d items added; the test exercises too little", n)
			}
		})
	}
}
