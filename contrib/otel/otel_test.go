package chatterotel_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/goleak"

	chatterotel "github.com/gochatter/gochatter/contrib/otel"
	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var repo = sbs.MustRepository(sbs.Text("module T\nA = Integer\nB = Integer\nC = Integer\n"))

func data(typ string, v int64) chatter.Data { return chatter.Data{Module: "T", Type: typ, Data: v} }

// value sums the data points of the instrument name whose attributes
// include want: a sum's values, a histogram's counts; -1 without any.
func value(t *testing.T, r *sdkmetric.ManualReader, name string, want ...attribute.KeyValue) float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	total, found := 0.0, false
	match := func(set attribute.Set) bool {
		for _, kv := range want {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total, found = total+float64(p.Value), true
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total, found = total+float64(p.Count), true
					}
				}
			}
		}
	}
	if !found {
		return -1
	}
	return total
}

// Every instrument, over a real connection on loopback.
func TestObserver(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	obs, err := chatterotel.New(mp, chatterotel.WithMaxTypes(2))
	if err != nil {
		t.Fatal(err)
	}

	answer := make(chan bool, 8)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := chatter.NewServer(repo, l, func(ctx context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
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
	conn, err := chatter.Connect(ctx, repo, "tcp+sbs://"+l.Addr().String(), chatter.WithObserver(obs),
		chatter.WithPingTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	answer <- true
	if _, err := conn.Request(ctx, data("A", 1)); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	answer <- false
	if _, err := conn.Request(short, data("B", 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Request = %v", err)
	}
	fired := make(chan struct{})
	answer <- false
	if _, err := conn.Send(ctx, data("C", 1), chatter.Last(false), chatter.ConversationTimeout(time.Millisecond, func(chatter.Conversation) { close(fired) })); err != nil {
		t.Fatal(err)
	}
	<-fired
	deadline := time.Now().Add(10 * time.Second)
	for value(t, reader, "chatter.ping.rtt") < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	typ := func(s string) attribute.KeyValue { return attribute.String("type", s) }
	for _, c := range []struct {
		name string
		want []attribute.KeyValue
		n    float64
	}{
		{"chatter.connections.opened", nil, 1},
		{"chatter.connections.open", nil, 1},
		{"chatter.messages.sent", []attribute.KeyValue{typ("T.A")}, 1},
		{"chatter.messages.sent", []attribute.KeyValue{typ(chatterotel.OtherType)}, 1}, // T.C, past the bound
		{"chatter.messages.received", []attribute.KeyValue{typ("T.A")}, 1},
		{"chatter.payload.sent", []attribute.KeyValue{typ("T.B")}, 1},
		{"chatter.request.duration", []attribute.KeyValue{typ("T.A"), attribute.String("outcome", "ok")}, 1},
		{"chatter.request.duration", []attribute.KeyValue{typ("T.B"), attribute.String("outcome", "deadline_exceeded")}, 1},
		{"chatter.requests.in_flight", nil, 0},
		{"chatter.conversation.timeouts", nil, 1},
	} {
		if got := value(t, reader, c.name, c.want...); got != c.n {
			t.Errorf("%s %v = %v, want %v", c.name, c.want, got, c.n)
		}
	}
	if got := value(t, reader, "chatter.ping.rtt"); got < 1 {
		t.Errorf("ping round trips: %v", got)
	}
	srv.Close()
	<-conn.Done()
	if got := value(t, reader, "chatter.connections.closed", attribute.String("reason", chatter.ClosePeer)); got != 1 {
		t.Errorf("closed by the peer: %v", got)
	}
	if got := value(t, reader, "chatter.connections.open"); got != 0 {
		t.Errorf("open after the end: %v", got)
	}
}

// A server's metrics in OpenTelemetry: the observer is all the glue.
func Example() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader() // a daemon would use an exporter's reader
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	obs, err := chatterotel.New(mp)
	if err != nil {
		log.Fatal(err)
	}
	srv, err := chatter.Listen(ctx, repo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, conn *chatter.Conn) {
		for msg := range conn.Messages() {
			conn.Send(ctx, msg.Data, chatter.InConversation(msg.Conv))
		}
	}, chatter.WithObserver(obs))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	conn, err := chatter.Connect(ctx, repo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}
	for i := range int64(2) {
		if _, err := conn.Request(ctx, data("A", i)); err != nil {
			log.Fatal(err)
		}
	}
	conn.Close()
	for srv.OpenConnections() > 0 {
		time.Sleep(time.Millisecond)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && strings.HasPrefix(m.Name, "chatter.messages") {
			for _, p := range sum.DataPoints {
				v, _ := p.Attributes.Value("type")
				fmt.Println(m.Name, v.AsString(), p.Value)
			}
		}
	}
	// Unordered output:
	// chatter.messages.received T.A 2
	// chatter.messages.sent T.A 2
}
