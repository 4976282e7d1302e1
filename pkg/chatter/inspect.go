package chatter

import (
	"fmt"
	"io"
)

// Tools that watch the wire — a tap between a hat client and its server, a
// capture decoder — read frames and envelopes themselves. A connection
// never needs these.

// Envelope is a Chatter message as it travels: its envelope decoded, its
// payload still encoded in SBS.
type Envelope struct {
	ID, First          int64
	Owner, Token, Last bool
	// Module is "" for a builtin type; on the current wire it is what
	// precedes the first dot of the type string.
	Module, Type string
	// Payload aliases the body given to DecodeEnvelope.
	Payload []byte
}

// Control reports whether e is a keepalive message (a ping or a pong of
// either generation), which connections answer and never deliver.
func (e *Envelope) Control() bool {
	switch {
	case e.Module == "HatPing":
		return e.Type == "MsgPing" || e.Type == "MsgPong"
	case e.Module == "HatChatter":
		return e.Type == "Ping" || e.Type == "Pong"
	}
	return false
}

// DecodeEnvelope decodes a frame body of generation w, strictly, as a
// connection does; with WireAuto it first decides the generation as a
// WireAuto server does from a first frame. It returns the generation the
// body was read in. A body of the other generation gives a
// *WireMismatchError.
func DecodeEnvelope(body []byte, w Wire) (Envelope, Wire, error) {
	if w == WireAuto {
		var err error
		if w, err = classify(body); err != nil {
			return Envelope{}, WireAuto, err
		}
	}
	var e envelope
	var module, typ []byte
	var err error
	switch w {
	case WireCurrent:
		e, typ, err = decodeBodyCurrent(body)
		module, typ = splitType(typ)
	case WireLegacy:
		e, module, typ, err = decodeBody(body)
	default:
		return Envelope{}, w, fmt.Errorf("chatter: unknown wire generation %d", w)
	}
	if err != nil {
		return Envelope{}, w, mismatch(w, body, err)
	}
	return Envelope{
		ID: e.id, First: e.first, Owner: e.owner, Token: e.token, Last: e.last,
		Module: string(module), Type: string(typ), Payload: e.payload,
	}, w, nil
}

// FrameScanner splits a byte stream into frame bodies, as a connection's
// reader does: its memory follows the bytes received, never the length a
// header claims, and a frame over the maximum is an error before its body
// is read.
type FrameScanner struct {
	fr *frameReader
}

// NewFrameScanner reads frames of at most maxBody bytes (0: the default
// maximum message size) from r.
func NewFrameScanner(r io.Reader, maxBody int) *FrameScanner {
	if maxBody <= 0 {
		maxBody = DefaultMaxMessageSize
	}
	return &FrameScanner{fr: newFrameReader(r, maxBody, readBufferSize)}
}

// Next returns the next frame's body, valid until the following call. At
// the end of the stream it returns io.EOF; a stream that ends inside a
// frame gives io.ErrUnexpectedEOF; a frame over the maximum,
// ErrMessageTooLarge.
func (s *FrameScanner) Next() ([]byte, error) { return s.fr.next() }

// Consumed is how many bytes the scanner has read from its reader.
func (s *FrameScanner) Consumed() int64 { return s.fr.total }

// AppendFrame appends a whole frame around body: its length header, in
// the shortest form, as the original writes it.
func AppendFrame(dst, body []byte) []byte {
	return append(appendFrameHeader(dst, len(body)), body...)
}
