package sbs

import (
	"encoding/binary"
	"io"
	"math"
	"math/big"
	"math/bits"
	"unicode/utf8"
)

// The low-level codec, in the shape of protowire: AppendX appends the
// encoding of one value to a buffer, ConsumeX reads one value from the front
// of a buffer and returns it with the number of bytes it used, SizeX says how
// many bytes AppendX will add. Consume functions never panic and never
// allocate (but for big integers); on failure they return a negative count
// that [ParseError] turns into an error.

const (
	errCodeTruncated = -(iota + 1)
	errCodeOverflow
	errCodeNonMinimal
	errCodeInvalidBoolean
	errCodeInvalidLength
	errCodeInvalidUTF8
)

// ParseError converts a negative count returned by a Consume function into
// an error: io.ErrUnexpectedEOF for truncated input, or one of the package's
// sentinel errors. It returns nil for n >= 0.
func ParseError(n int) error {
	switch {
	case n >= 0:
		return nil
	case n == errCodeTruncated:
		return io.ErrUnexpectedEOF
	case n == errCodeOverflow:
		return ErrOverflow
	case n == errCodeNonMinimal:
		return ErrNonMinimal
	case n == errCodeInvalidBoolean:
		return ErrInvalidBoolean
	case n == errCodeInvalidLength:
		return ErrInvalidLength
	case n == errCodeInvalidUTF8:
		return ErrInvalidUTF8
	}
	return ErrInvalidValue
}

// SizeInteger is the number of bytes AppendInteger writes for v.
func SizeInteger(v int64) int {
	if v < 0 {
		v = ^v
	}
	// One sign bit plus the significant bits, in groups of seven.
	return (bits.Len64(uint64(v)) + 1 + 6) / 7
}

// AppendInteger appends the SBS encoding of v: seven-bit groups of its two's
// complement, most significant first, the last byte marked by bit 0x80.
func AppendInteger(b []byte, v int64) []byte {
	if v >= -64 && v < 64 {
		return append(b, byte(v)&0x7f|0x80)
	}
	n := SizeInteger(v)
	for i := n - 1; i > 0; i-- {
		b = append(b, byte(v>>(7*uint(i)))&0x7f)
	}
	return append(b, byte(v)&0x7f|0x80)
}

// ConsumeInteger reads an Integer that fits int64. A valid Integer outside
// the int64 range gives ErrOverflow's code; use ConsumeBigInteger for those.
// Non-minimal encodings are refused.
func ConsumeInteger(b []byte) (int64, int) {
	if len(b) == 0 {
		return 0, errCodeTruncated
	}
	b0 := b[0]
	// Sign-extend the first seven-bit group.
	v := int64(int8(b0<<1)) >> 1
	if b0&0x80 != 0 {
		return v, 1
	}
	if len(b) < 2 {
		return 0, errCodeTruncated
	}
	if g := b0 & 0x7f; (g == 0 && b[1]&0x40 == 0) || (g == 0x7f && b[1]&0x40 != 0) {
		return 0, errCodeNonMinimal
	}
	for i := 1; i < len(b); i++ {
		c := b[i]
		if v > math.MaxInt64>>7 || v < math.MinInt64>>7 {
			// Keep reading to tell truncation from overflow.
			for ; i < len(b); i++ {
				if b[i]&0x80 != 0 {
					return 0, errCodeOverflow
				}
			}
			return 0, errCodeTruncated
		}
		v = v<<7 | int64(c&0x7f)
		if c&0x80 != 0 {
			return v, i + 1
		}
	}
	return 0, errCodeTruncated
}

// integerLength finds the end of the Integer at the front of b and checks
// that it is minimal, returning its length in bytes or a negative code.
func integerLength(b []byte) int {
	for i, c := range b {
		if c&0x80 != 0 {
			if i > 0 {
				if g := b[0] & 0x7f; (g == 0 && b[1]&0x40 == 0) || (g == 0x7f && b[1]&0x40 != 0) {
					return errCodeNonMinimal
				}
			}
			return i + 1
		}
	}
	return errCodeTruncated
}

// SizeBigInteger is the number of bytes AppendBigInteger writes for x.
func SizeBigInteger(x *big.Int) int {
	if x.IsInt64() {
		return SizeInteger(x.Int64())
	}
	return (twosComplementBits(x) + 6) / 7
}

// twosComplementBits is the fewest bits that hold x in two's complement.
func twosComplementBits(x *big.Int) int {
	if x.Sign() >= 0 {
		return x.BitLen() + 1
	}
	// For negative x the magnitude of ^x = -x-1 decides.
	var m big.Int
	m.Neg(x)
	m.Sub(&m, bigOne)
	return m.BitLen() + 1
}

var bigOne = big.NewInt(1)

// AppendBigInteger appends the SBS encoding of x, of any size.
func AppendBigInteger(b []byte, x *big.Int) []byte {
	if x.IsInt64() {
		return AppendInteger(b, x.Int64())
	}
	n := (twosComplementBits(x) + 6) / 7
	// Reduce x modulo 2^(7n) to get its two's complement bit pattern.
	var u big.Int
	if x.Sign() < 0 {
		u.Lsh(bigOne, uint(7*n))
		u.Add(&u, x)
	} else {
		u.Set(x)
	}
	raw := u.FillBytes(make([]byte, (7*n+7)/8))
	// Emit groups from the most significant; group i covers bits
	// [7i, 7i+7) counted from the least significant end.
	for i := n - 1; i >= 0; i-- {
		g := bitsAt(raw, 7*i)
		if i == 0 {
			g |= 0x80
		}
		b = append(b, g)
	}
	return b
}

// bitsAt returns the seven bits of the big-endian number raw that start at
// bit position pos (0 = least significant).
func bitsAt(raw []byte, pos int) byte {
	var v uint16
	idx := len(raw) - 1 - pos/8
	v = uint16(raw[idx])
	if idx > 0 {
		v |= uint16(raw[idx-1]) << 8
	}
	return byte(v>>(uint(pos)%8)) & 0x7f
}

// ConsumeBigInteger reads an Integer of any size. Values that fit int64 are
// still returned as *big.Int; callers that prefer int64 try ConsumeInteger
// first. The cost is linear in the length of the encoding.
func ConsumeBigInteger(b []byte) (*big.Int, int) {
	n := integerLength(b)
	if n < 0 {
		return nil, n
	}
	// Pack the 7n-bit pattern into bytes, least significant first.
	out := make([]byte, 0, (7*n+7)/8)
	var acc uint
	var nacc uint
	for i := n - 1; i >= 0; i-- {
		acc |= uint(b[i]&0x7f) << nacc
		nacc += 7
		for nacc >= 8 {
			out = append(out, byte(acc))
			acc >>= 8
			nacc -= 8
		}
	}
	if nacc > 0 {
		out = append(out, byte(acc))
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	x := new(big.Int).SetBytes(out)
	if b[0]&0x40 != 0 {
		var m big.Int
		m.Lsh(bigOne, uint(7*n))
		x.Sub(x, &m)
	}
	return x, n
}

// AppendBoolean appends 0x01 for true, 0x00 for false.
func AppendBoolean(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// ConsumeBoolean reads a Boolean; bytes other than 0x00 and 0x01 are refused.
func ConsumeBoolean(b []byte) (bool, int) {
	if len(b) == 0 {
		return false, errCodeTruncated
	}
	switch b[0] {
	case 0:
		return false, 1
	case 1:
		return true, 1
	}
	return false, errCodeInvalidBoolean
}

// SizeFloat is the size of every Float: 8 bytes.
const SizeFloat = 8

// AppendFloat appends v as big-endian IEEE 754 binary64.
func AppendFloat(b []byte, v float64) []byte {
	return binary.BigEndian.AppendUint64(b, math.Float64bits(v))
}

// ConsumeFloat reads a Float.
func ConsumeFloat(b []byte) (float64, int) {
	if len(b) < 8 {
		return 0, errCodeTruncated
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), 8
}

// SizeBytes is the encoded size of a Bytes or String of n bytes.
func SizeBytes(n int) int { return SizeInteger(int64(n)) + n }

// AppendBytes appends a length-prefixed byte string.
func AppendBytes(b []byte, v []byte) []byte {
	return append(AppendInteger(b, int64(len(v))), v...)
}

// AppendString appends a String; v should be valid UTF-8.
func AppendString(b []byte, v string) []byte {
	return append(AppendInteger(b, int64(len(v))), v...)
}

// ConsumeBytes reads a length-prefixed byte string. The result aliases b;
// copy it to keep it past b's lifetime. A negative length or one past the end
// of b is refused before anything is allocated.
func ConsumeBytes(b []byte) ([]byte, int) {
	l, n := ConsumeInteger(b)
	if n < 0 {
		if n == errCodeOverflow {
			return nil, errCodeInvalidLength
		}
		return nil, n
	}
	if l < 0 || l > int64(len(b)-n) {
		return nil, errCodeInvalidLength
	}
	return b[n : n+int(l) : n+int(l)], n + int(l)
}

// ConsumeString reads a String and checks that it is valid UTF-8.
func ConsumeString(b []byte) (string, int) {
	v, n := ConsumeBytes(b)
	if n < 0 {
		return "", n
	}
	if !utf8.Valid(v) {
		return "", errCodeInvalidUTF8
	}
	return string(v), n
}

// ConsumeCount reads an Array count or a union index and checks it against
// limit (exclusive). A negative value, or one at or above limit, is refused
// with ErrInvalidLength's code; callers give a limit that the remaining
// input can justify so that nothing is allocated for a hostile count.
func ConsumeCount(b []byte, limit int) (int, int) {
	v, n := ConsumeInteger(b)
	if n < 0 {
		if n == errCodeOverflow {
			return 0, errCodeInvalidLength
		}
		return 0, n
	}
	if v < 0 || v >= int64(limit) {
		return 0, errCodeInvalidLength
	}
	return int(v), n
}
