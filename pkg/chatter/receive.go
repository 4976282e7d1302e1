package chatter

import "fmt"

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
	names map[string]string // interned module and type names
}

// maxInternedNames bounds the decoder's name table against a peer that
// sends a new type name in every message.
const maxInternedNames = 1024

func newDecoder(c *Conn) *decoder {
	return &decoder{c: c, names: make(map[string]string)}
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

// decode reads one frame body. Anything that does not decode is an error
// that ends the connection, as in the original.
func (d *decoder) decode(body []byte) (inbound, error) {
	e, module, typ, err := decodeBody(body)
	if err != nil {
		return inbound{}, err
	}
	in := inbound{first: e.first, ownerFlag: e.owner}
	in.msg.Conv = Conversation{Conn: d.c, Owner: !e.owner, FirstID: e.first}
	in.msg.First = e.owner && e.first == e.id
	in.msg.Last = e.last
	in.msg.Token = e.token
	if string(module) == "HatPing" {
		switch string(typ) {
		case "MsgPing":
			in.kind = inboundPing
		case "MsgPong":
			in.kind = inboundPong
		}
		if in.kind != inboundApp {
			if len(e.payload) != 0 {
				return inbound{}, &frameError{"data.data", fmt.Errorf("%s carries %d payload bytes, want none", typ, len(e.payload))}
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
