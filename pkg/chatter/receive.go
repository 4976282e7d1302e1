package chatter

import (
	"fmt"
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
// connection's generation ends the connection, as in the original.
func (d *decoder) decode(body []byte) (inbound, error) {
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
		in.msg.Raw = append(RawPayload(nil), e.payload...)
		return in, nil
	}
	t, err := d.c.repo.Type(in.msg.Data.Module, in.msg.Data.Type)
	if err != nil {
		return inbound{}, fmt.Errorf("%w: payload type: %w", ErrProtocol, err)
	}
	if in.msg.Data.Data, err = t.Decode(e.payload); err != nil {
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
		in.msg.Raw = append(RawPayload(nil), e.payload...)
		return in, nil
	}
	t, err := d.c.repo.Type(in.msg.Data.Module, in.msg.Data.Type)
	if err == nil {
		in.msg.Data.Data, err = t.Decode(e.payload)
	}
	if err != nil {
		in.msg.Raw = append(RawPayload(nil), e.payload...)
		in.msg.DecodeErr = err
	}
	return in, nil
}
