package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// ClientConfig says what a harness client does on each connection its
// Redial loop makes.
type ClientConfig struct {
	Variant Variant
	Link    *Link
	Opts    []chatter.Option
	Backoff chatter.Backoff
	// RequestEvery paces a lane of sequential requests (0: none);
	// SendEvery a lane of one-way messages (0: none).
	RequestEvery, SendEvery time.Duration
	// Held requests per connection are never answered: they are in
	// flight whenever the connection fails.
	Held int
	// ConvEvery paces conversations with a timeout (0: none): the first
	// message of each keeps the conversation open with ConvTimeout, and
	// every other one asks the server not to answer, so that its timeout
	// fires.
	ConvEvery, ConvTimeout time.Duration
	// Sizes draws message sizes; Small(2048) when nil.
	Sizes func(*Sizes) int
}

// Event is a Redial event and when it came.
type Event struct {
	chatter.RedialEvent
	At time.Time
}

// HeldResult is how a held request ended: its error's text, whether it
// matched ErrClosed, and when. Not the error itself: a *RequestError
// names its conversation, and with it the connection, which a soak's
// record must not keep alive.
type HeldResult struct {
	Err    string // "" when the request had a reply
	Closed bool
	At     time.Time
}

// Client is a Redial loop with traffic: the daemon-style client the
// harness puts behind a faulty link.
type Client struct {
	name   string
	cfg    ClientConfig
	ledger *Ledger
	cancel context.CancelFunc
	done   chan error

	stopOnce sync.Once
	stopErr  error

	mu sync.Mutex
	// events are the latest events, events[0] being event number base:
	// older ones are dropped, so that a soak's memory does not grow with
	// its reconnections.
	events   []Event
	base     int
	connects int
	changed  chan struct{} // closed and replaced at every event
	held     []HeldResult  // the latest, as events
	lastOK   time.Time     // the last successful request
	gen      int

	convs *ConvStats
}

// ConvStats counts conversations with a timeout and how they ended.
type ConvStats struct {
	mu sync.Mutex
	// Started: conversations opened; Answered: whose answer came;
	// Fired: whose timeout fired. Ignored: those the server was asked not
	// to answer, and IgnoredFired those of them whose timeout fired.
	Started, Answered, Fired, Ignored, IgnoredFired uint64
	// Problems: a timeout that fired twice, or an ignored conversation
	// that was answered.
	Problems []string
}

// StartClient starts a client named name.
func StartClient(ctx context.Context, ledger *Ledger, name string, cfg ClientConfig) *Client {
	ctx, cancel := context.WithCancel(ctx)
	cl := &Client{name: name, cfg: cfg, ledger: ledger, cancel: cancel, done: make(chan error, 1), changed: make(chan struct{}), convs: &ConvStats{}}
	if cfg.Sizes == nil {
		cl.cfg.Sizes = func(s *Sizes) int { return s.Small(2048) }
	}
	opts := append(ClientOpts(cfg.Variant, cfg.Opts...), chatter.WithBackoff(cfg.Backoff), chatter.WithRedialEvents(cl.record))
	go Do(ctx, ClientSide, func(ctx context.Context) {
		cl.done <- chatter.Redial(ctx, Repo, Address(cfg.Variant, cfg.Link), cl.run, opts...)
	})
	return cl
}

// Stop ends the loop and waits for it. It returns nil when Redial ended
// because it was stopped, and otherwise what Redial returned; it may be
// called more than once.
func (cl *Client) Stop() error {
	cl.cancel()
	cl.stopOnce.Do(func() { cl.stopErr = <-cl.done })
	if errors.Is(cl.stopErr, context.Canceled) {
		return nil
	}
	return cl.stopErr
}

func (cl *Client) record(e chatter.RedialEvent) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	e.Conn = nil // not kept alive by the record
	cl.events = append(cl.events, Event{RedialEvent: e, At: time.Now()})
	if e.State == chatter.Connected {
		cl.connects++
	}
	if len(cl.events) > keepEvents {
		n := len(cl.events) - keepEvents/2
		cl.events = append(cl.events[:0:0], cl.events[n:]...)
		cl.base += n
	}
	close(cl.changed)
	cl.changed = make(chan struct{})
}

// keepEvents is how many of a client's latest events (and held requests'
// results) are kept.
const keepEvents = 1024

// drainBound is how long a client waits, once its connection has ended,
// for Messages to deliver what was read and close.
const drainBound = 30 * time.Second

// Await waits until an event after the first `after` matches ok, or d
// passes.
func (cl *Client) Await(after int, d time.Duration, ok func(Event) bool) (Event, bool) {
	deadline := time.Now().Add(d)
	for {
		cl.mu.Lock()
		for _, e := range cl.events[min(max(after-cl.base, 0), len(cl.events)):] {
			if ok(e) {
				cl.mu.Unlock()
				return e, true
			}
		}
		after = cl.base + len(cl.events)
		changed := cl.changed
		cl.mu.Unlock()
		left := time.Until(deadline)
		if left <= 0 || !within(changed, left) && time.Now().After(deadline) {
			return Event{}, false
		}
	}
}

// Events returns how many events came so far.
func (cl *Client) Events() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.base + len(cl.events)
}

// Connects counts the Connected events.
func (cl *Client) Connects() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.connects
}

// LastOK is when a request last succeeded.
func (cl *Client) LastOK() time.Time {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.lastOK
}

// Held returns how the held requests ended so far.
func (cl *Client) Held() []HeldResult {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return append([]HeldResult(nil), cl.held...)
}

// Convs returns the client's conversation counts.
func (cl *Client) Convs() *ConvStats { return cl.convs }

// run is what the client does with each connection: lanes of requests and
// one-way messages, held requests and conversations, until it ends; then
// it closes it and settles its record.
func (cl *Client) run(ctx context.Context, c *chatter.Conn) error {
	cl.mu.Lock()
	cl.gen++
	name := fmt.Sprintf("%s#%d", cl.name, cl.gen)
	cl.mu.Unlock()
	rec := cl.ledger.Conn(name, cl.cfg.Link)
	recv := Receive(cl.ledger, c)
	var replies atomic.Uint64
	var wg sync.WaitGroup
	for i := range cl.cfg.Held {
		{
			ln := cl.ledger.Lane(fmt.Sprintf("%s held %d", name, i), rec)
			p, seq := ln.Next(16, flagHold)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := c.Request(ctx, bytesData(p))
				ln.Requested(seq, err)
				cl.mu.Lock()
				res := HeldResult{Closed: errors.Is(err, chatter.ErrClosed), At: time.Now()}
				if err != nil {
					res.Err = err.Error()
				}
				cl.held = append(cl.held, res)
				if len(cl.held) > keepEvents {
					cl.held = append(cl.held[:0:0], cl.held[len(cl.held)-keepEvents/2:]...)
				}
				cl.mu.Unlock()
			}()
		}
	}
	if every := cl.cfg.RequestEvery; every > 0 {
		ln := cl.ledger.Lane(name+" requests", rec)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sizes := NewSizes(uint64(time.Now().UnixNano()))
			pace(ctx, every, func() bool {
				p, seq := ln.Next(cl.cfg.Sizes(sizes), 0)
				reply, err := c.Request(ctx, bytesData(p))
				ln.Requested(seq, err)
				if err != nil {
					return false
				}
				checkReply(cl.ledger, p, reply)
				replies.Add(1)
				cl.mu.Lock()
				cl.lastOK = time.Now()
				cl.mu.Unlock()
				return true
			})
		}()
	}
	if every := cl.cfg.SendEvery; every > 0 {
		ln := cl.ledger.Lane(name+" one-way", rec)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sizes := NewSizes(uint64(time.Now().UnixNano()))
			pace(ctx, every, func() bool {
				p, seq := ln.Next(cl.cfg.Sizes(sizes), 0)
				_, err := c.Send(ctx, bytesData(p))
				ln.Sent(seq, err)
				return err == nil
			})
		}()
	}
	var convs *convTracker
	if every := cl.cfg.ConvEvery; every > 0 {
		convs = newConvTracker(cl.convs)
		ln := cl.ledger.Lane(name+" conversations", rec)
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := 0
			pace(ctx, every, func() bool {
				i++
				flags := uint32(0)
				if i%2 == 0 {
					flags = flagIgnore
				}
				p, seq := ln.Next(16, flags)
				conv, err := c.Send(ctx, bytesData(p), chatter.Last(false),
					chatter.ConversationTimeout(cl.cfg.ConvTimeout, convs.fired))
				ln.Sent(seq, err)
				if err == nil {
					convs.started(conv, flags&flagIgnore != 0)
				}
				return err == nil
			})
		}()
	}
	wg.Wait()
	if c.Err() != nil {
		// The connection failed, or the peer ended it: it delivers
		// everything it read, then closes Messages. A local Close now would
		// drop what the receiver has not taken yet, as doc.go says any
		// local Close does; an application that wants it all reads
		// Messages to its end first, and so does this client.
		if !within(recv.done, drainBound) {
			cl.ledger.Problem("client connection %s: Messages did not close within %v of the connection's end (%v)",
				c.LocalAddress(), drainBound, c.Err())
		}
	}
	res := c.Close()
	closed := time.Now()
	rec.End(res, c.Stats())
	recv.Check(c, res, replies.Load())
	if convs != nil {
		// Answers to conversations came on Messages: the receiver has them.
		convs.settle(recv.answers, cl.cfg.ConvTimeout, closed)
	}
	return nil
}

// pace calls f every period until it returns false or ctx ends.
func pace(ctx context.Context, every time.Duration, f func() bool) {
	t := time.NewTicker(every)
	defer t.Stop()
	for ctx.Err() == nil && f() {
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// convTracker follows one connection's conversations with a timeout.
type convTracker struct {
	stats *ConvStats
	mu    sync.Mutex
	convs map[chatter.Conversation]*convState
}

type convState struct {
	ignored bool
	start   time.Time
	fired   int
}

func newConvTracker(s *ConvStats) *convTracker {
	return &convTracker{stats: s, convs: map[chatter.Conversation]*convState{}}
}

func (t *convTracker) started(conv chatter.Conversation, ignored bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.convs[conv] = &convState{ignored: ignored, start: time.Now()}
}

// fired is the conversation timeout's callback.
func (t *convTracker) fired(conv chatter.Conversation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.convs[conv]
	if st == nil {
		// The callback can run before started records the conversation:
		// Send returns after the timeout is armed.
		st = &convState{start: time.Now()}
		t.convs[conv] = st
	}
	st.fired++
}

// timerSlack is how late a conversation timeout may fire on a busy
// machine before the harness calls it missing.
const timerSlack = time.Second

// settle counts the connection's conversations, now that it has ended:
// answers are those that came on Messages.
func (t *convTracker) settle(answers map[chatter.Conversation]bool, timeout time.Duration, closed time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	for conv, st := range t.convs {
		s.Started++
		answered := answers[conv]
		if answered {
			s.Answered++
		}
		if st.fired > 0 {
			s.Fired++
		}
		if st.fired > 1 {
			s.Problems = append(s.Problems, fmt.Sprintf("conversation %d: timeout fired %d times", conv.FirstID, st.fired))
		}
		if !st.ignored {
			continue
		}
		s.Ignored++
		if st.fired > 0 {
			s.IgnoredFired++
		}
		switch {
		case answered:
			s.Problems = append(s.Problems, fmt.Sprintf("conversation %d: answered, though the server was asked not to", conv.FirstID))
		case st.fired == 0 && closed.Sub(st.start) > timeout+timerSlack:
			s.Problems = append(s.Problems, fmt.Sprintf("conversation %d: no answer and no timeout in %v (timeout %v)", conv.FirstID, closed.Sub(st.start).Round(time.Millisecond), timeout))
		}
	}
}
