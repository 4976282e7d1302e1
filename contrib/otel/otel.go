// Package chatterotel records what gochatter connections do as
// OpenTelemetry metrics: an [Observer] is a chatter.Observer that records
// into instruments of a metric.MeterProvider.
//
//	obs, err := chatterotel.New(otel.GetMeterProvider())
//	srv, err := chatter.Listen(ctx, repo, addr, handler, chatter.WithObserver(obs))
//
// It is a module of its own, so that gochatter itself depends on nothing
// but the standard library. The instruments, under the meter
// "github.com/gochatter/gochatter/contrib/otel":
//
//	chatter.connections.opened         counter
//	chatter.connections.open           up-down counter
//	chatter.connections.closed         counter, attribute reason (chatter.CloseReason)
//	chatter.messages.received          counter, attribute type
//	chatter.messages.sent              counter, attribute type
//	chatter.payload.received           counter, bytes, attribute type
//	chatter.payload.sent               counter, bytes, attribute type
//	chatter.request.duration           histogram, seconds, attributes type and outcome
//	                                   (ok, canceled, deadline_exceeded, closed, error)
//	chatter.requests.in_flight         up-down counter
//	chatter.conversation.timeouts      counter
//	chatter.ping.rtt                   histogram, seconds
//
// The type attribute is Module.Type (a builtin's bare name). Peers choose
// the types they send, so it takes at most [DefaultMaxTypes] values
// ([WithMaxTypes]) of at most 128 bytes each; other messages count under
// [OtherType].
package chatterotel

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// Observer is a chatter.Observer recording OpenTelemetry metrics. One may
// observe any number of connections and servers.
type Observer struct {
	chatter.NopObserver // TagConn: nothing is kept per connection

	opened, closed, convTimeouts       metric.Int64Counter
	msgsIn, msgsOut, bytesIn, bytesOut metric.Int64Counter
	open, inFlight                     metric.Int64UpDownCounter
	requestDuration, pingRTT           metric.Float64Histogram
	types                              typeAttrs
	reasons                            sync.Map // reason -> metric.MeasurementOption
}

var _ chatter.Observer = (*Observer)(nil)

// Option changes what New makes.
type Option func(*options)

type options struct{ maxTypes int }

// WithMaxTypes bounds how many distinct payload types get an attribute
// value of their own; the default is DefaultMaxTypes.
func WithMaxTypes(n int) Option { return func(o *options) { o.maxTypes = n } }

// DefaultMaxTypes is how many payload types get a type attribute value of
// their own unless WithMaxTypes says otherwise.
const DefaultMaxTypes = 256

// OtherType is the type attribute of messages past the bound.
const OtherType = "other"

// ScopeName is the name of the meter New takes from its provider.
const ScopeName = "github.com/gochatter/gochatter/contrib/otel"

// New returns an Observer recording into instruments of mp's meter
// ScopeName.
func New(mp metric.MeterProvider, opts ...Option) (*Observer, error) {
	o := options{maxTypes: DefaultMaxTypes}
	for _, f := range opts {
		f(&o)
	}
	m := mp.Meter(ScopeName)
	obs := &Observer{types: typeAttrs{max: max(o.maxTypes, 0)}}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	upDown := func(name, desc string) metric.Int64UpDownCounter {
		c, err := m.Int64UpDownCounter(name, metric.WithUnit("{connection}"), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc))
		errs = append(errs, err)
		return h
	}
	obs.opened = counter("chatter.connections.opened", "{connection}", "Connections made or accepted, their TLS handshake done.")
	obs.closed = counter("chatter.connections.closed", "{connection}", "Connections that ended, by chatter.CloseReason.")
	obs.open = upDown("chatter.connections.open", "Connections whose socket is open.")
	obs.msgsIn = counter("chatter.messages.received", "{message}", "Application messages received, by payload type.")
	obs.msgsOut = counter("chatter.messages.sent", "{message}", "Application messages queued by Send and Request, by payload type.")
	obs.bytesIn = counter("chatter.payload.received", "By", "Encoded payload bytes received, by payload type.")
	obs.bytesOut = counter("chatter.payload.sent", "By", "Encoded payload bytes queued, by payload type.")
	obs.requestDuration = histogram("chatter.request.duration", "How long Requests took, by payload type and outcome.")
	obs.inFlight = upDown("chatter.requests.in_flight", "Requests waiting for their reply.")
	obs.convTimeouts = counter("chatter.conversation.timeouts", "{timeout}", "Conversation timeouts that fired.")
	obs.pingRTT = histogram("chatter.ping.rtt", "Keepalive round trips, from the ping's queueing to its pong.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return obs, nil
}

// Instruments take a context; the observer's events have none of their
// own, and the measurements need none.
var bg = context.Background()

// Opened implements chatter.Observer.
func (o *Observer) Opened(*chatter.Conn) {
	o.opened.Add(bg, 1)
	o.open.Add(bg, 1)
}

// Closed implements chatter.Observer.
func (o *Observer) Closed(_ *chatter.Conn, err error) {
	o.open.Add(bg, -1)
	reason := chatter.CloseReason(err)
	if reason == "" {
		reason = chatter.CloseLocal
	}
	attrs, ok := o.reasons.Load(reason) // a handful of fixed names
	if !ok {
		attrs, _ = o.reasons.LoadOrStore(reason, metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reason))))
	}
	o.closed.Add(bg, 1, attrs.(metric.MeasurementOption))
}

// Received implements chatter.Observer.
func (o *Observer) Received(_ *chatter.Conn, m chatter.MsgInfo) {
	attrs := o.types.get(m.Module, m.Type)
	o.msgsIn.Add(bg, 1, attrs.typ)
	o.bytesIn.Add(bg, int64(m.Size), attrs.typ)
}

// Sent implements chatter.Observer.
func (o *Observer) Sent(_ *chatter.Conn, m chatter.MsgInfo) {
	attrs := o.types.get(m.Module, m.Type)
	o.msgsOut.Add(bg, 1, attrs.typ)
	o.bytesOut.Add(bg, int64(m.Size), attrs.typ)
}

// RequestStarted implements chatter.Observer.
func (o *Observer) RequestStarted(*chatter.Conn, chatter.RequestInfo) { o.inFlight.Add(bg, 1) }

// RequestDone implements chatter.Observer.
func (o *Observer) RequestDone(_ *chatter.Conn, r chatter.RequestInfo) {
	if r.Conv.FirstID != 0 {
		o.inFlight.Add(bg, -1) // it had started
	}
	attrs := o.types.get(r.Module, r.Type)
	o.requestDuration.Record(bg, r.Duration.Seconds(), attrs.outcome[outcome(r.Err)])
}

// ConversationTimedOut implements chatter.Observer.
func (o *Observer) ConversationTimedOut(*chatter.Conn, chatter.Conversation) {
	o.convTimeouts.Add(bg, 1)
}

// PingAnswered implements chatter.Observer.
func (o *Observer) PingAnswered(_ *chatter.Conn, rtt time.Duration) {
	o.pingRTT.Record(bg, rtt.Seconds())
}

// Request outcomes, the outcome attribute's values.
var outcomes = [...]string{"ok", "closed", "deadline_exceeded", "canceled", "error"}

func outcome(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, chatter.ErrClosed):
		return 1
	case errors.Is(err, context.DeadlineExceeded):
		return 2
	case errors.Is(err, context.Canceled):
		return 3
	}
	return 4
}

// typeAttrs hands out the attribute sets of a payload type, made once:
// at most max types, names of at most maxTypeName bytes; the rest share
// OtherType's.
type typeAttrs struct {
	mu    sync.RWMutex
	known map[[2]string]*attrSet
	other *attrSet
	max   int
}

type attrSet struct {
	typ     metric.MeasurementOption
	outcome [len(outcomes)]metric.MeasurementOption
}

const maxTypeName = 128

func newAttrSet(label string) *attrSet {
	a := &attrSet{typ: metric.WithAttributeSet(attribute.NewSet(attribute.String("type", label)))}
	for i, oc := range outcomes {
		a.outcome[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("type", label), attribute.String("outcome", oc)))
	}
	return a
}

func (t *typeAttrs) get(module, typ string) *attrSet {
	key := [2]string{module, typ}
	t.mu.RLock()
	a, ok := t.known[key]
	other := t.other
	t.mu.RUnlock()
	if ok {
		return a
	}
	if len(module)+len(typ) > maxTypeName {
		return t.otherSet(other)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.known[key]; ok {
		return a
	}
	if len(t.known) >= t.max {
		if t.other == nil {
			t.other = newAttrSet(OtherType)
		}
		return t.other
	}
	label := typ
	if module != "" {
		label = module + "." + typ
	}
	if t.known == nil {
		t.known = make(map[[2]string]*attrSet)
	}
	a = newAttrSet(label)
	t.known[[2]string{strings.Clone(module), strings.Clone(typ)}] = a
	return a
}

func (t *typeAttrs) otherSet(other *attrSet) *attrSet {
	if other != nil {
		return other
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.other == nil {
		t.other = newAttrSet(OtherType)
	}
	return t.other
}
