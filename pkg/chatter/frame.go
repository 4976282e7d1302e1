package chatter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"
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
	current            bool // encode as HatChatter.Msg rather than Hat.Msg
}

// currentType is the current generation's type string: Module.Type, or the
// bare name of a builtin type.
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
		return n + sbs.SizeBytes(e.currentTypeLen()) + sbs.SizeBytes(len(e.payload))
	}
	n++ // the Maybe's index
	if e.module != "" {
		n += sbs.SizeBytes(len(e.module))
	}
	return n + sbs.SizeBytes(len(e.typ)) + sbs.SizeBytes(len(e.payload))
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
	// total counts the bytes read, for Stats.
	total int64
	// busy is set when the last read filled the buffer.
	busy bool
	// owned is set when the last body returned has a buffer of its own,
	// which the caller may keep.
	owned bool
	// timer, when set, bounds how long one frame may take to arrive.
	timer *frameTimer
}

// frameTimer enforces the frame-read timeout: from the moment the reader
// has part of a frame and must wait for the rest, the whole frame has to
// arrive within the timeout, so a peer trickling bytes cannot hold the
// connection (and its buffer) forever.
type frameTimer struct {
	conn    interface{ SetReadDeadline(time.Time) error }
	timeout time.Duration
	closing func() bool // whether the connection is closing
	armed   bool
}

func (t *frameTimer) arm() {
	if t.armed {
		return
	}
	t.armed = true
	t.conn.SetReadDeadline(time.Now().Add(t.timeout))
	t.reassert()
}

func (t *frameTimer) disarm() {
	if !t.armed {
		return
	}
	t.armed = false
	t.conn.SetReadDeadline(time.Time{})
	t.reassert()
}

// reassert keeps Close's immediate read deadline in force: Close sets it
// from another goroutine, and a deadline set here just after would
// otherwise replace it.
func (t *frameTimer) reassert() {
	if t.closing() {
		t.conn.SetReadDeadline(time.Now())
	}
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
	k, ok := f.bodyLength(f.buf[f.start+1 : f.start+1+m])
	if !ok {
		if k == 0 {
			return nil, fmt.Errorf("%w: frame header claims more than %d bytes", ErrMessageTooLarge, f.max)
		}
		return nil, fmt.Errorf("%w: frame of %d bytes exceeds the limit of %d", ErrMessageTooLarge, k, f.max)
	}
	f.owned = false
	if int(k) >= largeFrameSize && f.end-f.start < 1+m+int(k) {
		return f.readLarge(1+m, int(k))
	}
	if err := f.fill(1 + m + int(k)); err != nil {
		return nil, unexpected(err)
	}
	body = f.buf[f.start+1+m : f.start+1+m+int(k)]
	f.start += 1 + m + int(k)
	f.last = 1 + m + int(k)
	if f.timer != nil {
		f.timer.disarm()
	}
	return body, nil
}

// largeFrameSize is the body size from which a frame that is not yet
// buffered is read into a buffer of its own: the body then needs no copy
// out of the reader's buffer, reads go straight to their destination, and
// the decoder may keep the body (owned reports it).
const largeFrameSize = 32 << 10

// largeUpfront is how much readLarge allocates for a body before its bytes
// arrive; beyond it the buffer grows with what is received.
const largeUpfront = 256 << 10

// readLarge reads a frame body of k bytes, after a header of h bytes, into
// its own buffer. Past largeUpfront the buffer grows with the bytes
// received (at most doubling), never with what the header claims.
func (f *frameReader) readLarge(h, k int) ([]byte, error) {
	have := f.end - f.start - h
	body := make([]byte, have, min(k, max(2*have, largeUpfront)))
	copy(body, f.buf[f.start+h:f.end])
	f.start, f.end = 0, 0
	if f.timer != nil {
		f.timer.arm()
	}
	for len(body) < k {
		if len(body) == cap(body) {
			nb := make([]byte, len(body), min(k, 2*cap(body)))
			copy(nb, body)
			body = nb
		}
		r, err := f.r.Read(body[len(body):cap(body)])
		body = body[:len(body)+r]
		f.total += int64(r)
		if err != nil && len(body) < k {
			return nil, unexpected(err)
		}
	}
	f.last = h + k
	f.owned = true
	if f.timer != nil {
		f.timer.disarm()
	}
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
	k, ok := f.bodyLength(f.buf[f.start+1 : f.start+1+m])
	return !ok || uint64(avail) >= uint64(1+m)+k // next() reports an oversize frame at once
}

// bodyLength reads the big-endian length field k of a frame header; ok is
// false when k exceeds the maximum body size, which is noticed before the
// value can overflow, however long the field (k is then 0 if the field was
// not even read to its end).
func (f *frameReader) bodyLength(field []byte) (k uint64, ok bool) {
	for _, c := range field {
		if k > uint64(f.max)>>8 {
			return 0, false
		}
		k = k<<8 | uint64(c)
	}
	return k, k <= uint64(f.max)
}

// fill makes n bytes from start available, reading as needed.
func (f *frameReader) fill(n int) error {
	for f.end-f.start < n {
		if f.end == len(f.buf) {
			f.makeRoom(n)
		}
		if f.timer != nil && f.end > f.start {
			f.timer.arm()
		}
		free := len(f.buf) - f.end
		r, err := f.r.Read(f.buf[f.end:])
		f.end += r
		f.total += int64(r)
		// A read that fills all the space offered suggests more is waiting:
		// let the buffer grow so a busy stream takes fewer, larger reads.
		f.busy = r == free
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

// busyBufferSize is how far the buffer grows for a stream that keeps it
// full, whatever the frame sizes; release shrinks it again.
const busyBufferSize = 64 << 10

// makeRoom is called when the buffer is full but holds fewer than n unread
// bytes. It moves the unread bytes to the front when that is enough, and
// otherwise enlarges the buffer by at most doubling it, so memory follows
// the bytes actually received rather than the length a header claims.
func (f *frameReader) makeRoom(n int) {
	unread := f.end - f.start
	if f.start > 0 && len(f.buf) >= n && !(f.busy && len(f.buf) < busyBufferSize) {
		copy(f.buf, f.buf[f.start:f.end])
		f.start, f.end = 0, unread
		return
	}
	size := max(f.initial, min(2*len(f.buf), n))
	if f.busy {
		size = max(size, min(2*len(f.buf), busyBufferSize))
	}
	nb := make([]byte, size)
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
