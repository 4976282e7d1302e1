package chatterprom_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	chatterprom "github.com/gochatter/gochatter/contrib/prometheus"
	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

var testRepo = sbs.MustRepository(sbs.Text("module T\nA = Integer\nB = Integer\nC = Integer\n"))

func data(typ string, v int64) chatter.Data { return chatter.Data{Module: "T", Type: typ, Data: v} }

// value is the value of the metric name whose labels include want: a
// counter's or gauge's value, a histogram's sample count; -1 when there is
// no such series.
func value(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				if !hasLabel(m, k, v) {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

func hasLabel(m *dto.Metric, name, val string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == val {
			return true
		}
	}
	return false
}

// Every metric, on a real connection over loopback: messages and bytes by
// type under a bound, requests by outcome, the in-flight gauge, a
// conversation timeout, ping round trips, connections open and closed.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics := chatterprom.New(chatterprom.WithMaxTypes(2), chatterprom.WithConstLabels(prometheus.Labels{"component": "test"}))
	reg.MustRegister(metrics)

	answer := make(chan bool, 8) // per request: answer it or not
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := chatter.NewServer(testRepo, l, func(ctx context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			if m.Last {
				continue // one-way
			}
			if <-answer {
				c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := t.Context()
	conn, err := chatter.Connect(ctx, testRepo, "tcp+sbs://"+l.Addr().String(), chatter.WithObserver(metrics),
		chatter.WithPingTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// Two answered requests of type A, one of B that gives up.
	answer <- true
	answer <- true
	for range 2 {
		if _, err := conn.Request(ctx, data("A", 1)); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	answer <- false
	if _, err := conn.Request(short, data("B", 300)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request = %v", err)
	}
	// A third type, past the bound of 2; and a conversation that times out.
	fired := make(chan struct{})
	answer <- false
	if _, err := conn.Send(ctx, data("C", 1), chatter.Last(false), chatter.ConversationTimeout(time.Millisecond, func(chatter.Conversation) { close(fired) })); err != nil {
		t.Fatal(err)
	}
	<-fired
	deadline := time.Now().Add(10 * time.Second)
	for value(t, reg, "chatter_ping_rtt_seconds", nil) < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"chatter_connections_opened_total", map[string]string{"component": "test"}, 1},
		{"chatter_connections_open", nil, 1},
		{"chatter_messages_sent_total", map[string]string{"type": "T.A"}, 2},
		{"chatter_messages_sent_total", map[string]string{"type": "T.B"}, 1},
		{"chatter_messages_sent_total", map[string]string{"type": chatterprom.OtherType}, 1},
		{"chatter_messages_received_total", map[string]string{"type": "T.A"}, 2},
		{"chatter_payload_bytes_sent_total", map[string]string{"type": "T.A"}, 2}, // 1 byte each
		{"chatter_payload_bytes_sent_total", map[string]string{"type": "T.B"}, 2}, // 300 takes 2
		{"chatter_request_duration_seconds", map[string]string{"type": "T.A", "outcome": "ok"}, 2},
		{"chatter_request_duration_seconds", map[string]string{"type": "T.B", "outcome": "deadline_exceeded"}, 1},
		{"chatter_requests_in_flight", nil, 0},
		{"chatter_conversation_timeouts_total", nil, 1},
	} {
		if got := value(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := value(t, reg, "chatter_ping_rtt_seconds", nil); got < 1 {
		t.Errorf("ping round trips observed: %v", got)
	}

	// A request that the connection's end cuts off.
	answer <- false
	failed := make(chan error, 1)
	go func() {
		_, err := conn.Request(ctx, data("A", 2))
		failed <- err
	}()
	for value(t, reg, "chatter_requests_in_flight", nil) != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	srv.Close()
	if err := <-failed; !errors.Is(err, chatter.ErrClosed) {
		t.Fatalf("Request cut off = %v", err)
	}
	<-conn.Done()
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"chatter_request_duration_seconds", map[string]string{"type": "T.A", "outcome": "closed"}, 1},
		{"chatter_requests_in_flight", nil, 0},
		{"chatter_connections_open", nil, 0},
		{"chatter_connections_closed_total", map[string]string{"reason": chatter.ClosePeer}, 1},
	} {
		if got := value(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// Type names a peer picks are bounded in number and in length.
func TestTypeLabelBound(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics := chatterprom.New(chatterprom.WithMaxTypes(3))
	reg.MustRegister(metrics)
	for i := range 10 {
		metrics.Received(nil, chatter.MsgInfo{Module: "M", Type: strings.Repeat("x", i+1), Size: 1})
	}
	metrics.Received(nil, chatter.MsgInfo{Module: "M", Type: "x"}) // known already
	metrics.Received(nil, chatter.MsgInfo{Module: "M", Type: strings.Repeat("y", 200)})
	if got := value(t, reg, "chatter_messages_received_total", map[string]string{"type": chatterprom.OtherType}); got != 8 {
		t.Errorf("other = %v, want 8", got)
	}
	if got := value(t, reg, "chatter_messages_received_total", map[string]string{"type": "M.x"}); got != 2 {
		t.Errorf("M.x = %v, want 2", got)
	}
	n, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range n {
		if f.GetName() == "chatter_messages_received_total" && len(f.GetMetric()) != 4 {
			t.Errorf("%d series, want 3 types and other", len(f.GetMetric()))
		}
	}
}

// A server whose client has left shows the connection as closing, not
// active, for its reply grace.
func TestServerCollector(t *testing.T) {
	taken := make(chan struct{})
	srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, c *chatter.Conn) {
		for range c.Messages() {
			close(taken)
		}
	}, chatter.WithReplyGrace(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(chatterprom.ServerCollector(srv, chatterprom.WithConstLabels(prometheus.Labels{"server": "test"})))

	c, err := chatter.Connect(t.Context(), testRepo, srv.Addresses()[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(t.Context(), data("A", 1)); err != nil {
		t.Fatal(err)
	}
	<-taken
	active := map[string]string{"state": "active", "server": "test"}
	closing := map[string]string{"state": "closing"}
	if a, cl := value(t, reg, "chatter_server_connections", active), value(t, reg, "chatter_server_connections", closing); a != 1 || cl != 0 {
		t.Errorf("with the client there: active %v, closing %v", a, cl)
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for value(t, reg, "chatter_server_connections", closing) != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if a, cl := value(t, reg, "chatter_server_connections", active), value(t, reg, "chatter_server_connections", closing); a != 0 || cl != 1 {
		t.Errorf("after the client left: active %v, closing %v", a, cl)
	}
	if got := value(t, reg, "chatter_server_accepted_total", nil); got != 1 {
		t.Errorf("accepted %v", got)
	}
}
