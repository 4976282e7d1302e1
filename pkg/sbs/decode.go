package sbs

import (
	"io"
	"strconv"
)

// Decode decodes data, which must hold exactly one value of type t, into the
// package's value model (see [Union]). It is strict where the original is
// lenient: truncated input, lengths or counts past the end of the input,
// negative lengths, counts and union indexes, non-minimal Integers, Boolean
// bytes other than 00 and 01, invalid UTF-8 in a String and trailing bytes
// are all errors, reported as a *[DataError] naming the failing field.
//
// Decoding allocates no more than the input can justify: every count is
// checked against the bytes left before anything is allocated, arrays of
// zero-size elements are bounded by [MaxZeroSizeElements] and nesting by
// [MaxDepth]. The result never aliases data.
func (t *Type) Decode(data []byte) (any, error) {
	d := decoder{buf: data, zeroLeft: MaxZeroSizeElements}
	v, err := d.value(t, 0)
	if err == nil && d.off != len(data) {
		detail := strconv.Itoa(len(data)-d.off) + " trailing bytes after the value"
		if len(data)-d.off == 1 {
			detail = "1 trailing byte after the value"
		}
		err = newError(ErrTrailingBytes, d.off, detail)
	}
	if err != nil {
		return nil, finish(err, t)
	}
	return v, nil
}

// decoder holds the state of one Decode call.
type decoder struct {
	buf      []byte
	off      int // start of the unread input
	zeroLeft int // zero-size values still allowed, see MaxZeroSizeElements
}

func (d *decoder) value(t *Type, depth int) (any, error) {
	if t == nil {
		return nil, newError(ErrUnknownType, d.off, "unresolved type")
	}
	if depth > MaxDepth {
		return nil, newError(ErrTooDeep, d.off, "")
	}
	b := d.buf[d.off:]
	switch t.kind {
	case KindBoolean:
		v, n := ConsumeBoolean(b)
		if n < 0 {
			return nil, codeError(n, d.off)
		}
		d.off += n
		return v, nil
	case KindInteger:
		// Most Integers on the wire (flags, small ids, counts) are one
		// byte; read those here rather than through ConsumeInteger.
		if len(b) > 0 && b[0]&0x80 != 0 {
			d.off++
			return int64(int8(b[0]<<1) >> 1), nil
		}
		v, n := ConsumeInteger(b)
		if n == errCodeOverflow {
			x, n := ConsumeBigInteger(b)
			if n < 0 {
				return nil, codeError(n, d.off)
			}
			d.off += n
			return x, nil
		}
		if n < 0 {
			return nil, codeError(n, d.off)
		}
		d.off += n
		return v, nil
	case KindFloat:
		v, n := ConsumeFloat(b)
		if n < 0 {
			return nil, codeError(n, d.off)
		}
		d.off += n
		return v, nil
	case KindString:
		v, n := ConsumeString(b)
		if n < 0 {
			return nil, d.lengthError(b, n)
		}
		d.off += n
		return v, nil
	case KindBytes:
		v, n := ConsumeBytes(b)
		if n < 0 {
			return nil, d.lengthError(b, n)
		}
		d.off += n
		// Copy: the result must not alias the caller's buffer. (make then
		// copy is the form the compiler allocates without zeroing.)
		p := make([]byte, len(v))
		copy(p, v)
		return p, nil
	case KindArray:
		return d.array(t, b, depth)
	case KindTuple:
		if len(t.entries) == 0 {
			return nil, nil
		}
		if t.minSize >= sizeInfinite {
			// Only an infinite value would do; don't chase it.
			return nil, newError(io.ErrUnexpectedEOF, d.off, "type has no finite value")
		}
		if t.minSize == 0 {
			// Entries that all take no bytes: the input does not pay for
			// this map, so the zero-size budget does.
			if d.zeroLeft == 0 {
				return nil, newError(ErrInvalidLength, d.off, "too many zero-size values")
			}
			d.zeroLeft--
		}
		m := make(map[string]any, len(t.entries))
		for i := range t.entries {
			e := &t.entries[i]
			v, err := d.value(e.Type, depth+1)
			if err != nil {
				return nil, withEntry(err, e.Name)
			}
			m[e.Name] = v
		}
		return m, nil
	case KindUnion:
		if len(t.entries) == 0 {
			return nil, nil
		}
		i, n := ConsumeInteger(b)
		switch {
		case n == errCodeOverflow:
			return nil, newError(ErrUnionIndex, d.off, "union index out of range")
		case n < 0:
			return nil, codeError(n, d.off)
		case i < 0 || i >= int64(len(t.entries)):
			return nil, newError(ErrUnionIndex, d.off, "union index "+strconv.FormatInt(i, 10)+" out of range")
		}
		d.off += n
		e := &t.entries[i]
		v, err := d.value(e.Type, depth+1)
		if err != nil {
			return nil, withEntry(err, e.Name)
		}
		if v == nil && t.nilChoice != nil && t.nilChoice[i] != nil {
			return t.nilChoice[i], nil
		}
		return Union{Name: e.Name, Value: v}, nil
	}
	return nil, newError(ErrUnknownType, d.off, "invalid type kind")
}

// lengthError explains a failed String or Bytes.
func (d *decoder) lengthError(b []byte, n int) error {
	if n != errCodeInvalidLength {
		return codeError(n, d.off)
	}
	if l, k := ConsumeInteger(b); k >= 0 && l < 0 {
		return newError(ErrInvalidLength, d.off, "negative length "+strconv.FormatInt(l, 10))
	}
	return newError(ErrInvalidLength, d.off, "length past the end of the input")
}

func (d *decoder) array(t *Type, b []byte, depth int) (any, error) {
	elem := t.elem
	if elem == nil {
		return nil, newError(ErrUnknownType, d.off, "unresolved type")
	}
	c, n := ConsumeInteger(b)
	switch {
	case n == errCodeOverflow:
		return nil, newError(ErrInvalidLength, d.off, "array count past the end of the input")
	case n < 0:
		return nil, codeError(n, d.off)
	case c < 0:
		return nil, newError(ErrInvalidLength, d.off, "negative array count "+strconv.FormatInt(c, 10))
	}
	// Refuse a count the remaining input cannot hold before allocating.
	if rest := int64(len(b) - n); elem.minSize > 0 {
		if c > rest/int64(elem.minSize) {
			return nil, newError(ErrInvalidLength, d.off, "array count "+strconv.FormatInt(c, 10)+" past the end of the input")
		}
	} else {
		if c > int64(d.zeroLeft) {
			return nil, newError(ErrInvalidLength, d.off, "array count "+strconv.FormatInt(c, 10)+": too many zero-size elements")
		}
		d.zeroLeft -= int(c)
	}
	d.off += n
	out := make([]any, c)
	for i := range out {
		v, err := d.value(elem, depth+1)
		if err != nil {
			return nil, withIndex(err, i)
		}
		out[i] = v
	}
	return out, nil
}

// Decode decodes data as the type module.name (module "" for a builtin);
// see [Type.Decode].
func (r *Repository) Decode(module, name string, data []byte) (any, error) {
	t, err := r.Type(module, name)
	if err != nil {
		return nil, err
	}
	return t.Decode(data)
}
