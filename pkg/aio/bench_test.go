package aio_test

import (
	"context"
	"sync"
	"testing"

	"github.com/gochatter/gochatter/pkg/aio"
)

// The handoff benchmarks move b.N ints from one goroutine to another, the
// way a connection's reader hands work to its supervisor. Each Queue sits
// next to a buffered channel doing the same job; compare them with
//
//	benchstat -col /impl bench.txt
//
// An unbounded Queue is compared with a channel of 4096, as near as a
// channel gets.
func BenchmarkHandoff(b *testing.B) {
	for _, size := range []struct {
		name      string
		queue, ch int
		batchToo  bool
	}{
		{name: "1", queue: 1, ch: 1},
		{name: "128", queue: 128, ch: 128, batchToo: true},
		{name: "unbounded", queue: 0, ch: 4096},
	} {
		b.Run("size="+size.name+"/impl=chan", func(b *testing.B) { benchChan(b, size.ch) })
		b.Run("size="+size.name+"/impl=queue", func(b *testing.B) { benchQueue(b, size.queue) })
		if size.batchToo {
			b.Run("size="+size.name+"/impl=queue-batch", func(b *testing.B) { benchQueueBatch(b, size.queue) })
		}
	}
}

func benchChan(b *testing.B, size int) {
	b.ReportAllocs()
	ch := make(chan int, size)
	done := make(chan int)
	go func() {
		sum := 0
		for v := range ch {
			sum += v
		}
		done <- sum
	}()
	for i := 0; b.Loop(); i++ {
		ch <- i
	}
	close(ch)
	<-done
}

func benchQueue(b *testing.B, size int) {
	b.ReportAllocs()
	ctx := context.Background()
	q := aio.NewQueue[int](size)
	done := make(chan int)
	go func() {
		sum := 0
		for {
			v, err := q.Get(ctx)
			if err != nil {
				break
			}
			sum += v
		}
		done <- sum
	}()
	for i := 0; b.Loop(); i++ {
		if err := q.Put(ctx, i); err != nil {
			b.Fatal(err)
		}
	}
	q.Close()
	<-done
}

// benchQueueBatch is the writer's pattern: take everything queued at once.
func benchQueueBatch(b *testing.B, size int) {
	b.ReportAllocs()
	ctx := context.Background()
	q := aio.NewQueue[int](size)
	done := make(chan int)
	go func() {
		sum := 0
		for {
			vs, err := q.GetAll(ctx)
			if err != nil {
				break
			}
			for _, v := range vs {
				sum += v
			}
		}
		done <- sum
	}()
	for i := 0; b.Loop(); i++ {
		if err := q.Put(ctx, i); err != nil {
			b.Fatal(err)
		}
	}
	q.Close()
	<-done
}

// BenchmarkUncontended puts and gets in one goroutine: the cost of the
// lock and the ring next to a channel's.
func BenchmarkUncontended(b *testing.B) {
	b.Run("impl=chan", func(b *testing.B) {
		b.ReportAllocs()
		ch := make(chan int, 128)
		for i := 0; b.Loop(); i++ {
			ch <- i
			<-ch
		}
	})
	b.Run("impl=queue", func(b *testing.B) {
		b.ReportAllocs()
		ctx := context.Background()
		q := aio.NewQueue[int](128)
		for i := 0; b.Loop(); i++ {
			q.Put(ctx, i)
			q.Get(ctx)
		}
	})
}

// BenchmarkSpawn starts and finishes one goroutine per iteration, in a
// Group and with a bare go statement and a WaitGroup.
func BenchmarkSpawn(b *testing.B) {
	b.Run("kind=waitgroup", func(b *testing.B) {
		b.ReportAllocs()
		var wg sync.WaitGroup
		for b.Loop() {
			wg.Go(func() {})
		}
		wg.Wait()
	})
	b.Run("kind=group", func(b *testing.B) {
		b.ReportAllocs()
		g := aio.NewGroup()
		fn := func(context.Context) error { return nil }
		for b.Loop() {
			g.Spawn(fn)
		}
		g.Shutdown(context.Background())
	})
	b.Run("kind=child", func(b *testing.B) {
		b.ReportAllocs()
		g := aio.NewGroup()
		fn := func(context.Context) error { return nil }
		for b.Loop() {
			c := g.NewChild()
			c.Spawn(fn)
			c.Close()
		}
		g.Shutdown(context.Background())
	})
}
