package chatter_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
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
	benchOneWayWith(b, d, nil, nil)
}

// benchOneWayWith is benchOneWay with options for the receiving end and a
// check of each message received.
func benchOneWayWith(b *testing.B, d chatter.Data, serverOpts []chatter.Option, check func(chatter.Msg) error) {
	client, server := pairWith(b, "tcp", []chatter.Option{chatter.WithPingTimeout(0)},
		append([]chatter.Option{chatter.WithPingTimeout(0)}, serverOpts...))
	ctx := context.Background()
	done := make(chan int)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		n := 0
		for n < b.N {
			m, err := server.Receive(ctx)
			if err != nil {
				break
			}
			if check != nil {
				if err := check(m); err != nil {
					b.Error(err)
					break
				}
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
func BenchmarkRoundTrip(b *testing.B) { benchRoundTrip(b, context.Background()) }

// BenchmarkRoundTripDeadline is BenchmarkRoundTrip with a context that
// can end, as a daemon's Requests carry: Request then waits in a select on
// the reply and the context instead of a plain receive. The peers
// harness's round trip (make bench-peers) waits this way.
func BenchmarkRoundTripDeadline(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	benchRoundTrip(b, ctx)
}

// benchRoundTrip makes sequential Requests with ctx to an echo server and
// reports their latency's median and 99th percentile.
func benchRoundTrip(b *testing.B, ctx context.Context) {
	client, server := pair(b, "tcp", chatter.WithPingTimeout(0))
	go echo(server)
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

// BenchmarkPayload64KiBReleased is BenchmarkPayload64KiB with the receiver
// handing each message's buffer back (Msg.Release), so that later frames
// are read into it instead of freshly allocated, zeroed memory.
func BenchmarkPayload64KiBReleased(b *testing.B) {
	b.SetBytes(64 << 10)
	benchOneWayWith(b, chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, 64<<10)}, nil,
		func(m chatter.Msg) error { m.Release(); return nil })
}

func benchPayload(b *testing.B, size int) {
	b.SetBytes(int64(size))
	benchOneWay(b, chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, size)})
}

// BenchmarkIdleConnections opens 1,000 idle connections (both ends in this
// process, default 20 s ping) and reports the heap and stack memory they
// hold per connection end: fresh, and after one request and its reply on
// each, which leaves the goroutines the larger stacks that work needed.
func BenchmarkIdleConnections(b *testing.B) {
	b.Run("fresh", func(b *testing.B) { benchIdle(b, false) })
	b.Run("after-exchange", func(b *testing.B) { benchIdle(b, true) })
}

func benchIdle(b *testing.B, exchange bool) {
	const n = 1000
	ctx := context.Background()
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		accepted := make(chan *chatter.Conn, n)
		srv, err := chatter.Listen(ctx, testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) {
			accepted <- c
			if exchange {
				echo(c)
			}
		})
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
			if exchange {
				if _, err := c.Request(ctx, num(7)); err != nil {
					b.Fatal(err)
				}
			}
		}
		for range n {
			<-accepted
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEnd := float64(after.HeapInuse+after.StackInuse-before.HeapInuse-before.StackInuse) / (2 * n)
		b.ReportMetric(perEnd, "B/conn-end")
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/(2*n), "stack-B/conn-end")
		for _, c := range clients {
			c.Close()
		}
		for _, c := range clients {
			<-c.Done()
		}
		srv.Close()
	}
}

//go:generate go run ../../cmd/sbs-gen -package chatter_test -registry -o testtypes_gen_test.go testdata/test.sbs

// BenchmarkOneWayBytes20 is BenchmarkOneWay with a 20-byte Bytes payload.
func BenchmarkOneWayBytes20(b *testing.B) {
	benchOneWay(b, chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, 20)})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkOneWayRawPayload sends an Integer payload already encoded
// (RawPayload) to a connection made WithRawPayloads, which reads msg.Raw:
// neither end boxes or decodes a value.
func BenchmarkOneWayRawPayload(b *testing.B) {
	raw := chatter.RawPayload(sbs.AppendInteger(nil, 12345))
	d := chatter.Data{Module: "Test", Type: "Num", Data: raw}
	benchOneWayWith(b, d, []chatter.Option{chatter.WithRawPayloads()}, func(m chatter.Msg) error {
		if len(m.Raw) != len(raw) {
			return fmt.Errorf("raw payload of %d bytes, want %d", len(m.Raw), len(raw))
		}
		return nil
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkOneWayGenerated sends a type written by sbs-gen (Test.Point)
// and decodes each message into one, with Decode, on a connection made
// WithRawPayloads.
func BenchmarkOneWayGenerated(b *testing.B) {
	benchGenerated(b, []chatter.Option{chatter.WithRawPayloads()})
}

// BenchmarkOneWayGeneratedTwice is BenchmarkOneWayGenerated without
// WithRawPayloads: the reader decodes the dynamic value (keeping Raw),
// then Decode decodes again.
func BenchmarkOneWayGeneratedTwice(b *testing.B) {
	benchGenerated(b, nil)
}

// BenchmarkOneWayGeneratedOnce is it WithPayloadTypes: the reader decodes
// into the generated type, and Decode copies it.
func BenchmarkOneWayGeneratedOnce(b *testing.B) {
	benchGenerated(b, []chatter.Option{chatter.WithPayloadTypes(NewSBS)})
}

// benchGenerated sends a TestPoint one way, which the receiver decodes
// into one, on connections made with opts.
func benchGenerated(b *testing.B, opts []chatter.Option) {
	p := TestPoint{X: 12345, Y: -678}
	var got TestPoint
	benchOneWayWith(b, chatter.DataOf(&p), opts, func(m chatter.Msg) error {
		if err := chatter.Decode(m, &got); err != nil {
			return err
		}
		if got != p {
			return fmt.Errorf("decoded %+v, want %+v", got, p)
		}
		return nil
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkInFlight64 measures request/response throughput with 64
// Requests in flight on one connection.
func BenchmarkInFlight64(b *testing.B) {
	client, server := pair(b, "tcp", chatter.WithPingTimeout(0))
	ctx := context.Background()
	go echo(server)
	b.ReportAllocs()
	b.SetParallelism(32) // 64 goroutines on GOMAXPROCS 2
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := client.Request(ctx, num(7)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkConns100 measures request/response throughput over 100
// connections to one server, each doing one Request at a time.
func BenchmarkConns100(b *testing.B) {
	const conns = 100
	ctx := context.Background()
	srv, err := chatter.Listen(ctx, testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) { echo(c) },
		chatter.WithPingTimeout(0))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	clients := make([]*chatter.Conn, conns)
	for i := range clients {
		if clients[i], err = chatter.Connect(ctx, testRepo, srv.Addresses()[0], chatter.WithPingTimeout(0)); err != nil {
			b.Fatal(err)
		}
		defer clients[i].Close()
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(conns / 2) // one goroutine per connection on GOMAXPROCS 2
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := clients[int(next.Add(1)-1)%conns]
		for pb.Next() {
			if _, err := c.Request(ctx, num(7)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
