package sbs

import (
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Encode returns the SBS encoding of v, a value of type t in the package's
// value model (see [Union]). The result is allocated once at its exact size.
func (t *Type) Encode(v any) ([]byte, error) {
	n, err := t.Size(v)
	if err != nil {
		return nil, err
	}
	return t.Append(make([]byte, 0, n), v)
}

// Append appends the SBS encoding of v to dst and returns the extended
// buffer. On error it returns dst unchanged in length (bytes past it may
// have been written) and a *[DataError] that names the failing field.
func (t *Type) Append(dst []byte, v any) ([]byte, error) {
	b, err := appendValue(dst, t, v, 0)
	if err != nil {
		return dst, finish(err, t)
	}
	return b, nil
}

// Size returns the number of bytes Append would add for v, checking v as
// Append does.
func (t *Type) Size(v any) (int, error) {
	n, err := sizeValue(t, v, 0)
	if err != nil {
		return 0, finish(err, t)
	}
	return n, nil
}

// appendValue is the encoder: a switch on the kind, then on the concrete Go
// type, with no reflection and no allocation unless v holds a big integer.
func appendValue(b []byte, t *Type, v any, depth int) ([]byte, error) {
	if t == nil {
		return b, newError(ErrUnknownType, -1, "unresolved type")
	}
	if depth > MaxDepth {
		return b, newError(ErrTooDeep, -1, "")
	}
	switch t.kind {
	case KindBoolean:
		x, ok := v.(bool)
		if !ok {
			return b, invalidValue(t, v)
		}
		return AppendBoolean(b, x), nil
	case KindInteger:
		i, x, ok := integerValue(v)
		if !ok {
			return b, invalidValue(t, v)
		}
		if x != nil {
			return AppendBigInteger(b, x), nil
		}
		return AppendInteger(b, i), nil
	case KindFloat:
		f, ok := floatValue(v)
		if !ok {
			return b, invalidValue(t, v)
		}
		return AppendFloat(b, f), nil
	case KindString:
		s, ok := v.(string)
		if !ok {
			return b, invalidValue(t, v)
		}
		if !utf8.ValidString(s) {
			return b, newError(ErrInvalidUTF8, -1, "")
		}
		return AppendString(b, s), nil
	case KindBytes:
		p, ok := v.([]byte)
		if !ok {
			return b, invalidValue(t, v)
		}
		return AppendBytes(b, p), nil
	case KindArray:
		return appendArray(b, t, v, depth)
	case KindTuple:
		if len(t.entries) == 0 {
			if !isEmptyValue(v) {
				return b, invalidValue(t, v)
			}
			return b, nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return b, invalidValue(t, v)
		}
		for i := range t.entries {
			e := &t.entries[i]
			ev, ok := m[e.Name]
			if !ok {
				return b, withEntry(newError(ErrInvalidValue, -1, "missing entry"), e.Name)
			}
			var err error
			if b, err = appendValue(b, e.Type, ev, depth+1); err != nil {
				return b, withEntry(err, e.Name)
			}
		}
		// Every entry was found, so the map has extra keys exactly when it
		// is larger than the Tuple.
		if len(m) != len(t.entries) {
			return b, extraEntry(t, m)
		}
		return b, nil
	case KindUnion:
		if len(t.entries) == 0 {
			if v != nil {
				return b, invalidValue(t, v)
			}
			return b, nil
		}
		u, ok := unionValue(v)
		if !ok {
			return b, invalidValue(t, v)
		}
		i := t.entryIndex(u.Name)
		if i < 0 {
			return b, newError(ErrInvalidValue, -1, "no entry named "+quote(u.Name))
		}
		b = AppendInteger(b, int64(i))
		b, err := appendValue(b, t.entries[i].Type, u.Value, depth+1)
		if err != nil {
			return b, withEntry(err, u.Name)
		}
		return b, nil
	}
	return b, invalidValue(t, v)
}

// appendArray encodes []any and, without boxing each element, the common
// typed slices whose element type matches the Array's.
func appendArray(b []byte, t *Type, v any, depth int) ([]byte, error) {
	elem := t.elem
	if elem == nil {
		return b, newError(ErrUnknownType, -1, "unresolved type")
	}
	var err error
	switch a := v.(type) {
	case []any:
		b = AppendInteger(b, int64(len(a)))
		for i, e := range a {
			if b, err = appendValue(b, elem, e, depth+1); err != nil {
				return b, withIndex(err, i)
			}
		}
		return b, nil
	case []int64:
		if elem.kind == KindInteger {
			b = AppendInteger(b, int64(len(a)))
			for _, x := range a {
				b = AppendInteger(b, x)
			}
			return b, nil
		}
	case []int:
		if elem.kind == KindInteger {
			b = AppendInteger(b, int64(len(a)))
			for _, x := range a {
				b = AppendInteger(b, int64(x))
			}
			return b, nil
		}
	case []float64:
		if elem.kind == KindFloat {
			b = AppendInteger(b, int64(len(a)))
			for _, x := range a {
				b = AppendFloat(b, x)
			}
			return b, nil
		}
	case []bool:
		if elem.kind == KindBoolean {
			b = AppendInteger(b, int64(len(a)))
			for _, x := range a {
				b = AppendBoolean(b, x)
			}
			return b, nil
		}
	case []string:
		if elem.kind == KindString {
			b = AppendInteger(b, int64(len(a)))
			for i, x := range a {
				if !utf8.ValidString(x) {
					return b, withIndex(newError(ErrInvalidUTF8, -1, ""), i)
				}
				b = AppendString(b, x)
			}
			return b, nil
		}
	case [][]byte:
		if elem.kind == KindBytes {
			b = AppendInteger(b, int64(len(a)))
			for _, x := range a {
				b = AppendBytes(b, x)
			}
			return b, nil
		}
	case []map[string]any:
		b = AppendInteger(b, int64(len(a)))
		for i, e := range a {
			if b, err = appendValue(b, elem, e, depth+1); err != nil {
				return b, withIndex(err, i)
			}
		}
		return b, nil
	case []Union:
		b = AppendInteger(b, int64(len(a)))
		for i := range a {
			if b, err = appendValue(b, elem, &a[i], depth+1); err != nil {
				return b, withIndex(err, i)
			}
		}
		return b, nil
	}
	return b, invalidValue(t, v)
}

// sizeValue mirrors appendValue, counting instead of writing.
func sizeValue(t *Type, v any, depth int) (int, error) {
	if t == nil {
		return 0, newError(ErrUnknownType, -1, "unresolved type")
	}
	if depth > MaxDepth {
		return 0, newError(ErrTooDeep, -1, "")
	}
	switch t.kind {
	case KindBoolean:
		if _, ok := v.(bool); !ok {
			return 0, invalidValue(t, v)
		}
		return 1, nil
	case KindInteger:
		i, x, ok := integerValue(v)
		if !ok {
			return 0, invalidValue(t, v)
		}
		if x != nil {
			return SizeBigInteger(x), nil
		}
		return SizeInteger(i), nil
	case KindFloat:
		if _, ok := floatValue(v); !ok {
			return 0, invalidValue(t, v)
		}
		return SizeFloat, nil
	case KindString:
		s, ok := v.(string)
		if !ok {
			return 0, invalidValue(t, v)
		}
		if !utf8.ValidString(s) {
			return 0, newError(ErrInvalidUTF8, -1, "")
		}
		return SizeBytes(len(s)), nil
	case KindBytes:
		p, ok := v.([]byte)
		if !ok {
			return 0, invalidValue(t, v)
		}
		return SizeBytes(len(p)), nil
	case KindArray:
		return sizeArray(t, v, depth)
	case KindTuple:
		if len(t.entries) == 0 {
			if !isEmptyValue(v) {
				return 0, invalidValue(t, v)
			}
			return 0, nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return 0, invalidValue(t, v)
		}
		n := 0
		for i := range t.entries {
			e := &t.entries[i]
			ev, ok := m[e.Name]
			if !ok {
				return 0, withEntry(newError(ErrInvalidValue, -1, "missing entry"), e.Name)
			}
			k, err := sizeValue(e.Type, ev, depth+1)
			if err != nil {
				return 0, withEntry(err, e.Name)
			}
			n += k
		}
		if len(m) != len(t.entries) {
			return 0, extraEntry(t, m)
		}
		return n, nil
	case KindUnion:
		if len(t.entries) == 0 {
			if v != nil {
				return 0, invalidValue(t, v)
			}
			return 0, nil
		}
		u, ok := unionValue(v)
		if !ok {
			return 0, invalidValue(t, v)
		}
		i := t.entryIndex(u.Name)
		if i < 0 {
			return 0, newError(ErrInvalidValue, -1, "no entry named "+quote(u.Name))
		}
		k, err := sizeValue(t.entries[i].Type, u.Value, depth+1)
		if err != nil {
			return 0, withEntry(err, u.Name)
		}
		return SizeInteger(int64(i)) + k, nil
	}
	return 0, invalidValue(t, v)
}

func sizeArray(t *Type, v any, depth int) (int, error) {
	elem := t.elem
	if elem == nil {
		return 0, newError(ErrUnknownType, -1, "unresolved type")
	}
	sizeAll := func(n int, at func(int) any) (int, error) {
		total := SizeInteger(int64(n))
		for i := range n {
			k, err := sizeValue(elem, at(i), depth+1)
			if err != nil {
				return 0, withIndex(err, i)
			}
			total += k
		}
		return total, nil
	}
	switch a := v.(type) {
	case []any:
		return sizeAll(len(a), func(i int) any { return a[i] })
	case []int64:
		if elem.kind == KindInteger {
			n := SizeInteger(int64(len(a)))
			for _, x := range a {
				n += SizeInteger(x)
			}
			return n, nil
		}
	case []int:
		if elem.kind == KindInteger {
			n := SizeInteger(int64(len(a)))
			for _, x := range a {
				n += SizeInteger(int64(x))
			}
			return n, nil
		}
	case []float64:
		if elem.kind == KindFloat {
			return SizeInteger(int64(len(a))) + SizeFloat*len(a), nil
		}
	case []bool:
		if elem.kind == KindBoolean {
			return SizeInteger(int64(len(a))) + len(a), nil
		}
	case []string:
		if elem.kind == KindString {
			n := SizeInteger(int64(len(a)))
			for i, x := range a {
				if !utf8.ValidString(x) {
					return 0, withIndex(newError(ErrInvalidUTF8, -1, ""), i)
				}
				n += SizeBytes(len(x))
			}
			return n, nil
		}
	case [][]byte:
		if elem.kind == KindBytes {
			n := SizeInteger(int64(len(a)))
			for _, x := range a {
				n += SizeBytes(len(x))
			}
			return n, nil
		}
	case []map[string]any:
		return sizeAll(len(a), func(i int) any { return a[i] })
	case []Union:
		return sizeAll(len(a), func(i int) any { return &a[i] })
	}
	return 0, invalidValue(t, v)
}

// extraEntry reports the first (in sorted order, so that the message is
// stable) key of m that is not an entry of t.
func extraEntry(t *Type, m map[string]any) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if t.entryIndex(k) < 0 {
			return newError(ErrInvalidValue, -1, "unexpected entry "+quote(k))
		}
	}
	return newError(ErrInvalidValue, -1, "unexpected entries")
}

// quote quotes a name for a message, shortened if long.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

// Encode encodes v as the type module.name (module "" for a builtin).
func (r *Repository) Encode(module, name string, v any) ([]byte, error) {
	t, err := r.Type(module, name)
	if err != nil {
		return nil, err
	}
	return t.Encode(v)
}

// Append appends the encoding of v as the type module.name to dst.
func (r *Repository) Append(dst []byte, module, name string, v any) ([]byte, error) {
	t, err := r.Type(module, name)
	if err != nil {
		return dst, err
	}
	return t.Append(dst, v)
}
