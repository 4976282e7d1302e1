package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A system is one implementation under test. Each method sets up what a
// measurement needs — a server, a client, the connections between them —
// and hands back something whose close tears all of it down again, so that
// nothing outlives the measurement.
type system interface {
	name() string
	// oneWay connects a sender to a receiver. The receiver calls rx for each
	// message, always from one goroutine at a time, with the message's
	// sequence number and payload size. size 0 means an integer payload
	// (the sequence number itself); otherwise the payload is size bytes
	// whose first 8 hold the sequence number, big-endian.
	oneWay(ctx context.Context, size int, rx func(seq int64, size int)) (sender, error)
	// echo starts an echo server and conns clients connected to it; close
	// ends the clients and the server.
	echo(ctx context.Context, conns int) (clients []caller, close func() error, err error)
	// idle opens n idle client connections to one server, with the
	// system's keepalive on, and returns once all of them are established
	// on both ends; close ends them and the server.
	idle(ctx context.Context, n int) (close func() error, err error)
}

// A sender sends the sequence numbers 0, 1, 2, ... one way.
type sender interface {
	send(ctx context.Context, seq int64) error
	// flush returns once everything sent has been handed to the socket.
	flush(ctx context.Context) error
	// close ends both ends and waits for their goroutines.
	close() error
}

// A caller makes one round trip. It is safe for concurrent use.
type caller interface {
	// call sends v and returns the value echoed back.
	call(ctx context.Context, v int64) (int64, error)
}

var systems = []system{gochatterSystem{}, gochatterKeepSystem{}, grpcSystem{}, natsSystem{}, rawSystem{}, rawParseSystem{}}

func systemNames() []string {
	var names []string
	for _, s := range systems {
		names = append(names, s.name())
	}
	return names
}

func selectSystems(list string) ([]system, error) {
	if list == "" {
		return systems, nil
	}
	var out []system
	for name := range strings.SplitSeq(list, ",") {
		i := slices.IndexFunc(systems, func(s system) bool { return s.name() == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown system %q (have %s)", name, strings.Join(systemNames(), ","))
		}
		out = append(out, systems[i])
	}
	return out, nil
}

// kind says how a workload's figures are reported.
type kind int

const (
	throughputKind kind = iota // operations (or bytes) per second: higher is better
	latencyKind                // p50 and p99 of one-at-a-time round trips: lower is better
	memoryKind                 // bytes per idle connection: lower is better
)

type workload struct {
	name  string
	title string
	kind  kind
	// bytes reports throughput in MB/s of payload instead of operations/s.
	bytes bool
	unit  string
	run   func(ctx context.Context, cfg config, s system) row
}

// row is one system's result in a workload.
type row struct {
	system string
	err    error
	// Throughput and latency.
	ops     int64
	bytes   int64
	elapsed time.Duration
	lat     []time.Duration // sorted
	// Memory.
	conns             int
	rss, heap, stacks int64
	goroutines        int
	// trials is how many trials the row is the median of, and lo and hi
	// the lowest and highest figure among them.
	trials int
	lo, hi float64
}

// figure is the number a row is judged by: its rate (msg/s, req/s or MB/s),
// its median latency in µs, or its RSS per connection in KiB.
func (wl *workload) figure(x *row) float64 {
	switch wl.kind {
	case latencyKind:
		return micros(percentile(x.lat, 50))
	case memoryKind:
		return float64(x.rss) / 1024 / float64(max(x.conns, 1))
	}
	if wl.bytes {
		return float64(x.bytes) / 1e6 / x.elapsed.Seconds()
	}
	return float64(x.ops) / x.elapsed.Seconds()
}

// Count bounds of the full run; -quick divides them by 10. The duration
// bound (config.dur) usually ends a measurement first.
const (
	maxOneWay     = 20_000_000
	max1KiB       = 4_000_000
	max64KiB      = 100_000
	maxRoundTrips = 200_000
	maxInFlight   = 2_000_000
	inFlight      = 64
	manyConns     = 100
)

var workloads = []*workload{
	{name: "oneway", title: "1a. One-way small messages (an integer payload)", kind: throughputKind, unit: "msg/s",
		run: func(ctx context.Context, cfg config, s system) row { return runOneWay(ctx, cfg, s, 0, maxOneWay) }},
	{name: "oneway20", title: "1b. One-way 20-byte payloads (Bytes)", kind: throughputKind, unit: "msg/s",
		run: func(ctx context.Context, cfg config, s system) row { return runOneWay(ctx, cfg, s, 20, maxOneWay) }},
	{name: "rtt", title: "2a. Request/response, one at a time", kind: latencyKind, unit: "µs",
		run: runRoundTrips},
	{name: "inflight", title: fmt.Sprintf("2b. Request/response, %d in flight on one connection", inFlight), kind: throughputKind, unit: "req/s",
		run: func(ctx context.Context, cfg config, s system) row { return runConcurrent(ctx, cfg, s, 1, inFlight) }},
	{name: "payload1k", title: "3a. One-way 1 KiB payloads", kind: throughputKind, bytes: true, unit: "MB/s",
		run: func(ctx context.Context, cfg config, s system) row { return runOneWay(ctx, cfg, s, 1<<10, max1KiB) }},
	{name: "payload64k", title: "3b. One-way 64 KiB payloads", kind: throughputKind, bytes: true, unit: "MB/s",
		run: func(ctx context.Context, cfg config, s system) row { return runOneWay(ctx, cfg, s, 64<<10, max64KiB) }},
	{name: "conns", title: fmt.Sprintf("4. %d connections, each doing sequential request/response", manyConns), kind: throughputKind, unit: "req/s",
		run: func(ctx context.Context, cfg config, s system) row {
			return runConcurrent(ctx, cfg, s, manyConns, manyConns)
		}},
	{name: "idle", title: "5. Memory per idle connection", kind: memoryKind, unit: "KiB/conn",
		run: runIdle},
}

func workloadNames() []string {
	var names []string
	for _, w := range workloads {
		names = append(names, w.name)
	}
	return names
}

func selectWorkloads(list string) ([]*workload, error) {
	if list == "" {
		return workloads, nil
	}
	var out []*workload
	for name := range strings.SplitSeq(list, ",") {
		i := slices.IndexFunc(workloads, func(w *workload) bool { return w.name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown workload %q (have %s)", name, strings.Join(workloadNames(), ","))
		}
		out = append(out, workloads[i])
	}
	return out, nil
}

func (c config) limit(n int64) int64 {
	if c.quick {
		return max(n/10, 1)
	}
	return n
}

// runOneWay sends sequence numbers until the count or duration bound and
// times from the first send to the receipt of the last message.
func runOneWay(ctx context.Context, cfg config, s system, size int, limit int64) (r row) {
	limit = cfg.limit(limit)
	sk := newSink(size)
	tx, err := s.oneWay(ctx, size, sk.rx)
	if err != nil {
		return row{err: err}
	}
	defer func() {
		if err := tx.close(); err != nil && r.err == nil {
			r.err = fmt.Errorf("close: %w", err)
		}
	}()
	start := time.Now()
	deadline := start.Add(cfg.dur)
	var n int64
	for n < limit && (n%64 != 0 || time.Now().Before(deadline)) {
		if err := tx.send(ctx, n); err != nil {
			return row{err: fmt.Errorf("send %d: %w", n, err)}
		}
		n++
	}
	if err := tx.flush(ctx); err != nil {
		return row{err: fmt.Errorf("flush: %w", err)}
	}
	end, err := sk.wait(ctx, n, time.Minute)
	if err != nil {
		return row{err: err}
	}
	return row{ops: n, bytes: n * int64(size), elapsed: end.Sub(start)}
}

// sink counts what a one-way receiver gets and checks that it is the
// sequence 0, 1, 2, ... with the expected payload size.
type sink struct {
	size   int
	next   int64 // owned by the receiving goroutine
	count  atomic.Int64
	target atomic.Int64
	bad    atomic.Pointer[string]
	once   sync.Once
	done   chan struct{}
	end    time.Time // written once, before done is closed
}

func newSink(size int) *sink {
	s := &sink{size: size, done: make(chan struct{})}
	s.target.Store(math.MaxInt64)
	return s
}

func (s *sink) rx(seq int64, size int) {
	if (seq != s.next || size != s.size) && s.bad.Load() == nil {
		msg := fmt.Sprintf("message %d: got sequence %d of %d bytes, want %d bytes", s.next, seq, size, s.size)
		s.bad.Store(&msg)
	}
	s.next++
	if s.count.Add(1) >= s.target.Load() {
		s.finish()
	}
}

func (s *sink) finish() {
	s.once.Do(func() {
		s.end = time.Now()
		close(s.done)
	})
}

// wait sets the number of messages sent and waits, for at most timeout,
// until the receiver has counted them all; it returns when it did.
func (s *sink) wait(ctx context.Context, sent int64, timeout time.Duration) (time.Time, error) {
	s.target.Store(sent)
	if s.count.Load() >= sent {
		s.finish()
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		return time.Time{}, fmt.Errorf("received %d of %d messages after %v", s.count.Load(), sent, timeout)
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	if bad := s.bad.Load(); bad != nil {
		return time.Time{}, errors.New(*bad)
	}
	if got := s.count.Load(); got != sent {
		return time.Time{}, fmt.Errorf("received %d messages, sent %d", got, sent)
	}
	return s.end, nil
}

// runRoundTrips makes round trips one at a time on one connection and
// records the latency of each.
func runRoundTrips(ctx context.Context, cfg config, s system) (r row) {
	clients, closeAll, err := s.echo(ctx, 1)
	if err != nil {
		return row{err: err}
	}
	defer func() {
		if err := closeAll(); err != nil && r.err == nil {
			r.err = fmt.Errorf("close: %w", err)
		}
	}()
	c := clients[0]
	// Warm up: connection set-up, buffers, the scheduler.
	for i := range int64(200) {
		if err := checkCall(ctx, c, -1-i); err != nil {
			return row{err: err}
		}
	}
	limit := cfg.limit(maxRoundTrips)
	lat := make([]time.Duration, 0, 1<<16)
	begin := time.Now()
	deadline := begin.Add(cfg.dur)
	for i := int64(0); i < limit; i++ {
		start := time.Now()
		if !start.Before(deadline) {
			break
		}
		if err := checkCall(ctx, c, i); err != nil {
			return row{err: err}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return row{ops: int64(len(lat)), elapsed: time.Since(begin), lat: lat}
}

func checkCall(ctx context.Context, c caller, v int64) error {
	got, err := c.call(ctx, v)
	if err != nil {
		return fmt.Errorf("call %d: %w", v, err)
	}
	if got != v {
		return fmt.Errorf("call %d: echoed %d", v, got)
	}
	return nil
}

// runConcurrent opens conns connections and runs workers goroutines over
// them, each making round trips one after another, and reports the
// aggregate rate.
func runConcurrent(ctx context.Context, cfg config, s system, conns, workers int) (r row) {
	clients, closeAll, err := s.echo(ctx, conns)
	if err != nil {
		return row{err: err}
	}
	defer func() {
		if err := closeAll(); err != nil && r.err == nil {
			r.err = fmt.Errorf("close: %w", err)
		}
	}()
	for i, c := range clients {
		if err := checkCall(ctx, c, -1-int64(i)); err != nil {
			return row{err: err}
		}
	}
	limit := cfg.limit(maxInFlight)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next, done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(cfg.dur)
	for w := range workers {
		c := clients[w%len(clients)]
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if i >= limit {
					return
				}
				if err := checkCall(ctx, c, i); err != nil {
					cancel(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return row{err: err}
	}
	return row{ops: done.Load(), elapsed: elapsed}
}

// runIdle measures the memory that cfg.idleConns idle connections take,
// both ends counted, as the change of the process's resident set.
func runIdle(ctx context.Context, cfg config, s system) (r row) {
	if cfg.idleConns <= 0 {
		return row{err: errors.New("skipped: no file descriptors for connections")}
	}
	before, err := measureMemory()
	if err != nil {
		return row{err: fmt.Errorf("skipped: %w", err)}
	}
	closeAll, err := s.idle(ctx, cfg.idleConns)
	if err != nil {
		return row{err: err}
	}
	defer func() {
		if err := closeAll(); err != nil && r.err == nil {
			r.err = fmt.Errorf("close: %w", err)
		}
	}()
	// Let the handshakes' garbage and the goroutines settle.
	time.Sleep(time.Second)
	after, err := measureMemory()
	if err != nil {
		return row{err: err}
	}
	if cfg.memprofile != "" && s.name() == "gochatter" {
		if err := writeHeapProfile(cfg.memprofile + ".idle.pprof"); err != nil {
			return row{err: err}
		}
	}
	return row{
		conns:      cfg.idleConns,
		rss:        after.rss - before.rss,
		heap:       after.heap - before.heap,
		stacks:     after.stacks - before.stacks,
		goroutines: after.goroutines - before.goroutines,
	}
}

func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type memory struct {
	rss, heap, stacks int64 // heap and stacks: in-use spans
	goroutines        int
}

// measureMemory collects garbage, returns freed memory to the OS and reads
// the resident set size.
func measureMemory() (memory, error) {
	runtime.GC()
	debug.FreeOSMemory()
	rss, err := readRSS()
	if err != nil {
		return memory{}, err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{
		rss:        rss,
		heap:       int64(ms.HeapInuse),
		stacks:     int64(ms.StackInuse),
		goroutines: runtime.NumGoroutine(),
	}, nil
}
