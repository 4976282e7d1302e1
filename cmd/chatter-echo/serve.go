package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/chatter/chatterdebug"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// shutdownGrace bounds the graceful part of stopping: connections stop
// reading and answer what they had read. After it, what is left is closed,
// which takes at most the flush timeout more for a peer that does not read.
const shutdownGrace = 5 * time.Second

// serve runs an echo server until ctx ends or a signal arrives.
func serve(ctx context.Context, args []string, s stdio) int {
	var f commonFlags
	fs := newFlagSet("serve")
	debugAddr := fs.String("debug-addr", "", "serve expvar counters and pprof on `HOST:PORT`, a loopback address")
	f.allowAuto = true
	f.register(fs)
	pos, err := parseArgs(fs, args, []string{"ADDRESS"}, 1, f.check)
	if err != nil {
		return usageStatus(fs, "[flags] ADDRESS", err, s.err)
	}
	repo, err := f.repository()
	if err != nil {
		return failStatus(s.err, err)
	}
	log := f.logger(s.err)
	opts, err := f.serverOptions(pos[0], log)
	if err != nil {
		return failStatus(s.err, err)
	}

	// The debug listener first: an address it refuses (not loopback, say)
	// fails the command before it says it is listening.
	var debugL net.Listener
	if *debugAddr != "" {
		if debugL, err = chatterdebug.Listen(*debugAddr); err != nil {
			return failStatus(s.err, err)
		}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := chatter.Listen(ctx, repo, pos[0], func(ctx context.Context, c *chatter.Conn) { echo(ctx, c, repo, log) }, opts...)
	if err != nil {
		if debugL != nil {
			debugL.Close()
		}
		return failStatus(s.err, err)
	}
	for _, a := range srv.Addresses() {
		fmt.Fprintf(s.out, "listening on %s\n", a)
	}
	if debugL != nil {
		l := debugL
		dctx, cancel := context.WithCancel(context.Background())
		served := make(chan struct{})
		go func() {
			defer close(served)
			chatterdebug.Serve(dctx, l)
		}()
		defer func() { cancel(); <-served }()
		publish(srv)
		fmt.Fprintf(s.out, "debug on http://%s/debug/vars and /debug/pprof/\n", l.Addr())
	}
	return serveUntilStopped(ctx, srv, log)
}

// publish shows srv's counters as "chatter" in expvar. expvar's names are
// for the process's life, so the variable is published once and reads the
// latest server (tests run serve more than once in a process).
func publish(srv *chatter.Server) {
	debugServer.Store(srv)
	publishOnce.Do(func() {
		chatterdebug.Publish("chatter", func() any { return debugServer.Load().Stats() })
	})
}

var (
	debugServer atomic.Pointer[chatter.Server]
	publishOnce sync.Once
)

// serveUntilStopped waits until ctx ends (a signal) or the server fails,
// then stops it gracefully, closing what is still busy after shutdownGrace.
func serveUntilStopped(ctx context.Context, srv *chatter.Server, log *slog.Logger) int {
	status := exitOK
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case <-srv.Context().Done():
		// The server stopped by itself: a listening socket failed.
		log.Error("server failed", "err", srv.Err())
		status = exitFail
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	switch err := srv.Shutdown(sctx); {
	case errors.Is(err, context.DeadlineExceeded):
		// Shutdown closed what was still busy; the server has stopped.
		log.Warn("connections still busy when the shutdown grace ended: closed", "grace", shutdownGrace)
	case err != nil && status == exitOK:
		log.Error("shutdown failed", "err", err)
		status = exitFail
	}
	return status
}

// echo answers every message c receives with the same payload, unchanged
// (whatever its type, known to the schemas or not), in the same
// conversation, ending it, until c ends.
func echo(ctx context.Context, c *chatter.Conn, repo *sbs.Repository, log *slog.Logger) {
	log = log.With("remote", c.RemoteAddress())
	log.Info("connection opened")
	for m := range c.Messages() {
		if log.Enabled(ctx, slog.LevelDebug) {
			log.Debug("message", "module", m.Data.Module, "type", m.Data.Type,
				"value", decodeOrHex(repo, m.Data.Module, m.Data.Type, m.Raw))
		}
		reply := m.Data // as decoded, on a connection that decodes payloads
		if m.Raw != nil || reply.Data == nil {
			reply.Data = chatter.RawPayload(m.Raw) // as received
		}
		if _, err := c.Send(ctx, reply, chatter.InConversation(m.Conv)); err != nil {
			if !errors.Is(err, chatter.ErrClosed) {
				log.Warn("echo failed", "err", err)
				c.Close()
			}
			break
		}
	}
	log.Info("connection closed", "wire", c.Wire(), "reason", c.Err())
}
