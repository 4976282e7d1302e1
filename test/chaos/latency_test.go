package chaos

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// TestLatency: 50 ms ± 20 ms each way. Requests, 64 in flight, are all
// answered; the keepalive, whose timeout is at least four round trips,
// pings and never fires, during the requests and while the connection then
// idles.
func TestLatency(t *testing.T) {
	for _, v := range Variants {
		t.Run(v.String(), func(t *testing.T) { testLatency(t, v) })
	}
}

func testLatency(t *testing.T, v Variant) {
	const (
		inFlight = 64
		maxRTT   = 2 * (50 + 20) * time.Millisecond
	)
	// Four round trips at the worst; the current wire pings after 200 ms
	// of silence.
	pingOpts := []chatter.Option{chatter.WithPingTimeout(4 * maxRTT), chatter.WithPingDelay(200 * time.Millisecond)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ledger := NewLedger()
	srv, err := NewServer(ctx, ledger, ServerConfig{Variant: v, Opts: pingOpts})
	if err != nil {
		t.Fatal(err)
	}
	link, err := NewLink("latency", srv.HostPort())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{Up, Down} {
		if err := link.Add(Latency(s, 50, 20)); err != nil {
			t.Fatal(err)
		}
	}
	var conn *chatter.Conn
	Do(ctx, ClientSide, func(ctx context.Context) {
		conn, err = chatter.Connect(ctx, Repo, Address(v, link), ClientOpts(v, pingOpts...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := ledger.Conn("client", link)
	recv := Receive(ledger, conn)

	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	replies := uint64(0)
	for i := range inFlight {
		per := scale.latencyRequests / inFlight
		if i < scale.latencyRequests%inFlight {
			per++
		}
		ln := ledger.Lane("requests "+string(rune('A'+i%26)), rec)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sizes := NewSizes(uint64(i))
			for range per {
				p, seq := ln.Next(sizes.Small(1024), 0)
				reply, err := conn.Request(ctx, bytesData(p))
				ln.Requested(seq, err)
				if err != nil {
					t.Errorf("request: %v", err)
					return
				}
				checkReply(ledger, p, reply)
				mu.Lock()
				replies++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Idle for several keepalive periods: pings go out and come back over
	// the slow path, and nothing fires.
	time.Sleep(6 * 4 * maxRTT)
	st := conn.Stats()
	if err := conn.Err(); err != nil {
		t.Errorf("the connection ended: %v", err)
	}
	if st.PingsOut == 0 || st.PongsIn == 0 {
		t.Errorf("the keepalive did not run: %d pings out, %d pongs in", st.PingsOut, st.PongsIn)
	}
	res := conn.Close()
	rec.End(res, conn.Stats())
	recv.Check(conn, res, replies)
	if res != nil {
		t.Errorf("Close: %v", res)
	}
	// The server's end: it closes after the client, having delivered
	// everything.
	shutdownServer(t, srv)
	link.Close()
	tally := ledger.Tally()
	t.Logf("%v: %d requests in %v (%.0f/s); %d pings out, %d pongs in; %v", v, replies, elapsed.Round(time.Millisecond),
		float64(replies)/elapsed.Seconds(), st.PingsOut, st.PongsIn, tally)
	if err := tally.Err(); err != nil {
		t.Error(err)
	}
	if tally.Lost != 0 || tally.Failed != 0 || tally.Delivered != tally.Sent {
		t.Errorf("over a slow but sound link every message must arrive: %v", tally)
	}
}

// shutdownServer waits for the server's clients to have gone and their
// connections to have delivered everything, then shuts the server down;
// it fails the test if either takes long.
func shutdownServer(t testing.TB, s *Server) {
	t.Helper()
	if !s.WaitIdle(60 * time.Second) {
		t.Errorf("server connections still open 60 s after their clients closed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("server shutdown: %v", err)
	} else if err != nil {
		t.Errorf("server shutdown took more than 20 s")
	}
}
