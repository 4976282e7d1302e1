package chatter_test

import (
	"context"
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
				t.Fatalf("the request behind 24 KiB: %v", err)
			}
			if err := server.Err(); err != nil {
				t.Fatalf("the server's end: %v", err)
			}
		})
	}
}
