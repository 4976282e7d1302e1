package chatter

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"sync"
	"time"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// Send sends data as a message. Without options it starts a new
// conversation and ends it at once (last = true) handing over the turn
// (token = true), as the original's send does; [InConversation], [Last],
// [Token] and [ConversationTimeout] change that. It returns the
// conversation the message belongs to.
//
// Send encodes the payload, queues the frame and returns; the writer
// goroutine writes it. It blocks only while the send buffer is full (the
// peer does not read), until ctx ends. Once the connection has begun to
// close it returns an error wrapping ErrClosed; in the reply grace after
// the peer stopped sending, it still works.
func (c *Conn) Send(ctx context.Context, data Data, opts ...SendOption) (Conversation, error) {
	return c.send(ctx, data, sendConfigOf(opts), nil)
}

// Request sends data as the first message of a new conversation with last
// = false and waits for the peer's first message in that conversation,
// which it returns instead of delivering it to Messages. When ctx ends
// first, Request returns a [*RequestError] wrapping ctx's error, and a
// reply that arrives later is delivered to Messages marked [Msg.Late] (or
// dropped, with [WithDropLateReplies], and counted); a reply is never lost
// between the two. When reading ends before the reply comes, the
// RequestError wraps ErrClosed and the reason (and ctx's error as well when
// ctx is the connection's own context, which ends with it). [Token] and
// [ConversationTimeout] apply; [InConversation] and [Last] are ignored.
func (c *Conn) Request(ctx context.Context, data Data, opts ...SendOption) (Msg, error) {
	o := c.cfg.observer
	if o == nil {
		return c.request(ctx, data, opts)
	}
	start := time.Now()
	m, err := c.request(ctx, data, opts)
	info := RequestInfo{Module: data.Module, Type: data.Type, Duration: time.Since(start), Err: err}
	if err == nil {
		info.Conv = m.Conv
	} else if re, ok := err.(*RequestError); ok {
		info.Conv = re.Conv
	}
	o.RequestDone(c, info)
	return m, err
}

func (c *Conn) request(ctx context.Context, data Data, opts []SendOption) (Msg, error) {
	sc := sendConfigOf(opts)
	sc.inConv = false
	sc.last, sc.lastSet = false, true
	reply := c.replyChans.get()
	conv, err := c.send(ctx, data, sc, reply)
	if err != nil {
		return Msg{}, c.requestError(ctx, data, Conversation{}, err)
	}
	if o := c.cfg.observer; o != nil {
		o.RequestStarted(c, RequestInfo{Module: data.Module, Type: data.Type, Conv: conv})
	}
	m, err := c.awaitReply(ctx, reply, keyOf(conv), false)
	if err != nil {
		return Msg{}, c.requestError(ctx, data, conv, err)
	}
	return m, nil
}

// awaitReply waits for the answer the supervisor routes to reply, the
// channel registered for conversation key: it returns it, or
// c.closedErr() when the supervisor closed the channel because none can
// come any more (reading ended, the connection closed), or ctx's error
// once ctx has ended. Then the wait is given up: the supervisor takes the
// registration out of its reply table, and delivers to Messages, marked
// Late, a reply it routes here that is not taken now (see replyTable) —
// but for a probe (Conn.Ping), whose late pong goes nowhere.
//
// A reply taken here leaves the channel empty and known to nobody else (the
// supervisor dropped it from the table as it routed the reply), so it goes
// back to the pool for the next Request; a channel that was closed, or
// whose Request gave up, does not.
func (c *Conn) awaitReply(ctx context.Context, reply chan Msg, key convKey, probe bool) (Msg, error) {
	done := ctx.Done()
	if done == nil { // a context that never ends: a receive, not a select
		m, ok := <-reply
		if !ok {
			return Msg{}, c.closedErr()
		}
		c.replyChans.put(reply)
		return m, nil
	}
	select {
	case m, ok := <-reply:
		if !ok {
			return Msg{}, c.closedErr()
		}
		c.replyChans.put(reply)
		return m, nil
	case <-done:
	}
	c.mail.post(event{kind: evCancel, key: key, reply: reply, probe: probe})
	select {
	case m, ok := <-reply:
		if ok {
			return m, nil
		}
	default:
	}
	return Msg{}, ctx.Err()
}

// requestError is Request's error. When ctx has ended and the connection
// has too — most often ctx is the connection's own context, cancelled as it
// began closing — the connection's reason comes first, ctx's error second.
func (c *Conn) requestError(ctx context.Context, data Data, conv Conversation, err error) error {
	e := &RequestError{Type: payloadName(data), Conv: conv, Err: err}
	if cerr := ctx.Err(); cerr != nil && c.Err() != nil && (errors.Is(err, cerr) || errors.Is(err, ErrClosed)) {
		e.Err, e.also = c.closedErr(), cerr
	}
	return e
}

// Drain waits until every message sent before the call has been written to
// the socket (not necessarily read by the peer).
func (c *Conn) Drain(ctx context.Context) error {
	if err := c.out.drain(ctx); err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return err
		}
		return c.closedErr()
	}
	return nil
}

var payloadPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (c *Conn) send(ctx context.Context, data Data, sc sendConfig, reply chan Msg) (Conversation, error) {
	w, err := c.sendingWire(ctx)
	if err != nil {
		return Conversation{}, err
	}
	bp := payloadPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 256<<10 {
			payloadPool.Put(bp)
		}
	}()
	payload, tail, err := c.encodePayloadParts((*bp)[:0], data)
	*bp = payload[:0]
	if err != nil {
		return Conversation{}, err
	}
	e := envelope{
		token:       !sc.tokenSet || sc.token,
		last:        !sc.lastSet || sc.last,
		module:      data.Module,
		typ:         data.Type,
		payload:     payload,
		payloadTail: tail,
		owner:       true,
		current:     w == WireCurrent,
	}
	if sc.inConv {
		e.first, e.owner = sc.conv.FirstID, sc.conv.Owner
	}
	if size := e.sizeBody(); size > c.cfg.maxMessageSize {
		return Conversation{}, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, size, c.cfg.maxMessageSize)
	}
	m := sendMeta{newConv: !sc.inConv, reply: reply, cancels: sc.inConv}
	if sc.timeout > 0 && !e.last {
		m.timeout, m.onTimeout = sc.timeout, sc.onTimeout
	}
	if err := c.enqueue(ctx, &e, m); err != nil {
		return Conversation{}, err
	}
	conv := Conversation{Conn: c, Owner: e.owner, FirstID: e.first}
	if o := c.cfg.observer; o != nil {
		o.Sent(c, MsgInfo{Module: data.Module, Type: data.Type, Size: e.payloadLen(), Conv: conv})
	}
	return conv, nil
}

// sendingWire is the wire generation to write in: on a WireAuto server
// connection, once the peer's first frame has decided it.
func (c *Conn) sendingWire(ctx context.Context) (Wire, error) {
	if w := c.Wire(); w != WireAuto {
		return w, nil
	}
	if err := c.awaitWire(ctx); err != nil {
		return WireAuto, err
	}
	return c.Wire(), nil
}

// enqueue queues e's frame (see outbox.enqueue). Its error is ctx's when
// ctx ended the wait for room, and otherwise the connection's.
func (c *Conn) enqueue(ctx context.Context, e *envelope, m sendMeta) error {
	err := c.out.enqueue(ctx, c.group.Closing(), &c.mail, e, m)
	if err == nil || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return err
	}
	return c.closedErr()
}

// copyFreeSize is the size from which the bytes of a Bytes value or a
// RawPayload are not copied into a payload buffer before they are queued:
// the envelope refers to them (payloadTail), and they are copied once,
// into the outbox. Below it one copy more costs less than the bookkeeping.
const copyFreeSize = 1 << 10

// encodePayloadParts encodes data's payload as encodePayload does, except
// that a large Bytes value or RawPayload is returned as tail, the caller's
// own slice, after the head appended to b (the Bytes length, or nothing).
// Send encodes and queues before it returns, so tail is not kept.
func (c *Conn) encodePayloadParts(b []byte, data Data) (head, tail []byte, err error) {
	switch v := data.Data.(type) {
	case RawPayload:
		if len(v) >= copyFreeSize {
			return b, v, nil
		}
	case []byte:
		if len(v) >= copyFreeSize {
			t, err := c.repo.Type(data.Module, data.Type)
			if err != nil {
				return b, nil, fmt.Errorf("chatter: send: %w", err)
			}
			if t.Kind() == sbs.KindBytes {
				return sbs.AppendInteger(b, int64(len(v))), v, nil
			}
		}
	}
	head, err = c.encodePayload(b, data)
	return head, nil, err
}

// encodePayload appends data's payload to b: as given for a RawPayload, by
// the value's own AppendSBS method when it has one (generated code), by an
// sbs struct binding for a Go struct (or a pointer or slice of them), and
// otherwise through the repository's dynamic encoder.
func (c *Conn) encodePayload(b []byte, data Data) ([]byte, error) {
	switch v := data.Data.(type) {
	case RawPayload:
		return append(b, v...), nil
	case sbsAppender:
		if named, ok := v.(sbsNamed); ok {
			if err := checkLabel("send", data, named); err != nil {
				return b, err
			}
		}
		b, err := v.AppendSBS(b)
		if err != nil {
			return b, fmt.Errorf("chatter: send %s: %w", payloadName(data), err)
		}
		return b, nil
	}
	t, err := c.repo.Type(data.Module, data.Type)
	if err != nil {
		return b, fmt.Errorf("chatter: send: %w", err)
	}
	if needsBinding(data.Data) {
		// Bound once per (Go type, schema type) and cached by sbs.
		b, err = sbs.AppendMarshal(b, t, data.Data)
	} else {
		b, err = t.Append(b, data.Data)
	}
	if err != nil {
		return b, payloadError("send", data, err)
	}
	return b, nil
}

// payloadError wraps an sbs error of encoding or decoding data's payload:
// a binding that does not fit the labelled type is a *TypeMismatchError,
// as a value that names another type is.
func payloadError(op string, data Data, err error) error {
	var be *sbs.BindError
	if errors.As(err, &be) {
		return &TypeMismatchError{Op: op, Label: payloadName(data), Value: be.GoType, Err: err}
	}
	return fmt.Errorf("chatter: %s %s: %w", op, payloadName(data), err)
}

// needsBinding reports whether v is a Go value for an sbs binding rather
// than one of the dynamic value model: a struct, or a slice, array, map or
// pointer of concrete types ([][]string, map[string]int64, *[]Point); a
// value holding interfaces ([]any, map[string]any) is the dynamic model's.
func needsBinding(v any) bool {
	switch v.(type) {
	case nil, bool, int64, int, float64, string, []byte, []any, map[string]any, sbs.Union, *sbs.Union, *big.Int:
		return false // the dynamic model's usual types, without reflection
	}
	return bindable(reflect.TypeOf(v))
}

var bigIntType = reflect.TypeFor[big.Int]()

func bindable(t reflect.Type) bool {
	composite := false
	for {
		switch t.Kind() {
		case reflect.Struct:
			switch t {
			case reflect.TypeFor[sbs.Union]():
				return false
			case bigIntType:
				return composite // []*big.Int binds; a *big.Int is the dynamic model's
			}
			return true
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			composite = true
			t = t.Elem()
		case reflect.Interface:
			return false
		default:
			return composite // a slice or map of scalars; a scalar is the dynamic model's
		}
	}
}

// sendPong answers a ping in its conversation, in generation w.
func (c *Conn) sendPong(ctx context.Context, ping inbound, w Wire) error {
	e := envelope{first: ping.first, owner: !ping.ownerFlag, token: true, last: true, module: "HatPing", typ: "MsgPong"}
	if w == WireCurrent {
		e.module, e.typ, e.current = "HatChatter", "Pong", true
	}
	if err := c.out.enqueue(ctx, c.group.Closing(), &c.mail, &e, sendMeta{kind: framePong}); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
