package chaos

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// TestClientFlap puts chatter.Client, the handle that outlives its
// connections, behind a link that goes down and up (a partition or an
// outage, at random intervals of 50 ms to 2 s), one client per variant.
// Through it all:
//   - after each heal every client is Connected again within a bound;
//   - a Send while it is down fails at once with ErrNotConnected, or with
//     ErrClosed on a connection that is failing, and never blocks;
//   - a Request made WaitForReady once the client has seen the fault is
//     answered byte-exact once the link is back (after a partition it may
//     instead fail with the connection the heal cuts): none hangs;
//   - the server pushes numbered, checksummed messages on every
//     connection; on Client.Messages each connection's arrive whole and in
//     order from its first (msg.Conv.Conn tells them apart), never twice;
//   - neither side's goroutines grow from flap to flap, and nothing is
//     left when the clients and the server close.
func TestClientFlap(t *testing.T) {
	pingTimeout := 300 * time.Millisecond
	opts := []chatter.Option{chatter.WithPingTimeout(pingTimeout), chatter.WithPingDelay(200 * time.Millisecond)}
	backoff := chatter.Backoff{Min: 50 * time.Millisecond, Max: 5 * time.Second}
	reconnectBound := 2500 * time.Millisecond // as TestFlap's, and for the same reason
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r := rand.New(rand.NewPCG(5, 6))

	var links [2]*Link
	var servers [2]*chatter.Server
	for i, tls := range []bool{false, true} {
		srv := pushEchoServer(t, ctx, tls, opts)
		a := srv.Addresses()[0]
		link, err := NewLink("client-flap", a[strings.Index(a, "://")+3:])
		if err != nil {
			t.Fatal(err)
		}
		servers[i], links[i] = srv, link
	}

	type flapClient struct {
		name     string
		cl       *chatter.Client
		received chan error // the checker's verdict, at its end
		got      atomic.Uint64
	}
	var clients []*flapClient
	for _, v := range Variants {
		link := links[0]
		if v.TLS {
			link = links[1]
		}
		fc := &flapClient{name: v.String(), received: make(chan error, 1)}
		var err error
		Do(ctx, ClientSide, func(ctx context.Context) {
			fc.cl, err = chatter.NewClient(ctx, Repo, Address(v, link), ClientOpts(v, append(opts, chatter.WithBackoff(backoff))...)...)
		})
		if err != nil {
			t.Fatal(err)
		}
		// The checker: every connection's pushes whole and in order, on
		// the one channel, until it closes.
		go func() {
			next := map[*chatter.Conn]uint64{}
			var problem error
			for m := range fc.cl.Messages() {
				seq, ok := checkPush(m)
				switch {
				case !ok:
					problem = errors.New("a corrupt push")
				case seq != next[m.Conv.Conn]+1 && problem == nil:
					problem = errors.New("a push out of order, missing or twice on its connection")
				}
				next[m.Conv.Conn] = seq
				fc.got.Add(1)
			}
			fc.received <- problem
		}()
		clients = append(clients, fc)
	}

	var sendsWhileDown, waitedRequests, requestErrors atomic.Int64
	var goroutines [][2]int
	for flap := 0; ; flap++ {
		healed := time.Now()
		for _, fc := range clients {
			wctx, cancel := context.WithTimeout(ctx, 4*reconnectBound)
			err := fc.cl.WaitForState(wctx, chatter.Connected)
			cancel()
			if err != nil {
				t.Fatalf("flap %d: %s not connected %v after the heal: %v", flap, fc.name, 4*reconnectBound, err)
			}
			if d := time.Since(healed); flap > 0 && d > reconnectBound {
				t.Errorf("flap %d: %s connected %v after the heal, later than %v", flap, fc.name, d.Round(time.Millisecond), reconnectBound)
			}
		}
		time.Sleep(100 * time.Millisecond)
		g := Goroutines()
		goroutines = append(goroutines, [2]int{g[ClientSide], g[ServerSide]})
		if flap == scale.flaps {
			break
		}
		time.Sleep(randDuration(r, 50*time.Millisecond, 2*time.Second))

		partition := r.IntN(2) == 0
		flapDown(t, links[:], partition)
		// Requests made once a client has seen the fault, which wait for the
		// link to come back. After an outage, which refuses new
		// connections, each must be answered; a partition lets a dial
		// through into the black hole, and the heal then cuts what went
		// out on it.
		downFor := randDuration(r, 50*time.Millisecond, 2*time.Second)
		down := time.Now().Add(downFor)
		var waiting sync.WaitGroup
		for _, fc := range clients {
			payload := make([]byte, 64)
			binary.BigEndian.PutUint64(payload, uint64(flap))
			waiting.Go(func() {
				dctx, cancel := context.WithDeadline(ctx, down)
				seen := fc.cl.WaitForState(dctx, chatter.Disconnected)
				cancel()
				if seen != nil {
					return // not detected within the fault
				}
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				reply, err := fc.cl.Request(rctx, bytesData(payload), chatter.WaitForReady())
				switch {
				case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
					t.Errorf("flap %d: %s: a waiting Request hung for 30 s", flap, fc.name)
				case err != nil && !partition:
					t.Errorf("flap %d: %s: a Request made while disconnected by an outage failed: %v", flap, fc.name, err)
				case err != nil:
					requestErrors.Add(1)
				default:
					if b, _ := reply.Data.Data.([]byte); string(b) != string(payload) {
						t.Errorf("flap %d: %s: reply %x, want the request's %x", flap, fc.name, b, payload)
					}
					waitedRequests.Add(1)
				}
			})
		}
		// Sends while down: each returns at once, with an error or queued
		// on a connection that has not seen the fault yet.
		for time.Now().Before(down) {
			for _, fc := range clients {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				start := time.Now()
				_, err := fc.cl.Send(sctx, bytesData([]byte("while down")))
				cancel()
				if err != nil && !errors.Is(err, chatter.ErrNotConnected) && !errors.Is(err, chatter.ErrClosed) {
					t.Errorf("flap %d: %s: Send while down = %v", flap, fc.name, err)
				}
				if d := time.Since(start); d > 5*time.Second {
					t.Errorf("flap %d: %s: Send while down took %v", flap, fc.name, d)
				}
				sendsWhileDown.Add(1)
			}
			time.Sleep(20 * time.Millisecond)
		}
		flapUp(t, links[:], partition)
		waiting.Wait()
	}

	var pushes uint64
	for _, fc := range clients {
		// nil, or what ended the connection in use just then.
		if err := fc.cl.Close(); err != nil {
			t.Logf("%s: Close = %v", fc.name, err)
		}
		if fc.cl.State() != chatter.Stopped {
			t.Errorf("%s: state %v after Close", fc.name, fc.cl.State())
		}
		if err := <-fc.received; err != nil {
			t.Errorf("%s: %v", fc.name, err)
		}
		pushes += fc.got.Load()
	}
	for i, srv := range servers {
		srv.Close()
		links[i].Close()
	}
	t.Logf("%d flaps: %d pushes checked, %d sends while down returned at once, %d requests made while disconnected answered after the heal, %d cut by a partition's heal",
		scale.flaps, pushes, sendsWhileDown.Load(), waitedRequests.Load(), requestErrors.Load())
	t.Logf("goroutines (client, server) after each reconnection: %v", goroutines)
	if pushes == 0 || waitedRequests.Load() == 0 {
		t.Error("no push checked or no waiting request answered: the test proved nothing")
	}
	for side, name := range []string{"client", "server"} {
		first, last := thirdMedians(goroutines, side)
		if last > first+12 {
			t.Errorf("%s goroutines grew from %d to %d over %d flaps", name, first, last, scale.flaps)
		}
	}
	goleak.VerifyNone(t, toxiproxyLeaks...)
}

// pushEchoServer is a WireAuto server that echoes requests and pushes, on
// every connection, a message every 10 ms numbered from 1 with its
// checksum.
func pushEchoServer(t *testing.T, ctx context.Context, tls bool, opts []chatter.Option) *chatter.Server {
	t.Helper()
	opts = append([]chatter.Option{chatter.WithLogger(quiet), chatter.WithWire(chatter.WireAuto)}, opts...)
	addr := "tcp+sbs://127.0.0.1:0"
	if tls {
		server, _ := tlsPair()
		opts = append(opts, chatter.WithTLSConfig(server))
		addr = "ssl+sbs://127.0.0.1:0"
	}
	var srv *chatter.Server
	var err error
	Do(ctx, ServerSide, func(ctx context.Context) {
		srv, err = chatter.Listen(ctx, Repo, addr, func(ctx context.Context, c *chatter.Conn) {
			done := make(chan struct{})
			go func() {
				defer close(done)
				seq := uint64(0)
				pace(ctx, 10*time.Millisecond, func() bool {
					seq++
					_, err := c.Send(ctx, bytesData(pushPayload(seq)))
					return err == nil
				})
			}()
			for m := range c.Messages() {
				if !m.Last {
					c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
				}
			}
			<-done
		}, opts...)
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// pushPayload is push number seq: the number, some bytes, and a CRC-32C of
// the rest.
func pushPayload(seq uint64) []byte {
	p := make([]byte, 12+int(seq%200))
	binary.BigEndian.PutUint64(p[4:], seq)
	for i := 12; i < len(p); i++ {
		p[i] = byte(seq + uint64(i))
	}
	binary.BigEndian.PutUint32(p, crc32.Checksum(p[4:], castagnoli))
	return p
}

// checkPush returns a push's number, and whether its checksum holds.
func checkPush(m chatter.Msg) (uint64, bool) {
	p, _ := m.Data.Data.([]byte)
	if len(p) < 12 || binary.BigEndian.Uint32(p) != crc32.Checksum(p[4:], castagnoli) {
		return 0, false
	}
	return binary.BigEndian.Uint64(p[4:]), true
}
