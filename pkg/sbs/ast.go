package sbs

import "strings"

// The syntax tree of one schema text, as [Parse] returns it. It records what
// the text says, in either dialect, without resolving anything: a
// [Repository] turns a set of modules into a graph of [Type] nodes.
// Positions are byte offsets into the text; [ModuleDef.Position] turns them
// into lines and columns. A tree imported from JSON has no text, and all its
// offsets are -1.

// ModuleDef is one parsed schema text: one module and its definitions in
// source order.
type ModuleDef struct {
	Filename string
	Name     string
	Pos      int // offset of the module name
	Defs     []*TypeDef

	text string // the source, for positions; "" when imported from JSON
}

// TypeDef is one definition, "Name = Type" or "Name(A B) = Type".
type TypeDef struct {
	Name   string
	Pos    int
	Params []Param // type parameters; empty for a non-parametric type
	Type   *TypeExpr
}

// Param is a type parameter of a parametric definition.
type Param struct {
	Name string
	Pos  int
}

// TypeExpr is a type as written. Every form is a name with optional
// arguments or entries, which is also the layout of the JSON export:
//
//   - a builtin: Name "Integer" (or Boolean, Float, String, Bytes, None);
//   - Array, Maybe or Optional: Name "Array" with one of Args;
//   - a Tuple/Record or Union/Choice: that keyword as Name, with Entries
//     (possibly none);
//   - a reference: Name, with Module set when qualified ("Hat.Msg"), and
//     Args for a parametric type. Unqualified, it may name a type parameter.
//
// Module is "" for every form but a qualified reference.
type TypeExpr struct {
	Pos     int
	Module  string
	Name    string
	Args    []*TypeExpr
	Entries []EntryDef
}

// EntryDef is one entry of a Tuple/Record or Union/Choice.
type EntryDef struct {
	Name string
	Pos  int
	Type *TypeExpr
}

// Position turns an offset into the module's text into a line and column.
// Lines end at LF, CR LF or a lone CR, as in the grammar.
func (m *ModuleDef) Position(offset int) Position {
	p, _ := m.position(offset)
	return p
}

// position also returns the text of the line holding offset, for
// [SchemaError.Detail].
func (m *ModuleDef) position(offset int) (Position, string) {
	if offset < 0 || m.text == "" && offset > 0 {
		return Position{Filename: m.Filename, Offset: -1}, ""
	}
	offset = min(offset, len(m.text))
	line, start := 1, 0
	for i := 0; i < offset; i++ {
		// The CR of a CR LF is not a break of its own: the LF is.
		if c := m.text[i]; c == '\n' || c == '\r' && (i+1 == len(m.text) || m.text[i+1] != '\n') {
			line, start = line+1, i+1
		}
	}
	end := start
	for end < len(m.text) && m.text[end] != '\n' && m.text[end] != '\r' {
		end++
	}
	return Position{Filename: m.Filename, Offset: offset, Line: line, Column: offset - start + 1}, m.text[start:end]
}

// compositeKind reports whether name, unqualified, is a Tuple/Record or
// Union/Choice keyword, and which.
func compositeKind(name string) (Kind, bool) {
	switch name {
	case "Tuple", "Record":
		return KindTuple, true
	case "Union", "Choice":
		return KindUnion, true
	}
	return 0, false
}

// simpleKinds are the builtin types that take no arguments. None is the
// entry-less Tuple.
var simpleKinds = map[string]Kind{
	"Boolean": KindBoolean,
	"Integer": KindInteger,
	"Float":   KindFloat,
	"String":  KindString,
	"Bytes":   KindBytes,
	"None":    KindTuple,
}

// isReserved reports whether an unqualified name always means a builtin or
// keyword, so that it can never reach a definition or parameter of that
// name.
func isReserved(name string) bool {
	if _, ok := simpleKinds[name]; ok {
		return true
	}
	if _, ok := compositeKind(name); ok {
		return true
	}
	switch name {
	case "Array", "Maybe", "Optional":
		return true
	}
	return false
}

// String writes the expression back in schema syntax, on one line.
func (e *TypeExpr) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *TypeExpr) write(b *strings.Builder) {
	if e.Module != "" {
		b.WriteString(e.Module)
		b.WriteByte('.')
	}
	b.WriteString(e.Name)
	if _, ok := compositeKind(e.Name); ok && e.Module == "" {
		b.WriteString(" {")
		for i, en := range e.Entries {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte(' ')
			b.WriteString(en.Name)
			b.WriteString(": ")
			en.Type.write(b)
		}
		b.WriteString(" }")
		return
	}
	if len(e.Args) > 0 {
		b.WriteByte('(')
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			a.write(b)
		}
		b.WriteByte(')')
	}
}

// String writes the module back as schema text, one definition a line, in
// the dialect it was written in. Parsing the result gives the same tree but
// for positions.
func (m *ModuleDef) String() string {
	var b strings.Builder
	b.WriteString("module ")
	b.WriteString(m.Name)
	b.WriteByte('\n')
	for _, d := range m.Defs {
		b.WriteString(d.Name)
		if len(d.Params) > 0 {
			b.WriteByte('(')
			for i, p := range d.Params {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(p.Name)
			}
			b.WriteByte(')')
		}
		b.WriteString(" = ")
		d.Type.write(&b)
		b.WriteByte('\n')
	}
	return b.String()
}
