package sbs

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Decoding and encoding errors wrap one of these inside a
// *[DataError] that says where in the value it happened; test them with
// errors.Is.
var (
	// ErrNonMinimal: an Integer, length, count or union index was not
	// written in its shortest form (the original never writes one).
	ErrNonMinimal = errors.New("sbs: non-minimal integer encoding")
	// ErrOverflow: an Integer does not fit the Go type asked for.
	ErrOverflow = errors.New("sbs: integer overflow")
	// ErrTrailingBytes: input left over after a complete value.
	ErrTrailingBytes = errors.New("sbs: trailing bytes after value")
	// ErrInvalidBoolean: a Boolean byte other than 0x00 or 0x01.
	ErrInvalidBoolean = errors.New("sbs: invalid boolean byte")
	// ErrInvalidUTF8: a String that is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("sbs: invalid UTF-8 in string")
	// ErrInvalidLength: a negative length or count, or one past the end of
	// the input.
	ErrInvalidLength = errors.New("sbs: invalid length")
	// ErrUnionIndex: a union index outside the union's entries.
	ErrUnionIndex = errors.New("sbs: union index out of range")
	// ErrTooDeep: nesting deeper than the decoder allows.
	ErrTooDeep = errors.New("sbs: value nested too deeply")
	// ErrUnknownType: a module or type name the repository does not have.
	ErrUnknownType = errors.New("sbs: unknown type")
	// ErrInvalidValue: a Go value that does not fit the SBS type.
	ErrInvalidValue = errors.New("sbs: invalid value for type")
	// ErrInvalidJSON: SBS-JSON text that is not well-formed JSON, or has
	// data after the value. (Well-formed JSON of the wrong shape for the
	// type is ErrInvalidValue.)
	ErrInvalidJSON = errors.New("sbs: malformed JSON")
)

// DataError reports a value that could not be encoded or decoded, and where.
// Path starts with the type's name and follows entry names and array indexes
// down to the failing field: "Hat.Msg.data.module". Err is one of the
// sentinels above, or io.ErrUnexpectedEOF for truncated input.
type DataError struct {
	Path string
	// Offset is the byte offset in the input at which the failing field
	// starts when decoding (SBS or SBS-JSON), and -1 when encoding.
	Offset int
	Err    error

	detail string   // message with specifics, e.g. "union index 7 out of range"
	segs   []string // path segments innermost first, while unwinding
}

func (e *DataError) Error() string {
	msg := e.detail
	if msg == "" {
		msg = strings.TrimPrefix(e.Err.Error(), "sbs: ")
	}
	if e.Path == "" {
		return msg
	}
	return e.Path + ": " + msg
}

func (e *DataError) Unwrap() error { return e.Err }

// Schema errors. Building a [Repository] or parsing a schema fails with a
// *[SchemaError] that wraps one of these (or [ErrUnknownType]).
var (
	// ErrSyntax: a schema text does not follow the grammar.
	ErrSyntax = errors.New("sbs: schema syntax error")
	// ErrTypeArgs: a reference gives a type the wrong number of type
	// arguments, or a parametric type is used without any.
	ErrTypeArgs = errors.New("sbs: wrong number of type arguments")
	// ErrDuplicate: a module, definition, parameter or entry name given
	// twice, or a parameter that would hide a builtin name.
	ErrDuplicate = errors.New("sbs: duplicate name")
	// ErrRecursive: a type that never reaches a concrete form: an alias
	// cycle (A = B, B = A) or a parametric type that expands without end.
	ErrRecursive = errors.New("sbs: type expands without end")
)

// Position is a place in a schema text. Line and Column count from 1
// (Column in bytes, like go/scanner); Line is 0 when the place is not known,
// for a module imported from JSON.
type Position struct {
	Filename string
	Offset   int
	Line     int
	Column   int
}

// String formats the position as "file:line:col", or just the file name
// when the line is not known.
func (p Position) String() string {
	s := p.Filename
	if s == "" {
		s = "-"
	}
	if p.Line > 0 {
		s += ":" + strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
	}
	return s
}

// SchemaError reports a schema that could not be parsed or resolved.
// Error gives one line in go/scanner's style, "file:line:col: message";
// Detail adds the source line with a caret under the column.
type SchemaError struct {
	Pos Position
	// Def is the definition the error is in, "Module.Name", or "" for
	// errors outside any definition (most syntax errors).
	Def string
	Msg string
	// Err is ErrSyntax, ErrUnknownType, ErrTypeArgs, ErrDuplicate or
	// ErrRecursive.
	Err error

	line string // the source line holding Pos, for Detail
}

func (e *SchemaError) Error() string {
	s := e.Pos.String() + ": "
	if e.Def != "" {
		s += e.Def + ": "
	}
	return s + e.Msg
}

func (e *SchemaError) Unwrap() error { return e.Err }

// Detail is Error followed by the offending source line and a caret under
// the error's column, for showing to a person:
//
//	schema.sbs:3:16: M.T: unknown type Foo
//
//	   3 | T = Tuple { a: Foo }
//	     |                ^
func (e *SchemaError) Detail() string {
	if e.Pos.Line == 0 {
		return e.Error()
	}
	num := strconv.Itoa(e.Pos.Line)
	var b strings.Builder
	b.WriteString(e.Error())
	b.WriteString("\n\n ")
	b.WriteString(num)
	b.WriteString(" | ")
	b.WriteString(e.line)
	b.WriteString("\n ")
	b.WriteString(strings.Repeat(" ", len(num)))
	b.WriteString(" | ")
	// Keep tabs so that the caret lines up whatever the tab width.
	for i := 0; i < e.Pos.Column-1 && i < len(e.line); i++ {
		if e.line[i] == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("^")
	return b.String()
}

// ErrBinding: a Go type that cannot hold values of an SBS type; see
// [Bind]. The error is a *[BindError].
var ErrBinding = errors.New("sbs: Go type does not match the schema")

// BindError reports, when a binding is first compiled, where a Go type
// does not fit an SBS type:
//
//	sbs: binding main.Msg to Hat.Msg: .Data.Module: want *string (Maybe(String)), have int
type BindError struct {
	GoType string // the Go type bound, "main.Msg"
	Type   string // the SBS type, "Hat.Msg"
	// Path leads from GoType to the failing part: Go field names, "[]" for
	// a slice's elements; "" for the type itself.
	Path string
	Msg  string
}

func (e *BindError) Error() string {
	s := "sbs: binding " + e.GoType + " to " + e.Type + ": "
	if e.Path != "" {
		s += e.Path + ": "
	}
	return s + e.Msg
}

// Unwrap lets errors.Is(err, ErrBinding) match.
func (e *BindError) Unwrap() error { return ErrBinding }
