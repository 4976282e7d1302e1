package main

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// listen prints every message received, as JSON lines: from a server it
// connects to, or with -serve from every client of the server it runs. It
// sends nothing but the answers to pings.
func listen(ctx context.Context, args []string, s stdio) int {
	var f commonFlags
	fs := newFlagSet("listen")
	serveMode := fs.Bool("serve", false, "listen on ADDRESS and print what every client sends, instead of connecting to ADDRESS")
	timeout := fs.Duration("timeout", 5*time.Second, "bound on the connection set-up")
	f.allowAuto = true
	f.register(fs)
	pos, err := parseArgs(fs, args, []string{"ADDRESS"}, 1, func() error {
		if f.wire.w == chatter.WireAuto && !*serveMode {
			return fmt.Errorf("-wire auto needs -serve: a client must choose its generation")
		}
		if *timeout <= 0 {
			return fmt.Errorf("-timeout must be positive")
		}
		return f.check()
	})
	if err != nil {
		return usageStatus(fs, "[flags] ADDRESS", err, s.err)
	}
	repo, err := f.repository()
	if err != nil {
		return failStatus(s.err, err)
	}
	log := f.logger(s.err)
	out := newLineWriter(s.out)
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	print := func(c *chatter.Conn, m chatter.Msg) error {
		l := msgLine{
			Time:  timestamp(time.Now()),
			Dir:   "in",
			Conn:  c.RemoteAddress(),
			Wire:  c.Wire().String(),
			Conv:  convLine{First: m.Conv.FirstID, Owner: m.Conv.Owner},
			First: m.First, Last: m.Last, Token: m.Token,
		}
		l.payload(repo, m.Data.Module, m.Data.Type, m.Raw)
		return out.write(l)
	}

	if !*serveMode {
		c, err := f.connect(ctx, repo, pos[0], *timeout, log, s.err)
		if err != nil {
			return failStatus(s.err, err)
		}
		defer c.Close()
		for m := range c.Messages() {
			if err := print(c, m); err != nil {
				return failStatus(s.err, err)
			}
		}
		if ctx.Err() != nil {
			return exitOK // stopped by a signal
		}
		return failStatus(s.err, connHint(c, c.Err()))
	}

	opts, err := f.serverOptions(pos[0], log)
	if err != nil {
		return failStatus(s.err, err)
	}
	srv, err := chatter.Listen(ctx, repo, pos[0], func(ctx context.Context, c *chatter.Conn) {
		log := log.With("remote", c.RemoteAddress())
		log.Info("connection opened")
		for m := range c.Messages() {
			if print(c, m) != nil {
				c.Close()
			}
		}
		log.Info("connection closed", "wire", c.Wire(), "reason", c.Err())
	}, opts...)
	if err != nil {
		return failStatus(s.err, err)
	}
	for _, a := range srv.Addresses() {
		fmt.Fprintf(s.err, "listening on %s\n", a)
	}
	return serveUntilStopped(ctx, srv, log)
}

// decodeOrHex is a payload for a human: SBS-JSON when the repository knows
// its type, else hex.
func decodeOrHex(repo *sbs.Repository, module, typ string, raw []byte) string {
	if v, err := decodePayload(repo, module, typ, raw); err == nil {
		return string(v)
	}
	return fmt.Sprintf("%x", raw)
}
