package chatter_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// throttled is a net.Conn whose writes trickle: at most chunk bytes every
// tick, as over a slow link.
type throttled struct {
	net.Conn
	chunk int
	tick  time.Duration
}

func (c throttled) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m := min(c.chunk, len(b)-n)
		w, err := c.Conn.Write(b[n : n+m])
		n += w
		if err != nil {
			return n, err
		}
		time.Sleep(c.tick)
	}
	return n, nil
}

// TestSlowLinkIsNotDead: a message that takes longer to cross than the
// ping timeout does not get its connection closed by the keepalive: bytes
// arriving prove the peer alive, a frame still arriving included, even
// when the pong is stuck behind data. On the legacy wire both ends ping
// and both hold on; on the current one the receiving end does (the sending
// end, which hears nothing, pings no sooner than the original would, and
// has a ping timeout longer than the crossing). (Both wires used to close
// with ErrPingTimeout while 24 KiB crossed at 20 KiB/s with a 300 ms ping
// timeout, as test/chaos TestSlowLink found on a 64 kbit/s link.)
func TestSlowLinkIsNotDead(t *testing.T) {
	for _, w := range []chatter.Wire{chatter.WireLegacy, chatter.WireCurrent} {
		t.Run(w.String(), func(t *testing.T) {
			opts := []chatter.Option{chatter.WithWire(w), chatter.WithPingTimeout(300 * time.Millisecond), chatter.WithPingDelay(100 * time.Millisecond)}
			clientOpts := opts
			if w == chatter.WireCurrent {
				clientOpts = []chatter.Option{chatter.WithWire(w), chatter.WithPingTimeout(5 * time.Second), chatter.WithPingDelay(100 * time.Millisecond)}
			}
			a, b := net.Pipe()
			// 1 KiB every 50 ms: 20 KiB/s, so 24 KiB takes over a second,
			// four ping timeouts.
			client, err := chatter.NewConn(throttled{a, 1 << 10, 50 * time.Millisecond}, testRepo, clientOpts...)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := chatter.NewConn(b, testRepo, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			go echo(server)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			big := chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, 24<<10)}
			if _, err := client.Send(ctx, big); err != nil {
				t.Fatal(err)
			}
			if _, err := client.Request(ctx, num(1)); err != nil {
				t.Fatalf("the request behind 24 KiB: %v; client %+v; server %v %+v", err, client.Stats(), server.Err(), server.Stats())
			}
			if err := server.Err(); err != nil {
				t.Fatalf("the server's end: %v", err)
			}
		})
	}
}

// TestStreamToSilentPeerIsNotDead: on the current wire a client streams
// one-way messages over a slow link to a peer that says nothing at all —
// the telemetry pattern. Its keepalive pings when it has received nothing
// for the ping delay, and the pong waits behind the stream for longer than
// the ping timeout; the client's writes moving on prove the link alive.
// (The client used to close with ErrPingTimeout, as test/chaos TestSlicer
// found on the current wire.)
func TestStreamToSilentPeerIsNotDead(t *testing.T) {
	a, b := net.Pipe()
	// 8 KiB every 60 ms, about 133 KiB/s: 640 KiB takes 4.8 s, more than
	// twice the ping timeout, and a write of 128 KiB a second.
	client, err := chatter.NewConn(throttled{a, 8 << 10, 60 * time.Millisecond}, testRepo,
		chatter.WithWire(chatter.WireCurrent), chatter.WithPingDelay(100*time.Millisecond), chatter.WithPingTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := chatter.NewConn(b, testRepo, chatter.WithWire(chatter.WireCurrent), chatter.WithPingDelay(0))
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	got := make(chan int, 1)
	go func() {
		n := 0
		for range server.Messages() {
			n++
		}
		got <- n
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 80
	blob := chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, 8<<10)}
	for range n {
		if _, err := client.Send(ctx, blob); err != nil {
			t.Fatal(err)
		}
	}
	if err := client.Drain(ctx); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if err := client.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if m := <-got; m != n {
		t.Errorf("the peer got %d of %d", m, n)
	}
	if st := client.Stats(); st.PingsOut == 0 {
		t.Errorf("the client never pinged: the test did not test the keepalive")
	}
}

// TestStreamIntoBlackHoleIsDetected: the same client streaming into a
// peer that reads nothing and sends nothing — writes stop moving — closes
// with ErrPingTimeout: moving writes prove a link alive, stuck ones do not.
func TestStreamIntoBlackHoleIsDetected(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close() // never read
	client, err := chatter.NewConn(a, testRepo,
		chatter.WithWire(chatter.WireCurrent), chatter.WithPingDelay(100*time.Millisecond), chatter.WithPingTimeout(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		blob := chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, 8<<10)}
		for {
			if _, err := client.Send(ctx, blob); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	if err := client.Wait(ctx); !errors.Is(err, chatter.ErrPingTimeout) {
		t.Fatalf("Wait: %v, want ErrPingTimeout", err)
	}
	t.Logf("detected after %v", time.Since(start).Round(time.Millisecond))
}
