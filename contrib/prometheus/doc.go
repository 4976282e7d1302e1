// Package chatterprom exports what gochatter connections do as Prometheus
// metrics: a [Metrics] is both a chatter.Observer and a
// prometheus.Collector.
//
//	metrics := chatterprom.New()
//	prometheus.MustRegister(metrics)
//	srv, err := chatter.Listen(ctx, repo, addr, handler, chatter.WithObserver(metrics))
//
// It is a module of its own, so that gochatter itself depends on nothing
// but the standard library.
//
// The metrics, under the namespace "chatter" (see [WithNamespace]):
//
//	connections_opened_total                     counter
//	connections_open                             gauge
//	connections_closed_total{reason}             counter, reason from chatter.CloseReason
//	messages_received_total{type}                counter
//	messages_sent_total{type}                    counter
//	payload_bytes_received_total{type}           counter
//	payload_bytes_sent_total{type}               counter
//	request_duration_seconds{type,outcome}       histogram; outcome ok, canceled,
//	                                             deadline_exceeded, closed or error
//	requests_in_flight                           gauge
//	conversation_timeouts_total                  counter
//	ping_rtt_seconds                             histogram
//
// [ServerCollector] exports a server's own figures when scraped:
//
//	server_connections{state}                    gauge; state active, or closing (the
//	                                             peer left; in the reply grace)
//	server_accepted_total, server_refused_total, server_handshake_failures_total,
//	server_accept_errors_total                   counters
//
// The type label is Module.Type (a builtin's bare name). Peers choose the
// types they send, so the label takes at most [DefaultMaxTypes] values
// ([WithMaxTypes]) of at most 128 bytes each; other messages count under
// [OtherType].
package chatterprom
