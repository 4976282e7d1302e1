package test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// The ten-thousand-connection scale test keeps the server in this process
// and puts the clients in a child process, so that each process holds
// 10,000 sockets: with both ends here, 20,000 sockets exceed the hard file
// limit of the machines this project runs on.

const (
	scaleClientsEnv  = "GOCHATTER_SCALE_CLIENTS"
	scaleProcessPing = 5 * time.Second
)

// scaleClients is the child process: it opens the connections, runs
// requests on a random subset, prints "ready" and holds the connections
// until its standard input ends.
func scaleClients(addr string) int {
	n, err := strconv.Atoi(os.Getenv(scaleClientsEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), processTimeout)
	defer cancel()
	clients := make([]*chatter.Conn, n)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
		for _, c := range clients {
			if c != nil {
				c.Wait(ctx)
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range clients {
		g.Go(func() error {
			c, err := chatter.Connect(gctx, chatter.SBSRepository, addr, chatter.WithPingTimeout(scaleProcessPing), chatter.WithLogger(quietLog))
			clients[i] = c
			return err
		})
	}
	if err := g.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "connecting:", err)
		return 1
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(64)
	for _, i := range rand.Perm(n)[:min(500, n)] {
		g.Go(func() error {
			for k := range 5 {
				if err := requestEcho(gctx, clients[i], int64(i*5+k)); err != nil {
					return fmt.Errorf("connection %d: %w", i, err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, "requests:", err)
		return 1
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// TestScaleTenThousandConnections: 10,000 connections from a child process
// to one server with a 5 s keepalive, requests on 500 of them, memory per
// server-side connection and ping traffic measured here. The race detector
// makes this too slow for the suite; TestScaleConnections covers the same
// behaviour with 2,000 connections there.
func TestScaleTenThousandConnections(t *testing.T) {
	const n = 10_000
	if testing.Short() || slices.Contains(buildFlags, "-race") {
		t.Skip("10,000 connections run without -short and without the race detector")
	}
	raiseFileLimit(t, n+256)
	verifyNoLeaks(t)
	var mu sync.Mutex
	var servers []*chatter.Conn
	srv := listenWith(t, chatter.SBSRepository, func(ctx context.Context, c *chatter.Conn) {
		mu.Lock()
		servers = append(servers, c)
		mu.Unlock()
		answerRequests(ctx, c, nil)
	}, chatter.WithPingTimeout(scaleProcessPing))
	runtime.GC()
	heap0, stack0 := heapAndStack()
	rss0 := vmRSS()
	start := time.Now()
	t.Setenv(scaleClientsEnv, strconv.Itoa(n))
	startFaultHelper(t, "scale-clients", srv.Addresses()[0])
	ready := time.Since(start)
	if open := srv.OpenConnections(); open != n {
		t.Fatalf("%d of %d connections open", open, n)
	}
	runtime.GC()
	heap1, stack1 := heapAndStack()
	rss1 := vmRSS()
	t.Logf("%d connections open and 2,500 requests answered in %v; per server-side connection: %s of Go heap+stack, %s of RSS",
		n, ready.Round(time.Millisecond), fmtKiB((float64(heap1+stack1)-float64(heap0+stack0))/n), fmtKiB((float64(rss1)-float64(rss0))/n))

	mu.Lock()
	conns := slices.Clone(servers)
	mu.Unlock()
	before := sumStats(conns)
	window := time.Now()
	time.Sleep(scaleProcessPing + time.Second)
	after := sumStats(conns)
	pings := after.pingsOut - before.pingsOut
	t.Logf("over %v the server's side sent %d pings (%.0f/s) and received %d pongs, %s written",
		time.Since(window).Round(time.Millisecond), pings, float64(pings)/time.Since(window).Seconds(),
		after.pongsIn-before.pongsIn, fmtMiB(after.bytes-before.bytes))
	if pings < n {
		t.Errorf("%d pings on %d connections over a keepalive period: pings are not flowing", pings, n)
	}
	for _, c := range conns {
		if err := c.Err(); err != nil {
			t.Fatalf("a connection ended during the test: %v; %s", err, endReasons(conns))
		}
	}
}
