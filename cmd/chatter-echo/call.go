package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// maxLineSize caps one input line; it holds a message of chatter's default
// maximum size even as base64.
const maxLineSize = 128 << 20

// call sends each JSON line of s.in as a request and prints the answers.
func call(ctx context.Context, args []string, s stdio) int {
	var f connFlags
	fs := newFlagSet("call")
	f.register(fs)
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the connection and for each answer")
	check := func() error {
		if *timeout <= 0 {
			return errors.New("-timeout must be positive")
		}
		return f.check()
	}
	if err := parseArgs(fs, args, 1, check); err != nil {
		return usageStatus(fs, "[flags] ADDRESS < requests.jsonl", err, s.err)
	}
	repo, err := f.repository()
	if err != nil {
		return failStatus(s.err, err)
	}
	log := slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelWarn}))

	cctx, cancel := context.WithTimeout(ctx, *timeout)
	conn, err := chatter.Connect(cctx, repo, fs.Arg(0), f.options(log)...)
	cancel()
	if err != nil {
		return failStatus(s.err, err)
	}
	// Nothing but answers is expected; whatever else the peer sends is
	// dropped so that it does not pile up.
	discarded := make(chan struct{})
	go func() {
		defer close(discarded)
		for range conn.Messages() {
		}
	}()
	defer func() {
		conn.Close()
		<-discarded
	}()

	enc := json.NewEncoder(s.out)
	enc.SetEscapeHTML(false)
	c := caller{conn: conn, repo: repo, timeout: *timeout, out: enc}
	if err := c.run(ctx, s.in); err != nil {
		return failStatus(s.err, err)
	}
	return exitOK
}

// caller sends requests read as JSON lines over one connection.
type caller struct {
	conn    *chatter.Conn
	repo    *sbs.Repository
	timeout time.Duration
	out     *json.Encoder // one Write per answer line
}

// run handles the lines of r in order and stops at the first failure,
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

// request is an input line.
type request struct {
	Module *string         `json:"module"`
	Type   string          `json:"type"`
	Value  json.RawMessage `json:"value"`
}

// answer is an output line; its fields are written in this order.
type answer struct {
	Module *string         `json:"module"`
	Type   string          `json:"type"`
	Value  json.RawMessage `json:"value"`
	First  bool            `json:"first"`
	Last   bool            `json:"last"`
	Token  bool            `json:"token"`
}

// line sends one request and prints the answer.
func (c *caller) line(ctx context.Context, text []byte) error {
	data, err := c.parse(text)
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
	a, err := c.answer(m)
	if err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	return c.out.Encode(a)
}

// parse reads a request line into the payload it asks to send.
func (c *caller) parse(text []byte) (chatter.Data, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var req request
	if err := dec.Decode(&req); err != nil {
		return chatter.Data{}, fmt.Errorf("invalid request: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return chatter.Data{}, errors.New("invalid request: data after the JSON object")
	}
	switch {
	case req.Type == "":
		return chatter.Data{}, errors.New(`invalid request: no "type"`)
	case req.Value == nil:
		return chatter.Data{}, errors.New(`invalid request: no "value"`)
	}
	d := chatter.Data{Type: req.Type}
	if req.Module != nil {
		d.Module = *req.Module
	}
	t, err := c.repo.Type(d.Module, d.Type)
	if err != nil {
		return chatter.Data{}, err
	}
	if d.Data, err = t.DecodeJSON(req.Value); err != nil {
		return chatter.Data{}, err
	}
	return d, nil
}

// answer is the output line for m.
func (c *caller) answer(m chatter.Msg) (answer, error) {
	t, err := c.repo.Type(m.Data.Module, m.Data.Type)
	if err != nil {
		return answer{}, err
	}
	v, err := t.MarshalJSONValue(m.Data.Data)
	if err != nil {
		return answer{}, err
	}
	a := answer{Type: m.Data.Type, Value: v, First: m.First, Last: m.Last, Token: m.Token}
	if m.Data.Module != "" {
		a.Module = &m.Data.Module
	}
	return a, nil
}
