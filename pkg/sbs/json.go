package sbs

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SBS-JSON is the JSON form of SBS values used by the golden vectors and by
// tools; it is directed by the type, which must be known to read it:
//
//	Boolean            true / false
//	Integer            a JSON integer of any size (read exactly, never
//	                   through float64)
//	Float              a JSON number, or "NaN", "Infinity", "-Infinity";
//	                   -0.0 keeps its sign
//	String             a JSON string
//	Bytes              standard base64 with padding
//	Array(T)           a JSON array
//	Tuple              an object keyed by entry name, written in schema order
//	Union              a two-element array [entryName, value]
//	None, Tuple {},
//	Union {}           null
//
// The writer is byte-stable: the same value always gives the same text.

// AppendJSON appends the SBS-JSON text of v, a value of type t in the
// package's value model, to dst. It accepts exactly what [Type.Append]
// accepts and fails the same way.
func (t *Type) AppendJSON(dst []byte, v any) ([]byte, error) {
	b, err := appendJSON(dst, t, v, 0)
	if err != nil {
		return dst, finish(err, t)
	}
	return b, nil
}

// MarshalJSONValue returns the SBS-JSON text of v.
func (t *Type) MarshalJSONValue(v any) ([]byte, error) {
	return t.AppendJSON(nil, v)
}

func appendJSON(b []byte, t *Type, v any, depth int) ([]byte, error) {
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
		return strconv.AppendBool(b, x), nil
	case KindInteger:
		i, x, ok := integerValue(v)
		if !ok {
			return b, invalidValue(t, v)
		}
		if x != nil {
			return x.Append(b, 10), nil
		}
		return strconv.AppendInt(b, i, 10), nil
	case KindFloat:
		f, ok := floatValue(v)
		if !ok {
			return b, invalidValue(t, v)
		}
		return appendJSONFloat(b, f), nil
	case KindString:
		s, ok := v.(string)
		if !ok {
			return b, invalidValue(t, v)
		}
		if !utf8.ValidString(s) {
			return b, newError(ErrInvalidUTF8, -1, "")
		}
		return appendJSONString(b, s), nil
	case KindBytes:
		p, ok := v.([]byte)
		if !ok {
			return b, invalidValue(t, v)
		}
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, p)
		return append(b, '"'), nil
	case KindArray:
		return appendJSONArray(b, t, v, depth)
	case KindTuple:
		if len(t.entries) == 0 {
			if !isEmptyValue(v) {
				return b, invalidValue(t, v)
			}
			return append(b, "null"...), nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return b, invalidValue(t, v)
		}
		b = append(b, '{')
		for i := range t.entries {
			e := &t.entries[i]
			ev, ok := m[e.Name]
			if !ok {
				return b, withEntry(newError(ErrInvalidValue, -1, "missing entry"), e.Name)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, e.Name)
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, e.Type, ev, depth+1); err != nil {
				return b, withEntry(err, e.Name)
			}
		}
		if len(m) != len(t.entries) {
			return b, extraEntry(t, m)
		}
		return append(b, '}'), nil
	case KindUnion:
		if len(t.entries) == 0 {
			if v != nil {
				return b, invalidValue(t, v)
			}
			return append(b, "null"...), nil
		}
		u, ok := unionValue(v)
		if !ok {
			return b, invalidValue(t, v)
		}
		i := t.entryIndex(u.Name)
		if i < 0 {
			return b, newError(ErrInvalidValue, -1, "no entry named "+quote(u.Name))
		}
		b = append(b, '[')
		b = appendJSONString(b, u.Name)
		b = append(b, ',')
		b, err := appendJSON(b, t.entries[i].Type, u.Value, depth+1)
		if err != nil {
			return b, withEntry(err, u.Name)
		}
		return append(b, ']'), nil
	}
	return b, invalidValue(t, v)
}

func appendJSONArray(b []byte, t *Type, v any, depth int) ([]byte, error) {
	elem := t.elem
	if elem == nil {
		return b, newError(ErrUnknownType, -1, "unresolved type")
	}
	each := func(n int, at func(int) any) ([]byte, error) {
		b = append(b, '[')
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, elem, at(i), depth+1); err != nil {
				return b, withIndex(err, i)
			}
		}
		return append(b, ']'), nil
	}
	// The typed slices the binary encoder accepts; JSON output is not a hot
	// path, so they simply box each element.
	switch a := v.(type) {
	case []any:
		return each(len(a), func(i int) any { return a[i] })
	case []int64:
		return each(len(a), func(i int) any { return a[i] })
	case []int:
		return each(len(a), func(i int) any { return a[i] })
	case []float64:
		return each(len(a), func(i int) any { return a[i] })
	case []bool:
		return each(len(a), func(i int) any { return a[i] })
	case []string:
		return each(len(a), func(i int) any { return a[i] })
	case [][]byte:
		return each(len(a), func(i int) any { return a[i] })
	case []map[string]any:
		return each(len(a), func(i int) any { return a[i] })
	case []Union:
		return each(len(a), func(i int) any { return &a[i] })
	}
	return b, invalidValue(t, v)
}

// appendJSONFloat writes f as Python's repr does (the original's JSON
// writer): the shortest text that reads back to f, in positional notation
// with at least one fractional digit for exponents from -4 to 15, in
// scientific notation otherwise. So 1.0, -0.0, 1e+16, 1e-05.
func appendJSONFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	// e is "[-]d[.ddd]e±dd"; its exponent decides the notation.
	exp, _ := strconv.Atoi(string(e[bytes.IndexByte(e, 'e')+1:]))
	if exp < -4 || exp >= 16 {
		return append(b, e...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	if bytes.IndexByte(b[start:], '.') < 0 {
		b = append(b, ".0"...)
	}
	return b
}

// appendJSONString writes s, valid UTF-8, as a JSON string, escaping only
// what JSON requires.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// DecodeJSON reads one SBS-JSON value of type t. Wrong shapes (an object
// where a Union's array belongs, a fraction for an Integer, unknown,
// duplicate or missing Tuple entries, bad base64, trailing data) fail with
// a *[DataError] naming the field; Offset is the byte offset in data near
// the failing token. Integers are read exactly, whatever their size.
func (t *Type) DecodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	r := jsonReader{data: data, dec: dec}
	v, err := r.value(t, 0)
	if err == nil {
		off := r.offset()
		if _, terr := dec.Token(); terr != io.EOF {
			err = newError(ErrInvalidJSON, off, "data after the value")
		}
	}
	if err != nil {
		return nil, finish(err, t)
	}
	return v, nil
}

// strictBase64 refuses non-zero padding bits, so that every Bytes value
// has one spelling.
var strictBase64 = base64.StdEncoding.Strict()

// quietNaN is the NaN the original writes (Python's float("nan")); Go's
// math.NaN has a different payload, which would change the encoding.
var quietNaN = math.Float64frombits(0x7ff8000000000000)

type jsonReader struct {
	data []byte
	dec  *json.Decoder
}

// offset is where the next token starts: InputOffset is the end of the
// previous one, which may be followed by space and one separator.
func (r *jsonReader) offset() int {
	off := int(r.dec.InputOffset())
	sep := false
	for off < len(r.data) {
		switch c := r.data[off]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		case (c == ',' || c == ':') && !sep:
			sep = true
		default:
			return off
		}
		off++
	}
	return off
}

// token reads the next token, turning JSON syntax errors into DataErrors.
func (r *jsonReader) token() (json.Token, int, error) {
	off := r.offset()
	tok, err := r.dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, int(se.Offset), newError(ErrInvalidJSON, int(se.Offset), strings.TrimPrefix(se.Error(), "json: "))
		}
		if err == io.ErrUnexpectedEOF {
			return nil, off, newError(err, off, "")
		}
		return nil, off, newError(ErrInvalidJSON, off, err.Error())
	}
	return tok, off, nil
}

// shapeError reports a token that does not fit type t.
func shapeError(t *Type, tok json.Token, off int) error {
	var got string
	switch x := tok.(type) {
	case nil:
		got = "null"
	case bool:
		got = strconv.FormatBool(x)
	case json.Number:
		got = "number " + quote(string(x))
	case string:
		got = "string " + quote(x)
	case json.Delim:
		switch x {
		case '[':
			got = "array"
		case '{':
			got = "object"
		default:
			got = string(x)
		}
	}
	return newError(ErrInvalidValue, off, "cannot read JSON "+got+" as "+t.String())
}

func (r *jsonReader) value(t *Type, depth int) (any, error) {
	if t == nil {
		return nil, newError(ErrUnknownType, r.offset(), "unresolved type")
	}
	if depth > MaxDepth {
		return nil, newError(ErrTooDeep, r.offset(), "")
	}
	tok, off, err := r.token()
	if err != nil {
		return nil, err
	}
	switch t.kind {
	case KindBoolean:
		if x, ok := tok.(bool); ok {
			return x, nil
		}
	case KindInteger:
		if x, ok := tok.(json.Number); ok {
			return parseJSONInteger(string(x), off)
		}
	case KindFloat:
		switch x := tok.(type) {
		case json.Number:
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return nil, newError(ErrInvalidValue, off, "number "+quote(string(x))+" out of Float range")
			}
			return f, nil
		case string:
			switch x {
			case "NaN":
				return quietNaN, nil
			case "Infinity":
				return math.Inf(1), nil
			case "-Infinity":
				return math.Inf(-1), nil
			}
		}
	case KindString:
		if x, ok := tok.(string); ok {
			return x, nil
		}
	case KindBytes:
		if x, ok := tok.(string); ok {
			// Strict: canonical padding bits, and no line breaks (which
			// the decoder would otherwise skip).
			p, err := strictBase64.DecodeString(x)
			if err != nil || strings.ContainsAny(x, "\r\n") {
				return nil, newError(ErrInvalidValue, off, "invalid base64 for Bytes")
			}
			if p == nil {
				p = []byte{}
			}
			return p, nil
		}
	case KindArray:
		if tok == json.Delim('[') {
			return r.array(t, depth)
		}
	case KindTuple:
		if len(t.entries) == 0 {
			if tok == nil {
				return nil, nil
			}
			break
		}
		if tok == json.Delim('{') {
			return r.tuple(t, off, depth)
		}
	case KindUnion:
		if len(t.entries) == 0 {
			if tok == nil {
				return nil, nil
			}
			break
		}
		if tok == json.Delim('[') {
			return r.union(t, off, depth)
		}
	}
	return nil, shapeError(t, tok, off)
}

func parseJSONInteger(s string, off int) (any, error) {
	if strings.ContainsAny(s, ".eE") {
		return nil, newError(ErrInvalidValue, off, "number "+quote(s)+" is not an Integer")
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, nil
	}
	x, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, newError(ErrInvalidValue, off, "number "+quote(s)+" is not an Integer")
	}
	return x, nil
}

func (r *jsonReader) array(t *Type, depth int) (any, error) {
	out := []any{}
	for i := 0; r.dec.More(); i++ {
		v, err := r.value(t.elem, depth+1)
		if err != nil {
			return nil, withIndex(err, i)
		}
		out = append(out, v)
	}
	if _, _, err := r.token(); err != nil { // the closing ']'
		return nil, err
	}
	return out, nil
}

func (r *jsonReader) tuple(t *Type, start, depth int) (any, error) {
	m := make(map[string]any, len(t.entries))
	for r.dec.More() {
		tok, off, err := r.token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string) // json.Decoder only gives strings here
		i := t.entryIndex(key)
		if i < 0 {
			return nil, newError(ErrInvalidValue, off, "unexpected entry "+quote(key))
		}
		if _, dup := m[key]; dup {
			return nil, newError(ErrInvalidValue, off, "duplicate entry "+quote(key))
		}
		v, err := r.value(t.entries[i].Type, depth+1)
		if err != nil {
			return nil, withEntry(err, key)
		}
		m[key] = v
	}
	if _, _, err := r.token(); err != nil { // the closing '}'
		return nil, err
	}
	if len(m) != len(t.entries) {
		for _, e := range t.entries {
			if _, ok := m[e.Name]; !ok {
				return nil, withEntry(newError(ErrInvalidValue, start, "missing entry"), e.Name)
			}
		}
	}
	return m, nil
}

func (r *jsonReader) union(t *Type, start, depth int) (any, error) {
	tok, off, err := r.token()
	if err != nil {
		return nil, err
	}
	name, ok := tok.(string)
	if !ok {
		return nil, newError(ErrInvalidValue, off, "a Union is [entryName, value]")
	}
	i := t.entryIndex(name)
	if i < 0 {
		return nil, newError(ErrInvalidValue, off, "no entry named "+quote(name))
	}
	if !r.dec.More() {
		return nil, newError(ErrInvalidValue, start, "a Union is [entryName, value]")
	}
	v, err := r.value(t.entries[i].Type, depth+1)
	if err != nil {
		return nil, withEntry(err, name)
	}
	tok, off, err = r.token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim(']') {
		return nil, newError(ErrInvalidValue, off, "a Union is [entryName, value]")
	}
	return Union{Name: name, Value: v}, nil
}
