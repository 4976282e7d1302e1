package chaos

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// TestSlowLink: a 64 kbit/s link, both ways.
//
//   - A slow link is not a dead one: a 24 KiB message takes three seconds
//     to cross, longer than the keepalive's timeout, and the connection
//     stays up on both sides and answers the request queued behind it. On
//     the current wire the client's own timeout is longer than the
//     crossing: it hears nothing meanwhile, and its keepalive, like the
//     original's, only listens (see the package doc); the server's, short,
//     holds on while the frame arrives.
//   - A 1 MiB message and small requests share the connection: the link
//     cannot carry the requests in time, and each returns when its ctx
//     ends, with an error that says which request it was and why.
//   - The send buffer pushes back: a sender that keeps trying to queue 64
//     KiB messages stays within the send buffer's bound; its memory does
//     not grow with what it tries to queue.
//   - Close cannot flush what is queued within its flush timeout, and says
//     so: accepted messages are never dropped silently.
func TestSlowLink(t *testing.T) {
	for _, v := range Variants {
		t.Run(v.String(), func(t *testing.T) { testSlowLink(t, v) })
	}
}

func testSlowLink(t *testing.T, v Variant) {
	const (
		rate       = 8 // KB/s: 64 kbit/s
		slowSize   = 24 << 10
		bulkSize   = 1 << 20
		sendBuffer = chatter.DefaultSendBufferSize
	)
	// Over TLS the reader sees bytes a record at a time, and a 16 KiB
	// record takes two seconds to cross: the ping timeout must be longer.
	pingTimeout := time.Second
	if v.TLS {
		pingTimeout = 3 * time.Second
	}
	opts := []chatter.Option{
		chatter.WithPingTimeout(pingTimeout), chatter.WithPingDelay(500 * time.Millisecond),
		chatter.WithFlushTimeout(time.Second),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ledger := NewLedger()
	srv, err := NewServer(ctx, ledger, ServerConfig{Variant: v, Opts: opts})
	if err != nil {
		t.Fatal(err)
	}
	link, err := NewLink("slow", srv.HostPort())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{Up, Down} {
		if err := link.Add(Bandwidth(s, rate)); err != nil {
			t.Fatal(err)
		}
	}
	clientOpts := opts
	if v.Wire == chatter.WireCurrent {
		clientOpts = append(clientOpts[:len(clientOpts):len(clientOpts)], chatter.WithPingTimeout(5*time.Second))
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
	replies := uint64(0)
	oneway := ledger.Lane("one-way", rec)
	requests := ledger.Lane("requests", rec)

	// A slow link is not a dead one.
	p, seq := oneway.Next(slowSize, 0)
	_, err = conn.Send(ctx, bytesData(p))
	oneway.Sent(seq, err)
	p, seq = requests.Next(16, 0)
	start := time.Now()
	reply, err := conn.Request(ctx, bytesData(p))
	requests.Requested(seq, err)
	if err != nil {
		t.Fatalf("the request behind %d KiB on a 64 kbit/s link: %v", slowSize>>10, err)
	}
	checkReply(ledger, p, reply)
	replies++
	t.Logf("%v: a request behind %d KiB answered in %v; %d pings out", v, slowSize>>10, time.Since(start).Round(time.Millisecond), conn.Stats().PingsOut)

	// A 1 MiB message, then requests that cannot get through in time.
	p, seq = oneway.Next(bulkSize-headerSize, 0)
	_, err = conn.Send(ctx, bytesData(p))
	oneway.Sent(seq, err)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
			defer cancel()
			p, seq := requests.Next(16, 0)
			deadline, _ := rctx.Deadline()
			_, err := conn.Request(rctx, bytesData(p))
			late := time.Since(deadline)
			requests.Requested(seq, err)
			switch {
			case err == nil:
				t.Errorf("a request behind 1 MiB on a 64 kbit/s link was answered within 1.5 s")
			case !errors.Is(err, context.DeadlineExceeded):
				t.Errorf("request: %v, want a deadline", err)
			default:
				var re *chatter.RequestError
				if !errors.As(err, &re) || re.Type != "Bytes" || re.Conv.FirstID == 0 {
					t.Errorf("request error %q does not say which request it was", err)
				}
			}
			if late > time.Second {
				t.Errorf("request returned %v after its ctx ended", late)
			}
		}()
	}
	wg.Wait()

	// The send buffer pushes back.
	runtime.GC()
	base := Heap()
	attempt := func(n int) (accepted int) {
		for range n {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
			p, seq := oneway.Next(64<<10-headerSize, 0)
			_, err := conn.Send(sctx, bytesData(p))
			cancel()
			oneway.Sent(seq, err)
			if err == nil {
				accepted++
			}
		}
		return accepted
	}
	accepted := attempt(64)
	runtime.GC()
	after64 := Heap()
	accepted += attempt(192)
	runtime.GC()
	after256 := Heap()
	const mib = 1 << 20
	// What is accepted is what the send buffer and the kernel's socket
	// buffers (several MiB on loopback) take; only the first is memory of
	// this process.
	t.Logf("%v: tried to queue 256 × 64 KiB behind 1 MiB, %d accepted; heap %.1f → %.1f → %.1f MiB",
		v, accepted, float64(base)/mib, float64(after64)/mib, float64(after256)/mib)
	// The bound: the send buffer, one message over it, and what the
	// process holds besides (the proxy's chunks, the server's read of the
	// bulk message) — generously.
	if grown := int64(after256) - int64(base); grown > 4*sendBuffer+8*mib {
		t.Errorf("heap grew by %.1f MiB while the send buffer (%d MiB) was full", float64(grown)/mib, sendBuffer/mib)
	}
	if grown := int64(after256) - int64(after64); grown > 2*mib {
		t.Errorf("heap grew by %.1f MiB between 4 MiB and 16 MiB tried: it follows what is tried, not the bound", float64(grown)/mib)
	}

	// Close cannot flush within its timeout.
	res := conn.Close()
	rec.End(res, conn.Stats())
	recv.Check(conn, res, replies)
	t.Logf("%v: Close: %v; %d unsent", v, errString(res), conn.Stats().MessagesUnsent)
	if !errors.Is(res, chatter.ErrUnsent) {
		t.Errorf("Close: %v, want a report of the messages it could not write (ErrUnsent)", res)
	} else if conn.Stats().MessagesUnsent == 0 {
		t.Errorf("Close reported messages unsent, and Stats counts none")
	}
	// The client's end would reach the server behind what the link still
	// carries, at 8 KB/s; cut it.
	link.Close()
	shutdownServer(t, srv)
	tally := ledger.Tally()
	t.Logf("%v: %v", v, tally)
	if err := tally.Err(); err != nil {
		t.Error(err)
	}
}
