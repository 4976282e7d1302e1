package chatter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// readEnd is why reading ended, as the supervisor needs to know it.
type readEnd struct {
	err   error
	local bool // the server's Shutdown stopped the reader
	eof   bool // the peer ended its stream: nothing more is coming
	// abort: the socket failed, so nothing can be written either; the
	// connection closes at once instead of giving the application the reply
	// grace.
	abort bool
}

// streamError classifies an error of the frame reader, that is of the
// stream itself; errors in a frame's content are the decoder's, and a
// deadline is the supervisor's own (readFailed).
func (s *supervisor) streamError(err error) readEnd {
	switch {
	case errors.Is(err, io.EOF):
		return readEnd{err: ErrPeerClosed, eof: true}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return readEnd{err: fmt.Errorf("%w: stream ended inside a frame: %w", ErrProtocol, err), eof: true}
	case errors.Is(err, ErrMessageTooLarge):
		return readEnd{err: err}
	}
	// A socket error (a reset, say): nothing more can be written either.
	return readEnd{err: fmt.Errorf("chatter: read: %w", err), abort: true}
}

func errHandshake(d time.Duration) error {
	return fmt.Errorf("%w: no first frame within %v", ErrHandshakeTimeout, d)
}

func errFrameTimeout(d time.Duration) error {
	return fmt.Errorf("%w: no complete frame within %v", ErrFrameTimeout, d)
}

// inboundKind sorts received messages: application messages go to the
// application, pings and pongs only to the supervisor.
type inboundKind uint8

const (
	inboundApp inboundKind = iota
	inboundPing
	inboundPong
)

// inbound is a received message, decoded, before the supervisor routes
// it.
type inbound struct {
	msg       Msg
	kind      inboundKind
	first     int64 // the wire's first and owner fields
	ownerFlag bool
	size      int // of the payload, for an Observer
}

// decoder turns frame bodies into messages. It belongs to the supervisor,
// which owns its name table.
type decoder struct {
	c        *Conn
	wire     Wire              // the reader's own copy; WireAuto until decided
	decided  bool              // the last frame decided the generation
	interned map[string]string // module and type names
	own      *frameBuf         // the buffer of the body being decoded, if it may be kept
	// The last payload type, so that steady traffic of one type pays for
	// neither the name table nor the repository's look-up.
	lastModule, lastType []byte
	last                 typeNames
	// slab holds the copies of small Bytes payloads: one allocation for
	// many messages (a value keeps at most slabSize bytes alive).
	slab []byte
	// Counters of what was read, published once a batch.
	app, pings, pongs uint64
}

// typeNames is a payload type's interned names and its resolved type (nil
// if the repository lacks it, with err).
type typeNames struct {
	module, name string
	t            *sbs.Type
	err          error
}

// raw returns the payload bytes for Msg.Raw: the body's own bytes when it
// may be kept, else a copy (a small one into the slab).
func (d *decoder) raw(p []byte) RawPayload {
	if d.own != nil {
		return RawPayload(p[:len(p):len(p)])
	}
	if len(p) == 0 {
		return nil // as a copy of nothing always was
	}
	return RawPayload(d.copyBytes(p))
}

// value decodes a payload of type t. A Bytes payload in a body of its own
// is not copied again: the value is the body's bytes.
//
// The builtin scalars most traffic carries are read here, not through the
// repository's generic decoder; anything they do not read whole (a big
// Integer, a malformed payload) goes to it, for its value or its error.
func (d *decoder) value(t *sbs.Type, p []byte) (any, error) {
	switch t.Kind() {
	case sbs.KindInteger:
		if v, n := sbs.ConsumeInteger(p); n == len(p) {
			return v, nil
		}
	case sbs.KindBytes:
		if b, n := sbs.ConsumeBytes(p); n == len(p) {
			if d.own != nil {
				return b, nil
			}
			return d.copyBytes(b), nil
		}
	}
	return t.Decode(p)
}

// slabSize is the allocation small Bytes payloads are copied into, and
// slabMax the largest payload that goes there.
const (
	slabSize = 1 << 10
	slabMax  = 128
)

// copyBytes copies b for the application to own: small ones into the
// slab, capped so that an append by the application cannot reach the next.
func (d *decoder) copyBytes(b []byte) []byte {
	n := len(b)
	if n > slabMax {
		return append([]byte(nil), b...)
	}
	if n > cap(d.slab)-len(d.slab) {
		d.slab = make([]byte, 0, slabSize)
	}
	off := len(d.slab)
	d.slab = append(d.slab, b...)
	return d.slab[off : off+n : off+n]
}

// names returns the interned names of a payload type and the repository's
// type for them, from the last frame's when they are the same.
func (d *decoder) names(module, typ []byte) *typeNames {
	if d.last.name != "" && bytes.Equal(typ, d.lastType) && bytes.Equal(module, d.lastModule) {
		return &d.last
	}
	tn := typeNames{module: d.intern(module), name: d.intern(typ)}
	tn.t, tn.err = d.c.repo.Type(tn.module, tn.name)
	d.last = tn
	d.lastModule = append(d.lastModule[:0], module...)
	d.lastType = append(d.lastType[:0], typ...)
	return &d.last
}

// typed is a new Go value to decode a payload of tn's type into, when
// WithPayloadTypes knows the type; nil otherwise.
func (d *decoder) typed(tn *typeNames) sbsUnmarshaler {
	if np := d.c.cfg.newPayload; np != nil {
		return np(tn.module, tn.name)
	}
	return nil
}

// keepRaw keeps the payload of a composite type (Tuple, Union, Array) in
// Msg.Raw next to its dynamic value, so that Decode can read it into a Go
// struct without encoding the value again. Such payloads already cost a
// few allocations to decode; a scalar one (an Integer, a Bytes) is not kept,
// so that its message costs no more than its value.
func (d *decoder) keepRaw(in *inbound, t *sbs.Type, p []byte) {
	switch t.Kind() {
	case sbs.KindTuple, sbs.KindUnion, sbs.KindArray:
		in.msg.Raw = d.raw(p)
	}
}

// maxInternedNames bounds the decoder's name table against a peer that
// sends a new type name in every message.
const maxInternedNames = 1024

func newDecoder(c *Conn) *decoder {
	return &decoder{c: c, wire: c.Wire()} // interned is made with its first name
}

// count notes a message read, for Stats.
func (d *decoder) count(k inboundKind) {
	switch k {
	case inboundApp:
		d.app++
	case inboundPing:
		d.pings++
	case inboundPong:
		d.pongs++
	}
}

// publish makes the counts visible to Stats.
// The ping and pong counts only when control says the batch had either:
// they are rare next to messages, and that is two stores a batch fewer.
func (d *decoder) publish(s *connStats, bytesIn int64, control bool) {
	s.messagesIn.Store(d.app)
	s.bytesIn.Store(bytesIn)
	if control {
		s.pingsIn.Store(d.pings)
		s.pongsIn.Store(d.pongs)
	}
}

// intern returns b as a string, reusing an earlier copy when it has one so
// that steady traffic allocates no names.
func (d *decoder) intern(b []byte) string {
	if s, ok := d.interned[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.interned == nil {
		d.interned = make(map[string]string)
	}
	if len(d.interned) < maxInternedNames {
		d.interned[s] = s
	}
	return s
}

// decode reads one frame body. A body that is not a valid message of the
// connection's generation ends the connection, as in the original. own,
// when set, is the body's own buffer, the caller's to keep, so payload
// bytes may alias it.
//
// On a WireAuto connection the first frame decides the generation; the
// decoder keeps it and sets decided, and the reader publishes it once it
// has handled that frame (answered its ping): nothing the application
// sends can overtake the answer to the first frame.
func (d *decoder) decode(body []byte, own *frameBuf) (inbound, error) {
	d.own = own
	if d.wire == WireAuto {
		w, err := classify(body)
		if err != nil {
			return inbound{}, err
		}
		d.wire, d.decided = w, true
	}
	var in inbound
	var err error
	if d.wire == WireCurrent {
		in, err = d.decodeCurrent(body)
	} else {
		in, err = d.decodeLegacy(body)
	}
	if own != nil && err == nil {
		in.msg.buf, in.msg.bufGen = own, own.gen.Load()
	}
	return in, err
}

func (d *decoder) head(e *envelope) inbound {
	in := inbound{first: e.first, ownerFlag: e.owner, size: len(e.payload)}
	in.msg.Conv = Conversation{Conn: d.c, Owner: !e.owner, FirstID: e.first}
	in.msg.First = e.owner && e.first == e.id
	in.msg.Last = e.last
	in.msg.Token = e.token
	return in
}

func (d *decoder) decodeLegacy(body []byte) (inbound, error) {
	e, module, typ, err := decodeBody(body)
	if err != nil {
		return inbound{}, mismatch(WireLegacy, body, err)
	}
	in := d.head(&e)
	if string(module) == "HatPing" {
		switch string(typ) {
		case "MsgPing":
			in.kind = inboundPing
		case "MsgPong":
			in.kind = inboundPong
		}
		if in.kind != inboundApp {
			if len(e.payload) != 0 {
				return inbound{}, &frameError{"Hat.Msg", "data.data", fmt.Errorf("HatPing.%s carries %d payload bytes, want none", typ, len(e.payload))}
			}
			return in, nil
		}
	}
	tn := d.names(module, typ)
	in.msg.Data.Module, in.msg.Data.Type = tn.module, tn.name
	if v := d.typed(tn); v != nil {
		if err := v.UnmarshalSBS(e.payload); err != nil {
			return inbound{}, fmt.Errorf("%w: payload: %w", ErrProtocol, err)
		}
		in.msg.Data.Data = v
		return in, nil
	}
	if d.c.cfg.rawPayloads {
		in.msg.Raw = d.raw(e.payload)
		return in, nil
	}
	if tn.err != nil {
		return inbound{}, fmt.Errorf("%w: payload type: %w", ErrProtocol, tn.err)
	}
	d.keepRaw(&in, tn.t, e.payload)
	if in.msg.Data.Data, err = d.value(tn.t, e.payload); err != nil {
		return inbound{}, fmt.Errorf("%w: payload: %w", ErrProtocol, err)
	}
	return in, nil
}

// decodeCurrent reads a HatChatter.Msg. The current generation never
// interprets payloads, so a type the repository does not know or a payload
// that does not decode is delivered raw with the reason in Msg.DecodeErr
// instead of ending the connection.
func (d *decoder) decodeCurrent(body []byte) (inbound, error) {
	e, typ, err := decodeBodyCurrent(body)
	if err != nil {
		return inbound{}, mismatch(WireCurrent, body, err)
	}
	in := d.head(&e)
	// Only these two exact names are reserved; their data is ignored.
	switch string(typ) {
	case "HatChatter.Ping":
		in.kind = inboundPing
		return in, nil
	case "HatChatter.Pong":
		in.kind = inboundPong
		return in, nil
	}
	tn := d.names(splitType(typ))
	in.msg.Data.Module, in.msg.Data.Type = tn.module, tn.name
	if v := d.typed(tn); v != nil {
		if err := v.UnmarshalSBS(e.payload); err != nil {
			in.msg.Raw = d.raw(e.payload)
			in.msg.DecodeErr = err
			return in, nil
		}
		in.msg.Data.Data = v
		return in, nil
	}
	if d.c.cfg.rawPayloads {
		in.msg.Raw = d.raw(e.payload)
		return in, nil
	}
	err = tn.err
	if err == nil {
		d.keepRaw(&in, tn.t, e.payload)
		in.msg.Data.Data, err = d.value(tn.t, e.payload)
	}
	if err != nil {
		in.msg.Raw = d.raw(e.payload)
		in.msg.DecodeErr = err
	}
	return in, nil
}
