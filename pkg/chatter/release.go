package chatter

import (
	"sync"
	"sync/atomic"
)

// A large frame (largeFrameSize or more) is read into a buffer of its own,
// which the message's Raw and Bytes payload alias, so that the payload is
// neither copied nor zeroed twice. Allocating that buffer is still the
// largest cost of a stream of large messages: the runtime zeroes it, and
// the collector has to find and free it. An application that is done with
// a message can hand its buffer back with Msg.Release, and the next large
// frame, on any connection, is read into it.
//
// Handing back is optional, and bounded: released buffers wait in a
// sync.Pool, which the garbage collector empties, and only buffers up to
// maxPooledFrame are kept. A reader takes a pooled buffer only if it fits
// the frame without wasting more than half of it; one that does not fit is
// dropped. Nothing a peer sends makes the reader hold more than it would
// without the pool: buffers come from frames already received, and a frame
// still grows its buffer with the bytes that arrive (see readLarge) when
// the pool has none.

// frameBuf is a large frame's buffer. gen counts its hand-backs: a message
// records the generation it was read in, and only a Release of that
// generation hands the buffer back, so releasing a copy of a message, or
// releasing twice, cannot give one buffer to two frames.
type frameBuf struct {
	b   []byte
	gen atomic.Uint32 // a stale copy would have to outlive 2^32 hand-backs to pass for current
}

// maxPooledFrame is the largest buffer kept for reuse.
const maxPooledFrame = 1 << 20

var frameBufs sync.Pool // of *frameBuf

// pooledFrameBuf returns a released buffer that fits a body of k bytes,
// or nil.
func pooledFrameBuf(k int) *frameBuf {
	fb, _ := frameBufs.Get().(*frameBuf)
	if fb == nil || cap(fb.b) < k || cap(fb.b) > 2*k {
		return nil
	}
	return fb
}

// Release hands the buffer of a large message (a frame of 32 KiB or more)
// back for reuse by later messages, and does nothing for other messages.
// Call it when the application is done with the message: from then on the
// bytes of its Raw and of a Bytes Data.Data may be overwritten by another
// message, so they must not be used or kept, and Release clears m's own
// Raw and Bytes fields to make that plain. Only the first Release of a
// message or of any copy of it hands the buffer back; later ones do
// nothing. Releasing is optional: a message that is not released is
// garbage-collected as usual.
func (m *Msg) Release() {
	fb := m.buf
	if fb == nil {
		return
	}
	m.buf = nil
	m.Raw = nil
	if _, ok := m.Data.Data.([]byte); ok {
		m.Data.Data = []byte(nil) // it was the buffer's bytes (see decoder.value)
	}
	if !fb.gen.CompareAndSwap(m.bufGen, m.bufGen+1) {
		return // released already, through a copy
	}
	if cap(fb.b) <= maxPooledFrame {
		frameBufs.Put(fb)
	}
}
