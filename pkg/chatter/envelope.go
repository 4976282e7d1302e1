package chatter

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// A frame on the wire is | m (1 byte) | k (m bytes, big-endian) | body (k) |
// and its body is one SBS value, in one of two generations of the message:
//
//	legacy  Hat.Msg = Tuple { id: Integer, first: Integer, owner: Boolean,
//	            token: Boolean, last: Boolean,
//	            data: Tuple { module: Maybe(String), type: String, data: Bytes } }
//	current HatChatter.Msg = Record { id, first, owner, token, last,
//	            data: Record { type: String, data: Bytes } }
//
// where the current type string is "Module.Type" (or a builtin's bare name).
// Envelopes are encoded and decoded here by hand rather than through the
// repository's generic codec: they are on every message's path and their
// shape is fixed by the protocol.

// envelope is a message with its payload still encoded.
type envelope struct {
	id, first          int64
	owner, token, last bool
	module             string // "" for a builtin type (legacy: Maybe's Nothing)
	typ                string
	payload            []byte
	// payloadTail, when set, follows payload: the encoded payload is the
	// two together. A sender points it at the application's own bytes (a
	// Bytes value, a RawPayload) so that they are copied once, into the
	// outbox, rather than first into a payload buffer. Decoding never sets
	// it.
	payloadTail []byte
	current     bool // encode as HatChatter.Msg rather than Hat.Msg
}

// payloadLen is the encoded payload's length.
func (e *envelope) payloadLen() int { return len(e.payload) + len(e.payloadTail) }

// currentTypeLen is the length of the current generation's type string:
// Module.Type, or the bare name of a builtin type.
func (e *envelope) currentTypeLen() int {
	if e.module == "" {
		return len(e.typ)
	}
	return len(e.module) + 1 + len(e.typ)
}

// sizeBody is the encoded size of the body.
func (e *envelope) sizeBody() int {
	n := sbs.SizeInteger(e.id) + sbs.SizeInteger(e.first) + 3
	if e.current {
		return n + sbs.SizeBytes(e.currentTypeLen()) + sbs.SizeBytes(e.payloadLen())
	}
	n++ // the Maybe's index
	if e.module != "" {
		n += sbs.SizeBytes(len(e.module))
	}
	return n + sbs.SizeBytes(len(e.typ)) + sbs.SizeBytes(e.payloadLen())
}

// appendBody appends the body's SBS encoding.
func (e *envelope) appendBody(b []byte) []byte {
	b = sbs.AppendInteger(b, e.id)
	b = sbs.AppendInteger(b, e.first)
	b = sbs.AppendBoolean(b, e.owner)
	b = sbs.AppendBoolean(b, e.token)
	b = sbs.AppendBoolean(b, e.last)
	switch {
	case e.current:
		b = sbs.AppendInteger(b, int64(e.currentTypeLen()))
		if e.module != "" {
			b = append(append(b, e.module...), '.')
		}
		b = append(b, e.typ...)
	case e.module == "":
		b = sbs.AppendInteger(b, 0) // Nothing
		b = sbs.AppendString(b, e.typ)
	default:
		b = sbs.AppendInteger(b, 1) // Just
		b = sbs.AppendString(b, e.module)
		b = sbs.AppendString(b, e.typ)
	}
	b = sbs.AppendInteger(b, int64(e.payloadLen()))
	return append(append(b, e.payload...), e.payloadTail...)
}

// appendFrame appends the whole frame carrying e.
func (e *envelope) appendFrame(b []byte) []byte {
	return e.appendBody(appendFrameHeader(b, e.sizeBody()))
}

// frameError is a malformed frame body: what was wrong and in which field.
type frameError struct {
	msg   string // Hat.Msg or HatChatter.Msg
	field string
	err   error
}

func (e *frameError) Error() string {
	return fmt.Sprintf("chatter: invalid %s: %s: %v", e.msg, e.field, e.err)
}

func (e *frameError) Unwrap() []error { return []error{ErrProtocol, e.err} }

// bodyReader consumes a body field by field and remembers the first error.
type bodyReader struct {
	msg string
	p   []byte
	err error
}

func (r *bodyReader) fail(field string, err error) {
	if r.err == nil {
		r.err = &frameError{r.msg, field, err}
	}
}

func (r *bodyReader) integer(field string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := sbs.ConsumeInteger(r.p)
	if n < 0 {
		r.fail(field, sbs.ParseError(n))
		return 0
	}
	r.p = r.p[n:]
	return v
}

func (r *bodyReader) boolean(field string) bool {
	if r.err != nil {
		return false
	}
	v, n := sbs.ConsumeBoolean(r.p)
	if n < 0 {
		r.fail(field, sbs.ParseError(n))
		return false
	}
	r.p = r.p[n:]
	return v
}

// text reads a String, leaving it as bytes aliasing the body.
func (r *bodyReader) text(field string) []byte {
	v := r.bytes(field)
	if r.err == nil && !utf8.Valid(v) {
		r.fail(field, sbs.ErrInvalidUTF8)
	}
	return v
}

func (r *bodyReader) bytes(field string) []byte {
	if r.err != nil {
		return nil
	}
	v, n := sbs.ConsumeBytes(r.p)
	if n < 0 {
		r.fail(field, sbs.ParseError(n))
		return nil
	}
	r.p = r.p[n:]
	return v
}

func (r *bodyReader) end() {
	if r.err == nil && len(r.p) != 0 {
		r.fail("end", sbs.ErrTrailingBytes)
	}
}

// head reads the fields both generations share.
func (r *bodyReader) head(e *envelope) {
	e.id = r.integer("id")
	e.first = r.integer("first")
	e.owner = r.boolean("owner")
	e.token = r.boolean("token")
	e.last = r.boolean("last")
}

// decodeBody reads a legacy Hat.Msg body strictly: every byte must belong to
// the message. module and typ are returned as byte slices aliasing body so
// that the caller can intern them; payload aliases body too.
func decodeBody(body []byte) (e envelope, module, typ []byte, err error) {
	r := bodyReader{msg: "Hat.Msg", p: body}
	r.head(&e)
	if r.err == nil {
		just, n := sbs.ConsumeCount(r.p, 2)
		switch {
		case n < 0 && errors.Is(sbs.ParseError(n), sbs.ErrInvalidLength):
			r.fail("data.module", sbs.ErrUnionIndex)
		case n < 0:
			r.fail("data.module", sbs.ParseError(n))
		default:
			r.p = r.p[n:]
			if just == 1 {
				module = r.text("data.module")
				if r.err == nil && len(module) == 0 {
					// The empty string would read back as Nothing; no SBS
					// module is called that.
					r.fail("data.module", errors.New("empty module name"))
				}
			}
		}
	}
	typ = r.text("data.type")
	e.payload = r.bytes("data.data")
	r.end()
	if r.err != nil {
		return envelope{}, nil, nil, r.err
	}
	return e, module, typ, nil
}

// decodeBodyCurrent reads a current HatChatter.Msg body strictly, returning
// its type string unsplit.
func decodeBodyCurrent(body []byte) (e envelope, typ []byte, err error) {
	r := bodyReader{msg: "HatChatter.Msg", p: body}
	r.head(&e)
	typ = r.text("data.type")
	e.payload = r.bytes("data.data")
	r.end()
	if r.err != nil {
		return envelope{}, nil, r.err
	}
	e.current = true
	return e, typ, nil
}

// splitType splits a current type string at its first dot into module and
// type; a string without a dot (or starting with one) names a builtin.
func splitType(s []byte) (module, typ []byte) {
	if i := bytes.IndexByte(s, '.'); i > 0 {
		return s[:i], s[i+1:]
	}
	return nil, s
}
