package sbs

import (
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
)

// Union is the value of a Union (Choice) type with entries: the name of the
// chosen entry and that entry's value. A Maybe(T) value is a Union named
// "Nothing" (Value nil) or "Just". The encoder also accepts a *Union.
type Union struct {
	Name  string
	Value any
}

// Maybe(T) (Union { Nothing: None, Just: T }) and Optional(T) (Choice {
// none: None, value: T }, the later dialect) values, which are Unions in the
// dynamic model, without spelling the entry names.

// Just is the Maybe(T) value holding v.
func Just(v any) Union { return Union{Name: "Just", Value: v} }

// Nothing is the empty Maybe(T) value.
func Nothing() Union { return Union{Name: "Nothing"} }

// Some is the Optional(T) value holding v.
func Some(v any) Union { return Union{Name: "value", Value: v} }

// NoValue is the empty Optional(T) value.
func NoValue() Union { return Union{Name: "none"} }

// Present reads a Maybe or Optional value as the decoders give it: (v,
// true) for Just(v) or Some(v), and (nil, false) for Nothing, NoValue and
// anything that is not such a Union.
func Present(v any) (any, bool) {
	switch u := v.(type) {
	case Union:
		return present(u)
	case *Union:
		if u != nil {
			return present(*u)
		}
	}
	return nil, false
}

func present(u Union) (any, bool) {
	if u.Name == "Just" || u.Name == "value" {
		return u.Value, true
	}
	return nil, false
}

// Dynamic values are a closed set of Go types, chosen by the SBS type:
//
//	SBS type              decoded as        also accepted by the encoders
//	Boolean               bool
//	Integer               int64, or *big.Int when outside int64
//	                                        every Go integer kind, big.Int
//	Float                 float64           float32
//	String                string (UTF-8)
//	Bytes                 []byte (a copy)
//	Array(T)              []any             []int64, []int, []string,
//	                                        []bool, []float64, [][]byte,
//	                                        []map[string]any, []Union
//	Tuple with entries    map[string]any    (exactly the entry names)
//	Union with entries    Union             *Union
//	None, Tuple {},
//	Union {}              nil               an empty map[string]any for
//	                                        an entry-less Tuple
//
// The decoders never return any other type, so a type switch over this set
// is exhaustive.

// MaxDepth bounds the nesting of values the package encodes and decodes:
// each Array, Tuple or Union level counts one. Deeper values fail with
// ErrTooDeep instead of exhausting the stack.
const MaxDepth = 10000

// MaxZeroSizeElements bounds what one Decode may build without input to
// pay for it: the elements of zero-size type (such as None) in all its
// Arrays, plus the maps of Tuples whose entries all take no bytes. Every
// other value consumes at least one byte, so the input's length bounds it;
// without this cap "Array(None) with 2^40 elements" would be five bytes
// long.
const MaxZeroSizeElements = 1 << 16

// integerValue extracts an Integer from any Go integer kind; big is non-nil
// when the value does not fit int64.
func integerValue(v any) (i int64, x *big.Int, ok bool) {
	switch n := v.(type) {
	case int64:
		return n, nil, true
	case int:
		return int64(n), nil, true
	case int32:
		return int64(n), nil, true
	case int16:
		return int64(n), nil, true
	case int8:
		return int64(n), nil, true
	case uint8:
		return int64(n), nil, true
	case uint16:
		return int64(n), nil, true
	case uint32:
		return int64(n), nil, true
	case uint:
		return uint64Value(uint64(n))
	case uint64:
		return uint64Value(n)
	case *big.Int:
		if n == nil {
			return 0, nil, false
		}
		if n.IsInt64() {
			return n.Int64(), nil, true
		}
		return 0, n, true
	case big.Int:
		if n.IsInt64() {
			return n.Int64(), nil, true
		}
		return 0, &n, true
	}
	return 0, nil, false
}

func uint64Value(u uint64) (int64, *big.Int, bool) {
	if u <= math.MaxInt64 {
		return int64(u), nil, true
	}
	return 0, new(big.Int).SetUint64(u), true
}

// floatValue extracts a Float.
func floatValue(v any) (float64, bool) {
	switch f := v.(type) {
	case float64:
		return f, true
	case float32:
		return float64(f), true
	}
	return 0, false
}

// unionValue extracts a Union.
func unionValue(v any) (Union, bool) {
	switch u := v.(type) {
	case Union:
		return u, true
	case *Union:
		if u != nil {
			return *u, true
		}
	}
	return Union{}, false
}

// isEmptyValue reports whether v is a valid value of an entry-less Tuple.
func isEmptyValue(v any) bool {
	if v == nil {
		return true
	}
	m, ok := v.(map[string]any)
	return ok && len(m) == 0
}

// Errors are built only on the failure path. A *DataError is created where
// the failure is found, with its segments empty; every enclosing Tuple,
// Union and Array adds its segment while the error travels up, and the
// entry point turns the segments into Path. The successful path pays
// nothing for this.

func newError(sentinel error, offset int, detail string) *DataError {
	return &DataError{Offset: offset, Err: sentinel, detail: detail}
}

// codeError converts a Consume function's negative count.
func codeError(n, offset int) *DataError {
	return newError(ParseError(n), offset, "")
}

func invalidValue(t *Type, v any) *DataError {
	got := "nil"
	if v != nil {
		got = reflect.TypeOf(v).String()
	}
	return newError(ErrInvalidValue, -1, "cannot use Go "+got+" as "+t.String())
}

// withEntry adds ".name" to the path of err.
func withEntry(err error, name string) error {
	if e, ok := err.(*DataError); ok {
		e.segs = append(e.segs, "."+name)
	}
	return err
}

// withIndex adds "[i]" to the path of err.
func withIndex(err error, i int) error {
	if e, ok := err.(*DataError); ok {
		e.segs = append(e.segs, "["+strconv.Itoa(i)+"]")
	}
	return err
}

// finish sets the path of err, found while handling a value of type t.
func finish(err error, t *Type) error {
	e, ok := err.(*DataError)
	if !ok {
		return err
	}
	var path strings.Builder
	if t != nil {
		path.WriteString(t.String())
	}
	// A failure deep inside a recursive value would have a path as long as
	// the input; keep its two ends, which are what a reader needs.
	const keep = maxPathSegments / 2
	for i := len(e.segs) - 1; i >= 0; i-- {
		if len(e.segs) > maxPathSegments && i == len(e.segs)-1-keep {
			path.WriteString("...")
			i = keep
		}
		path.WriteString(e.segs[i])
	}
	e.Path = path.String()
	e.segs = nil
	return e
}

// maxPathSegments is the longest path a DataError spells out in full.
const maxPathSegments = 64
