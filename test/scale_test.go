package test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"golang.org/x/sync/errgroup"
)

// scaleConns overrides TestScaleConnections' connection count, for a
// machine whose file limit cannot hold 10,000 (go test ./test/ -run
// TestScaleConnections -args -scale.conns=9000).
var scaleConns = flag.Int("scale.conns", 0, "connections of TestScaleConnections; 0 means 10,000 (1,000 with -short)")

// raiseFileLimit makes sure the process may open need file descriptors,
// raising RLIMIT_NOFILE (the hard limit too, where the process may), and
// skips the test when it cannot. The old limit is restored at the end.
func raiseFileLimit(t *testing.T, need uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("cannot read RLIMIT_NOFILE: %v", err)
	}
	if lim.Cur >= need {
		return
	}
	old := lim
	lim.Cur = need
	lim.Max = max(lim.Max, need)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("needs %d file descriptors (both ends of every connection are in this process), "+
			"RLIMIT_NOFILE is %d (hard %d) and cannot be raised: %v", need, old.Cur, old.Max, err)
	}
	t.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
			t.Errorf("restoring RLIMIT_NOFILE: %v", err)
		}
	})
}

// connTotals sums the counters of many connections.
type connTotals struct {
	pingsOut, pongsIn, messages, bytes uint64
}

func sumStats(conns ...[]*chatter.Conn) connTotals {
	var s connTotals
	for _, cs := range conns {
		for _, c := range cs {
			st := c.Stats()
			s.pingsOut += st.PingsOut
			s.pongsIn += st.PongsIn
			s.messages += st.MessagesOut
			s.bytes += st.BytesOut
		}
	}
	return s
}

// endReasons summarises why connections ended, for failure messages.
func endReasons(conns []*chatter.Conn) string {
	reasons := make(map[string]int)
	open := 0
	for _, c := range conns {
		switch {
		case c == nil:
		case c.Err() == nil:
			open++
		case errors.Is(c.Err(), chatter.ErrPingTimeout):
			reasons["ping timeout"]++
		case errors.Is(c.Err(), chatter.ErrPeerClosed):
			reasons["closed by peer"]++
		default:
			reasons[c.Err().Error()]++
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d clients open", open)
	for r, k := range reasons {
		if k > 1 || len(reasons) < 5 {
			fmt.Fprintf(&b, ", %d ended with %s", k, r)
		}
	}
	return b.String()
}

// TestScaleConnections: 10,000 connections (1,000 with -short, 2,000 under
// the race detector) to one in-process server, all with a 5 s keepalive so
// that pings flow during the test, and requests on a random subset. Both
// ends live in this process, so the memory figures count a client and a
// server connection each.
func TestScaleConnections(t *testing.T) {
	n := 10_000
	switch {
	case *scaleConns > 0:
		n = *scaleConns
	case testing.Short():
		n = 1_000
	case slices.Contains(buildFlags, "-race"):
		// The race detector makes setting up a connection some ten to
		// twenty times dearer (10,000 take 40 s on two cores), and the
		// keepalive's pings as much: 10,000 would not fit the test's 60 s.
		n = 2_000
		t.Logf("race detector on: %d connections instead of 10,000", n)
	}
	const (
		// Every connection end pings every ping period, so 10,000
		// connections make 4,000 pings a second; with a 2 s period, a
		// two-core machine busy with anything else falls behind while the
		// connections are being set up, pongs come late and connections
		// end by ping timeout, which makes more work still.
		ping         = 5 * time.Second
		requestsEach = 5
		workers      = 64
		perConnBound = 200 << 10 // bytes, both ends of one connection
	)
	active := min(500, n/2)
	raiseFileLimit(t, uint64(2*n+256))
	verifyNoLeaks(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	serverConns := make([]*chatter.Conn, 0, n)
	srv := listenWith(t, chatter.SBSRepository, func(ctx context.Context, c *chatter.Conn) {
		mu.Lock()
		serverConns = append(serverConns, c)
		mu.Unlock()
		answerRequests(ctx, c, nil)
	}, chatter.WithPingTimeout(ping))
	addr := srv.Addresses()[0]

	runtime.GC()
	heap0, stack0 := heapAndStack()
	rss0 := vmRSS()

	// Connect, 64 at a time. The cleanup closes whatever opened, first
	// all at once, then waiting for each.
	clients := make([]*chatter.Conn, n)
	t.Cleanup(func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
		wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer wcancel()
		for _, c := range clients {
			if c == nil {
				continue
			}
			if err := c.Wait(wctx); wctx.Err() != nil {
				t.Errorf("client %s did not end: %v", c.LocalAddress(), err)
				return
			}
		}
	})
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range clients {
		g.Go(func() error {
			c, err := chatter.Connect(gctx, chatter.SBSRepository, addr, chatter.WithPingTimeout(ping), chatter.WithLogger(quietLog))
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			clients[i] = c
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	dialed := time.Since(start)
	for func() bool { mu.Lock(); defer mu.Unlock(); return len(serverConns) < n }() {
		select {
		case <-ctx.Done():
			mu.Lock()
			accepted := len(serverConns)
			mu.Unlock()
			t.Fatalf("dialled in %v, but after %v only %d of %d connections were accepted",
				dialed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), accepted, n)
		case <-time.After(10 * time.Millisecond):
		}
	}
	connected := time.Since(start)
	if open := srv.OpenConnections(); open != n {
		t.Fatalf("dialled in %v, accepted in %v, but only %d of %d connections are still open; %s",
			dialed.Round(time.Millisecond), connected.Round(time.Millisecond), open, n, endReasons(clients))
	}
	mu.Lock()
	servers := serverConns[:n:n]
	mu.Unlock()

	runtime.GC()
	heap1, stack1 := heapAndStack()
	rss1 := vmRSS()
	perConn := (float64(heap1+stack1) - float64(heap0+stack0)) / float64(n)
	t.Logf("%d connections open in %v; per connection, both ends: %s of Go heap+stack (heap %s, stack %s in all), %s of RSS (%s in all)",
		n, connected.Round(time.Millisecond), fmtKiB(perConn), fmtMiB(heap1-heap0), fmtMiB(stack1-stack0),
		fmtKiB((float64(rss1)-float64(rss0))/float64(n)), fmtMiB(rss1-rss0))

	// Traffic on a random subset while the keepalive runs everywhere; the
	// window spans a ping period and a second, so that every connection end
	// pings about once.
	before := sumStats(clients, servers)
	window := time.Now()
	var answered atomic.Int64
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for _, i := range rand.Perm(n)[:active] {
		g.Go(func() error {
			for k := range requestsEach {
				if err := requestEcho(gctx, clients[i], int64(i*requestsEach+k)); err != nil {
					return fmt.Errorf("connection %d: %w", i, err)
				}
				answered.Add(1)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Error(err)
	}
	trafficTime := time.Since(window)
	select {
	case <-time.After(ping + time.Second - trafficTime):
	case <-ctx.Done():
	}
	elapsed := time.Since(window)
	after := sumStats(clients, servers)
	pings := after.pingsOut - before.pingsOut
	t.Logf("%d requests on %d connections answered in %v; over %v: %d pings sent (%.0f/s, %.2f per connection end), %d pongs received, %d application messages, %s written in all",
		answered.Load(), active, trafficTime.Round(time.Millisecond), elapsed.Round(time.Millisecond),
		pings, float64(pings)/elapsed.Seconds(), float64(pings)/float64(2*n), after.pongsIn-before.pongsIn,
		after.messages-before.messages, fmtMiB(after.bytes-before.bytes))

	if want := int64(active * requestsEach); answered.Load() != want {
		t.Errorf("%d requests answered, want %d", answered.Load(), want)
	}
	if pings < uint64(n) {
		t.Errorf("%d pings in %v on %d connections with a %v keepalive: pings are not flowing", pings, elapsed, n, ping)
	}
	ended := 0
	for _, cs := range [][]*chatter.Conn{clients, servers} {
		for _, c := range cs {
			if err := c.Err(); err != nil {
				if ended < 5 {
					t.Errorf("connection %s ended: %v", c.LocalAddress(), err)
				}
				ended++
			}
		}
	}
	if ended > 0 || srv.OpenConnections() != n {
		t.Errorf("%d connection ends closed; the server has %d of %d open", ended, srv.OpenConnections(), n)
	}
	if perConn > perConnBound {
		t.Errorf("%s per connection (both ends), want under %s", fmtKiB(perConn), fmtKiB(perConnBound))
	}

	// Close everything and wait.
	closing := time.Now()
	for _, c := range clients {
		c.Close()
	}
	for _, c := range clients {
		if err := c.Wait(ctx); ctx.Err() != nil {
			t.Fatalf("client did not end: %v", err)
		}
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("server did not close: %v", err)
	}
	for _, c := range servers {
		// A client that closes with a ping of the server's unread resets
		// the connection rather than ending it.
		if err := c.Err(); !peerGone(err) && !errors.Is(err, chatter.ErrClosed) {
			t.Errorf("server connection ended with %v", c.Err())
			break
		}
	}
	t.Logf("all %d connections closed in %v", n, time.Since(closing).Round(time.Millisecond))
}
