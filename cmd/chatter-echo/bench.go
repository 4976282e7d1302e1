package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// bench measures a peer: one-way throughput, or with -inflight the rate
// and latency of requests. The peer must answer requests in their
// conversation (an echo server: chatter-echo serve, or a hat component's
// own echo); without ADDRESS bench starts one in this process.
func bench(ctx context.Context, args []string, s stdio) int {
	var f commonFlags
	fs := newFlagSet("bench")
	n := fs.Int("n", 100_000, "messages (or requests) per connection")
	duration := fs.Duration("duration", 0, "stop after `D` even if -n is not reached (0: no limit)")
	size := fs.Int("size", 16, "payload `BYTES` of the Bytes type")
	conns := fs.Int("conns", 1, "connections, each doing the same")
	inflight := fs.Int("inflight", 0, "requests in flight on each connection; 0 sends one way")
	typ := fs.String("type", "Bytes", "payload `TYPE`: Bytes, Integer, or Module.Type with -d")
	data := fs.String("d", "", "the payload value for -type Module.Type, as SBS-JSON")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	timeout := fs.Duration("timeout", 10*time.Second, "bound on connecting, and on each request")
	f.register(fs)
	pos, err := parseArgs(fs, args, []string{"ADDRESS"}, 0, func() error {
		switch {
		case *n <= 0:
			return errors.New("-n must be positive")
		case *size < 0:
			return errors.New("-size must not be negative")
		case *conns <= 0:
			return errors.New("-conns must be positive")
		case *inflight < 0:
			return errors.New("-inflight must not be negative")
		case *timeout <= 0:
			return errors.New("-timeout must be positive")
		case *duration < 0:
			return errors.New("-duration must not be negative")
		}
		return f.check()
	})
	if err != nil {
		return usageStatus(fs, "[flags] [ADDRESS]", err, s.err)
	}
	repo, err := f.repository()
	if err != nil {
		return failStatus(s.err, err)
	}
	payload, err := benchPayload(repo, *typ, *size, *data)
	if err != nil {
		return failStatus(s.err, err)
	}
	log := f.logger(s.err)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	addr := ""
	if len(pos) == 1 {
		addr = pos[0]
	} else {
		// Self-contained: an echo server of the same generation here.
		quiet := slog.New(slog.DiscardHandler)
		srv, err := chatter.Listen(ctx, repo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, c *chatter.Conn) {
			echo(ctx, c, repo, quiet)
		}, chatter.WithLogger(quiet), chatter.WithWire(f.wire.w), chatter.WithRawPayloads(), chatter.WithPingTimeout(0))
		if err != nil {
			return failStatus(s.err, err)
		}
		defer srv.Close()
		addr = srv.Addresses()[0]
	}

	b := &benchRun{payload: payload, n: *n, inflight: *inflight, timeout: *timeout}
	if *duration > 0 {
		b.deadline = time.Now().Add(*duration)
	}
	var cs []*chatter.Conn
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	for range *conns {
		c, err := f.connect(ctx, repo, addr, *timeout, log, s.err)
		if err != nil {
			return failStatus(s.err, err)
		}
		c.DiscardMessages() // answers are Request replies; nothing else is read
		cs = append(cs, c)
	}
	stopProgress := showProgress(s.err, &b.done, int64(*n)*int64(*conns))
	res, runErr := b.run(ctx, cs)
	stopProgress()
	if runErr != nil {
		if res.Messages == 0 {
			return failStatus(s.err, runErr)
		}
		res.Error = runErr.Error() // partial figures, then the error and exit 1
	}
	res.Workload, res.Conns, res.Inflight, res.Type, res.Size = "one-way", *conns, *inflight, *typ, len(payload.raw)
	if *inflight > 0 {
		res.Workload = "requests"
	}
	res.Address = addr
	if len(pos) == 0 {
		res.Address = "self (" + addr + ")"
	}
	if *asJSON {
		enc := json.NewEncoder(s.out)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(res); err != nil {
			return failStatus(s.err, err)
		}
	} else {
		res.table(s.out)
	}
	if runErr != nil {
		fmt.Fprintln(s.err, "partial: the run stopped early; the figures are what was done until then")
		return failStatus(s.err, runErr)
	}
	return exitOK
}

// benchMessage is the payload bench sends, and its encoded bytes.
type benchMessage struct {
	data chatter.Data
	raw  []byte
}

func benchPayload(repo *sbs.Repository, typ string, size int, value string) (benchMessage, error) {
	var d chatter.Data
	switch typ {
	case "Bytes":
		d = chatter.Data{Type: "Bytes", Data: make([]byte, size)}
	case "Integer":
		d = chatter.Data{Type: "Integer", Data: int64(1) << 40}
	default:
		module, name, ok := strings.Cut(typ, ".")
		if !ok || value == "" {
			return benchMessage{}, fmt.Errorf("-type %s: want Bytes, Integer, or Module.Type with -d", typ)
		}
		t, err := repo.Type(module, name)
		if err != nil {
			return benchMessage{}, err
		}
		v, err := t.DecodeJSON([]byte(value))
		if err != nil {
			return benchMessage{}, fmt.Errorf("-d: %w", err)
		}
		d = chatter.Data{Module: module, Type: name, Data: v}
	}
	t, err := repo.Type(d.Module, d.Type)
	if err != nil {
		return benchMessage{}, err
	}
	raw, err := t.Encode(d.Data)
	if err != nil {
		return benchMessage{}, err
	}
	// Sent as bytes already encoded: the benchmark measures the wire and
	// the peer, not this side's encoder.
	return benchMessage{data: chatter.Data{Module: d.Module, Type: d.Type, Data: chatter.RawPayload(raw)}, raw: raw}, nil
}

// benchRun is one measurement over a set of connections.
type benchRun struct {
	payload  benchMessage
	n        int
	inflight int
	timeout  time.Duration
	deadline time.Time
	done     atomic.Int64 // messages sent (one-way) or requests answered
}

// benchResult is what bench prints.
type benchResult struct {
	Address  string  `json:"address"`
	Workload string  `json:"workload"`
	Conns    int     `json:"conns"`
	Inflight int     `json:"inflight"`
	Type     string  `json:"type"`
	Size     int     `json:"payload_bytes"`
	Messages int64   `json:"messages"`
	Seconds  float64 `json:"seconds"`
	MsgPerS  float64 `json:"msg_per_s"`
	MBPerS   float64 `json:"mb_per_s"`
	P50      float64 `json:"p50_us,omitempty"`
	P90      float64 `json:"p90_us,omitempty"`
	P99      float64 `json:"p99_us,omitempty"`
	Max      float64 `json:"max_us,omitempty"`
	// Error, when set, is why the run stopped before its end: the figures
	// are those of what was done until then (one-way messages counted as
	// sent, not as confirmed read).
	Error string `json:"error,omitempty"`
}

func (b *benchRun) expired() bool { return !b.deadline.IsZero() && time.Now().After(b.deadline) }

func (b *benchRun) run(ctx context.Context, cs []*chatter.Conn) (benchResult, error) {
	var mu sync.Mutex
	var rtts []time.Duration
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range cs {
		if b.inflight == 0 {
			wg.Go(func() {
				if err := b.oneWay(ctx, c); err != nil {
					fail(connHint(c, err))
				}
			})
			continue
		}
		for w := range b.inflight {
			share := b.n / b.inflight
			if w < b.n%b.inflight {
				share++
			}
			wg.Go(func() {
				mine, err := b.requests(ctx, c, share)
				if err != nil {
					fail(connHint(c, err))
				}
				mu.Lock()
				rtts = append(rtts, mine...)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	// What was done counts even when the run failed: a peer that goes
	// away mid-run leaves figures worth seeing.
	r := benchResult{Messages: b.done.Load(), Seconds: elapsed.Seconds()}
	r.MsgPerS = float64(r.Messages) / elapsed.Seconds()
	r.MBPerS = r.MsgPerS * float64(len(b.payload.raw)) / 1e6
	if len(rtts) > 0 {
		slices.Sort(rtts)
		us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
		r.P50, r.P90, r.P99, r.Max = us(nearest(rtts, 50)), us(nearest(rtts, 90)), us(nearest(rtts, 99)), us(rtts[len(rtts)-1])
	}
	return r, firstErr
}

// oneWay sends b.n messages and then a request: once it is answered, the
// peer has read them all.
func (b *benchRun) oneWay(ctx context.Context, c *chatter.Conn) error {
	for i := 0; i < b.n && !b.expired(); i++ {
		if _, err := c.Send(ctx, b.payload.data); err != nil {
			return err
		}
		b.done.Add(1)
	}
	rctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	if _, err := c.Request(rctx, b.payload.data); err != nil {
		return fmt.Errorf("the final request (the peer must answer requests): %w", err)
	}
	return nil
}

// requests makes n requests one after the other and returns their round
// trip times.
func (b *benchRun) requests(ctx context.Context, c *chatter.Conn, n int) ([]time.Duration, error) {
	rtts := make([]time.Duration, 0, n)
	for i := 0; i < n && !b.expired(); i++ {
		rctx, cancel := context.WithTimeout(ctx, b.timeout)
		t := time.Now()
		_, err := c.Request(rctx, b.payload.data)
		cancel()
		if err != nil {
			return rtts, fmt.Errorf("request (the peer must answer requests): %w", err)
		}
		rtts = append(rtts, time.Since(t))
		b.done.Add(1)
	}
	return rtts, nil
}

// nearest is the nearest-rank p-th percentile of sorted ds.
func nearest(ds []time.Duration, p float64) time.Duration {
	i := (int(p*float64(len(ds))) + 99) / 100
	return ds[min(max(i-1, 0), len(ds)-1)]
}

func (r benchResult) table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tconns\tinflight\tmessages\tpayload\ttime\tmsg/s\tMB/s\tp50\tp90\tp99\tmax")
	lat := func(us float64) string {
		if us == 0 {
			return "-"
		}
		return time.Duration(us * 1e3).Round(time.Microsecond).String()
	}
	fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d B\t%v\t%.0f\t%.2f\t%s\t%s\t%s\t%s\n",
		r.Workload, r.Conns, r.Inflight, r.Messages, r.Size, time.Duration(r.Seconds*1e9).Round(time.Millisecond),
		r.MsgPerS, r.MBPerS, lat(r.P50), lat(r.P90), lat(r.P99), lat(r.Max))
	tw.Flush()
}

// showProgress redraws "done/total" on w every 200 ms while w is a
// terminal, until the returned function is called.
func showProgress(w io.Writer, done *atomic.Int64, total int64) (stop func()) {
	f, ok := w.(*os.File)
	if !ok {
		return func() {}
	}
	if fi, err := f.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				fmt.Fprint(f, "\r\x1b[K")
				return
			case <-tick.C:
				fmt.Fprintf(f, "\r\x1b[Kbench: %d/%d", done.Load(), total)
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
	}
}
