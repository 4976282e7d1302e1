// Package chatterdebug exposes a daemon's Chatter counters, and the Go
// runtime's profiles, on a debug address of its own: expvar's /debug/vars
// (with the counters published by [Publish] or [PublishServer]) and
// net/http/pprof's /debug/pprof/.
//
//	chatterdebug.PublishServer("chatter", srv)
//	l, err := chatterdebug.Listen("127.0.0.1:6060")
//	...
//	go chatterdebug.Serve(ctx, l)
//
// It is a package apart from chatter, which depends on nothing beyond its
// own module and the standard library, because importing expvar registers
// /debug/vars on http.DefaultServeMux: a program gets that only when it asks
// for this package. Serve itself uses a mux of its own. The counters are
// plain JSON, for Prometheus or OpenTelemetry bridges to read; adapters
// for them would live in modules of their own.
package chatterdebug

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// Publish publishes what stats returns under name in expvar, so that
// /debug/vars shows it as JSON. It panics, as expvar.Publish does, when
// name is already published.
func Publish(name string, stats func() any) {
	expvar.Publish(name, expvar.Func(stats))
}

// PublishServer publishes srv's [chatter.ServerStats] under name.
func PublishServer(name string, srv *chatter.Server) {
	Publish(name, func() any { return srv.Stats() })
}

// Handler serves /debug/vars and the /debug/pprof/ pages.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// ErrNotLoopback: Listen was given an address that is not on the loopback
// interface. Profiles and counters are for the machine's own operators.
var ErrNotLoopback = errors.New("chatterdebug: the debug address must be a loopback address")

// Listen opens a listener for [Serve] on addr, HOST:PORT where HOST is a
// loopback IP address (127.0.0.1, ::1) or localhost.
func Listen(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("chatterdebug: %w", err)
	}
	network := "tcp"
	switch ip := net.ParseIP(host); {
	case host == "localhost":
		network = "tcp4"
		addr = net.JoinHostPort("127.0.0.1", addr[len(host)+1:])
	case ip == nil || !ip.IsLoopback():
		return nil, fmt.Errorf("%w: %q", ErrNotLoopback, addr)
	}
	return net.Listen(network, addr)
}

// Serve serves [Handler] on l until ctx ends, then shuts the HTTP server
// down (within 5 s) and returns nil; it returns the server's error if it
// fails before.
func Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
