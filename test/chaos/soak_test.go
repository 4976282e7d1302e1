package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"go.uber.org/goleak"
)

// TestSoak: steady traffic under randomized faults for SOAK (a duration;
// 30 s when unset, which is what make test runs; make soak runs 10 minutes
// by default). One WireAuto server; 8 Redial clients, half on each wire,
// each behind a link of its own whose toxics change every 2 to 6 seconds;
// requests, held requests, one-way messages both ways and conversations
// with timeouts. The proxies run in a child process (ProxyHost), so that
// what this process holds is gochatter's.
//
// One line per minute (or per sixth of a shorter run): messages delivered
// a second, reconnects, RSS, heap, goroutines, messages lost with abrupt
// closes. With SOAK_PLOT=file.png it draws RSS, heap and goroutines over
// time, reconnects marked.
//
// It fails on any problem of the ledger (a duplicate, a corrupt or
// out-of-order message, a loss the accounting cannot explain), on a
// conversation timeout that fired twice or not at all, and on growth: a
// least-squares line through the samples from the second quarter of the
// run to its end may rise by at most soakRSSBound of RSS and
// soakGoroutineBound goroutines over that span. A panic fails it too, as
// it ends the test binary.
func TestSoak(t *testing.T) {
	d := 30 * time.Second
	if s := os.Getenv("SOAK"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatalf("SOAK=%q: %v", s, err)
		}
	}
	soak(t, d, os.Getenv("SOAK_PLOT"))
}

// The growth a soak allows from its second quarter to its end, fitted:
// the few connections' worth of goroutines that come and go with the
// faults, and RSS a little above what the collector's pacing moves.
const (
	soakRSSBound       = 24 << 20
	soakGoroutineBound = 40
)

func soak(t *testing.T, d time.Duration, plotFile string) {
	const clients = 8
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	host, err := StartProxyHost()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	ledger := NewLedger()
	opts := []chatter.Option{chatter.WithPingTimeout(time.Second), chatter.WithPingDelay(500 * time.Millisecond)}
	srv, err := NewServer(ctx, ledger, ServerConfig{Wire: chatter.WireAuto, Push: 50 * time.Millisecond, Opts: opts})
	if err != nil {
		t.Fatal(err)
	}
	var cls []*Client
	var links []*Link
	for i := range clients {
		v := Variant{Wire: chatter.WireLegacy}
		if i%2 == 1 {
			v.Wire = chatter.WireCurrent
		}
		link, err := host.NewLink(fmt.Sprintf("soak%d", i), srv.HostPort())
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, link)
		cls = append(cls, StartClient(ctx, ledger, fmt.Sprintf("client%d %v", i, v), ClientConfig{
			Variant: v, Link: link, Opts: opts,
			Backoff:      chatter.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second},
			RequestEvery: 10 * time.Millisecond, SendEvery: 5 * time.Millisecond, Held: 1,
			ConvEvery: 100 * time.Millisecond, ConvTimeout: 300 * time.Millisecond,
		}))
	}
	// The server cannot tell which link a connection came through: a fault
	// on any of them counts against its pushes.
	srv.SetLinks(links...)

	// Faults, each link on its own schedule, in a goroutine of its own:
	// toxiproxy can take seconds to take a toxic off a flow whose receiver
	// is not reading, and the other links go on meanwhile.
	var chaos sync.WaitGroup
	var faultMu sync.Mutex
	faultCount := map[string]int{}
	for i, l := range links {
		chaos.Add(1)
		go func() {
			defer chaos.Done()
			r := rand.New(rand.NewPCG(5, uint64(i)))
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(randDuration(r, 2*time.Second, 6*time.Second)):
				}
				f, err := randomFault(r, l)
				if err != nil {
					t.Error(err)
					return
				}
				faultMu.Lock()
				faultCount[f]++
				faultMu.Unlock()
			}
		}()
	}

	start := time.Now()
	report := min(time.Minute, max(5*time.Second, d/6))
	var samples []Sample
	reconnects := func() int {
		n := 0
		for _, cl := range cls {
			n += max(0, cl.Connects()-1)
		}
		return n
	}
	t.Logf("soak of %v, a line every %v", d, report)
	tick := time.NewTicker(time.Second)
	lastLine, lastDelivered := time.Duration(0), uint64(0)
	for now := range tick.C {
		el := now.Sub(start)
		s := Sample{At: el, RSS: RSS(), Heap: Heap(), Goroutines: runtime.NumGoroutine(),
			Delivered: ledger.Delivered(), Reconnects: reconnects()}
		if el-lastLine >= report || el >= d {
			s.Lost = ledger.LostSoFar()
			rate := float64(s.Delivered-lastDelivered) / (el - lastLine).Seconds()
			t.Logf("t=%-8v msgs/s %7.0f  reconnects %5d  rss %6.1f MiB  heap %6.1f MiB  goroutines %4d  lost-abrupt %d",
				el.Round(time.Second), rate, s.Reconnects, float64(s.RSS)/(1<<20), float64(s.Heap)/(1<<20), s.Goroutines, s.Lost)
			lastLine, lastDelivered = el, s.Delivered
		} else if len(samples) > 0 {
			s.Lost = samples[len(samples)-1].Lost
		}
		samples = append(samples, s)
		if el >= d {
			break
		}
	}
	tick.Stop()
	if f := os.Getenv("SOAK_HEAP"); f != "" {
		writeHeapProfile(t, f)
	}
	// The clients first: with their flows gone, a toxic being taken off
	// one comes off at once.
	cancel()
	for _, cl := range cls {
		if err := cl.Stop(); err != nil {
			t.Errorf("%s: Redial: %v", cl.name, err)
		}
	}
	chaos.Wait()
	shutdownServer(t, srv)

	tally := ledger.Tally()
	t.Logf("faults applied: %v", faultCount)
	t.Logf("%v", tally)
	if err := tally.Err(); err != nil {
		t.Error(err)
	}
	var convs ConvStats
	for _, cl := range cls {
		c := cl.Convs()
		convs.Started += c.Started
		convs.Answered += c.Answered
		convs.Fired += c.Fired
		convs.Ignored += c.Ignored
		convs.IgnoredFired += c.IgnoredFired
		convs.Problems = append(convs.Problems, c.Problems...)
	}
	t.Logf("conversations: %d started, %d answered, %d timeouts fired; of %d left unanswered, %d timed out (the rest ended with their connection)",
		convs.Started, convs.Answered, convs.Fired, convs.Ignored, convs.IgnoredFired)
	for i, p := range convs.Problems {
		if i == 20 {
			t.Errorf("and %d more conversation problems", len(convs.Problems)-20)
			break
		}
		t.Error(p)
	}

	// Growth from the second quarter on.
	from := samples[len(samples)/4:]
	span := (from[len(from)-1].At - from[0].At).Minutes()
	rssSlope := fitSlope(from, func(s Sample) float64 { return float64(s.RSS) })
	gSlope := fitSlope(from, func(s Sample) float64 { return float64(s.Goroutines) })
	t.Logf("from %v to the end: RSS %+.2f MiB/min (%+.1f MiB over the span), goroutines %+.2f/min (%+.1f over the span); %d reconnects, %.0f msgs/s",
		from[0].At.Round(time.Second), rssSlope/(1<<20), rssSlope*span/(1<<20), gSlope, gSlope*span,
		samples[len(samples)-1].Reconnects, float64(samples[len(samples)-1].Delivered)/d.Seconds())
	if g := rssSlope * span; g > soakRSSBound {
		t.Errorf("RSS grew by %.1f MiB from the second quarter to the end, more than %d MiB", g/(1<<20), soakRSSBound>>20)
	}
	if g := gSlope * span; g > soakGoroutineBound {
		t.Errorf("goroutines grew by %.1f from the second quarter to the end, more than %d", g, soakGoroutineBound)
	}
	if plotFile != "" {
		f, err := os.Create(plotFile)
		if err != nil {
			t.Fatal(err)
		}
		err = Plot(f, fmt.Sprintf("gochatter soak, %v: 8 Redial clients, randomized toxics", d.Round(time.Second)), samples)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := host.Close(); err != nil {
		t.Error(err)
	}
	goleak.VerifyNone(t, toxiproxyLeaks...)
}

// randomFault puts link in a random state, first healing whatever fault it
// was in, and says which.
func randomFault(r *rand.Rand, l *Link) (string, error) {
	if err := l.Up(); err != nil {
		return "", err
	}
	if err := l.Heal(); err != nil {
		return "", err
	}
	if err := l.Clear(); err != nil {
		return "", err
	}
	both := func(f func(stream string) Toxic) error {
		for _, s := range []string{Up, Down} {
			if err := l.Add(f(s)); err != nil {
				return err
			}
		}
		return nil
	}
	stream := Up
	if r.IntN(2) == 0 {
		stream = Down
	}
	switch n := r.IntN(12); {
	case n < 3:
		return "none", nil
	case n == 3:
		return "latency", both(func(s string) Toxic { return Latency(s, 50, 20) })
	case n == 4:
		return "bandwidth", both(func(s string) Toxic { return Bandwidth(s, 32) })
	case n == 5:
		return "slicer", both(func(s string) Toxic { return Slicer(s, 4, 3, 1) })
	case n == 6:
		return "partition", l.Partition()
	case n == 7:
		l.Down()
		return "outage", nil
	case n == 8:
		return "reset", l.Reset()
	case n == 9:
		return "limit_data", l.Add(LimitData(stream, r.Int64N(64<<10)))
	case n == 10:
		return "reset_peer", l.Add(ResetPeer(stream, r.Int64N(50)))
	default:
		return "slow_close", both(func(s string) Toxic { return SlowClose(s, 200) })
	}
}

// fitSlope is the least-squares slope of value over time, per minute.
func fitSlope(samples []Sample, value func(Sample) float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, s := range samples {
		x, y := s.At.Minutes(), value(s)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

// writeHeapProfile writes the heap profile to file, for a look at what a
// soak holds while it runs.
func writeHeapProfile(t *testing.T, file string) {
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
}
