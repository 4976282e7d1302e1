package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"go.uber.org/goleak"
)

// TestCut: connections cut in the middle of a stream of messages of 1 B
// to 64 KiB, over and over, every variant in turn:
//
//   - reset_peer: the link resets both ends a few milliseconds into the
//     stream. On TCP the toxic is in place before the connection starts,
//     so that toxiproxy sets SO_LINGER 0 on its sockets and the reset is a
//     real RST, triggered by the server's greeting; on TLS it is added once
//     the handshake is done (the toxic swallows the first chunk it sees,
//     which would otherwise be the ServerHello), triggered by the server's
//     next push, and the kernel closes the proxy's sockets as it will;
//   - limit_data: the link lets a random number of bytes through and then
//     closes, most often in the middle of a frame.
//
// Each time, both ends get a clean error that says what happened, no half
// message is delivered, nothing twice, the ledger's bound on what was lost
// holds, and once everything is closed no goroutine is left.
func TestCut(t *testing.T) {
	for _, kind := range []string{"reset_peer", "limit_data"} {
		t.Run(kind, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(len(kind)), 1))
			var tally Tally
			reasons := map[string]int{}
			for i := range scale.cuts {
				v := Variants[i%len(Variants)]
				var tx Toxic
				if kind == "reset_peer" {
					tx = ResetPeer(Down, 2+r.Int64N(40))
				} else {
					tx = LimitData(Up, 1+r.Int64N(256<<10))
				}
				one := cutOnce(t, v, tx, !v.TLS || kind != "reset_peer", uint64(i))
				tally.Sent += one.tally.Sent
				tally.Delivered += one.tally.Delivered
				tally.Failed += one.tally.Failed
				tally.Lost += one.tally.Lost
				tally.Unsent += one.tally.Unsent
				tally.Conns += one.tally.Conns
				tally.Abrupt += one.tally.Abrupt
				reasons["client: "+one.client]++
				reasons["server: "+one.server]++
				if t.Failed() {
					break
				}
			}
			t.Logf("%d cuts: %v", scale.cuts, tally)
			for r, n := range reasons {
				t.Logf("  %3d × %s", n, r)
			}
			goleak.VerifyNone(t, toxiproxyLeaks...)
		})
	}
}

// cutResult is what one cut did.
type cutResult struct {
	tally          Tally
	client, server string // how each end's connection ended, classified
}

// cutOnce runs one connection into the cut tx, in place before it starts
// or added once it is up.
func cutOnce(t *testing.T, v Variant, tx Toxic, before bool, seed uint64) cutResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ledger := NewLedger()
	srv, err := NewServer(ctx, ledger, ServerConfig{Variant: v, Greet: true, Push: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	link, err := NewLink("cut", srv.HostPort())
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	srv.SetLinks(link)
	if before {
		if err := link.Add(tx); err != nil {
			t.Fatal(err)
		}
	}
	var conn *chatter.Conn
	Do(ctx, ClientSide, func(ctx context.Context) {
		conn, err = chatter.Connect(ctx, Repo, Address(v, link), ClientOpts(v)...)
	})
	if err != nil {
		srv.Close()
		t.Fatalf("%v %v: connect: %v", v, tx, err)
	}
	if !before {
		if err := link.Add(tx); err != nil {
			t.Fatal(err)
		}
	}
	rec := ledger.Conn(fmt.Sprintf("%v %v", v, tx), link)
	recv := Receive(ledger, conn)
	ln := ledger.Lane("stream", rec)
	sizes := NewSizes(seed)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p, seq := ln.Next(sizes.Small(64<<10), 0)
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := conn.Send(sctx, bytesData(p))
		cancel()
		ln.Sent(seq, err)
		if err != nil {
			break
		}
	}
	if conn.Err() != nil {
		// The connection failed: what it read is still delivered, until
		// Messages closes. Closing it before then would drop the rest, as
		// a local close does by design (Conn.Close), and Check would count
		// that as lost. (The client of the other scenarios does the same.)
		if !within(recv.done, drainBound) {
			ledger.Problem("client connection %s: Messages did not close within %v of the connection's end (%v)",
				conn.LocalAddress(), drainBound, conn.Err())
		}
	}
	res := conn.Close()
	rec.End(res, conn.Stats())
	recv.Check(conn, res, 0)
	// A client that had not noticed the cut may close without an error:
	// what it queued was written to its socket. The ledger then knows the
	// connection as faulted.
	cr := cutResult{client: classify(res)}
	if !srv.WaitIdle(20 * time.Second) {
		t.Errorf("%v %v: the server's connection did not end within 20 s of the cut", v, tx)
	}
	cr.server = srv.lastEnd()
	srv.Close()
	cr.tally = ledger.Tally()
	if err := cr.tally.Err(); err != nil {
		t.Errorf("%v %v: %v", v, tx, err)
	}
	return cr
}
