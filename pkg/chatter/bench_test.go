package chatter_test

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// BenchmarkOneWay measures one-way throughput of small messages (an
// Integer payload) over one loopback TCP connection, both ends in this
// process: the time per message from the first Send to the last receipt.
func BenchmarkOneWay(b *testing.B) {
	benchOneWay(b, num(12345))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// benchOneWay sends d b.N times and waits until all of it has arrived.
func benchOneWay(b *testing.B, d chatter.Data) {
	client, server := pair(b, "tcp", chatter.WithPingTimeout(0))
	ctx := context.Background()
	done := make(chan int)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		n := 0
		for n < b.N {
			if _, err := server.Receive(ctx); err != nil {
				break
			}
			n++
		}
		done <- n
	}()
	for range b.N {
		if _, err := client.Send(ctx, d); err != nil {
			b.Fatal(err)
		}
	}
	if n := <-done; n != b.N {
		b.Fatalf("received %d of %d", n, b.N)
	}
}

// BenchmarkRoundTrip measures request/response latency, one request at a
// time, reporting the median and 99th percentile.
func BenchmarkRoundTrip(b *testing.B) {
	client, server := pair(b, "tcp", chatter.WithPingTimeout(0))
	ctx := context.Background()
	go func() {
		for m := range server.Messages() {
			server.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	}()
	d := num(7)
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := client.Request(ctx, d); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkPayload1KiB measures one-way throughput of 1 KiB Bytes payloads.
func BenchmarkPayload1KiB(b *testing.B) { benchPayload(b, 1<<10) }

// BenchmarkPayload64KiB measures one-way throughput of 64 KiB payloads.
func BenchmarkPayload64KiB(b *testing.B) { benchPayload(b, 64<<10) }

func benchPayload(b *testing.B, size int) {
	b.SetBytes(int64(size))
	benchOneWay(b, chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, size)})
}

// BenchmarkIdleConnections opens 1,000 idle connections (both ends in this
// process, default 20 s ping) and reports the heap and stack memory they
// hold per connection end.
func BenchmarkIdleConnections(b *testing.B) {
	const n = 1000
	ctx := context.Background()
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		accepted := make(chan *chatter.Conn, n)
		srv, err := chatter.Listen(ctx, testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) { accepted <- c })
		if err != nil {
			b.Fatal(err)
		}
		clients := make([]*chatter.Conn, 0, n)
		for range n {
			c, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0])
			if err != nil {
				b.Fatal(err)
			}
			clients = append(clients, c)
		}
		for range n {
			<-accepted
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEnd := float64(after.HeapInuse+after.StackInuse-before.HeapInuse-before.StackInuse) / (2 * n)
		b.ReportMetric(perEnd, "B/conn-end")
		for _, c := range clients {
			c.Close()
		}
		for _, c := range clients {
			<-c.Done()
		}
		srv.Close()
	}
}
