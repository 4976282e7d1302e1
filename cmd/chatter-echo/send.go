package main

import (
	"context"
	"fmt"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// send sends one-way messages: each input document is a message starting
// a conversation of its own, with the -last and -token flags. With
// -confirm (the default) it then pings the peer: a one-way message has no
// answer, and only the ping's shows that the peer read them.
func send(ctx context.Context, args []string, s stdio) int {
	var f commonFlags
	fs := newFlagSet("send")
	data := fs.String("d", "", "the messages: `JSON` documents, or @FILE holding them (default: standard input)")
	last := fs.Bool("last", true, "end each message's conversation (last = true)")
	token := fs.Bool("token", true, "hand the turn to the peer (token = true)")
	timeout := fs.Duration("timeout", 5*time.Second, "bound on the connection set-up and on writing everything")
	confirm := fs.Bool("confirm", true, "after writing, ping the peer and wait for its answer: proof that it read and parsed the messages")
	f.register(fs)
	pos, err := parseArgs(fs, args, []string{"ADDRESS"}, 1, func() error {
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
	docs, err := documents(*data, s.in)
	if err != nil {
		return failStatus(s.err, err)
	}
	msgs := make([]chatter.Data, len(docs))
	for i, doc := range docs {
		if msgs[i], err = parseRequest(repo, doc); err != nil {
			return failStatus(s.err, fmt.Errorf("document %d: %w", i+1, err))
		}
	}
	log := f.logger(s.err)
	c, err := f.connect(ctx, repo, pos[0], *timeout, log, s.err)
	if err != nil {
		return failStatus(s.err, err)
	}
	defer c.Close()
	c.DiscardMessages() // a sender that will not read
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	for i, m := range msgs {
		if _, err := c.Send(wctx, m, chatter.Last(*last), chatter.Token(*token)); err != nil {
			return failStatus(s.err, connHint(c, fmt.Errorf("document %d: %w", i+1, err)))
		}
	}
	if err := c.Drain(wctx); err != nil {
		return failStatus(s.err, connHint(c, fmt.Errorf("writing: %w", err)))
	}
	if *confirm {
		// Written is not read: a peer that cannot parse the messages (the
		// other wire generation, say) closes instead of answering.
		if _, err := c.Ping(wctx); err != nil {
			return failStatus(s.err, connHint(c, fmt.Errorf("confirming: %w", err)))
		}
	}
	if err := c.Close(); err != nil {
		return failStatus(s.err, connHint(c, err))
	}
	log.Debug("sent", "messages", len(msgs))
	return exitOK
}
