package chatter

import (
	"context"
	"sync/atomic"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// Client is a handle on a connection to one address that outlives the
// connection: it dials, and after every failure dials again (as [Redial]
// does, with its options: [WithBackoff], [WithRedialEvents]), while the
// program keeps calling the same Send, Request and Messages.
//
// While no connection is up, Send and Request fail at once with an error
// matching [ErrNotConnected] (and why the last attempt failed), or, with
// [WaitForReady], wait for a connection within their ctx. [Client.State]
// says where it stands and [Client.WaitForState] waits for a state.
//
// Nothing is replayed: a conversation belongs to the connection it began
// on, and messages queued but not written when a connection fails are
// lost with it, as are Requests waiting for replies (they return an error
// wrapping ErrClosed). What each new connection must send first (a
// registration, subscriptions) goes in the [WithConnectedHook] function,
// which runs before the Client counts as connected, so before any Send
// waiting with WaitForReady goes out.
//
// Ownership: one goroutine, the Client's loop, dials, runs the hook, moves
// messages to the Messages channel and decides the state. It publishes
// each state as an immutable snapshot (state, connection, reason), which
// callers read; nothing else writes it.
type Client struct {
	msgs chan Msg
	snap atomic.Pointer[clientState] // written by the loop only
	stop context.CancelFunc
	done chan struct{} // closed when the loop has returned

	closeErr error // set by the loop before done is closed
}

// clientState is one published state of a Client. It never changes once
// published; next is closed when a newer one replaces it.
type clientState struct {
	state State
	conn  *Conn // Connected
	err   error // Disconnected: why; Stopped: what stopped the client
	next  chan struct{}
}

// WithConnectedHook sets a function that a [Client] runs with each new
// connection before it counts as connected: to send what the peer must
// see first. The ctx ends with the connection. An error closes the
// connection and the Client dials again, unless it was made with
// [Permanent], which stops the Client with that error. Connect, Listen
// and Redial ignore it (Redial's run function does the same job).
func WithConnectedHook(f func(ctx context.Context, c *Conn) error) Option {
	return optionFunc(func(c *config) { c.connectedHook = f })
}

// WaitForReady makes a [Client]'s Send or Request that finds no
// connection up wait, until one is (its Connected hook has returned) or
// ctx ends, instead of failing with ErrNotConnected. A Conn ignores it.
func WaitForReady() SendOption { return waitReadyOption{} }

type waitReadyOption struct{}

func (waitReadyOption) applySend(c sendConfig) sendConfig {
	c.waitReady = true
	return c
}

// NewClient returns a Client that keeps a connection to addr, with the
// repository and options of [Connect] (and [WithBackoff],
// [WithRedialEvents], [WithConnectedHook]). It does not wait for the
// first connection: [Client.WaitForState] does. It fails only on bad
// options or a bad address.
//
// ctx bounds the Client's life: when it ends, the Client closes as with
// [Client.Close]. Its values reach the Connected hook's ctx.
func NewClient(ctx context.Context, repo *sbs.Repository, addr string, opts ...Option) (*Client, error) {
	cfg, err := redialConfig(addr, opts)
	if err != nil {
		return nil, err
	}
	b, userEvent := cfg.backoffOrDefaults(), cfg.redialEventsOrNop()
	loopCtx, stop := context.WithCancel(ctx)
	cl := &Client{msgs: make(chan Msg), stop: stop, done: make(chan struct{})}
	cl.snap.Store(&clientState{state: Connecting, next: make(chan struct{})})
	go cl.loop(loopCtx, repo, addr, opts, b, userEvent, cfg.connectedHook)
	return cl, nil
}

// loop is the Client's goroutine: Redial's loop, with a run function that
// runs the hook, publishes the connection and moves its messages.
func (cl *Client) loop(ctx context.Context, repo *sbs.Repository, addr string, opts []Option, b Backoff,
	userEvent func(RedialEvent), hook func(context.Context, *Conn) error) {
	defer close(cl.done)
	var connected RedialEvent // held back until the hook has returned
	event := func(ev RedialEvent) {
		switch ev.State {
		case Connecting:
			cl.publish(Connecting, nil, nil)
		case Connected:
			connected = ev
			return
		case Disconnected:
			cl.publish(Disconnected, nil, ev.Err)
		}
		userEvent(ev)
	}
	run := func(connCtx context.Context, c *Conn) error {
		if hook != nil {
			if err := hook(connCtx, c); err != nil {
				return err
			}
		}
		cl.publish(Connected, c, nil)
		userEvent(connected)
		return cl.forward(ctx, c)
	}
	err := redial(ctx, repo, addr, run, opts, b, event)
	close(cl.msgs)
	cl.publish(Stopped, nil, err)
	userEvent(RedialEvent{State: Stopped, Err: err})
}

// forward moves c's messages to the Client's channel until c has
// delivered everything (so that a connection's messages all come before
// the next one's) or the Client stops. The state turns Disconnected as
// soon as c ends, while what it had read is still being delivered.
func (cl *Client) forward(ctx context.Context, c *Conn) error {
	in, ended := c.Messages(), c.Context().Done()
	var pending Msg // taken from in, not yet given to the program
	for {
		var out chan<- Msg
		if in == nil {
			out = cl.msgs
		}
		select {
		case msg, ok := <-in:
			if !ok {
				return nil
			}
			pending, in = msg, nil
		case out <- pending:
			pending, in = Msg{}, c.Messages()
		case <-ended:
			ended = nil
			cl.publish(Disconnected, nil, c.Err())
		case <-ctx.Done():
			cl.closeErr = c.Close()
			return nil
		}
	}
}

// publish replaces the Client's state; only the loop calls it.
func (cl *Client) publish(state State, c *Conn, err error) {
	old := cl.snap.Swap(&clientState{state: state, conn: c, err: err, next: make(chan struct{})})
	close(old.next)
}

// State reports where the Client stands: Connecting (dialing, or running
// the Connected hook), Connected, Disconnected (waiting to dial again) or
// Stopped.
func (cl *Client) State() State { return cl.snap.Load().state }

// Conn returns the connection in use, or nil when none is up: for its
// Stats, addresses and TLS state. Calls through the Client need not use
// it.
func (cl *Client) Conn() *Conn { return cl.snap.Load().conn }

// WaitForState waits until the Client is in state want and returns nil,
// or returns ctx's error when ctx ends first, or the Client's error (it
// matches ErrClosed) when it stops and want is not Stopped.
func (cl *Client) WaitForState(ctx context.Context, want State) error {
	for {
		s := cl.snap.Load()
		if s.state == want {
			return nil
		}
		if s.state == Stopped {
			return cl.stoppedErr(s)
		}
		select {
		case <-s.next:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Err is nil while the Client runs; once it has stopped, it matches
// ErrClosed, and says why when something other than Close or its ctx
// stopped it (a Permanent error of the Connected hook).
func (cl *Client) Err() error {
	s := cl.snap.Load()
	if s.state != Stopped {
		return nil
	}
	return cl.stoppedErr(s)
}

func (cl *Client) stoppedErr(s *clientState) error {
	if s.err == nil || s.err == context.Canceled {
		return &stoppedError{what: "client"}
	}
	return &stoppedError{what: "client", cause: s.err}
}

// conn is the connection a Send or Request goes on: the conversation's own
// for InConversation, otherwise the one up now, waiting for one with
// WaitForReady.
func (cl *Client) conn(ctx context.Context, sc sendConfig) (*Conn, error) {
	if sc.inConv && sc.conv.Conn != nil {
		return sc.conv.Conn, nil // a conversation stays on its connection
	}
	for {
		s := cl.snap.Load()
		switch s.state {
		case Connected:
			return s.conn, nil
		case Stopped:
			return nil, cl.stoppedErr(s)
		}
		if !sc.waitReady {
			return nil, &notConnectedError{cause: s.err}
		}
		select {
		case <-s.next:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Send sends on the connection that is up, as [Conn.Send] does; with
// [InConversation] it sends on that conversation's connection, which fails
// with ErrClosed once that connection has ended. With no connection up it
// fails with ErrNotConnected, or waits with [WaitForReady].
func (cl *Client) Send(ctx context.Context, data Data, opts ...SendOption) (Conversation, error) {
	c, err := cl.conn(ctx, sendConfigOf(opts))
	if err != nil {
		return Conversation{}, err
	}
	return c.Send(ctx, data, opts...)
}

// Request sends a request on the connection that is up and waits for its
// reply, as [Conn.Request] does. With no connection up it fails with a
// [*RequestError] matching ErrNotConnected, or waits with [WaitForReady].
func (cl *Client) Request(ctx context.Context, data Data, opts ...SendOption) (Msg, error) {
	sc := sendConfigOf(opts)
	sc.inConv = false
	c, err := cl.conn(ctx, sc)
	if err != nil {
		return Msg{}, &RequestError{Type: payloadName(data), Err: err}
	}
	return c.Request(ctx, data, opts...)
}

// Messages returns the one channel on which every connection's received
// messages arrive, in order, each connection's before the next one's;
// msg.Conv.Conn is the connection a message came on, to answer in its
// conversation. It is closed when the Client stops. As with a Conn, a
// program that stops reading it stops the Client reading the socket
// (the peer is pushed back); Close drops what is not yet read.
func (cl *Client) Messages() <-chan Msg { return cl.msgs }

// Close stops the Client: it closes the connection in use as [Conn.Close]
// does (flushing what was queued), stops dialing, closes Messages, and
// waits until its goroutines have returned. It returns what closing the
// connection returned (nil, or an error matching [ErrUnsent]), or nil when
// none was up. Close is idempotent.
func (cl *Client) Close() error {
	cl.stop()
	<-cl.done
	return cl.closeErr
}

// Done returns a channel that is closed once the Client has stopped and
// its goroutines have returned.
func (cl *Client) Done() <-chan struct{} { return cl.done }

func sendConfigOf(opts []SendOption) sendConfig {
	var sc sendConfig
	for _, o := range opts {
		sc = o.applySend(sc)
	}
	return sc
}
