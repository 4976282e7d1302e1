package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// shutdownGrace bounds the graceful part of stopping: connections stop
// reading and answer what they had read. After it, what is left is closed,
// which takes at most the flush timeout more for a peer that does not read.
const shutdownGrace = 5 * time.Second

// serve runs an echo server until ctx ends or a signal arrives.
func serve(ctx context.Context, args []string, s stdio) int {
	var f connFlags
	fs := newFlagSet("serve")
	f.allowAuto = true
	f.register(fs)
	if err := parseArgs(fs, args, 1, f.check); err != nil {
		return usageStatus(fs, "[flags] ADDRESS", err, s.err)
	}
	repo, err := f.repository()
	if err != nil {
		return failStatus(s.err, err)
	}
	log := slog.New(slog.NewTextHandler(s.err, nil))

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := chatter.Listen(ctx, repo, fs.Arg(0), func(ctx context.Context, c *chatter.Conn) { echo(ctx, c, log) }, f.options(log)...)
	if err != nil {
		return failStatus(s.err, err)
	}
	for _, a := range srv.Addresses() {
		fmt.Fprintf(s.out, "listening on %s\n", a)
	}

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

// echo answers every message c receives with the same data in the same
// conversation, ending it, until c ends.
func echo(ctx context.Context, c *chatter.Conn, log *slog.Logger) {
	log = log.With("remote", c.RemoteAddress())
	log.Info("connection opened")
	for m := range c.Messages() {
		if _, err := c.Send(ctx, m.Data, chatter.InConversation(m.Conv)); err != nil {
			if !errors.Is(err, chatter.ErrClosed) {
				// Not an ended connection: a payload that does not
				// encode, say. Worth ending the connection for.
				log.Warn("echo failed", "err", err)
				c.Close()
			}
			break
		}
	}
	log.Info("connection closed", "reason", c.Err())
}
