package chatter

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Frames: | m (1 byte) | k (m bytes, big-endian) | body (k bytes) |. The
// body's encoding is envelope.go's; this file only cuts the stream into
// bodies, and writes the header in front of one.

// maxFrameHeader is the longest header appendFrameHeader writes: m and 8
// bytes of k.
const maxFrameHeader = 9

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

// frameReader splits a byte stream into frame bodies. It owns one buffer
// that grows with what actually arrives, never with what a header claims,
// so a hostile length costs nothing until its bytes are sent.
//
// Its reads may be cut short by a deadline (the supervisor's timers, or an
// interrupt): next then returns the error and keeps what it has read, and
// the next call goes on from there, a large frame's own buffer included.
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
	// total counts the bytes read, for Stats and the keepalive.
	total int64
	// busy is set when the last read filled the buffer.
	busy bool
	// own is set when the last body returned has a buffer of its own,
	// which the caller may keep (and hand back: see Msg.Release).
	own *frameBuf
	// large is the large frame being read into a buffer of its own, when a
	// read was cut short in its middle (see readLarge); inLarge says one
	// is. A value, not a pointer: a stream of large frames allocates
	// nothing for it.
	large   largeRead
	inLarge bool
	// partial is when the frame now incomplete began to wait for its next
	// bytes; zero when no frame is incomplete. onPartial, when set, is
	// told as soon as one is: the supervisor bounds how long it may take
	// (the frame-read timeout).
	partial   time.Time
	onPartial func()
}

// largeRead is a large frame in progress.
type largeRead struct {
	fb     *frameBuf // pooled, or nil
	body   []byte
	header int // bytes of the frame's header
	k      int // bytes of its body
}

func newFrameReader(r io.Reader, maxBody, initial int) *frameReader {
	return &frameReader{r: r, max: maxBody, initial: initial}
}

// next returns the body of the next frame. The body aliases the reader's
// buffer and is valid until the next call.
func (f *frameReader) next() (body []byte, err error) {
	if f.inLarge {
		return f.readLarge()
	}
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
		return nil, f.tooLarge(k)
	}
	f.own = nil
	if int(k) >= largeFrameSize && f.end-f.start < 1+m+int(k) {
		f.startLarge(1+m, int(k))
		return f.readLarge()
	}
	if err := f.fill(1 + m + int(k)); err != nil {
		return nil, unexpected(err)
	}
	body = f.buf[f.start+1+m : f.start+1+m+int(k)]
	f.start += 1 + m + int(k)
	f.last = 1 + m + int(k)
	f.partial = time.Time{}
	return body, nil
}

// tooLarge is the error for a frame whose header claims more than the
// limit (k is 0 when the length field was not even read to its end). It is
// apart from next to keep next's stack frame small: see readLoop.
//
//go:noinline
func (f *frameReader) tooLarge(k uint64) error {
	if k == 0 {
		return fmt.Errorf("%w: frame header claims more than %d bytes", ErrMessageTooLarge, f.max)
	}
	return fmt.Errorf("%w: frame of %d bytes exceeds the limit of %d", ErrMessageTooLarge, k, f.max)
}

// largeFrameSize is the body size from which a frame that is not yet
// buffered is read into a buffer of its own: the reader's buffer then
// grows no larger than for a busy stream of small frames (the body is read
// through it, see readThrough), the body is not copied again once whole,
// and the decoder may keep it (own is set).
const largeFrameSize = 32 << 10

// largeUpfront is how much readLarge allocates for a body before its bytes
// arrive; beyond it the buffer grows with what is received.
const largeUpfront = 256 << 10

// startLarge begins reading a frame body of k bytes, after a header of h
// bytes, into a buffer of its own: a released one that fits (see
// Msg.Release), or a new one of at most largeUpfront bytes to begin with.
func (f *frameReader) startLarge(h, k int) {
	have := f.end - f.start - h
	f.large = largeRead{fb: pooledFrameBuf(k), header: h, k: k}
	l := &f.large
	if l.fb != nil {
		l.body = l.fb.b[:have]
	} else {
		l.body = make([]byte, have, min(k, max(2*have, largeUpfront)))
	}
	copy(l.body, f.buf[f.start+h:f.end])
	f.start, f.end = 0, 0
	f.inLarge = true
}

// readLarge reads the rest of the large frame in progress. Past
// largeUpfront its buffer grows with the bytes received (at most
// doubling), never with what the header claims. A read cut short leaves
// it in progress, for the next call.
func (f *frameReader) readLarge() ([]byte, error) {
	l := &f.large
	for len(l.body) < l.k {
		if f.partial.IsZero() {
			f.waitPartial()
		}
		r, err := f.readThrough(l)
		f.total += int64(r)
		if err != nil && len(l.body) < l.k {
			return nil, unexpected(err)
		}
	}
	fb := l.fb
	if fb == nil {
		fb = &frameBuf{}
	}
	fb.b = l.body
	body := l.body[:l.k:l.k]
	f.last = l.header + l.k
	f.large, f.inLarge = largeRead{}, false
	f.own = fb
	f.partial = time.Time{}
	return body, nil
}

// readThrough reads the next bytes of the large frame in progress into
// the reader's own buffer, empty meanwhile, and copies those of the frame
// to its body, growing the body (at most doubling) only for bytes that
// arrived. What follows the frame stays in the buffer for the next one, so
// a stream of large frames takes one read per buffer, not two per frame.
//
// Reading into the body directly would save the copy, but the kernel
// fills a newly allocated body (just zeroed by the allocator, not yet in
// the cache) far more slowly than the reader's buffer, which is reused and
// warm: BenchmarkPayload64KiB (kept bodies) gained 15 % from this on the
// 2-core machine, BenchmarkPayload64KiBReleased (reused bodies) nothing.
func (f *frameReader) readThrough(l *largeRead) (int, error) {
	if len(f.buf) == 0 || f.busy && len(f.buf) < busyBufferSize {
		// Memory follows the bytes received: the buffer grows only after
		// a read filled it.
		f.buf = make([]byte, max(f.initial, min(2*len(f.buf), busyBufferSize)))
	}
	r, err := f.r.Read(f.buf)
	f.busy = r == len(f.buf)
	n := min(r, l.k-len(l.body))
	if cap(l.body)-len(l.body) < n {
		nb := make([]byte, len(l.body), min(l.k, max(2*cap(l.body), len(l.body)+n)))
		copy(nb, l.body)
		l.body = nb
	}
	l.body = append(l.body, f.buf[:n]...)
	f.start, f.end = n, r
	return r, err
}

// waitPartial notes that a frame is incomplete and its reader about to
// wait for the rest.
func (f *frameReader) waitPartial() {
	f.partial = time.Now()
	if f.onPartial != nil {
		f.onPartial()
	}
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
		if f.end > f.start && f.partial.IsZero() {
			f.waitPartial()
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

// idle drops a buffer that grew for traffic, when nothing is buffered: the
// supervisor calls it once the connection has been quiet for a while, so
// that a connection that had a burst, or one large message, goes back to a
// small footprint while it waits.
func (f *frameReader) idle() {
	if f.start != f.end || f.inLarge || len(f.buf) <= f.initial {
		return
	}
	f.buf, f.start, f.end, f.busy, f.smallRun = nil, 0, 0, false, 0
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
