package chatterprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// ServerCollector exports a server's own figures (chatter.ServerStats),
// read when Prometheus scrapes: connections by state — active, or closing
// (the peer has left or Shutdown stopped the reading, and the connection
// stays only for its reply grace), so that a client that left does not
// count as one in use — and the accept loop's counters. Register one per
// server; WithNamespace and WithConstLabels apply (a label naming the
// server tells several apart).
func ServerCollector(srv *chatter.Server, opts ...Option) prometheus.Collector {
	o := options{namespace: "chatter"}
	for _, f := range opts {
		f(&o)
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(o.namespace, "server", name), help, labels, o.constLabels)
	}
	return &serverCollector{
		srv:        srv,
		conns:      desc("connections", "Connections whose socket is open, by state: active, or closing (reading ended, in the reply grace).", "state"),
		accepted:   desc("accepted_total", "Connections the listeners accepted, refused and failed ones included."),
		refused:    desc("refused_total", "Connections closed at once because the server was at its connection limit."),
		handshakes: desc("handshake_failures_total", "TLS handshakes that failed or timed out."),
		acceptErrs: desc("accept_errors_total", "Failed accepts, each retried after a backoff."),
	}
}

type serverCollector struct {
	srv                                              *chatter.Server
	conns, accepted, refused, handshakes, acceptErrs *prometheus.Desc
}

func (c *serverCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.accepted, c.refused, c.handshakes, c.acceptErrs} {
		ch <- d
	}
}

func (c *serverCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.Open-st.Closing), "active")
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(st.Closing), "closing")
	ch <- prometheus.MustNewConstMetric(c.accepted, prometheus.CounterValue, float64(st.Accepted))
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Refused))
	ch <- prometheus.MustNewConstMetric(c.handshakes, prometheus.CounterValue, float64(st.HandshakeFailures))
	ch <- prometheus.MustNewConstMetric(c.acceptErrs, prometheus.CounterValue, float64(st.AcceptErrors))
}
