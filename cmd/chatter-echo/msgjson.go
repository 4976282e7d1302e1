package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// request is an input document: a message to send.
type request struct {
	Module *string         `json:"module"`
	Type   string          `json:"type"`
	Value  json.RawMessage `json:"value"`
}

// parseRequest reads one input document into the payload it asks to send.
func parseRequest(repo *sbs.Repository, text []byte) (chatter.Data, error) {
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
	} else if module, name, ok := strings.Cut(req.Type, "."); ok {
		// Module.Type, as types prints it and bench -type takes it.
		d.Module, d.Type = module, name
	}
	t, err := repo.Type(d.Module, d.Type)
	if err != nil {
		return chatter.Data{}, schemaHint(err, d.Module)
	}
	if d.Data, err = t.DecodeJSON(req.Value); err != nil {
		return chatter.Data{}, err
	}
	return d, nil
}

// maxInput bounds what -d @FILE and standard input may hold for send and
// call -d.
const maxInput = 64 << 20

// documents reads the input documents: -d's JSON text (or the file after
// an @), else standard input. The text is one or more JSON documents, one
// a line or pretty-printed.
func documents(d string, stdin io.Reader) ([]json.RawMessage, error) {
	var src io.Reader
	switch {
	case strings.HasPrefix(d, "@"):
		f, err := os.Open(d[1:])
		if err != nil {
			return nil, fmt.Errorf("-d: %w", err)
		}
		defer f.Close()
		src = f
	case d != "":
		src = strings.NewReader(d)
	default:
		src = stdin
	}
	dec := json.NewDecoder(io.LimitReader(src, maxInput))
	var docs []json.RawMessage
	for {
		var doc json.RawMessage
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(docs)+1, err)
		}
		docs = append(docs, doc)
	}
}

// msgLine is how listen and tap print a message: one JSON object a line.
type msgLine struct {
	Time   string          `json:"time,omitempty"`
	Dir    string          `json:"dir,omitempty"`  // in (listen), c2s or s2c (tap)
	Conn   string          `json:"conn,omitempty"` // the peer's (listen) or the client's (tap) address
	Wire   string          `json:"wire,omitempty"`
	ID     *int64          `json:"id,omitempty"` // the wire's message id (tap)
	Conv   convLine        `json:"conv"`
	First  bool            `json:"first"`
	Last   bool            `json:"last"`
	Token  bool            `json:"token"`
	Module *string         `json:"module"`
	Type   string          `json:"type"`
	Value  json.RawMessage `json:"value,omitempty"`
	Raw    string          `json:"raw,omitempty"`   // the payload in hex, when it does not decode
	Error  string          `json:"error,omitempty"` // why it does not
}

// convLine is a conversation: its first message's id, and whether the
// side that printed it (listen) or the sender of the frame (tap) owns it.
type convLine struct {
	First int64 `json:"first"`
	Owner bool  `json:"owner"`
}

// payload fills the line's module, type and value (or raw and error) from
// a payload of Module.Type as received.
func (l *msgLine) payload(repo *sbs.Repository, module, typ string, raw []byte) {
	if module != "" {
		l.Module = &module
	}
	l.Type = typ
	v, err := decodePayload(repo, module, typ, raw)
	if err != nil {
		l.Raw, l.Error = hex.EncodeToString(raw), err.Error()
		if l.Raw == "" {
			l.Raw = "-" // empty, not absent
		}
		return
	}
	l.Value = v
}

// decodePayload reads a payload into SBS-JSON with the repository's type.
func decodePayload(repo *sbs.Repository, module, typ string, raw []byte) (json.RawMessage, error) {
	t, err := repo.Type(module, typ)
	if err != nil {
		return nil, err
	}
	v, err := t.Decode(raw)
	if err != nil {
		return nil, err
	}
	return t.MarshalJSONValue(v)
}

// lineWriter writes one JSON line per value, whole, from any goroutine.
type lineWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

func newLineWriter(w io.Writer) *lineWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &lineWriter{enc: enc}
}

func (w *lineWriter) write(v any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = w.enc.Encode(v)
	}
	return w.err
}

// timestamp is how the lines write times: UTC, to the microsecond.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// schemaHint adds to an unknown-type error for module what to do about
// it: a module no schema given with -schema defines.
func schemaHint(err error, module string) error {
	if module == "" || !errors.Is(err, sbs.ErrUnknownType) || !strings.Contains(err.Error(), "no module") {
		return err
	}
	return &hintedError{err, fmt.Sprintf("no schema loaded here defines module %s: give its .sbs file with -schema FILE (the types command lists what is loaded)", module)}
}
