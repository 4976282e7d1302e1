package chatter

import (
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// A frame on the wire is | m (1 byte) | k (m bytes, big-endian) | body (k) |
// and its body is one SBS-encoded Hat.Msg:
//
//	Msg  = Tuple { id: Integer, first: Integer, owner: Boolean,
//	               token: Boolean, last: Boolean, data: Data }
//	Data = Tuple { module: Maybe(String), type: String, data: Bytes }
//
// The envelope is encoded and decoded here by hand rather than through the
// repository's generic codec: it is on every message's path and its shape is
// fixed by the protocol.

// envelope is a Hat.Msg with its payload still encoded.
type envelope struct {
	id, first          int64
	owner, token, last bool
	module             string // "" encodes Maybe's Nothing (a builtin type)
	typ                string
	payload            []byte
}

// sizeBody is the encoded size of e as Hat.Msg.
func (e *envelope) sizeBody() int {
	n := sbs.SizeInteger(e.id) + sbs.SizeInteger(e.first) + 3 + 1
	if e.module != "" {
		n += sbs.SizeBytes(len(e.module))
	}
	return n + sbs.SizeBytes(len(e.typ)) + sbs.SizeBytes(len(e.payload))
}

// appendBody appends the SBS encoding of e as Hat.Msg.
func (e *envelope) appendBody(b []byte) []byte {
	b = sbs.AppendInteger(b, e.id)
	b = sbs.AppendInteger(b, e.first)
	b = sbs.AppendBoolean(b, e.owner)
	b = sbs.AppendBoolean(b, e.token)
	b = sbs.AppendBoolean(b, e.last)
	if e.module == "" {
		b = sbs.AppendInteger(b, 0) // Nothing
	} else {
		b = sbs.AppendInteger(b, 1) // Just
		b = sbs.AppendString(b, e.module)
	}
	b = sbs.AppendString(b, e.typ)
	return sbs.AppendBytes(b, e.payload)
}

// appendFrame appends the whole frame carrying e.
func (e *envelope) appendFrame(b []byte) []byte {
	return e.appendBody(appendFrameHeader(b, e.sizeBody()))
}

// appendFrameHeader appends m and k for a body of n bytes, k in the fewest
// bytes (at least one), as the original writes it.
func appendFrameHeader(b []byte, n int) []byte {
	m := 1
	for v := uint64(n) >> 8; v > 0; v >>= 8 {
		m++
	}
	b = append(b, byte(m))
	for i := m - 1; i >= 0; i-- {
		b = append(b, byte(uint64(n)>>(8*uint(i))))
	}
	return b
}

// frameError is a malformed frame body: what was wrong and in which field.
type frameError struct {
	field string
	err   error
}

func (e *frameError) Error() string {
	return fmt.Sprintf("chatter: invalid Hat.Msg: %s: %v", e.field, e.err)
}

func (e *frameError) Unwrap() []error { return []error{ErrProtocol, e.err} }

// decodeBody reads a Hat.Msg body strictly: every byte must belong to the
// message. module and typ are returned as byte slices aliasing body so that
// the caller can intern them; payload aliases body too.
func decodeBody(body []byte) (e envelope, module, typ []byte, err error) {
	p := body
	fail := func(field string, n int) (envelope, []byte, []byte, error) {
		return envelope{}, nil, nil, &frameError{field, sbs.ParseError(n)}
	}
	var n int
	if e.id, n = sbs.ConsumeInteger(p); n < 0 {
		return fail("id", n)
	}
	p = p[n:]
	if e.first, n = sbs.ConsumeInteger(p); n < 0 {
		return fail("first", n)
	}
	p = p[n:]
	if e.owner, n = sbs.ConsumeBoolean(p); n < 0 {
		return fail("owner", n)
	}
	p = p[n:]
	if e.token, n = sbs.ConsumeBoolean(p); n < 0 {
		return fail("token", n)
	}
	p = p[n:]
	if e.last, n = sbs.ConsumeBoolean(p); n < 0 {
		return fail("last", n)
	}
	p = p[n:]
	var just int
	if just, n = sbs.ConsumeCount(p, 2); n < 0 {
		if errors.Is(sbs.ParseError(n), sbs.ErrInvalidLength) {
			return envelope{}, nil, nil, &frameError{"data.module", sbs.ErrUnionIndex}
		}
		return fail("data.module", n)
	}
	p = p[n:]
	if just == 1 {
		if module, n = sbs.ConsumeBytes(p); n < 0 {
			return fail("data.module", n)
		}
		if !utf8.Valid(module) {
			return fail("data.module", -6)
		}
		if len(module) == 0 {
			// The empty string would read back as Nothing; no SBS module
			// is called that.
			return envelope{}, nil, nil, &frameError{"data.module", errors.New("empty module name")}
		}
		p = p[n:]
	}
	if typ, n = sbs.ConsumeBytes(p); n < 0 {
		return fail("data.type", n)
	}
	if !utf8.Valid(typ) {
		return fail("data.type", -6)
	}
	p = p[n:]
	if e.payload, n = sbs.ConsumeBytes(p); n < 0 {
		return fail("data.data", n)
	}
	p = p[n:]
	if len(p) != 0 {
		return envelope{}, nil, nil, &frameError{"Hat.Msg", sbs.ErrTrailingBytes}
	}
	return e, module, typ, nil
}

// frameReader splits a byte stream into frame bodies. It owns one buffer
// that grows with what actually arrives, never with what a header claims,
// so a hostile length costs nothing until its bytes are sent.
type frameReader struct {
	r       io.Reader
	max     int
	buf     []byte
	start   int // first unread byte
	end     int // end of valid data
	initial int
	// For release: the size of the last frame, and how many frames in a
	// row found the buffer empty and much larger than needed.
	last     int
	smallRun int
}

func newFrameReader(r io.Reader, maxBody, initial int) *frameReader {
	return &frameReader{r: r, max: maxBody, initial: initial}
}

// next returns the body of the next frame. The body aliases the reader's
// buffer and is valid until the next call.
func (f *frameReader) next() (body []byte, err error) {
	f.release()
	// Header: m, then m bytes of k.
	if err := f.fill(1); err != nil {
		return nil, err
	}
	m := int(f.buf[f.start])
	if err := f.fill(1 + m); err != nil {
		return nil, unexpected(err)
	}
	var k uint64
	for _, c := range f.buf[f.start+1 : f.start+1+m] {
		if k > uint64(f.max)>>8 {
			return nil, fmt.Errorf("%w: frame header claims more than %d bytes", ErrMessageTooLarge, f.max)
		}
		k = k<<8 | uint64(c)
	}
	if k > uint64(f.max) {
		return nil, fmt.Errorf("%w: frame of %d bytes exceeds the limit of %d", ErrMessageTooLarge, k, f.max)
	}
	if err := f.fill(1 + m + int(k)); err != nil {
		return nil, unexpected(err)
	}
	body = f.buf[f.start+1+m : f.start+1+m+int(k)]
	f.start += 1 + m + int(k)
	f.last = 1 + m + int(k)
	return body, nil
}

// buffered reports whether a complete frame is already in the buffer.
func (f *frameReader) buffered() bool {
	avail := f.end - f.start
	if avail < 1 {
		return false
	}
	m := int(f.buf[f.start])
	if avail < 1+m {
		return false
	}
	var k uint64
	for _, c := range f.buf[f.start+1 : f.start+1+m] {
		if k > uint64(f.max)>>8 {
			return true // next() reports the error at once
		}
		k = k<<8 | uint64(c)
	}
	return k > uint64(f.max) || uint64(avail) >= uint64(1+m)+k
}

// fill makes n bytes from start available, reading as needed.
func (f *frameReader) fill(n int) error {
	for f.end-f.start < n {
		if f.end == len(f.buf) {
			f.makeRoom(n)
		}
		r, err := f.r.Read(f.buf[f.end:])
		f.end += r
		if err != nil {
			if f.end-f.start >= n {
				return nil
			}
			if errors.Is(err, io.EOF) && f.end-f.start > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// makeRoom is called when the buffer is full but holds fewer than n unread
// bytes. It moves the unread bytes to the front when that is enough, and
// otherwise enlarges the buffer by at most doubling it, so memory follows
// the bytes actually received rather than the length a header claims.
func (f *frameReader) makeRoom(n int) {
	unread := f.end - f.start
	if f.start > 0 && len(f.buf) >= n {
		copy(f.buf, f.buf[f.start:f.end])
		f.start, f.end = 0, unread
		return
	}
	nb := make([]byte, max(f.initial, min(2*len(f.buf), n)))
	copy(nb, f.buf[f.start:f.end])
	f.buf, f.start, f.end = nb, 0, unread
}

// release drops a buffer that grew for large frames once it is empty and
// the frames have been small for a while, so a connection that is done with
// large messages goes back to a small footprint without reallocating for
// every frame of a steady stream of large ones.
func (f *frameReader) release() {
	if f.start != f.end || len(f.buf) <= 4*f.initial {
		return
	}
	if f.last*4 >= len(f.buf) {
		f.smallRun = 0
		return
	}
	if f.smallRun++; f.smallRun >= 64 {
		f.buf, f.start, f.end, f.smallRun = nil, 0, 0, 0
	}
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
