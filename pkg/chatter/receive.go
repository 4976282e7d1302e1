package chatter

import (
	"fmt"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// inboundKind sorts received messages: application messages go to the
// application, pings and pongs only to the supervisor.
type inboundKind uint8

const (
	inboundApp inboundKind = iota
	inboundPing
	inboundPong
)

// inbound is a received message on its way from the reader to the
// supervisor.
type inbound struct {
	msg       Msg
	kind      inboundKind
	first     int64 // the wire's first and owner fields
	ownerFlag bool
}

// decoder turns frame bodies into messages. It belongs to the reader
// goroutine, which owns its name table.
type decoder struct {
	c     *Conn
	wire  Wire              // WireAuto until the first frame decides
	names map[string]string // interned module and type names
	owned bool              // the body being decoded may be kept
}

// raw returns the payload bytes for Msg.Raw: the body's own bytes when it
// may be kept, else a copy.
func (d *decoder) raw(p []byte) RawPayload {
	if d.owned {
		return RawPayload(p[:len(p):len(p)])
	}
	return append(RawPayload(nil), p...)
}

// value decodes a payload of type t. A Bytes payload in a body of its own
// is not copied again: the value is the body's bytes.
func (d *decoder) value(t *sbs.Type, p []byte) (any, error) {
	if d.owned && t.Kind() == sbs.KindBytes {
		if b, n := sbs.ConsumeBytes(p); n == len(p) {
			return b, nil
		}
	}
	return t.Decode(p)
}

// maxInternedNames bounds the decoder's name table against a peer that
// sends a new type name in every message.
const maxInternedNames = 1024

func newDecoder(c *Conn) *decoder {
	return &decoder{c: c, wire: c.cfg.wire, names: make(map[string]string)}
}

// intern returns b as a string, reusing an earlier copy when it has one so
// that steady traffic allocates no names.
func (d *decoder) intern(b []byte) string {
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.names) < maxInternedNames {
		d.names[s] = s
	}
	return s
}

// decode reads one frame body. A body that is not a valid message of the
// connection's generation ends the connection, as in the original. owned
// says the body is the caller's to keep, so payload bytes may alias it.
func (d *decoder) decode(body []byte, owned bool) (inbound, error) {
	d.owned = owned
	if d.wire == WireAuto {
		w, err := classify(body)
		if err != nil {
			return inbound{}, err
		}
		d.wire = w
		d.c.decideWire(w)
	}
	if d.wire == WireCurrent {
		return d.decodeCurrent(body)
	}
	return d.decodeLegacy(body)
}

func (d *decoder) head(e *envelope) inbound {
	in := inbound{first: e.first, ownerFlag: e.owner}
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
	in.msg.Data.Module = d.intern(module)
	in.msg.Data.Type = d.intern(typ)
	if d.c.cfg.rawPayloads {
		in.msg.Raw = d.raw(e.payload)
		return in, nil
	}
	t, err := d.c.repo.Type(in.msg.Data.Module, in.msg.Data.Type)
	if err != nil {
		return inbound{}, fmt.Errorf("%w: payload type: %w", ErrProtocol, err)
	}
	if in.msg.Data.Data, err = d.value(t, e.payload); err != nil {
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
	module, name := splitType(typ)
	in.msg.Data.Module = d.intern(module)
	in.msg.Data.Type = d.intern(name)
	if d.c.cfg.rawPayloads {
		in.msg.Raw = d.raw(e.payload)
		return in, nil
	}
	t, err := d.c.repo.Type(in.msg.Data.Module, in.msg.Data.Type)
	if err == nil {
		in.msg.Data.Data, err = d.value(t, e.payload)
	}
	if err != nil {
		in.msg.Raw = d.raw(e.payload)
		in.msg.DecodeErr = err
	}
	return in, nil
}
