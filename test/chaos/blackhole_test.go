package chaos

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// TestBlackHole: the link swallows everything both ways, with no FIN.
//
//   - The client's connection ends with ErrPingTimeout within the ping
//     period plus its timeout (the legacy wire: twice the ping timeout;
//     the current one: the ping delay plus the ping timeout), with 20 %
//     slack.
//   - Every Request in flight — several held by the server, and the lane
//     of sequential ones — has returned an error by then.
//   - After the partition heals, Redial delivers new requests within its
//     backoff bound.
func TestBlackHole(t *testing.T) {
	for _, v := range Variants {
		t.Run(v.String(), func(t *testing.T) { testBlackHole(t, v) })
	}
}

func testBlackHole(t *testing.T, v Variant) {
	const (
		pingTimeout = time.Second
		pingDelay   = 500 * time.Millisecond
		held        = 4
	)
	backoff := chatter.Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	detectBound := 2 * pingTimeout // legacy: a ping every T, answered within T
	if v.Wire == chatter.WireCurrent {
		detectBound = pingDelay + pingTimeout
	}
	detectBound = detectBound * 12 / 10
	opts := []chatter.Option{chatter.WithPingTimeout(pingTimeout), chatter.WithPingDelay(pingDelay)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ledger := NewLedger()
	// The server's keepalive is slower, so that the client's is what
	// finds the black hole: toxiproxy passes a close through even a black
	// hole, and the server's would end the client's connection first.
	srvOpts := []chatter.Option{chatter.WithPingTimeout(3 * pingTimeout), chatter.WithPingDelay(3 * pingDelay)}
	srv, err := NewServer(ctx, ledger, ServerConfig{Variant: v, Opts: srvOpts})
	if err != nil {
		t.Fatal(err)
	}
	link, err := NewLink("blackhole", srv.HostPort())
	if err != nil {
		t.Fatal(err)
	}
	cl := StartClient(ctx, ledger, "client", ClientConfig{
		Variant: v, Link: link, Opts: opts, Backoff: backoff,
		RequestEvery: 20 * time.Millisecond, Held: held,
	})
	defer cl.Stop()

	// Traffic flows.
	if _, ok := cl.Await(0, 10*time.Second, func(e Event) bool { return e.State == chatter.Connected }); !ok {
		t.Fatal("no connection within 10 s")
	}
	for deadline := time.Now().Add(10 * time.Second); cl.LastOK().IsZero(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no request answered within 10 s")
		}
	}
	time.Sleep(200 * time.Millisecond)

	// The black hole.
	seen := cl.Events()
	t0 := time.Now()
	if err := link.Partition(); err != nil {
		t.Fatal(err)
	}
	ev, ok := cl.Await(seen, 3*detectBound, func(e Event) bool { return e.State == chatter.Disconnected })
	if !ok {
		t.Fatalf("the connection did not end within %v of the partition", 3*detectBound)
	}
	detect := ev.At.Sub(t0)
	if !errors.Is(ev.Err, chatter.ErrPingTimeout) {
		t.Errorf("the connection ended with %v, want ErrPingTimeout", ev.Err)
	}
	if detect > detectBound {
		t.Errorf("the black hole was detected after %v, more than %v", detect, detectBound)
	}
	// The held requests of that connection all returned, with an error,
	// by the time it was detected.
	var heldLast time.Time
	results := cl.Held()
	if len(results) < held {
		t.Errorf("%d of %d held requests returned when the connection ended", len(results), held)
	}
	for _, r := range results[:min(held, len(results))] {
		if !r.Closed {
			t.Errorf("held request: %q, want an error wrapping ErrClosed", r.Err)
		}
		heldLast = r.At
	}
	if heldLast.Sub(t0) > detectBound {
		t.Errorf("a request in flight returned %v after the partition began, later than %v", heldLast.Sub(t0), detectBound)
	}

	// Redial keeps trying into the black hole for a while.
	time.Sleep(detectBound)

	// The heal: new requests are answered within the backoff bound.
	seen = cl.Events()
	t1 := time.Now()
	if err := link.Heal(); err != nil {
		t.Fatal(err)
	}
	recoverBound := backoff.Max + 500*time.Millisecond
	var recovered time.Duration
	for {
		if ok := cl.LastOK(); ok.After(t1) {
			recovered = ok.Sub(t1)
			break
		}
		if time.Since(t1) > 5*recoverBound {
			t.Fatalf("no request answered within %v of the heal", 5*recoverBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if recovered > recoverBound {
		t.Errorf("requests came back %v after the heal, later than the backoff bound %v", recovered, recoverBound)
	}
	attempts := 0
	if e, ok := cl.Await(seen, 0, func(e Event) bool { return e.State == chatter.Connected }); ok {
		attempts = e.Attempt
	}
	if err := cl.Stop(); err != nil {
		t.Errorf("Redial: %v", err)
	}
	shutdownServer(t, srv)
	link.Close()
	tally := ledger.Tally()
	t.Logf("%v: black hole detected after %v (bound %v); requests back %v after the heal (attempt %d); %v",
		v, detect.Round(time.Millisecond), detectBound, recovered.Round(time.Millisecond), attempts, tally)
	if err := tally.Err(); err != nil {
		t.Error(err)
	}
}
