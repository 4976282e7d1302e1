package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// maxLineSize caps one input line; it holds a message of chatter's default
// maximum size even as base64.
const maxLineSize = 128 << 20

// call sends requests and prints the answers: each JSON line of standard
// input, or each document of -d.
func call(ctx context.Context, args []string, s stdio) int {
	var f commonFlags
	fs := newFlagSet("call")
	data := fs.String("d", "", "the requests: `JSON` documents, or @FILE holding them (default: JSON lines on standard input)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the connection and for each answer")
	f.register(fs)
	pos, err := parseArgs(fs, args, []string{"ADDRESS"}, 1, func() error {
		if *timeout <= 0 {
			return errors.New("-timeout must be positive")
		}
		return f.check()
	})
	if err != nil {
		return usageStatus(fs, "[flags] ADDRESS < requests.jsonl", err, s.err)
	}
	repo, err := f.repository()
	if err != nil {
		return failStatus(s.err, err)
	}
	var docs []json.RawMessage
	if *data != "" {
		if docs, err = documents(*data, nil); err != nil {
			return failStatus(s.err, err)
		}
	}
	log := f.logger(s.err)
	conn, err := f.connect(ctx, repo, pos[0], *timeout, log, s.err)
	if err != nil {
		return failStatus(s.err, err)
	}
	defer conn.Close()
	// Nothing but answers is expected; whatever else the peer sends is
	// dropped so that it does not pile up.
	conn.DiscardMessages()

	enc := json.NewEncoder(s.out)
	enc.SetEscapeHTML(false)
	c := caller{conn: conn, repo: repo, timeout: *timeout, out: enc}
	if docs != nil {
		err = c.documents(ctx, docs)
	} else {
		err = c.run(ctx, s.in)
	}
	if err != nil {
		return failStatus(s.err, connHint(conn, err))
	}
	return exitOK
}

// caller sends requests over one connection.
type caller struct {
	conn    *chatter.Conn
	repo    *sbs.Repository
	timeout time.Duration
	out     *json.Encoder // one Write per answer line
}

// run handles the JSON lines of r in order and stops at the first failure,
// which names the line.
func (c *caller) run(ctx context.Context, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxLineSize)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := c.line(ctx, sc.Bytes()); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", line+1, err)
	}
	return nil
}

// documents handles -d's documents in order.
func (c *caller) documents(ctx context.Context, docs []json.RawMessage) error {
	for i, d := range docs {
		if err := c.line(ctx, d); err != nil {
			return fmt.Errorf("document %d: %w", i+1, err)
		}
	}
	return nil
}

// answer is an output line; its fields are written in this order. Raw and
// Error appear only for an answer whose type the schemas do not know, or
// whose payload does not decode.
type answer struct {
	Module *string         `json:"module"`
	Type   string          `json:"type"`
	Value  json.RawMessage `json:"value,omitempty"`
	First  bool            `json:"first"`
	Last   bool            `json:"last"`
	Token  bool            `json:"token"`
	Raw    string          `json:"raw,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// line sends one request and prints the answer.
func (c *caller) line(ctx context.Context, text []byte) error {
	data, err := parseRequest(c.repo, text)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	m, err := c.conn.Request(rctx, data)
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v", c.timeout)
	} else if err != nil {
		return err
	}
	return c.out.Encode(c.answer(m))
}

// answer is the output line for m.
func (c *caller) answer(m chatter.Msg) answer {
	a := answer{Type: m.Data.Type, First: m.First, Last: m.Last, Token: m.Token}
	if m.Data.Module != "" {
		a.Module = &m.Data.Module
	}
	v, err := decodePayload(c.repo, m.Data.Module, m.Data.Type, m.Raw)
	if err != nil {
		a.Raw, a.Error = hex.EncodeToString(m.Raw), err.Error()
		return a
	}
	a.Value = v
	return a
}
