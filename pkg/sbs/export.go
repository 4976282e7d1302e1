package sbs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The JSON layout of a repository is the original implementation's export:
// the schema as written, not the resolved graph, so that importing it
// resolves (and checks) everything again.
//
//	[ {"name": "Hat",
//	   "type_defs": {
//	     "Msg": {"name": "Msg", "args": [],
//	             "type": {"module": null, "name": "Tuple",
//	                      "entries": [{"name": "id", "type": {...}}, ...],
//	                      "args": []}}, ...}}, ...]
//
// A type is {"module", "name", "entries", "args"}: module is null but for a
// qualified reference; builtins, keywords and type parameters are names;
// entries are those of a Tuple/Union, args the type arguments.

// importFilename stands for the text of modules imported from JSON in error
// positions.
const importFilename = "<json>"

// MarshalJSON exports the repository's modules, in the order they were
// loaded and each with its definitions in source order, in the original's
// layout. [ImportJSON] reads it back.
func (r *Repository) MarshalJSON() ([]byte, error) {
	// Written by hand to keep the definitions in order, which a Go map
	// would lose. Every name is an identifier, so none needs escaping.
	b := []byte{'['}
	for i, m := range r.modules {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":"`...)
		b = append(b, m.Name...)
		b = append(b, `","type_defs":{`...)
		for j, d := range m.Defs {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, d.Name...)
			b = append(b, `":{"name":"`...)
			b = append(b, d.Name...)
			b = append(b, `","args":[`...)
			for k, p := range d.Params {
				if k > 0 {
					b = append(b, ',')
				}
				b = append(b, '"')
				b = append(b, p.Name...)
				b = append(b, '"')
			}
			b = append(b, `],"type":`...)
			b = appendTypeExprJSON(b, d.Type)
			b = append(b, '}')
		}
		b = append(b, "}}"...)
	}
	return append(b, ']'), nil
}

func appendTypeExprJSON(b []byte, e *TypeExpr) []byte {
	b = append(b, `{"module":`...)
	if e.Module == "" {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = append(b, e.Module...)
		b = append(b, '"')
	}
	b = append(b, `,"name":"`...)
	b = append(b, e.Name...)
	b = append(b, `","entries":[`...)
	for i, en := range e.Entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":"`...)
		b = append(b, en.Name...)
		b = append(b, `","type":`...)
		b = appendTypeExprJSON(b, en.Type)
		b = append(b, '}')
	}
	b = append(b, `],"args":[`...)
	for i, a := range e.Args {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTypeExprJSON(b, a)
	}
	return append(b, "]}"...)
}

type jsonModule struct {
	Name     string          `json:"name"`
	TypeDefs json.RawMessage `json:"type_defs"`
}

type jsonTypeDef struct {
	Name string    `json:"name"`
	Args []string  `json:"args"`
	Type *jsonType `json:"type"`
}

type jsonType struct {
	Module  *string     `json:"module"`
	Name    string      `json:"name"`
	Entries []jsonEntry `json:"entries"`
	Args    []*jsonType `json:"args"`
}

type jsonEntry struct {
	Name string    `json:"name"`
	Type *jsonType `json:"type"`
}

// ImportJSON builds a repository from the layout [Repository.MarshalJSON]
// writes (and the original exports). It checks the layout strictly (no
// unknown fields, identifiers for names, entries only on a Tuple/Union)
// and then resolves the modules just as [NewRepository] does. Errors are
// *[SchemaError]s whose position is the file name "<json>".
func ImportJSON(data []byte) (*Repository, error) {
	var raw []jsonModule
	if err := decodeStrict(data, &raw); err != nil {
		return nil, importError("", "invalid repository JSON: %v", err)
	}
	modules := make([]*ModuleDef, 0, len(raw))
	for _, jm := range raw {
		if !isIdent(jm.Name) {
			return nil, importError("", "module name %q is not an identifier", jm.Name)
		}
		m := &ModuleDef{Filename: importFilename, Name: jm.Name, Pos: -1}
		if err := importTypeDefs(m, jm.TypeDefs); err != nil {
			return nil, err
		}
		modules = append(modules, m)
	}
	return build(modules)
}

// importTypeDefs reads a type_defs object in order, which decoding into a
// map would not keep.
func importTypeDefs(m *ModuleDef, data json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return importError(m.Name, "type_defs is not an object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return importError(m.Name, "invalid type_defs: %v", err)
		}
		key, _ := tok.(string) // object keys are always strings
		var jd jsonTypeDef
		if err := dec.Decode(&jd); err != nil {
			return importError(m.Name+"."+key, "invalid definition: %v", err)
		}
		def := m.Name + "." + key
		if jd.Name != key {
			return importError(def, "definition named %q under key %q", jd.Name, key)
		}
		if !isIdent(key) {
			return importError(def, "type name %q is not an identifier", key)
		}
		d := &TypeDef{Name: key, Pos: -1}
		for _, a := range jd.Args {
			if !isIdent(a) {
				return importError(def, "type parameter %q is not an identifier", a)
			}
			d.Params = append(d.Params, Param{Name: a, Pos: -1})
		}
		t, err := importType(def, jd.Type, 0)
		if err != nil {
			return err
		}
		d.Type = t
		m.Defs = append(m.Defs, d)
	}
	return nil
}

func importType(def string, jt *jsonType, depth int) (*TypeExpr, error) {
	if jt == nil {
		return nil, importError(def, "type missing")
	}
	if depth >= maxTypeNesting {
		return nil, importError(def, "types nested more than %d deep", maxTypeNesting)
	}
	e := &TypeExpr{Pos: -1, Name: jt.Name}
	if !isIdent(jt.Name) {
		return nil, importError(def, "type name %q is not an identifier", jt.Name)
	}
	if jt.Module != nil {
		if !isIdent(*jt.Module) {
			return nil, importError(def, "module name %q is not an identifier", *jt.Module)
		}
		e.Module = *jt.Module
	}
	_, composite := compositeKind(e.Name)
	composite = composite && e.Module == ""
	switch {
	case composite && len(jt.Args) > 0:
		return nil, importError(def, "%s with type arguments", e.Name)
	case !composite && len(jt.Entries) > 0:
		return nil, importError(def, "entries given to %s, which is not a Tuple or Union", e.Name)
	}
	for _, je := range jt.Entries {
		if !isIdent(je.Name) {
			return nil, importError(def, "entry name %q is not an identifier", je.Name)
		}
		t, err := importType(def, je.Type, depth+1)
		if err != nil {
			return nil, err
		}
		e.Entries = append(e.Entries, EntryDef{Name: je.Name, Pos: -1, Type: t})
	}
	for _, ja := range jt.Args {
		t, err := importType(def, ja, depth+1)
		if err != nil {
			return nil, err
		}
		e.Args = append(e.Args, t)
	}
	return e, nil
}

func importError(def, format string, args ...any) error {
	return &SchemaError{
		Pos: Position{Filename: importFilename, Offset: -1},
		Def: def,
		Msg: fmt.Sprintf(format, args...),
		Err: ErrSyntax,
	}
}

// decodeStrict decodes exactly one JSON value with no unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the top-level value")
	}
	return nil
}

// isIdent reports whether s matches [A-Za-z][A-Za-z0-9_]*.
func isIdent(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return true
}
