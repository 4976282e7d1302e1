package chaos

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// TestSlicer: every direction's bytes cut into pieces of 1 to 7 bytes,
// with small delays, while a second toxic (a millisecond of latency) comes
// and goes on the path, so that toxiproxy rebuilds its chain while traffic
// flows. Messages of 1 B to 256 KiB (a one-way stream, and requests beside
// it) all arrive byte for byte, in order.
//
// The slicers stay on: sliced bytes cross at about half a megabyte a
// second, so a slicer toggled off for a moment lets the whole backlog of
// the socket buffers through whole, and few frames would be cut at all.
func TestSlicer(t *testing.T) {
	for _, v := range Variants {
		t.Run(v.String(), func(t *testing.T) { testSlicer(t, v) })
	}
}

func testSlicer(t *testing.T, v Variant) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ledger := NewLedger()
	opts := []chatter.Option{chatter.WithPingTimeout(2 * time.Second), chatter.WithPingDelay(500 * time.Millisecond)}
	srv, err := NewServer(ctx, ledger, ServerConfig{Variant: v, Opts: opts})
	if err != nil {
		t.Fatal(err)
	}
	link, err := NewLink("slicer", srv.HostPort())
	if err != nil {
		t.Fatal(err)
	}
	// On the current wire the client's keepalive only listens, as the
	// original's does: once its stream sits in the socket buffers (several
	// MiB on loopback, crossing at about half a megabyte a second) it hears
	// nothing until the server has read that far, and writes nothing that
	// would show the link moving. Its ping timeout must outlast that.
	clientOpts := opts
	if v.Wire == chatter.WireCurrent {
		clientOpts = append(clientOpts[:len(clientOpts):len(clientOpts)], chatter.WithPingTimeout(30*time.Second))
	}
	var conn *chatter.Conn
	Do(ctx, ClientSide, func(ctx context.Context) {
		conn, err = chatter.Connect(ctx, Repo, Address(v, link), ClientOpts(v, clientOpts...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := ledger.Conn("client", link)
	recv := Receive(ledger, conn)

	for _, s := range []string{Up, Down} {
		if err := link.Add(Slicer(s, 4, 3, 1)); err != nil {
			t.Fatal(err)
		}
	}
	// Toggle a millisecond of latency every 200 ms.
	stop := make(chan struct{})
	toggled := make(chan int)
	go func() {
		n := 0
		defer func() { toggled <- n }()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for on := true; ; on = !on {
			for _, s := range []string{Up, Down} {
				var err error
				if on {
					err = link.Add(Latency(s, 1, 1))
				} else {
					err = link.Remove(Latency(s, 1, 1).Name)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
			n++
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	replies := uint64(0)
	var sentBytes int64
	// One request for every 20 one-way messages, on a lane of its own.
	wg.Add(2)
	go func() {
		defer wg.Done()
		ln := ledger.Lane("one-way", rec)
		sizes := NewSizes(1)
		for range scale.slicerMessages {
			p, seq := ln.Next(sizes.Next(), 0)
			_, err := conn.Send(ctx, bytesData(p))
			ln.Sent(seq, err)
			if err != nil {
				t.Errorf("send: %v", err)
				return
			}
			sentBytes += int64(len(p))
		}
	}()
	go func() {
		defer wg.Done()
		ln := ledger.Lane("requests", rec)
		sizes := NewSizes(2)
		for range scale.slicerMessages / 20 {
			p, seq := ln.Next(sizes.Next(), 0)
			reply, err := conn.Request(ctx, bytesData(p))
			ln.Requested(seq, err)
			if err != nil {
				t.Errorf("request: %v", err)
				return
			}
			checkReply(ledger, p, reply)
			replies++
		}
	}()
	wg.Wait()
	if err := conn.Drain(ctx); err != nil {
		t.Errorf("drain: %v", err)
	}
	res := conn.Close()
	close(stop)
	toggles := <-toggled
	elapsed := time.Since(start)
	rec.End(res, conn.Stats())
	recv.Check(conn, res, replies)
	if res != nil {
		t.Errorf("Close: %v", res)
	}
	shutdownServer(t, srv)
	link.Close()
	tally := ledger.Tally()
	t.Logf("%v: %.1f MiB one-way and %d requests in %v, latency toggled %d times; %v", v,
		float64(sentBytes)/(1<<20), replies, elapsed.Round(time.Millisecond), toggles, tally)
	if err := tally.Err(); err != nil {
		t.Error(err)
	}
	if tally.Delivered != tally.Sent {
		t.Errorf("every message must arrive: %v", tally)
	}
}
