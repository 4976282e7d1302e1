package chatter

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// Backoff is how [Redial] waits between attempts: after the n-th failure
// in a row it waits about Min·2ⁿ⁻¹, at most Max, with jitter (a uniformly
// random delay between half and all of it, so that clients cut off together
// do not return together). A connection that came up ends the run of
// failures, as grpc-go's backoff resets once a connection is ready: the
// wait after it ends starts from Min again. With Healthy set, only a
// connection that stayed up that long does.
type Backoff struct {
	Min time.Duration // default 500 ms
	Max time.Duration // default 30 s
	// Healthy is how long a connection must stay up to reset the backoff;
	// 0, the default, resets it as soon as the dial (and TLS handshake)
	// succeeds. Set it against a server that accepts and closes at once,
	// to keep such connections counting as failures.
	Healthy time.Duration
}

// Defaults of [Backoff].
const (
	DefaultBackoffMin = 500 * time.Millisecond
	DefaultBackoffMax = 30 * time.Second
)

// WithBackoff sets how [Redial] waits between attempts; zero fields mean
// their defaults. Connect and Listen ignore it.
func WithBackoff(b Backoff) Option {
	return optionFunc(func(c *config) { c.backoff = b })
}

// State is where a [Redial] loop or a [Client] stands.
type State uint8

const (
	// Connecting: a dial is about to start.
	Connecting State = iota + 1
	// Connected: a connection is up and run is being called with it (for
	// a Client: its Connected hook has returned).
	Connected
	// Disconnected: a dial failed or a connection ended; Redial waits
	// RedialEvent.Delay before the next attempt.
	Disconnected
	// Stopped: Redial returns, with RedialEvent.Err (a Client is closed).
	// It is the last event, so that what the events feed (a health gauge,
	// say) does not go on saying "connected".
	Stopped
)

func (s State) String() string {
	switch s {
	case Connecting:
		return "connecting"
	case Connected:
		return "connected"
	case Disconnected:
		return "disconnected"
	case Stopped:
		return "stopped"
	}
	return "State(?)"
}

// RedialEvent tells a [WithRedialEvents] function what a Redial loop does.
type RedialEvent struct {
	State State
	// Attempt numbers the attempts since the last connection that reset
	// the backoff (see Backoff.Healthy), from 1; for Disconnected it is the
	// number of failures in a row, this one included, from which Delay was
	// computed.
	Attempt int
	// Conn is the new connection (Connected).
	Conn *Conn
	// Err is why the dial failed or the connection ended (Disconnected),
	// or what Redial returns (Stopped).
	Err error
	// Delay is the wait before the next attempt (Disconnected).
	Delay time.Duration
}

// WithRedialEvents sets a function that [Redial] calls, on its own
// goroutine and before it goes on, at every change of state: for logs,
// metrics or a health check. Connect and Listen ignore it.
func WithRedialEvents(f func(RedialEvent)) Option {
	return optionFunc(func(c *config) { c.redialEvents = f })
}

// Permanent marks an error returned by Redial's run function as one that
// ends Redial, which then returns it (unwrapped). Any other error, or nil,
// makes Redial dial again.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Redial keeps a client connected to addr, as hat's client components do:
// it dials (with [Connect]'s options), calls run with every new
// connection, and when the dial fails or the connection ends it waits (see
// [Backoff]: by default from its minimum again after a connection that
// came up) and dials again.
//
// run owns the connection while it runs, and its ctx, which carries the
// values of Redial's ctx and ends with the connection (with the
// connection's cause), tells it that the connection ended; typically it
// sends what a new connection needs (subscriptions, a registration) and
// ranges over c.Messages(). When run returns, the connection is closed. Redial returns
// only when its ctx ends (with ctx's error; the connection in use is closed
// first) or when run returns an error made with [Permanent]; its last
// [WithRedialEvents] event is then Stopped, with that error.
//
// Conversations belong to one connection: nothing is replayed on the next.
// Messages queued but not written when a connection fails are lost with
// it, as are Requests waiting for replies (they return an error wrapping
// ErrClosed).
func Redial(ctx context.Context, repo *sbs.Repository, addr string, run func(ctx context.Context, c *Conn) error, opts ...Option) error {
	cfg, err := redialConfig(addr, opts)
	if err != nil {
		return err
	}
	b, event := cfg.backoffOrDefaults(), cfg.redialEventsOrNop()
	err = redial(ctx, repo, addr, run, opts, b, event)
	event(RedialEvent{State: Stopped, Err: err})
	return err
}

// redialConfig checks the options and the address of Redial and NewClient.
func redialConfig(addr string, opts []Option) (*config, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if _, err := parseAddress(addr); err != nil {
		return nil, err
	}
	return cfg, nil
}

// backoffOrDefaults is WithBackoff's Backoff with its zero fields set to
// their defaults.
func (cfg *config) backoffOrDefaults() Backoff {
	b := cfg.backoff
	b.Min = orDefault(b.Min, DefaultBackoffMin)
	b.Max = max(orDefault(b.Max, DefaultBackoffMax), b.Min)
	b.Healthy = max(b.Healthy, 0)
	return b
}

// redialEventsOrNop is WithRedialEvents' function, or one doing nothing.
func (cfg *config) redialEventsOrNop() func(RedialEvent) {
	if cfg.redialEvents == nil {
		return func(RedialEvent) {}
	}
	return cfg.redialEvents
}

// redial is Redial's loop; it returns what Redial returns.
func redial(ctx context.Context, repo *sbs.Repository, addr string, run func(ctx context.Context, c *Conn) error,
	opts []Option, b Backoff, event func(RedialEvent)) error {
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()
	failures := 0 // in a row, since the backoff was last reset
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		attempt := failures + 1
		event(RedialEvent{State: Connecting, Attempt: attempt})
		var why error
		c, err := Connect(ctx, repo, addr, opts...)
		if err != nil {
			why = err
		} else {
			event(RedialEvent{State: Connected, Attempt: attempt, Conn: c})
			up := time.Now()
			err := runConn(ctx, c, run)
			var perm *permanentError
			if errors.As(err, &perm) {
				return perm.err
			}
			if why = err; why == nil {
				why = c.Err()
			}
			if time.Since(up) >= b.Healthy {
				failures = 0
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		failures++
		delay := b.delay(failures)
		event(RedialEvent{State: Disconnected, Attempt: failures, Err: why, Delay: delay})
		timer.Reset(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runConn runs run with c until it returns, closing c when ctx ends, and
// closes c.
func runConn(ctx context.Context, c *Conn, run func(ctx context.Context, c *Conn) error) error {
	closed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(closed)
		c.Close()
	})
	runCtx, release := runContext(ctx, c)
	err := run(runCtx, c)
	release()
	if !stop() {
		<-closed // the close for ctx has run: nothing of it is left
	}
	c.Close()
	return err
}

// runContext is the context run gets: it carries parent's values (trace
// ids, loggers) and ends when c's context does, with its cause. release
// undoes it, and returns once nothing of it runs.
func runContext(parent context.Context, c *Conn) (ctx context.Context, release func()) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	fired := make(chan struct{})
	stop := context.AfterFunc(c.Context(), func() {
		defer close(fired)
		cancel(context.Cause(c.Context()))
	})
	return ctx, func() {
		if !stop() {
			<-fired
		}
		cancel(nil)
	}
}

// delay is the wait after the n-th attempt in a row failed.
func (b Backoff) delay(n int) time.Duration {
	d := b.Max
	if n < 40 {
		d = min(b.Max, b.Min<<(n-1))
	}
	return d/2 + rand.N(d/2+1)
}
