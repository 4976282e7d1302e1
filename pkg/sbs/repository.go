package sbs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Repository is a set of schema modules with every reference resolved: each
// definition is a [Type] whose graph reaches only other resolved types.
// Build one with [NewRepository] (or [MustRepository], or [ImportJSON]); it
// is immutable from then on and safe for concurrent use.
type Repository struct {
	modules  []*ModuleDef // in load order, for export and merging
	types    map[string]map[string]*Type
	builtins map[string]*Type
}

// Source is where [NewRepository] takes modules from: [Text], [NamedText],
// [Path] or [Repo].
type Source interface {
	load(*loader) error
}

type textSource struct {
	name, text string
	numbered   bool // name it "<text N>" by its place among the sources
}

type pathSource struct{ path string }

type repoSource struct{ r *Repository }

// Text is one schema text, one module. Errors name it "<text N>", N
// counting the Text sources given to [NewRepository] from 1.
func Text(text string) Source { return textSource{text: text, numbered: true} }

// NamedText is one schema text, with name used as its file name in errors.
func NamedText(name, text string) Source { return textSource{name: name, text: text} }

// Path is a schema file, or a directory searched recursively for regular
// files ending in ".sbs", taken in lexical order of their paths.
func Path(path string) Source { return pathSource{path} }

// Repo adds every module of another repository.
func Repo(r *Repository) Source { return repoSource{r} }

// loader collects the modules of all sources before they are resolved.
type loader struct {
	modules []*ModuleDef
	texts   int // Text sources seen, for their names
}

func (s textSource) load(l *loader) error {
	name := s.name
	if s.numbered {
		l.texts++
		name = "<text " + strconv.Itoa(l.texts) + ">"
	}
	return l.parse(name, s.text)
}

func (s pathSource) load(l *loader) error {
	info, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("sbs: %w", err)
	}
	// A file named directly is read whatever its name.
	files := []string{s.path}
	if info.IsDir() {
		files = files[:0]
		// WalkDir goes in lexical order and does not follow symbolic links
		// below the root, so the order is stable and loops impossible.
		err = filepath.WalkDir(s.path, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() && strings.HasSuffix(path, ".sbs") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("sbs: %w", err)
		}
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("sbs: %w", err)
		}
		if err := l.parse(f, string(text)); err != nil {
			return err
		}
	}
	return nil
}

func (s repoSource) load(l *loader) error {
	if s.r != nil {
		l.modules = append(l.modules, s.r.modules...)
	}
	return nil
}

func (l *loader) parse(name, text string) error {
	m, err := Parse(name, text)
	if err != nil {
		return err
	}
	l.modules = append(l.modules, m)
	return nil
}

// NewRepository loads the modules of all sources and resolves them
// together. It fails with a *[SchemaError] for a syntax error, an unknown
// module or type, a wrong number of type arguments, a duplicate module,
// definition, parameter or entry name, a parameter named like a builtin, an
// alias cycle, or a parametric type that expands without end. Every
// definition is checked, used or not, and parametric ones with their
// parameters left open.
func NewRepository(sources ...Source) (*Repository, error) {
	var l loader
	for _, s := range sources {
		if err := s.load(&l); err != nil {
			return nil, err
		}
	}
	return build(l.modules)
}

// MustRepository is [NewRepository] for schemas known to be valid, such as
// package-level variables and tests; it panics on error.
func MustRepository(sources ...Source) *Repository {
	r, err := NewRepository(sources...)
	if err != nil {
		panic(err)
	}
	return r
}

// Modules lists the repository's module names in sorted order.
func (r *Repository) Modules() []string {
	names := make([]string, 0, len(r.modules))
	for _, m := range r.modules {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

// TypeNames lists, in sorted order, the names of module's types: its
// definitions that take no type arguments (a parametric one becomes a
// type only when instantiated). It is empty for an unknown module.
func (r *Repository) TypeNames(module string) []string {
	names := make([]string, 0, len(r.types[module]))
	for name := range r.types[module] {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Type returns the type called name in module, or the builtin type name
// (Boolean, Integer, Float, String, Bytes or None) when module is "". The
// same name always gives the same *Type. An unknown module or name is an
// error wrapping [ErrUnknownType]; a parametric type (or Array, Maybe,
// Optional) is an error wrapping [ErrTypeArgs], since only its instances
// are types.
func (r *Repository) Type(module, name string) (*Type, error) {
	if module == "" {
		if t, ok := r.builtins[name]; ok {
			return t, nil
		}
		if name == "Array" || name == "Maybe" || name == "Optional" {
			return nil, fmt.Errorf("%w: %s needs one", ErrTypeArgs, name)
		}
		return nil, fmt.Errorf("%w: no builtin type %q", ErrUnknownType, name)
	}
	types, ok := r.types[module]
	if !ok {
		return nil, fmt.Errorf("%w: no module %q", ErrUnknownType, module)
	}
	if t, ok := types[name]; ok {
		return t, nil
	}
	for _, m := range r.modules {
		if m.Name != module {
			continue
		}
		for _, d := range m.Defs {
			if d.Name == name {
				return nil, fmt.Errorf("%w: %s.%s needs %s", ErrTypeArgs, module, name, plural(len(d.Params), "argument"))
			}
		}
	}
	return nil, fmt.Errorf("%w: module %s has no type %q", ErrUnknownType, module, name)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// Limits on resolving, so that no schema can make building a repository run
// without end: how deeply instances of parametric types may nest while they
// are built, and how many there may be in all.
const (
	maxInstanceDepth = 100
	maxInstances     = 10000
)

// build resolves modules into a Repository.
func build(modules []*ModuleDef) (*Repository, error) {
	r := &resolver{
		modules:  make(map[string]*ModuleDef),
		defs:     make(map[*ModuleDef]map[string]*TypeDef),
		builtins: make(map[string]*Type),
		memo:     make(map[string]*Type),
		insts:    make(map[*Type]*instance),
		ids:      make(map[*Type]int),
		interned: make(map[string]*Type),
	}
	// Builtin nodes belong to the repository: prepareTypes writes to every
	// node it is given, so no two repositories may share one.
	for name, k := range simpleKinds {
		r.builtins[name] = &Type{kind: k, name: name}
	}
	if err := r.declare(modules); err != nil {
		return nil, err
	}

	repo := &Repository{
		modules:  modules,
		types:    make(map[string]map[string]*Type, len(modules)),
		builtins: r.builtins,
	}
	roots := make([]*Type, 0, len(r.builtins))
	for _, t := range r.builtins {
		roots = append(roots, t)
	}
	for _, m := range modules {
		types := make(map[string]*Type, len(m.Defs))
		repo.types[m.Name] = types
		for _, d := range m.Defs {
			var args []*Type
			if len(d.Params) > 0 {
				// Check the body with each parameter left open, so that a
				// parametric type is refused for what it says even if no
				// definition uses it.
				for _, p := range d.Params {
					args = append(args, &Type{name: p.Name})
				}
			}
			t, err := r.instantiate(m, d, args, d.Pos, scope{mod: m, def: d})
			if err != nil {
				return nil, err
			}
			if len(d.Params) == 0 {
				types[d.Name] = t
				roots = append(roots, t)
			}
		}
	}
	if err := r.resolveAliases(); err != nil {
		return nil, err
	}
	prepareTypes(roots)
	return repo, nil
}

// resolver turns syntax trees into a Type graph. Each instance of a
// definition (a non-parametric one, or a parametric one with particular
// arguments) is one node, memoised by module, name and the identity of its
// arguments, so recursive types become cycles. Array, Maybe, Optional and
// inline Tuples/Unions are anonymous nodes, interned by the identity of
// their parts: that keeps instance arguments stable, so that a recursive
// parametric type whose arguments do not grow ends.
type resolver struct {
	modules  map[string]*ModuleDef
	defs     map[*ModuleDef]map[string]*TypeDef
	builtins map[string]*Type
	memo     map[string]*Type
	insts    map[*Type]*instance
	ids      map[*Type]int
	interned map[string]*Type

	order     []*instance // in creation order, for deterministic errors
	instances int         // instances of parametric types
	depth     int         // instances of parametric types being built, nested
	argDepth  int         // type arguments being resolved in the current instance
}

// instance is the build state of one named node.
type instance struct {
	mod      *ModuleDef
	def      *TypeDef
	node     *Type
	building bool
	// alias is the named node this one's body refers to ("A = B",
	// "T = Pair(Integer, String)"). It may be unfinished while the graph is
	// built, so its content is copied once everything is resolved.
	alias *Type
}

// scope is where a type expression is resolved: its module and definition,
// and the types bound to the definition's parameters.
type scope struct {
	mod    *ModuleDef
	def    *TypeDef
	params map[string]*Type
}

func (r *resolver) errorf(sc scope, off int, sentinel error, format string, args ...any) error {
	pos, line := sc.mod.position(off)
	e := &SchemaError{Pos: pos, Msg: fmt.Sprintf(format, args...), Err: sentinel, line: line}
	if sc.def != nil {
		e.Def = sc.mod.Name + "." + sc.def.Name
	}
	return e
}

// declare indexes modules and definitions, refusing duplicates and
// parameters that could never be used.
func (r *resolver) declare(modules []*ModuleDef) error {
	for _, m := range modules {
		if prev, ok := r.modules[m.Name]; ok {
			return r.errorf(scope{mod: m}, m.Pos, ErrDuplicate, "module %s defined again (first at %s)", m.Name, prev.Position(prev.Pos))
		}
		r.modules[m.Name] = m
		defs := make(map[string]*TypeDef, len(m.Defs))
		r.defs[m] = defs
		for _, d := range m.Defs {
			sc := scope{mod: m, def: d}
			if prev, ok := defs[d.Name]; ok {
				return r.errorf(sc, d.Pos, ErrDuplicate, "%s defined again (first at %s)", d.Name, m.Position(prev.Pos))
			}
			defs[d.Name] = d
			for i, p := range d.Params {
				if isReserved(p.Name) {
					return r.errorf(sc, p.Pos, ErrDuplicate, "type parameter %s would hide the builtin %s", p.Name, p.Name)
				}
				for _, q := range d.Params[:i] {
					if q.Name == p.Name {
						return r.errorf(sc, p.Pos, ErrDuplicate, "duplicate type parameter %s", p.Name)
					}
				}
			}
			if err := r.checkEntries(sc, d.Type, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkEntries refuses duplicate entry names anywhere in e. depth guards
// trees that did not come from the parser (ImportJSON).
func (r *resolver) checkEntries(sc scope, e *TypeExpr, depth int) error {
	if depth > maxTypeNesting {
		return r.errorf(sc, e.Pos, ErrSyntax, "types nested more than %d deep", maxTypeNesting)
	}
	for i, en := range e.Entries {
		for _, prev := range e.Entries[:i] {
			if prev.Name == en.Name {
				return r.errorf(sc, en.Pos, ErrDuplicate, "duplicate entry %s in %s", en.Name, e.Name)
			}
		}
		if err := r.checkEntries(sc, en.Type, depth+1); err != nil {
			return err
		}
	}
	for _, a := range e.Args {
		if err := r.checkEntries(sc, a, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// id numbers nodes for memo and intern keys.
func (r *resolver) id(t *Type) string {
	n, ok := r.ids[t]
	if !ok {
		n = len(r.ids) + 1
		r.ids[t] = n
	}
	return strconv.Itoa(n)
}

// intern returns the one anonymous node for key, making it with mk.
func (r *resolver) intern(key string, mk func() *Type) *Type {
	if t, ok := r.interned[key]; ok {
		return t
	}
	t := mk()
	r.interned[key] = t
	return t
}

// instantiate returns the node of definition d of module m with args bound
// to its parameters, building it on first use. ref is the offset of the
// reference asking for it, resolved in scope from.
func (r *resolver) instantiate(m *ModuleDef, d *TypeDef, args []*Type, ref int, from scope) (*Type, error) {
	var key strings.Builder
	key.WriteString(m.Name)
	key.WriteByte('.')
	key.WriteString(d.Name)
	for _, a := range args {
		key.WriteByte(' ')
		key.WriteString(r.id(a))
	}
	if t, ok := r.memo[key.String()]; ok {
		// The original expands parametric types eagerly, so an unfinished
		// instance used inside type arguments ("L(a) = Maybe(Tuple { t:
		// L(a) })") expands without end there; refusing it keeps schemas
		// portable. Inside its own body the reference is a plain cycle.
		if inst := r.insts[t]; inst.building && len(d.Params) > 0 && r.argDepth > 0 {
			return nil, r.errorf(from, ref, ErrRecursive, "%s refers to itself through type arguments", t)
		}
		return t, nil
	}
	name := d.Name
	if len(d.Params) > 0 {
		if r.instances >= maxInstances {
			return nil, r.errorf(from, ref, ErrRecursive, "more than %d instances of parametric types", maxInstances)
		}
		r.instances++
		name = instanceName(d.Name, args)
		if r.depth >= maxInstanceDepth {
			return nil, r.errorf(from, ref, ErrRecursive, "instantiating %s expands without end", name)
		}
	}
	t := &Type{module: m.Name, name: name}
	inst := &instance{mod: m, def: d, node: t, building: true}
	r.memo[key.String()] = t
	r.insts[t] = inst
	r.order = append(r.order, inst)

	sc := scope{mod: m, def: d}
	if len(d.Params) > 0 {
		sc.params = make(map[string]*Type, len(args))
		for i, p := range d.Params {
			sc.params[p.Name] = args[i]
		}
	}
	savedArgs, savedDepth := r.argDepth, r.depth
	r.argDepth = 0
	if len(d.Params) > 0 {
		r.depth++
	}
	body, err := r.resolve(sc, d.Type)
	r.argDepth, r.depth = savedArgs, savedDepth
	inst.building = false
	if err != nil {
		return nil, err
	}
	if _, named := r.insts[body]; named {
		inst.alias = body
	} else {
		// Anonymous and builtin nodes are complete when made.
		t.kind, t.elem, t.entries = body.kind, body.elem, body.entries
	}
	return t, nil
}

// resolve returns the node for e in scope sc.
func (r *resolver) resolve(sc scope, e *TypeExpr) (*Type, error) {
	if e.Module == "" {
		if kind, ok := compositeKind(e.Name); ok {
			return r.resolveComposite(sc, e, kind)
		}
		if t, ok := sc.params[e.Name]; ok {
			if len(e.Args) > 0 {
				return nil, r.errorf(sc, e.Pos, ErrTypeArgs, "type parameter %s takes no type arguments", e.Name)
			}
			return t, nil
		}
		if _, ok := simpleKinds[e.Name]; ok {
			if len(e.Args) > 0 {
				return nil, r.errorf(sc, e.Pos, ErrTypeArgs, "%s takes no type arguments", e.Name)
			}
			return r.builtins[e.Name], nil
		}
		switch e.Name {
		case "Array", "Maybe", "Optional":
			if len(e.Args) != 1 {
				return nil, r.errorf(sc, e.Pos, ErrTypeArgs, "%s needs 1 type argument, found %d", e.Name, len(e.Args))
			}
			a, err := r.resolveArg(sc, e.Args[0])
			if err != nil {
				return nil, err
			}
			return r.builtinInstance(e.Name, a), nil
		}
	}

	m := sc.mod
	if e.Module != "" {
		var ok bool
		if m, ok = r.modules[e.Module]; !ok {
			return nil, r.errorf(sc, e.Pos, ErrUnknownType, "unknown module %s in %s.%s", e.Module, e.Module, e.Name)
		}
	}
	d, ok := r.defs[m][e.Name]
	if !ok {
		if e.Module != "" {
			return nil, r.errorf(sc, e.Pos, ErrUnknownType, "module %s has no type %s", e.Module, e.Name)
		}
		return nil, r.errorf(sc, e.Pos, ErrUnknownType, "unknown type %s", e.Name)
	}
	if len(e.Args) != len(d.Params) {
		return nil, r.errorf(sc, e.Pos, ErrTypeArgs, "%s has %s, found %d", e.Name, plural(len(d.Params), "type parameter"), len(e.Args))
	}
	// Arguments resolve in the referring scope, the body in the defining
	// module.
	args := make([]*Type, len(e.Args))
	for i, a := range e.Args {
		t, err := r.resolveArg(sc, a)
		if err != nil {
			return nil, err
		}
		args[i] = t
	}
	return r.instantiate(m, d, args, e.Pos, sc)
}

func (r *resolver) resolveArg(sc scope, e *TypeExpr) (*Type, error) {
	r.argDepth++
	defer func() { r.argDepth-- }()
	return r.resolve(sc, e)
}

// builtinInstance is Array(a), Maybe(a) or Optional(a), interned.
func (r *resolver) builtinInstance(name string, a *Type) *Type {
	return r.intern(name+" "+r.id(a), func() *Type {
		if name == "Array" {
			return &Type{kind: KindArray, elem: a}
		}
		// Maybe(a) = Union { Nothing: None, Just: a }, and the later
		// dialect's Optional(a) = Choice { none: None, value: a }: the
		// same bytes, other entry names.
		none, some := "Nothing", "Just"
		if name == "Optional" {
			none, some = "none", "value"
		}
		return &Type{
			kind:    KindUnion,
			name:    instanceName(name, []*Type{a}),
			entries: []Entry{{Name: none, Type: r.builtins["None"]}, {Name: some, Type: a}},
		}
	})
}

func (r *resolver) resolveComposite(sc scope, e *TypeExpr, kind Kind) (*Type, error) {
	if len(e.Args) > 0 {
		return nil, r.errorf(sc, e.Pos, ErrTypeArgs, "%s takes no type arguments", e.Name)
	}
	entries := make([]Entry, len(e.Entries))
	var key strings.Builder
	key.WriteString(kind.String())
	for i, en := range e.Entries {
		t, err := r.resolve(sc, en.Type)
		if err != nil {
			return nil, err
		}
		entries[i] = Entry{Name: en.Name, Type: t}
		key.WriteByte(' ')
		key.WriteString(en.Name)
		key.WriteByte(':')
		key.WriteString(r.id(t))
	}
	return r.intern(key.String(), func() *Type {
		return &Type{kind: kind, entries: entries}
	}), nil
}

// resolveAliases fills every node whose body was a reference to another
// named node with that node's content, following chains of aliases, once
// every node is built. A chain that comes back on itself has no content.
func (r *resolver) resolveAliases() error {
	for _, inst := range r.order {
		if inst.alias == nil {
			continue
		}
		chain := []*instance{inst}
		seen := map[*Type]int{inst.node: 0}
		target := inst.alias
		for {
			ti := r.insts[target]
			if ti == nil || ti.alias == nil {
				break
			}
			if i, ok := seen[target]; ok {
				// Report the cycle at its first member, listing it round.
				cycle := chain[i:]
				names := make([]string, 0, len(cycle)+1)
				for _, c := range cycle {
					names = append(names, c.node.String())
				}
				names = append(names, cycle[0].node.String())
				sc := scope{mod: cycle[0].mod, def: cycle[0].def}
				return r.errorf(sc, cycle[0].def.Pos, ErrRecursive, "alias cycle %s", strings.Join(names, " = "))
			}
			seen[target] = len(chain)
			chain = append(chain, ti)
			target = ti.alias
		}
		// Every node of the chain gets the content, so that later chains
		// through it stop there.
		for _, c := range chain {
			c.node.kind, c.node.elem, c.node.entries = target.kind, target.elem, target.entries
			c.alias = nil
		}
	}
	return nil
}

// maxNameLen bounds the names given to instances, which nest.
const maxNameLen = 120

// instanceName names an instance of a parametric type after its arguments,
// "Entry(Integer, Test.Point)", for error messages.
func instanceName(name string, args []*Type) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		writeTypeLabel(&b, a)
		if b.Len() > maxNameLen {
			break
		}
	}
	s := b.String()
	if len(s) > maxNameLen {
		return s[:maxNameLen-3] + "..."
	}
	return s + ")"
}

// writeTypeLabel writes a short name for t: qualified for module types,
// structure only one level deep for anonymous ones.
func writeTypeLabel(b *strings.Builder, t *Type) {
	switch {
	case t.name != "" && t.module != "":
		b.WriteString(t.module)
		b.WriteByte('.')
		b.WriteString(t.name)
	case t.name != "":
		b.WriteString(t.name)
	case t.kind == KindArray:
		b.WriteString("Array(")
		if b.Len() <= maxNameLen {
			writeTypeLabel(b, t.elem)
		}
		b.WriteByte(')')
	case t.kind == KindTuple && len(t.entries) == 0:
		b.WriteString("Tuple {}")
	case t.kind == KindUnion && len(t.entries) == 0:
		b.WriteString("Union {}")
	default:
		b.WriteString(t.kind.String())
		b.WriteString(" {...}")
	}
}
