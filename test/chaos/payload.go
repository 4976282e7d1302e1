package chaos

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
)

// A payload is what every message of the harness carries, as an SBS
// Bytes value:
//
//	offset 0  magic  u32  payloadMagic
//	       4  lane   u32  the sending lane (see Lane)
//	       8  seq    u64  the message's number in its lane, from 0
//	      16  flags  u32  what the receiver should do with it
//	      20  crc    u32  CRC-32C of bytes 0..20 and 24..end
//	      24  body   the message's filler, of the size the test chose
//
// The checksum covers the header and the body, so a message that arrives
// with other bytes than it left with — cut, spliced with another, or read
// from a buffer reused too early — is caught.
const (
	payloadMagic = 0x53414843 // "CHAS"
	headerSize   = 24
)

// Flags of a payload.
const (
	// flagHold: a Request the receiver must not answer; it stays in
	// flight until its connection ends.
	flagHold uint32 = 1 << iota
	// flagIgnore: the first message of a conversation with a timeout that
	// the receiver lets time out.
	flagIgnore
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// filler is where bodies come from: bytes that differ from message to
// message, so that a body in the wrong place does not pass for right.
var filler = func() []byte {
	b := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}()

// maxBody is the largest body makePayload makes.
var maxBody = len(filler) / 2

// makePayload builds the payload of message seq of lane with a body of n
// bytes.
func makePayload(lane uint32, seq uint64, flags uint32, n int) []byte {
	n = min(n, maxBody)
	p := make([]byte, headerSize+n)
	binary.LittleEndian.PutUint32(p[0:], payloadMagic)
	binary.LittleEndian.PutUint32(p[4:], lane)
	binary.LittleEndian.PutUint64(p[8:], seq)
	binary.LittleEndian.PutUint32(p[16:], flags)
	off := int(seq*7919) % (len(filler) - maxBody)
	copy(p[headerSize:], filler[off:off+n])
	binary.LittleEndian.PutUint32(p[20:], checksum(p))
	return p
}

func checksum(p []byte) uint32 {
	c := crc32.Update(0, castagnoli, p[:20])
	return crc32.Update(c, castagnoli, p[headerSize:])
}

// payloadHeader is a payload's header, read and checked.
type payloadHeader struct {
	lane  uint32
	seq   uint64
	flags uint32
}

var errCorrupt = errors.New("corrupt payload")

// parsePayload checks a payload and reads its header.
func parsePayload(p []byte) (payloadHeader, error) {
	if len(p) < headerSize {
		return payloadHeader{}, fmt.Errorf("%w: %d bytes, shorter than a header", errCorrupt, len(p))
	}
	if m := binary.LittleEndian.Uint32(p[0:]); m != payloadMagic {
		return payloadHeader{}, fmt.Errorf("%w: magic %#x", errCorrupt, m)
	}
	h := payloadHeader{
		lane:  binary.LittleEndian.Uint32(p[4:]),
		seq:   binary.LittleEndian.Uint64(p[8:]),
		flags: binary.LittleEndian.Uint32(p[16:]),
	}
	if want, got := binary.LittleEndian.Uint32(p[20:]), checksum(p); want != got {
		return h, fmt.Errorf("%w: lane %d seq %d (%d bytes): checksum %#x, computed %#x", errCorrupt, h.lane, h.seq, len(p), want, got)
	}
	return h, nil
}

// Sizes draws body sizes from 1 B to 256 KiB, most of them small, as
// telemetry is, with a tail of large ones: 85 % up to 256 B, 13 % up to 8
// KiB, 2 % up to 256 KiB, log-uniform within each band (about 1.8 KiB on
// average).
type Sizes struct {
	r *rand.Rand
}

func NewSizes(seed uint64) *Sizes { return &Sizes{r: rand.New(rand.NewPCG(seed, 7))} }

func (s *Sizes) Next() int {
	lo, hi := 1.0, 256.0
	switch x := s.r.Float64(); {
	case x >= 0.98:
		lo, hi = 8<<10, 256<<10
	case x >= 0.85:
		lo, hi = 256, 8<<10
	}
	return int(lo * math.Pow(hi/lo, s.r.Float64()))
}

// Small draws sizes of up to max bytes, log-uniform.
func (s *Sizes) Small(max int) int { return int(math.Pow(float64(max), s.r.Float64())) }
