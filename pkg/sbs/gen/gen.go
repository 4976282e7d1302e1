// Package gen writes Go code for SBS schemas: a Go type for each definition
// with methods that encode and decode it without reflection, as
// cmd/sbs-gen does from the command line.
//
// # Types
//
// Every non-parametric definition of the modules given in [Config.Files]
// becomes a Go type named after its module and name, ModuleName
// (Test.Person is TestPerson, Hat.Msg is HatMsg); instances of parametric
// types are named after their arguments (Test.Pair(Integer, String) is
// TestPairIntegerString), and inline Tuples and Unions after where they
// appear (the circle entry of Test.Shape is TestShapeCircle). Definitions
// of other modules that these refer to are generated too. Names are made
// of the identifier parts of the SBS names with underscores removed and
// each part capitalised; a clash gets a numeric suffix.
//
// The types follow the struct bindings of package sbs ([sbs.Bind]), so a
// generated type also works with sbs.Marshal and sbs.Unmarshal:
//
//	Boolean, Integer, Float    bool, int64, float64
//	String, Bytes              string, []byte
//	Array(T)                   []T
//	Maybe(T), Optional(T)      *T (nil for Nothing/none)
//	Tuple/Record               struct, a field per entry, tagged `sbs:"name"`
//	Union/Choice               struct of pointers, exactly one set
//	None, Tuple {}, Union {}   struct{}
//
// A definition that is itself a Maybe is a Union struct with the fields
// Nothing and Just (or None and Value), since a pointer type cannot have
// methods; inside other types Maybe is a pointer. A definition of a
// builtin or an Array is a defined type (type TestInt int64, type TestInts
// []int64).
//
// # Methods
//
// Every generated type T has
//
//	func (x *T) AppendSBS(b []byte) ([]byte, error)
//	func (x *T) UnmarshalSBS(data []byte) error
//
// AppendSBS appends the encoding of x; UnmarshalSBS decodes data, which
// must hold exactly one value, into x. Both behave as the dynamic codec of
// package sbs does, through its [sbs.Decoder] and helpers: the same
// strictness, sentinels, error paths, offsets and nesting limit. Integers
// are int64: a larger one fails to decode with sbs.ErrOverflow.
//
// The type of a schema definition (not an anonymous part of one, nor an
// instance of a parametric definition) also has
//
//	func (x *T) SBSType() (module, name string)
//
// naming that definition, which is what a Chatter message carrying x is
// labelled with: chatter.DataOf builds the label from it, and chatter's
// Send and Decode refuse a value whose label says otherwise. A field
// called SBSType, AppendSBS or UnmarshalSBS gets a number appended.
package gen

import (
	"bytes"
	"fmt"
	"go/format"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// File is one schema text whose modules are generated.
type File struct {
	Name string // for error positions and the header
	Text string
}

// Config says what to generate.
type Config struct {
	// Package is the Go package name of the output.
	Package string
	// Files hold the modules to generate, one module a file.
	Files []File
	// Schema holds other modules that Files refer to; they are generated
	// only as far as Files' types reach them.
	Schema []sbs.Source
	// Registry adds a function NewSBS(module, name string) returning a new
	// value of the generated type of a definition, or nil.
	Registry bool
}

// Generate returns the gofmt-formatted Go source for cfg. Schema errors are
// the *sbs.SchemaError of the parser or repository.
func Generate(cfg Config) ([]byte, error) {
	if !token(cfg.Package) {
		return nil, fmt.Errorf("sbs-gen: invalid package name %q", cfg.Package)
	}
	var sources []sbs.Source
	var mods []*sbs.ModuleDef
	for _, f := range cfg.Files {
		m, err := sbs.Parse(f.Name, f.Text)
		if err != nil {
			return nil, err
		}
		mods = append(mods, m)
		sources = append(sources, sbs.NamedText(f.Name, f.Text))
	}
	repo, err := sbs.NewRepository(append(sources, cfg.Schema...)...)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(mods, func(a, b *sbs.ModuleDef) int { return strings.Compare(a.Name, b.Name) })

	g := &generator{names: make(map[string]bool), decls: make(map[*sbs.Type]*decl)}
	type root struct {
		module, name string
		t            *sbs.Type
	}
	var roots []root
	for _, m := range mods {
		defs := slices.Clone(m.Defs)
		slices.SortFunc(defs, func(a, b *sbs.TypeDef) int { return strings.Compare(a.Name, b.Name) })
		for _, d := range defs {
			if len(d.Params) > 0 {
				continue
			}
			t, err := repo.Type(m.Name, d.Name)
			if err != nil {
				return nil, err
			}
			roots = append(roots, root{m.Name, d.Name, t})
		}
	}
	// Named roots first, so that they get their names unadorned.
	for _, r := range roots {
		if d := g.declare(r.t, ""); d.def == "" {
			d.module, d.def = r.module, r.name
		}
	}
	for i := 0; i < len(g.order); i++ {
		if err := g.prepare(g.order[i]); err != nil {
			return nil, err
		}
	}
	// Definitions of other modules that Files reach are named too; an
	// instance of a parametric definition is not a name the repository
	// knows, so it gets none.
	for _, d := range g.order {
		if d.def == "" && d.t.Module() != "" {
			if t, err := repo.Type(d.t.Module(), d.t.Name()); err == nil && t == d.t {
				d.module, d.def = d.t.Module(), d.t.Name()
			}
		}
	}

	var out bytes.Buffer
	out.WriteString("// Code generated by sbs-gen. DO NOT EDIT.\n")
	if len(cfg.Files) > 0 {
		out.WriteString("// Source:")
		for _, f := range cfg.Files {
			out.WriteString(" " + f.Name)
		}
		out.WriteString("\n")
	}
	fmt.Fprintf(&out, "\npackage %s\n\nimport (\n", cfg.Package)
	decls := slices.Clone(g.order)
	slices.SortFunc(decls, func(a, b *decl) int { return strings.Compare(a.name, b.name) })
	var body bytes.Buffer
	for _, d := range decls {
		g.writeDecl(&body, d)
	}
	if cfg.Registry {
		var reg [][3]string
		for _, r := range roots {
			reg = append(reg, [3]string{r.module, r.name, g.decls[r.t].name})
		}
		g.writeRegistry(&body, reg)
	}
	if g.usesUTF8 {
		out.WriteString("\t\"unicode/utf8\"\n\n")
	}
	out.WriteString("\t\"github.com/gochatter/gochatter/pkg/sbs\"\n)\n")
	out.Write(body.Bytes())
	src, err := format.Source(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("sbs-gen: formatting the output: %w (a bug)", err)
	}
	return src, nil
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func token(s string) bool { return identRE.MatchString(s) && s != "_" }

// decl is one generated Go type.
type decl struct {
	t       *sbs.Type
	name    string
	sbsName string  // t.String(), for error paths
	fields  []field // Tuple and Union entries
	// module and def name the schema definition this type was generated
	// for, when it is one (the first, if several share the type); only
	// these get an SBSType method, since only a definition's name can
	// label a message.
	module, def string
}

type field struct {
	name  string // Go field name
	entry sbs.Entry
}

type generator struct {
	names    map[string]bool
	decls    map[*sbs.Type]*decl
	order    []*decl
	usesUTF8 bool
	vars     int // for unique local names in one method
}

var partRE = regexp.MustCompile(`[A-Za-z0-9]+`)

// camel joins the identifier parts of s, each capitalised.
func camel(s string) string {
	var b strings.Builder
	for _, p := range partRE.FindAllString(s, -1) {
		b.WriteString(strings.ToUpper(p[:1]))
		b.WriteString(p[1:])
	}
	return b.String()
}

// unique returns name, or name with the first free numeric suffix.
func unique(used map[string]bool, name string) string {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		name = "X" + name
	}
	n := name
	for i := 2; used[n]; i++ {
		n = name + strconv.Itoa(i)
	}
	used[n] = true
	return n
}

// isDecl reports whether t gets a Go type of its own: every named node
// and every inline Tuple or Union with entries that is not a Maybe.
func isDecl(t *sbs.Type) bool {
	if t.Module() != "" {
		return true
	}
	switch t.Kind() {
	case sbs.KindTuple, sbs.KindUnion:
		if t.NumEntries() == 0 {
			return false
		}
		_, maybe := maybeShape(t)
		return !maybe
	}
	return false
}

// maybeShape is the rule of package sbs's bindings: a Union
// {Nothing: None, Just: T} or {none: None, value: T}.
func maybeShape(t *sbs.Type) (sbs.Entry, bool) {
	if t.Kind() != sbs.KindUnion || t.NumEntries() != 2 {
		return sbs.Entry{}, false
	}
	e0, e1 := t.Entry(0), t.Entry(1)
	if n := e0.Type; n == nil || n.Kind() != sbs.KindTuple || n.NumEntries() != 0 {
		return sbs.Entry{}, false
	}
	if (e0.Name == "Nothing" && e1.Name == "Just") || (e0.Name == "none" && e1.Name == "value") {
		return e1, true
	}
	return sbs.Entry{}, false
}

func isEmpty(t *sbs.Type) bool {
	return (t.Kind() == sbs.KindTuple || t.Kind() == sbs.KindUnion) && t.NumEntries() == 0
}

// declare gives t (a declared node) its Go name, ctx being the name of
// the place an anonymous node appears.
func (g *generator) declare(t *sbs.Type, ctx string) *decl {
	if d, ok := g.decls[t]; ok {
		return d
	}
	name := ctx
	if t.Module() != "" {
		name = camel(t.Module()) + camel(t.Name())
	}
	d := &decl{t: t, name: unique(g.names, name), sbsName: t.String()}
	g.decls[t] = d
	g.order = append(g.order, d)
	return d
}

// prepare names d's fields and declares the types they refer to.
func (g *generator) prepare(d *decl) error {
	t := d.t
	switch t.Kind() {
	case sbs.KindTuple, sbs.KindUnion:
		if t.Kind() == sbs.KindTuple && t.MinSize() < 0 {
			return fmt.Errorf("sbs-gen: %s has no finite value", t)
		}
		used := map[string]bool{"AppendSBS": true, "UnmarshalSBS": true, "SBSType": true}
		for i := range t.NumEntries() {
			e := t.Entry(i)
			f := field{name: unique(used, camel(e.Name)), entry: e}
			d.fields = append(d.fields, f)
			g.reach(e.Type, d.name+f.name)
		}
	case sbs.KindArray:
		g.reach(t.Elem(), d.name+"Elem")
	}
	return nil
}

// reach declares the Go types that t's Go type expression needs.
func (g *generator) reach(t *sbs.Type, ctx string) {
	if isDecl(t) {
		g.declare(t, ctx)
		return
	}
	switch t.Kind() {
	case sbs.KindArray:
		g.reach(t.Elem(), ctx+"Elem")
	case sbs.KindUnion:
		if some, ok := maybeShape(t); ok {
			g.reach(some.Type, ctx)
		}
	}
}

// goType is the Go type expression of t where it is used.
func (g *generator) goType(t *sbs.Type) string {
	if d, ok := g.decls[t]; ok {
		return d.name
	}
	return g.underlying(t)
}

// underlying is the Go type of t's content, ignoring its own name.
func (g *generator) underlying(t *sbs.Type) string {
	switch t.Kind() {
	case sbs.KindBoolean:
		return "bool"
	case sbs.KindInteger:
		return "int64"
	case sbs.KindFloat:
		return "float64"
	case sbs.KindString:
		return "string"
	case sbs.KindBytes:
		return "[]byte"
	case sbs.KindArray:
		return "[]" + g.goType(t.Elem())
	case sbs.KindUnion:
		if some, ok := maybeShape(t); ok {
			return "*" + g.goType(some.Type)
		}
	}
	return "struct{}"
}

func (g *generator) writeDecl(w *bytes.Buffer, d *decl) {
	t := d.t
	switch {
	case t.Kind() == sbs.KindTuple && len(d.fields) > 0:
		fmt.Fprintf(w, "\n// %s is the SBS type %s.\ntype %s struct {\n", d.name, d.sbsName, d.name)
		for _, f := range d.fields {
			fmt.Fprintf(w, "\t%s %s `sbs:%q`\n", f.name, g.goType(f.entry.Type), f.entry.Name)
		}
		w.WriteString("}\n")
	case t.Kind() == sbs.KindUnion && len(d.fields) > 0:
		fmt.Fprintf(w, "\n// %s is the SBS union %s: exactly one field is set.\ntype %s struct {\n", d.name, d.sbsName, d.name)
		for _, f := range d.fields {
			fmt.Fprintf(w, "\t%s *%s `sbs:%q`\n", f.name, g.goType(f.entry.Type), f.entry.Name)
		}
		w.WriteString("}\n")
	default:
		fmt.Fprintf(w, "\n// %s is the SBS type %s.\ntype %s %s\n", d.name, d.sbsName, d.name, g.underlying(t))
	}

	fmt.Fprintf(w, `
// AppendSBS appends the SBS encoding of x to b.
func (x *%[1]s) AppendSBS(b []byte) ([]byte, error) {
	out, err := x.appendSBS(b, 0)
	if err != nil {
		return b, sbs.WrapType(err, %[2]q)
	}
	return out, nil
}

// UnmarshalSBS decodes data, which must hold exactly one %[2]s, into x.
func (x *%[1]s) UnmarshalSBS(data []byte) error {
	d := sbs.NewDecoder(data)
	return d.End(x.decodeSBS(&d, 0), %[2]q)
}
`, d.name, d.sbsName)
	if d.def != "" {
		fmt.Fprintf(w, `
// SBSType names the schema definition x is a value of, %[2]s.%[3]s, so
// that a message carrying x can be labelled, and checked, without
// repeating the names by hand.
func (x *%[1]s) SBSType() (module, name string) {
	return %[2]q, %[3]q
}
`, d.name, d.module, d.def)
	}

	g.writeAppend(w, d)
	g.writeDecode(w, d)
}

// Encoding. The methods take the value's nesting depth; a value checks its
// own depth on entry and, for parts that are not declared types (which
// check themselves), the depth of its parts, at the points where the
// dynamic codec fails.

const tooDeepEnc = `sbs.EncodeError(sbs.ErrTooDeep, "")`

// wrapper adds path segments, innermost first, to an error expression.
type wrapper func(err string) string

func (w wrapper) entry(name string) wrapper {
	return func(err string) string { return w(fmt.Sprintf("sbs.WrapEntry(%s, %q)", err, name)) }
}

func (w wrapper) index(i string) wrapper {
	return func(err string) string { return w(fmt.Sprintf("sbs.WrapIndex(%s, %s)", err, i)) }
}

func noWrap(err string) string { return err }

func (g *generator) local(prefix string) string {
	g.vars++
	return prefix + strconv.Itoa(g.vars)
}

func (g *generator) writeAppend(w *bytes.Buffer, d *decl) {
	t := d.t
	g.vars = 0
	var body bytes.Buffer
	usesErr := false
	switch {
	case t.Kind() == sbs.KindTuple && len(d.fields) > 0:
		fmt.Fprintf(&body, "if depth >= sbs.MaxDepth {\nif depth > sbs.MaxDepth {\nreturn b, %s\n}\nreturn b, sbs.WrapEntry(%s, %q)\n}\n", tooDeepEnc, tooDeepEnc, d.fields[0].entry.Name)
		for _, f := range d.fields {
			usesErr = g.enc(&body, f.entry.Type, "x."+f.name, 1, wrapper(noWrap).entry(f.entry.Name)) || usesErr
		}
	case t.Kind() == sbs.KindUnion && len(d.fields) > 0:
		fmt.Fprintf(&body, "if depth > sbs.MaxDepth {\nreturn b, %s\n}\n", tooDeepEnc)
		body.WriteString("i := -1\n")
		var quoted []string
		for j, f := range d.fields {
			fmt.Fprintf(&body, "if x.%s != nil {\n", f.name)
			if j > 0 {
				fmt.Fprintf(&body, "if i >= 0 {\nreturn b, sbs.EncodeError(sbs.ErrInvalidValue, \"entries \"+[...]string{%s}[i]+%q)\n}\n",
					strings.Join(quoted, ", "), " and "+strconv.Quote(f.entry.Name)+" both set")
			}
			fmt.Fprintf(&body, "i = %d\n}\n", j)
			quoted = append(quoted, strconv.Quote(strconv.Quote(f.entry.Name)))
		}
		body.WriteString("switch i {\ncase -1:\nreturn b, sbs.EncodeError(sbs.ErrInvalidValue, \"no entry set\")\n")
		for j, f := range d.fields {
			fmt.Fprintf(&body, "case %d:\n%s\n", j, appendIndex(j))
			fmt.Fprintf(&body, "if depth >= sbs.MaxDepth {\nreturn b, sbs.WrapEntry(%s, %q)\n}\n", tooDeepEnc, f.entry.Name)
			usesErr = g.enc(&body, f.entry.Type, "(*x."+f.name+")", 1, wrapper(noWrap).entry(f.entry.Name)) || usesErr
		}
		body.WriteString("}\n")
	default:
		fmt.Fprintf(&body, "if depth > sbs.MaxDepth {\nreturn b, %s\n}\n", tooDeepEnc)
		usesErr = g.encContent(&body, t, "(*x)", 0, noWrap, true)
	}
	fmt.Fprintf(w, "\nfunc (x *%s) appendSBS(b []byte, depth int) ([]byte, error) {\n", d.name)
	if usesErr {
		w.WriteString("var err error\n")
	}
	w.Write(body.Bytes())
	w.WriteString("return b, nil\n}\n")
}

func appendIndex(j int) string {
	if j < 64 {
		return fmt.Sprintf("b = append(b, %#x)", 0x80|j)
	}
	return fmt.Sprintf("b = sbs.AppendInteger(b, %d)", j)
}

// enc writes the encoding of the value v of type t, k levels below the
// method's value, and reports whether it used err.
func (g *generator) enc(w *bytes.Buffer, t *sbs.Type, v string, k int, wrap wrapper) bool {
	if _, ok := g.decls[t]; ok {
		fmt.Fprintf(w, "if b, err = %s.appendSBS(b, depth+%d); err != nil {\nreturn b, %s\n}\n", v, k, wrap("err"))
		return true
	}
	return g.encContent(w, t, v, k, wrap, false)
}

// encContent writes the encoding of t's content; self is set when v has
// t's declared type (and needs converting to the plain Go type).
func (g *generator) encContent(w *bytes.Buffer, t *sbs.Type, v string, k int, wrap wrapper, self bool) bool {
	conv := func(typ string) string {
		if self {
			return typ + "(" + v + ")"
		}
		return v
	}
	depth := fmt.Sprintf("depth+%d", k)
	switch t.Kind() {
	case sbs.KindBoolean:
		fmt.Fprintf(w, "b = sbs.AppendBoolean(b, %s)\n", conv("bool"))
	case sbs.KindInteger:
		fmt.Fprintf(w, "b = sbs.AppendInteger(b, %s)\n", conv("int64"))
	case sbs.KindFloat:
		fmt.Fprintf(w, "b = sbs.AppendFloat(b, %s)\n", conv("float64"))
	case sbs.KindString:
		g.usesUTF8 = true
		fmt.Fprintf(w, "if !utf8.ValidString(%s) {\nreturn b, %s\n}\n", conv("string"), wrap(`sbs.EncodeError(sbs.ErrInvalidUTF8, "")`))
		fmt.Fprintf(w, "b = sbs.AppendString(b, %s)\n", conv("string"))
	case sbs.KindBytes:
		fmt.Fprintf(w, "b = sbs.AppendBytes(b, %s)\n", v)
	case sbs.KindArray:
		elem := t.Elem()
		fmt.Fprintf(w, "b = sbs.AppendInteger(b, int64(len(%s)))\n", v)
		_, declared := g.decls[elem]
		if !declared {
			fmt.Fprintf(w, "if len(%s) > 0 && depth+%d > sbs.MaxDepth {\nreturn b, %s\n}\n", v, k+1, wrap.index("0")(tooDeepEnc))
		}
		if !declared && isEmpty(elem) {
			// Elements that take no bytes: only the depth matters.
			break
		}
		i := g.local("i")
		fmt.Fprintf(w, "for %s := range %s {\n", i, v)
		used := g.enc(w, elem, v+"["+i+"]", k+1, wrap.index(i))
		w.WriteString("}\n")
		return used
	case sbs.KindTuple, sbs.KindUnion:
		if isEmpty(t) {
			break
		}
		some, ok := maybeShape(t)
		if !ok {
			panic("sbs-gen: undeclared Tuple or Union " + t.String())
		}
		none := t.Entry(0).Name
		fmt.Fprintf(w, "if %s == nil {\n", v)
		fmt.Fprintf(w, "if %s >= sbs.MaxDepth {\nreturn b, %s\n}\n", depth, wrap.entry(none)(tooDeepEnc))
		w.WriteString("b = append(b, 0x80)\n} else {\nb = append(b, 0x81)\n")
		if _, declared := g.decls[some.Type]; !declared {
			fmt.Fprintf(w, "if %s >= sbs.MaxDepth {\nreturn b, %s\n}\n", depth, wrap.entry(some.Name)(tooDeepEnc))
		}
		used := g.enc(w, some.Type, "(*"+v+")", k+1, wrap.entry(some.Name))
		w.WriteString("}\n")
		return used
	}
	return false
}

func (g *generator) writeDecode(w *bytes.Buffer, d *decl) {
	t := d.t
	g.vars = 0
	var body bytes.Buffer
	usesErr := false
	body.WriteString("if depth > sbs.MaxDepth {\nreturn d.TooDeep()\n}\n")
	switch {
	case t.Kind() == sbs.KindTuple && len(d.fields) > 0:
		if t.MinSize() == 0 {
			body.WriteString("if err := d.ZeroSize(); err != nil {\nreturn err\n}\n")
		}
		fmt.Fprintf(&body, "if depth >= sbs.MaxDepth {\nreturn sbs.WrapEntry(d.TooDeep(), %q)\n}\n", d.fields[0].entry.Name)
		for _, f := range d.fields {
			usesErr = g.dec(&body, f.entry.Type, "x."+f.name, 1, wrapper(noWrap).entry(f.entry.Name)) || usesErr
		}
	case t.Kind() == sbs.KindUnion && len(d.fields) > 0:
		fmt.Fprintf(&body, "i, err := d.ReadUnionIndex(%d)\nif err != nil {\nreturn err\n}\n", len(d.fields))
		fmt.Fprintf(&body, "*x = %s{}\nswitch i {\n", d.name)
		for j, f := range d.fields {
			fmt.Fprintf(&body, "case %d:\n", j)
			fmt.Fprintf(&body, "if depth >= sbs.MaxDepth {\nreturn sbs.WrapEntry(d.TooDeep(), %q)\n}\n", f.entry.Name)
			p := g.local("p")
			fmt.Fprintf(&body, "%s := new(%s)\n", p, g.goType(f.entry.Type))
			g.dec(&body, f.entry.Type, "(*"+p+")", 1, wrapper(noWrap).entry(f.entry.Name))
			fmt.Fprintf(&body, "x.%s = %s\n", f.name, p)
		}
		body.WriteString("}\n")
	default:
		usesErr = g.decContent(&body, t, "(*x)", 0, noWrap, d.name)
	}
	fmt.Fprintf(w, "\nfunc (x *%s) decodeSBS(d *sbs.Decoder, depth int) error {\n", d.name)
	if usesErr {
		w.WriteString("var err error\n")
	}
	w.Write(body.Bytes())
	w.WriteString("return nil\n}\n")
}

// dec writes the decoding of a value of type t into v, and reports
// whether it used err.
func (g *generator) dec(w *bytes.Buffer, t *sbs.Type, v string, k int, wrap wrapper) bool {
	if _, ok := g.decls[t]; ok {
		fmt.Fprintf(w, "if err := %s.decodeSBS(d, depth+%d); err != nil {\nreturn %s\n}\n", v, k, wrap("err"))
		return false
	}
	return g.decContent(w, t, v, k, wrap, "")
}

// decContent writes the decoding of t's content into v; self names v's
// declared type when v is the method's own value.
func (g *generator) decContent(w *bytes.Buffer, t *sbs.Type, v string, k int, wrap wrapper, self string) bool {
	scalar := func(read string) bool {
		if self != "" {
			fmt.Fprintf(w, "v, err := d.%s()\nif err != nil {\nreturn err\n}\n*x = %s(v)\n", read, self)
			return false
		}
		fmt.Fprintf(w, "if %s, err = d.%s(); err != nil {\nreturn %s\n}\n", v, read, wrap("err"))
		return true
	}
	depth := fmt.Sprintf("depth+%d", k)
	switch t.Kind() {
	case sbs.KindBoolean:
		return scalar("ReadBoolean")
	case sbs.KindInteger:
		return scalar("ReadInteger")
	case sbs.KindFloat:
		return scalar("ReadFloat")
	case sbs.KindString:
		return scalar("ReadString")
	case sbs.KindBytes:
		return scalar("ReadBytes")
	case sbs.KindArray:
		elem := t.Elem()
		n := g.local("n")
		fmt.Fprintf(w, "%s, err := d.ReadArrayLen(%d)\nif err != nil {\nreturn %s\n}\n", n, elem.MinSize(), wrap("err"))
		if _, declared := g.decls[elem]; !declared {
			fmt.Fprintf(w, "if %s > 0 && depth+%d > sbs.MaxDepth {\nreturn %s\n}\n", n, k+1, wrap.index("0")("d.TooDeep()"))
		}
		typ := "[]" + g.goType(elem)
		if self != "" {
			typ = self
		}
		s := g.local("s")
		fmt.Fprintf(w, "%s := make(%s, %s)\n", s, typ, n)
		if _, declared := g.decls[elem]; declared || !isEmpty(elem) {
			i := g.local("i")
			fmt.Fprintf(w, "for %s := range %s {\n", i, s)
			g.dec(w, elem, s+"["+i+"]", k+1, wrap.index(i))
			w.WriteString("}\n")
		}
		fmt.Fprintf(w, "%s = %s\n", v, s)
		return false
	case sbs.KindTuple, sbs.KindUnion:
		if isEmpty(t) {
			return false
		}
		some, ok := maybeShape(t)
		if !ok {
			panic("sbs-gen: undeclared Tuple or Union " + t.String())
		}
		i := g.local("i")
		fmt.Fprintf(w, "%s, err := d.ReadUnionIndex(2)\nif err != nil {\nreturn %s\n}\n", i, wrap("err"))
		fmt.Fprintf(w, "if %s == 0 {\n", i)
		fmt.Fprintf(w, "if %s >= sbs.MaxDepth {\nreturn %s\n}\n", depth, wrap.entry(t.Entry(0).Name)("d.TooDeep()"))
		fmt.Fprintf(w, "%s = nil\n} else {\n", v)
		if _, declared := g.decls[some.Type]; !declared {
			fmt.Fprintf(w, "if %s >= sbs.MaxDepth {\nreturn %s\n}\n", depth, wrap.entry(some.Name)("d.TooDeep()"))
		}
		p := g.local("p")
		fmt.Fprintf(w, "%s := new(%s)\n", p, g.goType(some.Type))
		g.dec(w, some.Type, "(*"+p+")", k+1, wrap.entry(some.Name))
		fmt.Fprintf(w, "%s = %s\n}\n", v, p)
		return false
	}
	return false
}

func (g *generator) writeRegistry(w *bytes.Buffer, roots [][3]string) {
	w.WriteString(`
// NewSBS returns a new zero value of the generated type of the definition
// module.name, or nil for a definition this file does not have.
func NewSBS(module, name string) interface {
	AppendSBS(b []byte) ([]byte, error)
	UnmarshalSBS(data []byte) error
} {
	switch module + "." + name {
`)
	for _, r := range roots {
		fmt.Fprintf(w, "case %q:\nreturn new(%s)\n", r[0]+"."+r[1], r[2])
	}
	w.WriteString("}\nreturn nil\n}\n")
}
