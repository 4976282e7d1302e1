package sbs

import (
	"io"
	"math/big"
	"strconv"
)

// The support below is what typed code needs to decode and encode exactly as
// [Type.Decode] and [Type.Encode] do, with the same sentinels, offsets and
// paths: the struct bindings of this package ([Bind], [Marshal],
// [Unmarshal]) and the code that cmd/sbs-gen writes. Applications do not
// normally call it.

// Decoder reads one SBS value field by field, for generated code. Each Read
// method reads one item at the current position and advances past it; on
// failure it returns a *[DataError] wrapping the sentinel the dynamic
// decoder would give, with the offset of the failing item, and leaves the
// position where it was. Make one with [NewDecoder]; a Decoder is not safe
// for concurrent use.
type Decoder struct {
	buf      []byte
	off      int // start of the unread input
	zeroLeft int // zero-size values still allowed, see MaxZeroSizeElements
}

// NewDecoder returns a Decoder reading data from its start.
func NewDecoder(data []byte) Decoder {
	return Decoder{buf: data, zeroLeft: MaxZeroSizeElements}
}

// Offset is the position of the next unread byte.
func (d *Decoder) Offset() int { return d.off }

// ReadBoolean reads a Boolean.
func (d *Decoder) ReadBoolean() (bool, error) {
	if d.off < len(d.buf) {
		switch d.buf[d.off] {
		case 0:
			d.off++
			return false, nil
		case 1:
			d.off++
			return true, nil
		}
	}
	_, n := ConsumeBoolean(d.buf[d.off:])
	return false, codeError(n, d.off)
}

// ReadInteger reads an Integer that fits int64; a larger one is an error
// wrapping [ErrOverflow].
func (d *Decoder) ReadInteger() (int64, error) {
	if d.off < len(d.buf) && d.buf[d.off]&0x80 != 0 {
		b := d.buf[d.off]
		d.off++
		return int64(int8(b<<1) >> 1), nil
	}
	v, n := ConsumeInteger(d.buf[d.off:])
	if n < 0 {
		return 0, d.integerError(n)
	}
	d.off += n
	return v, nil
}

// integerError explains a failed ReadInteger: an overflowing Integer is
// reported as such only when it is otherwise well-formed.
func (d *Decoder) integerError(n int) error {
	if n == errCodeOverflow {
		return newError(ErrOverflow, d.off, "integer does not fit int64")
	}
	return codeError(n, d.off)
}

// ReadBigInteger reads an Integer of any size.
func (d *Decoder) ReadBigInteger() (*big.Int, error) {
	// As the dynamic decoder: int64 first, so that errors are the same.
	v, n := ConsumeInteger(d.buf[d.off:])
	if n >= 0 {
		d.off += n
		return big.NewInt(v), nil
	}
	if n != errCodeOverflow {
		return nil, codeError(n, d.off)
	}
	x, n := ConsumeBigInteger(d.buf[d.off:])
	if n < 0 {
		return nil, codeError(n, d.off)
	}
	d.off += n
	return x, nil
}

// ReadFloat reads a Float.
func (d *Decoder) ReadFloat() (float64, error) {
	v, n := ConsumeFloat(d.buf[d.off:])
	if n < 0 {
		return 0, codeError(n, d.off)
	}
	d.off += n
	return v, nil
}

// ReadString reads a String, which must be valid UTF-8.
func (d *Decoder) ReadString() (string, error) {
	b := d.buf[d.off:]
	v, n := ConsumeString(b)
	if n < 0 {
		return "", d.lengthError(b, n)
	}
	d.off += n
	return v, nil
}

// ReadBytes reads a Bytes value into a new slice (never nil, never aliasing
// the input).
func (d *Decoder) ReadBytes() ([]byte, error) {
	b := d.buf[d.off:]
	v, n := ConsumeBytes(b)
	if n < 0 {
		return nil, d.lengthError(b, n)
	}
	d.off += n
	p := make([]byte, len(v))
	copy(p, v)
	return p, nil
}

// lengthError explains a failed String or Bytes as the dynamic decoder does.
func (d *Decoder) lengthError(b []byte, n int) error {
	if n != errCodeInvalidLength {
		return codeError(n, d.off)
	}
	if l, k := ConsumeInteger(b); k >= 0 && l < 0 {
		return newError(ErrInvalidLength, d.off, "negative length "+strconv.FormatInt(l, 10))
	}
	return newError(ErrInvalidLength, d.off, "length past the end of the input")
}

// ReadArrayLen reads an Array's element count. elemMinSize is the element
// type's [Type.MinSize]: a count that the rest of the input cannot hold is
// refused before the caller allocates anything, and elements that take no
// bytes are charged to the budget of [MaxZeroSizeElements].
func (d *Decoder) ReadArrayLen(elemMinSize int) (int, error) {
	if elemMinSize < 0 {
		elemMinSize = sizeInfinite
	}
	b := d.buf[d.off:]
	c, n := ConsumeInteger(b)
	switch {
	case n == errCodeOverflow:
		return 0, newError(ErrInvalidLength, d.off, "array count past the end of the input")
	case n < 0:
		return 0, codeError(n, d.off)
	case c < 0:
		return 0, newError(ErrInvalidLength, d.off, "negative array count "+strconv.FormatInt(c, 10))
	}
	if rest := int64(len(b) - n); elemMinSize > 0 {
		if c > rest/int64(elemMinSize) {
			return 0, newError(ErrInvalidLength, d.off, "array count "+strconv.FormatInt(c, 10)+" past the end of the input")
		}
	} else {
		if c > int64(d.zeroLeft) {
			return 0, newError(ErrInvalidLength, d.off, "array count "+strconv.FormatInt(c, 10)+": too many zero-size elements")
		}
		d.zeroLeft -= int(c)
	}
	d.off += n
	return int(c), nil
}

// ReadUnionIndex reads the index of a Union's chosen entry; entries is how
// many the Union has.
func (d *Decoder) ReadUnionIndex(entries int) (int, error) {
	if d.off < len(d.buf) && d.buf[d.off]&0xc0 == 0x80 {
		// One byte, 0 to 63.
		if i := int(d.buf[d.off] & 0x3f); i < entries {
			d.off++
			return i, nil
		}
	}
	i, n := ConsumeInteger(d.buf[d.off:])
	switch {
	case n == errCodeOverflow:
		return 0, newError(ErrUnionIndex, d.off, "union index out of range")
	case n < 0:
		return 0, codeError(n, d.off)
	case i < 0 || i >= int64(entries):
		return 0, newError(ErrUnionIndex, d.off, "union index "+strconv.FormatInt(i, 10)+" out of range")
	}
	d.off += n
	return int(i), nil
}

// ZeroSize charges one value to the budget of [MaxZeroSizeElements]; the
// dynamic decoder does that for each Tuple with entries whose
// [Type.MinSize] is 0, and typed code calls it at the same places.
func (d *Decoder) ZeroSize() error {
	if d.zeroLeft == 0 {
		return newError(ErrInvalidLength, d.off, "too many zero-size values")
	}
	d.zeroLeft--
	return nil
}

// TooDeep returns the error for a value nested deeper than [MaxDepth], at
// the current position. Typed code of a Tuple, Union or Array at depth D
// (the outermost value is at depth 0) calls it before reading a part when
// D >= MaxDepth, as the dynamic decoder does.
func (d *Decoder) TooDeep() error { return newError(ErrTooDeep, d.off, "") }

// NoFiniteValue returns the error for a Tuple whose [Type.MinSize] is -1.
func (d *Decoder) NoFiniteValue() error {
	return newError(io.ErrUnexpectedEOF, d.off, "type has no finite value")
}

// End completes a decode of a value of the type named typeName (its
// [Type.String]): when err is nil it checks that the whole input was read,
// and it sets the Path of a *DataError that [WrapEntry] and [WrapIndex]
// built up. It returns nil on success.
func (d *Decoder) End(err error, typeName string) error {
	if err = d.trailing(err); err != nil {
		return WrapType(err, typeName)
	}
	return nil
}

// trailing returns err, or when it is nil the error for unread input.
func (d *Decoder) trailing(err error) error {
	if err == nil && d.off != len(d.buf) {
		detail := strconv.Itoa(len(d.buf)-d.off) + " trailing bytes after the value"
		if len(d.buf)-d.off == 1 {
			detail = "1 trailing byte after the value"
		}
		err = newError(ErrTrailingBytes, d.off, detail)
	}
	return err
}

// EncodeError returns a *[DataError] for a value that cannot be encoded,
// wrapping sentinel (such as [ErrInvalidValue], [ErrInvalidUTF8] or
// [ErrTooDeep]), with Offset -1 and detail as its message ("" for the
// sentinel's own).
func EncodeError(sentinel error, detail string) error {
	return newError(sentinel, -1, detail)
}

// WrapEntry adds ".name" in front of the path of err, a *DataError from a
// Tuple's or Union's entry called name; other errors are returned as they
// are.
func WrapEntry(err error, name string) error { return withEntry(err, name) }

// WrapIndex adds "[i]" in front of the path of err, a *DataError from an
// Array's element i.
func WrapIndex(err error, i int) error { return withIndex(err, i) }

// WrapType completes the path of err, a *DataError found while encoding or
// decoding a value of the type named typeName: the path becomes typeName
// followed by what WrapEntry and WrapIndex added. Call it once, at the top.
func WrapType(err error, typeName string) error {
	e, ok := err.(*DataError)
	if !ok {
		return err
	}
	return finishName(e, typeName)
}

// MinSize is the fewest bytes a value of the type encodes to, or -1 when
// the type has no finite value (Tuple { t: T } referring to itself). Typed
// decoders pass an element type's MinSize to [Decoder.ReadArrayLen].
func (t *Type) MinSize() int {
	if t.minSize >= sizeInfinite {
		return -1
	}
	return t.minSize
}

// finishName is finish with the root's name given as text.
func finishName(e *DataError, root string) error {
	// finish writes t.String() first; give it a stand-in with that name.
	return finish(e, &Type{name: root})
}
