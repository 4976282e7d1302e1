package chatterprom_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	chatterprom "github.com/gochatter/gochatter/contrib/prometheus"
	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

var repo = sbs.MustRepository(sbs.Text("module Example\nNumber = Integer\n"))

// A server's metrics: the observer, its registration and the handler are
// all the glue there is.
func Example() {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	metrics := chatterprom.New()
	reg.MustRegister(metrics)
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})) // served by the daemon's HTTP server

	srv, err := chatter.Listen(ctx, repo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, conn *chatter.Conn) {
		for msg := range conn.Messages() {
			conn.Send(ctx, msg.Data, chatter.InConversation(msg.Conv))
		}
	}, chatter.WithObserver(metrics))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// A client asks twice and leaves.
	conn, err := chatter.Connect(ctx, repo, srv.Addresses()[0])
	if err != nil {
		log.Fatal(err)
	}
	for i := range int64(2) {
		if _, err := conn.Request(ctx, chatter.Data{Module: "Example", Type: "Number", Data: i}); err != nil {
			log.Fatal(err)
		}
	}
	conn.Close()
	for srv.OpenConnections() > 0 { // the server sees the end shortly after
		time.Sleep(time.Millisecond)
	}

	families, err := reg.Gather()
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range families {
		switch f.GetName() {
		case "chatter_connections_closed_total", "chatter_messages_received_total", "chatter_messages_sent_total":
			for _, m := range f.GetMetric() {
				fmt.Println(f.GetName(), m.GetLabel()[0].GetValue(), m.GetCounter().GetValue())
			}
		}
	}
	// Output:
	// chatter_connections_closed_total peer 1
	// chatter_messages_received_total Example.Number 2
	// chatter_messages_sent_total Example.Number 2
}
