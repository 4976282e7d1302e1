package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// demoPlan says how much the demo exchanges.
type demoPlan struct {
	oneWay        int // one-way Integer messages
	requests      int // sequential request/response round trips
	conversations int // conversations passing the token back and forth
	rounds        int // answers the server gives in each conversation
}

var defaultPlan = demoPlan{oneWay: 200_000, requests: 5_000, conversations: 20, rounds: 10}

// demoTimeout bounds the whole demo.
const demoTimeout = time.Minute

var demoRepo = sbs.MustRepository(sbs.Repo(chatter.SBSRepository), sbs.NamedText("demo.sbs", `module Demo

# Echo is a request; the server answers it with itself.
Echo = Record { seq: Integer, note: String }

# Turn is a move in a conversation: the server answers every Turn that
# leaves the conversation open with the next move, keeping it open.
Turn = Record { conversation: Integer, move: Integer }
`))

// demo runs a server and a client in this process and reports how their
// exchange went.
func demo(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("demo")
	if _, err := parseArgs(fs, args, nil, 0, nil); err != nil {
		return usageStatus(fs, "", err, s.err)
	}
	ctx, cancel := context.WithTimeout(ctx, demoTimeout)
	defer cancel()
	if err := runDemo(ctx, defaultPlan, s); err != nil {
		return failStatus(s.err, fmt.Errorf("demo: %w", err))
	}
	return exitOK
}

// counters counts one side's messages.
type counters struct{ sent, received atomic.Int64 }

func runDemo(ctx context.Context, plan demoPlan, s stdio) error {
	log := slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var server counters
	srv, err := chatter.Listen(ctx, demoRepo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, c *chatter.Conn) {
		demoServe(ctx, c, &server, log)
	}, chatter.WithLogger(log))
	if err != nil {
		return err
	}
	defer srv.Close()
	conn, err := chatter.Connect(ctx, demoRepo, srv.Addresses()[0], chatter.WithLogger(log))
	if err != nil {
		return err
	}
	defer conn.Close()

	d := demoClient{conn: conn, progress: newProgress(s.err)}
	start := time.Now()
	oneWay, err := d.oneWay(ctx, plan.oneWay)
	if err != nil {
		return fmt.Errorf("one-way: %w", err)
	}
	rtts, err := d.requests(ctx, plan.requests)
	if err != nil {
		return fmt.Errorf("requests: %w", err)
	}
	if err := d.conversations(ctx, plan.conversations, plan.rounds); err != nil {
		return fmt.Errorf("conversations: %w", err)
	}
	// Everything sent before this answer has reached the server.
	if err := d.sync(ctx); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	elapsed := time.Since(start)
	sent, received := d.sent.Load(), d.received.Load()
	if n := server.received.Load(); n != sent {
		return fmt.Errorf("client sent %d messages, server received %d", sent, n)
	}
	if n := server.sent.Load(); n != received {
		return fmt.Errorf("server sent %d messages, client received %d", n, received)
	}

	fmt.Fprintf(s.out, "messages:      %d exchanged in %v (%d sent by the client, %d by the server)\n",
		sent+received, elapsed.Round(time.Millisecond), sent, received)
	fmt.Fprintf(s.out, "one-way:       %d msg/s (%d Integer messages in %v)\n",
		int64(float64(plan.oneWay)/oneWay.Seconds()), plan.oneWay, oneWay.Round(time.Millisecond))
	fmt.Fprintf(s.out, "round trip:    p50 %v, p99 %v (%d sequential requests)\n",
		percentile(rtts, 50), percentile(rtts, 99), len(rtts))
	fmt.Fprintf(s.out, "conversations: %d, the token passed %d times in each\n",
		plan.conversations, 2*plan.rounds+1)
	return nil
}

// demoServe answers what the demo client sends: nothing to a message that
// ends its conversation (one-way messages, the last move), the next move to
// a Turn, and the message itself to anything else.
func demoServe(ctx context.Context, c *chatter.Conn, n *counters, log *slog.Logger) {
	for m := range c.Messages() {
		n.received.Add(1)
		if m.Last {
			continue
		}
		data, opts := m.Data, []chatter.SendOption{chatter.InConversation(m.Conv)}
		if m.Data.Module == "Demo" && m.Data.Type == "Turn" {
			conv, move, ok := turnOf(m.Data)
			if !ok {
				log.Error("demo: unexpected turn", "data", m.Data.Data)
				c.Close()
				break
			}
			data = turn(conv, move+1)
			opts = append(opts, chatter.Last(false))
		}
		// Counted first: the client may check the count as soon as it has
		// the answer.
		n.sent.Add(1)
		if _, err := c.Send(ctx, data, opts...); err != nil {
			if !errors.Is(err, chatter.ErrClosed) {
				log.Error("demo: answer failed", "err", err)
				c.Close()
			}
			break
		}
	}
}

func turn(conv, move int64) chatter.Data {
	return chatter.Data{Module: "Demo", Type: "Turn", Data: map[string]any{"conversation": conv, "move": move}}
}

func turnOf(d chatter.Data) (conv, move int64, ok bool) {
	m, ok := d.Data.(map[string]any)
	if !ok {
		return 0, 0, false
	}
	conv, ok1 := m["conversation"].(int64)
	move, ok2 := m["move"].(int64)
	return conv, move, ok1 && ok2
}

// demoClient runs the demo's phases over its connection.
type demoClient struct {
	conn *chatter.Conn
	counters
	progress *progress
}

// oneWay sends n Integer messages, each a conversation of its own, and
// returns how long they took to reach the server.
func (d *demoClient) oneWay(ctx context.Context, n int) (time.Duration, error) {
	d.progress.start("one-way", n)
	start := time.Now()
	for i := range n {
		if _, err := d.conn.Send(ctx, chatter.Data{Type: "Integer", Data: int64(i)}); err != nil {
			return 0, err
		}
		d.sent.Add(1)
		d.progress.update(i + 1)
	}
	if err := d.conn.Drain(ctx); err != nil {
		return 0, err
	}
	if err := d.sync(ctx); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	d.progress.done(n, elapsed)
	return elapsed, nil
}

// requests makes n requests one after the other and returns their round
// trip times.
func (d *demoClient) requests(ctx context.Context, n int) ([]time.Duration, error) {
	d.progress.start("requests", n)
	start := time.Now()
	rtts := make([]time.Duration, 0, n)
	for i := range n {
		t := time.Now()
		if err := d.echo(ctx, int64(i), "round trip"); err != nil {
			return nil, err
		}
		rtts = append(rtts, time.Since(t))
		d.progress.update(i + 1)
	}
	d.progress.done(n, time.Since(start))
	return rtts, nil
}

// conversations runs n conversations one after the other, in each of
// which the server answers rounds times before the client ends it.
func (d *demoClient) conversations(ctx context.Context, n, rounds int) error {
	d.progress.start("conversations", n)
	start := time.Now()
	for i := range n {
		id := int64(i)
		conv, err := d.conn.Send(ctx, turn(id, 0), chatter.Last(false))
		if err != nil {
			return err
		}
		d.sent.Add(1)
		for r := range rounds {
			m, err := d.conn.Receive(ctx)
			if err != nil {
				return err
			}
			d.received.Add(1)
			c, move, ok := turnOf(m.Data)
			want := int64(2*r + 1)
			if !ok || m.Conv != conv || c != id || move != want || m.Last || !m.Token {
				return fmt.Errorf("conversation %d: got %+v, want move %d", i, m, want)
			}
			last := r == rounds-1
			if _, err := d.conn.Send(ctx, turn(id, move+1), chatter.InConversation(conv), chatter.Last(last)); err != nil {
				return err
			}
			d.sent.Add(1)
		}
		d.progress.update(i + 1)
	}
	d.progress.done(n, time.Since(start))
	return nil
}

// sync makes a request; once it is answered, the server has read
// everything sent before it.
func (d *demoClient) sync(ctx context.Context) error {
	return d.echo(ctx, -1, "sync")
}

func (d *demoClient) echo(ctx context.Context, seq int64, note string) error {
	data := chatter.Data{Module: "Demo", Type: "Echo", Data: map[string]any{"seq": seq, "note": note}}
	m, err := d.conn.Request(ctx, data)
	if err != nil {
		return err
	}
	d.sent.Add(1)
	d.received.Add(1)
	if got, ok := m.Data.Data.(map[string]any); !ok || got["seq"] != seq || !m.Last {
		return fmt.Errorf("request %d: unexpected answer %+v", seq, m)
	}
	return nil
}

// percentile is the nearest-rank p-th percentile of ds, which it sorts.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(p/100*float64(len(ds)))) - 1
	return ds[max(i, 0)].Round(time.Microsecond)
}

// progress shows the demo's phases: on a terminal one line each with a
// live counter, elsewhere a plain line when each phase ends.
type progress struct {
	w      io.Writer
	live   bool
	name   string
	total  int
	shown  time.Time
	failed error
}

// progressInterval is how often a live counter is redrawn.
const progressInterval = 100 * time.Millisecond

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		fi, err := f.Stat()
		p.live = err == nil && fi.Mode()&os.ModeCharDevice != 0
	}
	return p
}

func (p *progress) start(name string, total int) {
	p.name, p.total = name, total
	p.shown = time.Time{}
	p.update(0)
}

func (p *progress) update(n int) {
	if !p.live || time.Since(p.shown) < progressInterval {
		return
	}
	p.shown = time.Now()
	p.print("\r\x1b[K%s: %d/%d", p.name, n, p.total)
}

func (p *progress) done(n int, elapsed time.Duration) {
	if p.live {
		p.print("\r\x1b[K")
	}
	p.print("%s: %d done in %v\n", p.name, n, elapsed.Round(time.Millisecond))
}

// print writes to the terminal; the first failure silences it.
func (p *progress) print(format string, args ...any) {
	if p.failed != nil {
		return
	}
	if _, err := fmt.Fprintf(p.w, format, args...); err != nil {
		p.failed = err
	}
}
