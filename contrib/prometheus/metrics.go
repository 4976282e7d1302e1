package chatterprom

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// Metrics is a chatter.Observer that keeps Prometheus metrics, and the
// prometheus.Collector that exports them. One Metrics may observe any
// number of connections and servers; register it once.
type Metrics struct {
	opened       prometheus.Counter
	open         prometheus.Gauge
	closed       *prometheus.CounterVec // reason
	msgsIn       *prometheus.CounterVec // type
	msgsOut      *prometheus.CounterVec // type
	bytesIn      *prometheus.CounterVec // type
	bytesOut     *prometheus.CounterVec // type
	requests     *prometheus.HistogramVec
	inFlight     prometheus.Gauge
	convTimeouts prometheus.Counter
	pingRTT      prometheus.Histogram

	types typeLabels
}

var _ chatter.Observer = (*Metrics)(nil)

// Option changes what New makes.
type Option func(*options)

type options struct {
	namespace      string
	constLabels    prometheus.Labels
	maxTypes       int
	requestBuckets []float64
	pingBuckets    []float64
}

// WithNamespace sets the metric names' prefix; "chatter" by default.
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithConstLabels adds labels with fixed values to every metric (a
// component's name, say).
func WithConstLabels(l prometheus.Labels) Option { return func(o *options) { o.constLabels = l } }

// WithMaxTypes bounds how many distinct payload types get a label value of
// their own; the messages of further types count under "other". The
// default is DefaultMaxTypes. A peer chooses the types it sends (on a
// connection made WithRawPayloads, even ones the repository lacks), so
// without a bound it could grow the series without end.
func WithMaxTypes(n int) Option { return func(o *options) { o.maxTypes = n } }

// WithRequestBuckets sets the request duration histogram's buckets, in
// seconds; prometheus.DefBuckets by default.
func WithRequestBuckets(b []float64) Option { return func(o *options) { o.requestBuckets = b } }

// WithPingBuckets sets the ping round-trip histogram's buckets, in
// seconds; prometheus.DefBuckets by default.
func WithPingBuckets(b []float64) Option { return func(o *options) { o.pingBuckets = b } }

// DefaultMaxTypes is how many payload types get a label value of their own
// unless WithMaxTypes says otherwise.
const DefaultMaxTypes = 256

// OtherType is the type label of messages past the WithMaxTypes bound.
const OtherType = "other"

// New returns Metrics with nothing counted yet. Pass it to
// chatter.WithObserver, and register it with a prometheus.Registerer.
func New(opts ...Option) *Metrics {
	o := options{namespace: "chatter", maxTypes: DefaultMaxTypes}
	for _, f := range opts {
		f(&o)
	}
	if o.requestBuckets == nil {
		o.requestBuckets = prometheus.DefBuckets
	}
	if o.pingBuckets == nil {
		o.pingBuckets = prometheus.DefBuckets
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: o.namespace, Name: name, Help: help, ConstLabels: o.constLabels}, labels)
	}
	m := &Metrics{
		opened: prometheus.NewCounter(prometheus.CounterOpts{Namespace: o.namespace, Name: "connections_opened_total",
			Help: "Connections made or accepted, their TLS handshake done.", ConstLabels: o.constLabels}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: o.namespace, Name: "connections_open",
			Help: "Connections whose socket is open.", ConstLabels: o.constLabels}),
		closed:   counter("connections_closed_total", "Connections that ended, by chatter.CloseReason.", "reason"),
		msgsIn:   counter("messages_received_total", "Application messages received, by payload type.", "type"),
		msgsOut:  counter("messages_sent_total", "Application messages queued by Send and Request, by payload type.", "type"),
		bytesIn:  counter("payload_bytes_received_total", "Encoded payload bytes received, by payload type.", "type"),
		bytesOut: counter("payload_bytes_sent_total", "Encoded payload bytes queued, by payload type.", "type"),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: o.namespace, Name: "request_duration_seconds",
			Help:        "How long Requests took, by payload type and outcome (ok, canceled, deadline_exceeded, closed, error).",
			ConstLabels: o.constLabels, Buckets: o.requestBuckets}, []string{"type", "outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: o.namespace, Name: "requests_in_flight",
			Help: "Requests waiting for their reply.", ConstLabels: o.constLabels}),
		convTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: o.namespace, Name: "conversation_timeouts_total",
			Help: "Conversation timeouts that fired.", ConstLabels: o.constLabels}),
		pingRTT: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: o.namespace, Name: "ping_rtt_seconds",
			Help:        "Keepalive round trips, from the ping's queueing to its pong.",
			ConstLabels: o.constLabels, Buckets: o.pingBuckets}),
		types: typeLabels{max: max(o.maxTypes, 0)},
	}
	return m
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.opened, m.open, m.closed, m.msgsIn, m.msgsOut, m.bytesIn, m.bytesOut,
		m.requests, m.inFlight, m.convTimeouts, m.pingRTT}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// TagConn implements chatter.Observer; Metrics keeps nothing per
// connection.
func (m *Metrics) TagConn(*chatter.Conn) any { return nil }

// Opened implements chatter.Observer.
func (m *Metrics) Opened(*chatter.Conn) {
	m.opened.Inc()
	m.open.Inc()
}

// Closed implements chatter.Observer.
func (m *Metrics) Closed(_ *chatter.Conn, err error) {
	m.open.Dec()
	reason := chatter.CloseReason(err)
	if reason == "" {
		reason = chatter.CloseLocal // Observer.Closed runs once the connection has ended
	}
	m.closed.WithLabelValues(reason).Inc()
}

// Received implements chatter.Observer.
func (m *Metrics) Received(_ *chatter.Conn, info chatter.MsgInfo) {
	t := m.types.label(info.Module, info.Type)
	m.msgsIn.WithLabelValues(t).Inc()
	m.bytesIn.WithLabelValues(t).Add(float64(info.Size))
}

// Sent implements chatter.Observer.
func (m *Metrics) Sent(_ *chatter.Conn, info chatter.MsgInfo) {
	t := m.types.label(info.Module, info.Type)
	m.msgsOut.WithLabelValues(t).Inc()
	m.bytesOut.WithLabelValues(t).Add(float64(info.Size))
}

// RequestStarted implements chatter.Observer.
func (m *Metrics) RequestStarted(*chatter.Conn, chatter.RequestInfo) { m.inFlight.Inc() }

// RequestDone implements chatter.Observer.
func (m *Metrics) RequestDone(_ *chatter.Conn, info chatter.RequestInfo) {
	if info.Conv.FirstID != 0 {
		m.inFlight.Dec() // it had started
	}
	m.requests.WithLabelValues(m.types.label(info.Module, info.Type), outcome(info.Err)).Observe(info.Duration.Seconds())
}

// ConversationTimedOut implements chatter.Observer.
func (m *Metrics) ConversationTimedOut(*chatter.Conn, chatter.Conversation) { m.convTimeouts.Inc() }

// PingAnswered implements chatter.Observer.
func (m *Metrics) PingAnswered(_ *chatter.Conn, rtt time.Duration) { m.pingRTT.Observe(rtt.Seconds()) }

// outcome names how a Request ended, for the outcome label.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, chatter.ErrClosed):
		return "closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

// typeLabels hands out type label values, at most max distinct ones; the
// rest are OtherType, as are names longer than maxTypeName. Observer
// methods run on many goroutines at once and the known types are read far
// more often than added: a map under a read lock, keyed without
// allocating.
type typeLabels struct {
	mu    sync.RWMutex
	known map[[2]string]string // {module, type} -> label
	max   int
}

// maxTypeName bounds a type label's length: a peer picks the names, and
// each kept name is memory held for the process's life.
const maxTypeName = 128

func (t *typeLabels) label(module, typ string) string {
	key := [2]string{module, typ}
	t.mu.RLock()
	l, ok := t.known[key]
	t.mu.RUnlock()
	if ok {
		return l
	}
	if len(module)+len(typ) > maxTypeName {
		return OtherType
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.known[key]; ok {
		return l
	}
	if len(t.known) >= t.max {
		return OtherType
	}
	l = typ
	if module != "" {
		l = module + "." + typ
	}
	if t.known == nil {
		t.known = make(map[[2]string]string)
	}
	t.known[[2]string{strings.Clone(module), strings.Clone(typ)}] = l
	return l
}
