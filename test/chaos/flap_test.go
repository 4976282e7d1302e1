package chaos

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"go.uber.org/goleak"
)

// TestFlap: the link goes down and up again and again, at random
// intervals of 50 ms to 2 s, while 8 Redial clients (every variant, twice)
// send requests and one-way messages and the server pushes to them. A
// down is either a partition (a black hole, healed by resetting the flows
// that lived through it) or an outage (every flow cut, new connections
// refused). After each heal every client reconnects within a bound that
// holds only if Redial's backoff starts afresh after a connection that
// came up; the ledger's accounting holds; and neither side's goroutine
// count grows from flap to flap.
func TestFlap(t *testing.T) {
	const clients = 8
	pingTimeout := 300 * time.Millisecond
	backoff := chatter.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	// A client is back after a heal within the longest wait of a few
	// failed attempts in a row from Min (the outage's own), and a
	// detection; a backoff that kept growing from flap to flap would reach
	// its 5 s maximum.
	reconnectBound := 2500 * time.Millisecond
	opts := []chatter.Option{chatter.WithPingTimeout(pingTimeout), chatter.WithPingDelay(200 * time.Millisecond)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ledger := NewLedger()
	r := rand.New(rand.NewPCG(3, 4))

	// One WireAuto server for plain TCP and one for TLS, each behind its
	// link; both links flap together.
	var links [2]*Link
	var servers [2]*Server
	for i, tls := range []bool{false, true} {
		srv, err := NewServer(ctx, ledger, ServerConfig{Variant: Variant{TLS: tls}, Wire: chatter.WireAuto, Push: 20 * time.Millisecond, Opts: opts})
		if err != nil {
			t.Fatal(err)
		}
		link, err := NewLink("flap", srv.HostPort())
		if err != nil {
			t.Fatal(err)
		}
		srv.SetLinks(link)
		servers[i], links[i] = srv, link
	}
	var cls []*Client
	for i := range clients {
		v := Variants[i%len(Variants)]
		link := links[0]
		if v.TLS {
			link = links[1]
		}
		cls = append(cls, StartClient(ctx, ledger, "client "+v.String(), ClientConfig{
			Variant: v, Link: link, Opts: opts, Backoff: backoff,
			RequestEvery: 20 * time.Millisecond, SendEvery: 10 * time.Millisecond,
		}))
	}
	defer func() {
		for _, cl := range cls {
			cl.Stop()
		}
	}()

	var reconnects []time.Duration
	var goroutines [][2]int // client, server, after each reconnection
	marks := make([]int, clients)
	healed := time.Now()
	for flap := 0; ; flap++ {
		// Everybody back.
		for i, cl := range cls {
			e, ok := cl.Await(marks[i], 4*reconnectBound, func(e Event) bool { return e.State == chatter.Connected })
			if !ok {
				t.Fatalf("flap %d: %s not reconnected %v after the heal", flap, cl.name, 4*reconnectBound)
			}
			if flap > 0 {
				d := e.At.Sub(healed)
				reconnects = append(reconnects, d)
				if d > reconnectBound {
					t.Errorf("flap %d: %s reconnected %v after the heal (attempt %d), later than %v", flap, cl.name, d.Round(time.Millisecond), e.Attempt, reconnectBound)
				}
			}
		}
		time.Sleep(100 * time.Millisecond) // the new connections' goroutines settle
		g := Goroutines()
		goroutines = append(goroutines, [2]int{g[ClientSide], g[ServerSide]})
		if flap == scale.flaps {
			break
		}
		time.Sleep(randDuration(r, 50*time.Millisecond, 2*time.Second))

		// Down.
		for i, cl := range cls {
			marks[i] = cl.Events()
		}
		partition := r.IntN(2) == 0
		flapDown(t, links[:], partition)
		time.Sleep(randDuration(r, 50*time.Millisecond, 2*time.Second))
		// Up.
		flapUp(t, links[:], partition)
		healed = time.Now()
		// A client's connection that lived through a short partition is
		// reset by the heal: it reconnects too. One whose Connected event
		// came before the heal (it reconnected during an outage's last
		// moments... which an outage refuses, or into the partition) still
		// has its connection cut by the heal, so wait for a Connected after
		// it.
		for i, cl := range cls {
			marks[i] = cl.Events()
		}
	}

	connects := 0
	for _, cl := range cls {
		if err := cl.Stop(); err != nil {
			t.Errorf("%s: Redial: %v", cl.name, err)
		}
		connects += cl.Connects()
	}
	for i, srv := range servers {
		shutdownServer(t, srv)
		links[i].Close()
	}
	tally := ledger.Tally()
	slices.Sort(reconnects)
	p50, maxd := time.Duration(0), time.Duration(0)
	if len(reconnects) > 0 {
		p50, maxd = reconnects[len(reconnects)/2], reconnects[len(reconnects)-1]
	}
	t.Logf("%d flaps, %d connections made; reconnect after a heal: p50 %v, max %v; %v",
		scale.flaps, connects, p50.Round(time.Millisecond), maxd.Round(time.Millisecond), tally)
	t.Logf("goroutines (client, server) after each reconnection: %v", goroutines)
	if err := tally.Err(); err != nil {
		t.Error(err)
	}
	// No growth from flap to flap: the last third's median against the
	// first third's, each side, with a slack of two connections' worth.
	for side, name := range []string{"client", "server"} {
		first, last := thirdMedians(goroutines, side)
		if last > first+12 {
			t.Errorf("%s goroutines grew from %d to %d over %d flaps", name, first, last, scale.flaps)
		}
	}
	goleak.VerifyNone(t, toxiproxyLeaks...)
}

// flapDown takes the links down together: a partition (a black hole) or
// an outage (every flow cut, new connections refused).
func flapDown(t *testing.T, links []*Link, partition bool) {
	t.Helper()
	for _, l := range links {
		if partition {
			if err := l.Partition(); err != nil {
				t.Fatal(err)
			}
		} else {
			l.Down()
		}
	}
}

// flapUp brings back links that flapDown took down.
func flapUp(t *testing.T, links []*Link, partition bool) {
	t.Helper()
	for _, l := range links {
		heal := l.Up
		if partition {
			heal = l.Heal
		}
		if err := heal(); err != nil {
			t.Fatal(err)
		}
	}
}

func randDuration(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// thirdMedians returns the medians of column col over the first and the
// last third of rows.
func thirdMedians(rows [][2]int, col int) (first, last int) {
	n := max(1, len(rows)/3)
	med := func(rs [][2]int) int {
		v := make([]int, len(rs))
		for i, r := range rs {
			v[i] = r[col]
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return med(rows[:n]), med(rows[len(rows)-n:])
}
