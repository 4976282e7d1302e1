package main

import (
	"context"
	"fmt"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// shutdownTimeout bounds how long serve waits for its connections to close
// once told to stop. It is longer than the few seconds a closing connection
// gives a peer that does not read to take what was queued for it.
const shutdownTimeout = 10 * time.Second

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
	srv, err := chatter.Listen(ctx, repo, fs.Arg(0), func(c *chatter.Conn) { echo(c, log) }, f.options(log)...)
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
	case <-srv.Closing():
		// The server stopped by itself: a listening socket failed.
		log.Error("server failed", "err", srv.Cause())
		status = exitFail
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("connections did not close in time", "err", err)
		status = exitFail
	}
	return status
}

// echo answers every message c receives with the same data in the same
// conversation, ending it, until c ends.
func echo(c *chatter.Conn, log *slog.Logger) {
	log = log.With("remote", c.RemoteAddress())
	log.Info("connection opened")
	ctx := c.Group().Context()
	for m := range c.Messages() {
		if _, err := c.Send(ctx, m.Data, chatter.InConversation(m.Conv)); err != nil {
			// An ended connection; anything else is a bug worth closing for.
			c.CloseWithCause(err)
			break
		}
	}
	log.Info("connection closed", "reason", c.Err())
}
