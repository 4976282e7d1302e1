package sbs

import (
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// Binding is a compiled binding of the Go type T to an SBS [Type]: the fast
// path for encoding and decoding one Go type, with no look-up per call.
// Make one with [Bind]. A Binding is immutable and safe for concurrent
// use.
//
// Struct bindings encode Go values of ordinary types as SBS, and decode SBS
// into them, without the dynamic value model. A binding of a Go type to a
// [Type] is compiled once, by reflection, into a tree of small functions
// that reach fields through their offsets; it is cached for the life of the
// process, keyed by the Go type and the *Type.
//
// Go types bind by the SBS kind:
//
//	SBS type                        Go type
//	Boolean                         bool
//	Integer                         any integer kind (int, int8 ... uint64)
//	                                or *big.Int
//	Float                           float64 or float32
//	String                          string
//	Bytes                           []byte
//	Array(T)                        []E, E binding T
//	Tuple/Record with entries       struct, one field per entry; or
//	                                map[string]E when every entry binds E
//	Maybe(T), Optional(T)           *E, nil for Nothing/none, E binding T
//	Union/Choice with entries       struct of pointer fields, one per entry,
//	                                exactly one of them non-nil
//	None, Tuple {}, Union {}        struct{} (any struct with no bound field)
//
// Named Go types bind like their underlying type. A Maybe-shaped Union (its
// entries exactly {Nothing: None, Just: T} or {none: None, value: T}) binds
// to a pointer or, like any Union, to a struct of pointers. Pointers mean
// Maybe and nothing else, but for *big.Int.
//
// Struct fields find their entries by these rules, in order: a field tagged
// `sbs:"-"` is skipped; a field tagged `sbs:"name"` binds the entry called
// name exactly; an untagged exported field binds the entry of exactly its
// name, or else the one entry whose name equals it when case and
// underscores are ignored (field Field1 binds entry field_1, ID binds id).
// Unexported untagged fields are ignored. Every entry needs exactly one
// field and every exported field not skipped needs an entry.
//
// Recursive types work through slices and pointers (a Tree with Children
// []Tree; an IntList = Maybe(Tuple { head: Integer, tail: IntList }) as
// *Cell where Cell has Tail *Cell). A Go type that cannot hold the SBS type
// is refused when the binding is compiled, with a *[BindError] naming the
// field.
//
// Decoding is as strict as [Type.Decode], with the same sentinels, paths
// and limits; in addition an Integer that does not fit the Go field is an
// error wrapping [ErrOverflow]. Decoding overwrites every bound field (and
// leaves others alone); slices, byte slices, strings and pointed-to values
// are newly allocated, never aliasing the input or the old value. On error
// the value may have been partly overwritten.
type Binding[T any] struct {
	t *Type
	c *bindCodec
}

// Bind compiles (or finds in the cache) the binding of T to t. It fails
// with a *[BindError] when T cannot hold t's values.
func Bind[T any](t *Type) (*Binding[T], error) {
	c, err := bindingFor(reflect.TypeFor[T](), t)
	if err != nil {
		return nil, err
	}
	return &Binding[T]{t: t, c: c}, nil
}

// Type is the SBS type the binding encodes.
func (b *Binding[T]) Type() *Type { return b.t }

// Append appends the encoding of *v to dst. On error it returns dst
// unchanged in length and a *[DataError] naming the failing field.
func (b *Binding[T]) Append(dst []byte, v *T) ([]byte, error) {
	if v == nil {
		return dst, finish(newError(ErrInvalidValue, -1, "nil pointer"), b.t)
	}
	out, err := b.c.enc(dst, unsafe.Pointer(v), 0)
	if err != nil {
		return dst, finish(err, b.t)
	}
	return out, nil
}

// Marshal returns the encoding of *v.
func (b *Binding[T]) Marshal(v *T) ([]byte, error) { return b.Append(nil, v) }

// Unmarshal decodes data, which must hold exactly one value, into *v.
func (b *Binding[T]) Unmarshal(data []byte, v *T) error {
	if v == nil {
		return finish(newError(ErrInvalidValue, 0, "nil pointer"), b.t)
	}
	return decodeBound(b.c, b.t, data, unsafe.Pointer(v))
}

// Value pairs v with the binding, for APIs that take a value that encodes
// itself, such as a chatter payload (chatter.Data{..., Data: b.Value(&v)}).
func (b *Binding[T]) Value(v *T) BoundValue[T] { return BoundValue[T]{b, v} }

// BoundValue is a Go value with its binding; see [Binding.Value].
type BoundValue[T any] struct {
	Binding *Binding[T]
	V       *T
}

// AppendSBS appends the encoding of the value, as [Binding.Append].
func (v BoundValue[T]) AppendSBS(dst []byte) ([]byte, error) { return v.Binding.Append(dst, v.V) }

// SBSType names the binding's type, as the types sbs-gen writes do: its
// module ("" for a builtin) and name ("" for an anonymous type).
func (v BoundValue[T]) SBSType() (module, name string) {
	return v.Binding.t.Module(), v.Binding.t.Name()
}

// Marshal returns the encoding of v as type t through a struct binding; see
// [AppendMarshal].
func Marshal(t *Type, v any) ([]byte, error) { return AppendMarshal(nil, t, v) }

// AppendMarshal appends the encoding of v as type t to dst. v is a non-nil
// pointer to the value to encode, or the value itself (which costs a copy);
// a pointer is always followed, so encode a top-level Maybe held in p *E by
// giving &p. The binding of the Go type is compiled on first use and cached;
// [Bind] avoids even the cache look-up.
func AppendMarshal(dst []byte, t *Type, v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	var p unsafe.Pointer
	var rt reflect.Type
	switch {
	case !rv.IsValid():
		return dst, finish(newError(ErrInvalidValue, -1, "nil value"), t)
	case rv.Kind() == reflect.Pointer:
		if rv.IsNil() {
			return dst, finish(newError(ErrInvalidValue, -1, "nil pointer"), t)
		}
		rt, p = rv.Type().Elem(), rv.UnsafePointer()
	default:
		rt = rv.Type()
		pv := reflect.New(rt)
		pv.Elem().Set(rv)
		p = pv.UnsafePointer()
	}
	c, err := bindingFor(rt, t)
	if err != nil {
		return dst, err
	}
	out, err := c.enc(dst, p, 0)
	if err != nil {
		return dst, finish(err, t)
	}
	return out, nil
}

// Unmarshal decodes data, which must hold exactly one value of type t, into
// the value v points to, through a struct binding.
func Unmarshal(t *Type, data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() {
		return finish(newError(ErrInvalidValue, 0, "Unmarshal needs a non-nil pointer"), t)
	}
	c, err := bindingFor(rv.Type().Elem(), t)
	if err != nil {
		return err
	}
	return decodeBound(c, t, data, rv.UnsafePointer())
}

// decoderPool recycles Decoders: one passed to the codec's function values
// escapes, and would otherwise cost an allocation per call.
var decoderPool = sync.Pool{New: func() any { return new(Decoder) }}

func decodeBound(c *bindCodec, t *Type, data []byte, p unsafe.Pointer) error {
	d := decoderPool.Get().(*Decoder)
	*d = NewDecoder(data)
	err := d.trailing(c.dec(d, p, 0))
	*d = Decoder{}
	decoderPool.Put(d)
	if err != nil {
		return finish(err, t)
	}
	return nil
}

// bindCodec encodes and decodes the Go value at p; depth is the value's
// nesting depth, checked against MaxDepth as the dynamic codec does.
type bindCodec struct {
	enc func(b []byte, p unsafe.Pointer, depth int) ([]byte, error)
	dec func(d *Decoder, p unsafe.Pointer, depth int) error
}

type bindKey struct {
	rt reflect.Type
	t  *Type
}

type bindResult struct {
	c   *bindCodec
	err error
}

// bindCache maps a bindKey to its *bindResult, errors included, so that
// each pair is compiled once.
var bindCache sync.Map

func bindingFor(rt reflect.Type, t *Type) (*bindCodec, error) {
	key := bindKey{rt, t}
	if r, ok := bindCache.Load(key); ok {
		r := r.(*bindResult)
		return r.c, r.err
	}
	if t == nil {
		return nil, &BindError{GoType: rt.String(), Type: "<nil>", Msg: "no SBS type"}
	}
	bd := &binder{root: rt, rootT: t, codecs: make(map[bindKey]*bindCodec)}
	if _, err := bd.compile(rt, t, ""); err != nil {
		r, _ := bindCache.LoadOrStore(key, &bindResult{err: err})
		return nil, r.(*bindResult).err
	}
	// The whole graph compiled: publish its parts for other roots.
	for k, c := range bd.codecs {
		bindCache.LoadOrStore(k, &bindResult{c: c})
	}
	r, _ := bindCache.Load(key)
	return r.(*bindResult).c, nil
}

// binder compiles the binding of one root type.
type binder struct {
	root   reflect.Type
	rootT  *Type
	codecs map[bindKey]*bindCodec // compiled or being compiled
}

func (bd *binder) errorf(path, msg string) error {
	return &BindError{GoType: bd.root.String(), Type: bd.rootT.String(), Path: path, Msg: msg}
}

func (bd *binder) mismatch(path string, rt reflect.Type, t *Type) error {
	return bd.errorf(path, "want "+wantGo(t, 0)+" ("+t.String()+"), have "+rt.String())
}

// wantGo names the Go type that would bind t, for errors.
func wantGo(t *Type, depth int) string {
	if t == nil {
		return "?"
	}
	if depth > 3 {
		return "..."
	}
	switch t.kind {
	case KindBoolean:
		return "bool"
	case KindInteger:
		return "int64"
	case KindFloat:
		return "float64"
	case KindString:
		return "string"
	case KindBytes:
		return "[]byte"
	case KindArray:
		return "[]" + wantGo(t.elem, depth+1)
	case KindTuple:
		if len(t.entries) == 0 {
			return "struct{}"
		}
		return "struct"
	case KindUnion:
		if len(t.entries) == 0 {
			return "struct{}"
		}
		if some, ok := maybeShape(t); ok {
			return "*" + wantGo(t.entries[some].Type, depth+1)
		}
		return "struct of pointers"
	}
	return "?"
}

// maybeShape reports whether t is a Union {Nothing: None, Just: T} or
// {none: None, value: T}, and the index of its T entry.
func maybeShape(t *Type) (some int, ok bool) {
	if t.kind != KindUnion || len(t.entries) != 2 {
		return 0, false
	}
	e0, e1 := t.entries[0], t.entries[1]
	if n := e0.Type; n == nil || n.kind != KindTuple || len(n.entries) != 0 {
		return 0, false
	}
	if (e0.Name == "Nothing" && e1.Name == "Just") || (e0.Name == "none" && e1.Name == "value") {
		return 1, true
	}
	return 0, false
}

var bigIntType = reflect.TypeFor[*big.Int]()

func (bd *binder) compile(rt reflect.Type, t *Type, path string) (*bindCodec, error) {
	if t == nil {
		return nil, bd.errorf(path, "unresolved SBS type")
	}
	key := bindKey{rt, t}
	if c, ok := bd.codecs[key]; ok {
		return c, nil // done, or being compiled higher up (a cycle)
	}
	if r, ok := bindCache.Load(key); ok && r.(*bindResult).err == nil {
		return r.(*bindResult).c, nil
	}
	c := &bindCodec{}
	bd.codecs[key] = c
	if err := bd.fill(c, rt, t, path); err != nil {
		return nil, err
	}
	return c, nil
}

func (bd *binder) fill(c *bindCodec, rt reflect.Type, t *Type, path string) error {
	k := rt.Kind()
	switch t.kind {
	case KindBoolean:
		if k != reflect.Bool {
			return bd.mismatch(path, rt, t)
		}
		c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
			if depth > MaxDepth {
				return b, newError(ErrTooDeep, -1, "")
			}
			return AppendBoolean(b, *(*bool)(p)), nil
		}
		c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
			if depth > MaxDepth {
				return d.TooDeep()
			}
			v, err := d.ReadBoolean()
			*(*bool)(p) = v
			return err
		}
	case KindInteger:
		switch {
		case rt == bigIntType:
			bindBig(c)
		case k == reflect.Int:
			bindSigned[int](c, math.MinInt, math.MaxInt)
		case k == reflect.Int8:
			bindSigned[int8](c, math.MinInt8, math.MaxInt8)
		case k == reflect.Int16:
			bindSigned[int16](c, math.MinInt16, math.MaxInt16)
		case k == reflect.Int32:
			bindSigned[int32](c, math.MinInt32, math.MaxInt32)
		case k == reflect.Int64:
			bindSigned[int64](c, math.MinInt64, math.MaxInt64)
		case k == reflect.Uint:
			bindUnsigned[uint](c, math.MaxUint)
		case k == reflect.Uint8:
			bindUnsigned[uint8](c, math.MaxUint8)
		case k == reflect.Uint16:
			bindUnsigned[uint16](c, math.MaxUint16)
		case k == reflect.Uint32:
			bindUnsigned[uint32](c, math.MaxUint32)
		case k == reflect.Uint64:
			bindUnsigned[uint64](c, math.MaxUint64)
		default:
			return bd.mismatch(path, rt, t)
		}
	case KindFloat:
		switch k {
		case reflect.Float64:
			bindFloat[float64](c)
		case reflect.Float32:
			bindFloat[float32](c)
		default:
			return bd.mismatch(path, rt, t)
		}
	case KindString:
		if k != reflect.String {
			return bd.mismatch(path, rt, t)
		}
		c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
			if depth > MaxDepth {
				return b, newError(ErrTooDeep, -1, "")
			}
			s := *(*string)(p)
			if !utf8.ValidString(s) {
				return b, newError(ErrInvalidUTF8, -1, "")
			}
			return AppendString(b, s), nil
		}
		c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
			if depth > MaxDepth {
				return d.TooDeep()
			}
			s, err := d.ReadString()
			if err != nil {
				return err
			}
			*(*string)(p) = s
			return nil
		}
	case KindBytes:
		if k != reflect.Slice || rt.Elem().Kind() != reflect.Uint8 {
			return bd.mismatch(path, rt, t)
		}
		c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
			if depth > MaxDepth {
				return b, newError(ErrTooDeep, -1, "")
			}
			return AppendBytes(b, *(*[]byte)(p)), nil
		}
		c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
			if depth > MaxDepth {
				return d.TooDeep()
			}
			v, err := d.ReadBytes()
			if err != nil {
				return err
			}
			*(*[]byte)(p) = v
			return nil
		}
	case KindArray:
		if k != reflect.Slice {
			return bd.mismatch(path, rt, t)
		}
		return bd.slice(c, rt, t, path)
	case KindTuple, KindUnion:
		if len(t.entries) == 0 {
			return bd.empty(c, rt, t, path)
		}
		if t.kind == KindUnion {
			if some, ok := maybeShape(t); ok && k == reflect.Pointer {
				return bd.maybe(c, rt, t, some, path)
			}
		}
		if k == reflect.Map && t.kind == KindTuple {
			return bd.mapTuple(c, rt, t, path)
		}
		if k != reflect.Struct {
			return bd.mismatch(path, rt, t)
		}
		if t.kind == KindTuple {
			return bd.tuple(c, rt, t, path)
		}
		return bd.union(c, rt, t, path)
	default:
		return bd.errorf(path, "unknown SBS kind")
	}
	return nil
}

func bindSigned[I int | int8 | int16 | int32 | int64](c *bindCodec, lo, hi int64) {
	c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		if depth > MaxDepth {
			return b, newError(ErrTooDeep, -1, "")
		}
		return AppendInteger(b, int64(*(*I)(p))), nil
	}
	c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
		if depth > MaxDepth {
			return d.TooDeep()
		}
		off := d.off
		v, err := d.ReadInteger()
		if err != nil {
			return err
		}
		if v < lo || v > hi {
			d.off = off
			return overflow(v, off)
		}
		*(*I)(p) = I(v)
		return nil
	}
}

func bindUnsigned[U uint | uint8 | uint16 | uint32 | uint64](c *bindCodec, hi uint64) {
	c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		if depth > MaxDepth {
			return b, newError(ErrTooDeep, -1, "")
		}
		u := uint64(*(*U)(p))
		if u <= math.MaxInt64 {
			return AppendInteger(b, int64(u)), nil
		}
		return AppendBigInteger(b, new(big.Int).SetUint64(u)), nil
	}
	c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
		if depth > MaxDepth {
			return d.TooDeep()
		}
		off := d.off
		v, err := d.ReadInteger()
		if err == nil {
			if v < 0 || uint64(v) > hi {
				d.off = off
				return overflow(v, off)
			}
			*(*U)(p) = U(v)
			return nil
		}
		if e, ok := err.(*DataError); !ok || e.Err != ErrOverflow {
			return err
		}
		x, err := d.ReadBigInteger()
		if err != nil {
			return err
		}
		if !x.IsUint64() || x.Uint64() > hi {
			d.off = off
			return newError(ErrOverflow, off, "integer "+x.String()+" does not fit the Go field")
		}
		*(*U)(p) = U(x.Uint64())
		return nil
	}
}

func overflow(v int64, off int) error {
	return newError(ErrOverflow, off, "integer "+strconv.FormatInt(v, 10)+" does not fit the Go field")
}

func bindBig(c *bindCodec) {
	c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		if depth > MaxDepth {
			return b, newError(ErrTooDeep, -1, "")
		}
		x := *(**big.Int)(p)
		if x == nil {
			return b, newError(ErrInvalidValue, -1, "nil *big.Int")
		}
		return AppendBigInteger(b, x), nil
	}
	c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
		if depth > MaxDepth {
			return d.TooDeep()
		}
		x, err := d.ReadBigInteger()
		if err != nil {
			return err
		}
		*(**big.Int)(p) = x
		return nil
	}
}

func bindFloat[F float32 | float64](c *bindCodec) {
	c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		if depth > MaxDepth {
			return b, newError(ErrTooDeep, -1, "")
		}
		return AppendFloat(b, float64(*(*F)(p))), nil
	}
	c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
		if depth > MaxDepth {
			return d.TooDeep()
		}
		v, err := d.ReadFloat()
		*(*F)(p) = F(v)
		return err
	}
}

// sliceHeader is the layout of every Go slice.
type sliceHeader struct {
	data unsafe.Pointer
	len  int
	cap  int
}

func (bd *binder) slice(c *bindCodec, rt reflect.Type, t *Type, path string) error {
	ert := rt.Elem()
	ec, err := bd.compile(ert, t.elem, path+"[]")
	if err != nil {
		return err
	}
	size := ert.Size()
	minSize := t.elem.MinSize()
	empty := reflect.MakeSlice(rt, 0, 0)
	c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		if depth > MaxDepth {
			return b, newError(ErrTooDeep, -1, "")
		}
		h := (*sliceHeader)(p)
		b = AppendInteger(b, int64(h.len))
		var err error
		for i := range h.len {
			if b, err = ec.enc(b, unsafe.Add(h.data, uintptr(i)*size), depth+1); err != nil {
				return b, withIndex(err, i)
			}
		}
		return b, nil
	}
	c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
		if depth > MaxDepth {
			return d.TooDeep()
		}
		n, err := d.ReadArrayLen(minSize)
		if err != nil {
			return err
		}
		v := reflect.NewAt(rt, p).Elem()
		if n == 0 {
			v.Set(empty)
			return nil
		}
		v.SetZero()
		v.Grow(n)
		v.SetLen(n)
		data := v.UnsafePointer()
		for i := range n {
			if err := ec.dec(d, unsafe.Add(data, uintptr(i)*size), depth+1); err != nil {
				return withIndex(err, i)
			}
		}
		return nil
	}
	return nil
}

// boundField is the field that holds one entry.
type boundField struct {
	name string  // the entry's name
	off  uintptr // the field's offset in its struct
	c    *bindCodec
	rt   reflect.Type // for union fields, the pointed-to type
}

// fold is a name with case and underscores ignored.
func fold(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }

// matchFields finds the struct field of rt for each entry of t, by the
// rules in the package documentation, and returns their indexes in entry
// order.
func (bd *binder) matchFields(rt reflect.Type, t *Type, path string) ([]int, error) {
	byEntry := make([]int, len(t.entries))
	for i := range byEntry {
		byEntry[i] = -1
	}
	bindTo := func(ei, fi int) error {
		if prev := byEntry[ei]; prev >= 0 {
			return bd.errorf(path, "fields ."+rt.Field(prev).Name+" and ."+rt.Field(fi).Name+" both bind entry "+quote(t.entries[ei].Name))
		}
		byEntry[ei] = fi
		return nil
	}
	var untagged, unexported []int
	for i := range rt.NumField() {
		sf := rt.Field(i)
		tag, tagged := sf.Tag.Lookup("sbs")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if !sf.IsExported() {
			if tagged {
				return nil, bd.errorf(path+"."+sf.Name, "unexported field with an sbs tag")
			}
			unexported = append(unexported, i)
			continue
		}
		if name == "" {
			untagged = append(untagged, i)
			continue
		}
		ei := t.entryIndex(name)
		if ei < 0 {
			return nil, bd.errorf(path+"."+sf.Name, "tag names no entry of "+t.String()+": "+quote(name))
		}
		if err := bindTo(ei, i); err != nil {
			return nil, err
		}
	}
	var loose []int
	for _, fi := range untagged {
		if ei := t.entryIndex(rt.Field(fi).Name); ei >= 0 && byEntry[ei] < 0 {
			byEntry[ei] = fi
			continue
		}
		loose = append(loose, fi)
	}
	for _, fi := range loose {
		name := rt.Field(fi).Name
		match := -1
		for ei, e := range t.entries {
			if byEntry[ei] < 0 && fold(e.Name) == fold(name) {
				if match >= 0 {
					return nil, bd.errorf(path+"."+name, "matches entries "+quote(t.entries[match].Name)+" and "+quote(e.Name)+"; tag it")
				}
				match = ei
			}
		}
		if match < 0 {
			return nil, bd.errorf(path+"."+name, "matches no entry of "+t.String()+" (tag it `sbs:\"-\"` to skip it)")
		}
		byEntry[match] = fi
	}
	for ei, fi := range byEntry {
		if fi >= 0 {
			continue
		}
		e := t.entries[ei]
		for _, ui := range unexported {
			if fold(rt.Field(ui).Name) == fold(e.Name) {
				return nil, bd.errorf(path+"."+rt.Field(ui).Name, "field for entry "+quote(e.Name)+" is unexported")
			}
		}
		return nil, bd.errorf(path, "no field for entry "+quote(e.Name)+" ("+wantGo(e.Type, 0)+")")
	}
	return byEntry, nil
}

func (bd *binder) tuple(c *bindCodec, rt reflect.Type, t *Type, path string) error {
	if t.minSize >= sizeInfinite {
		return bd.errorf(path, t.String()+" has no finite value")
	}
	idx, err := bd.matchFields(rt, t, path)
	if err != nil {
		return err
	}
	fields := make([]boundField, len(idx))
	for ei, fi := range idx {
		sf := rt.Field(fi)
		fc, err := bd.compile(sf.Type, t.entries[ei].Type, path+"."+sf.Name)
		if err != nil {
			return err
		}
		fields[ei] = boundField{name: t.entries[ei].Name, off: sf.Offset, c: fc}
	}
	zeroSize := t.minSize == 0
	c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		if depth > MaxDepth {
			return b, newError(ErrTooDeep, -1, "")
		}
		var err error
		for i := range fields {
			f := &fields[i]
			if b, err = f.c.enc(b, unsafe.Add(p, f.off), depth+1); err != nil {
				return b, withEntry(err, f.name)
			}
		}
		return b, nil
	}
	c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
		if err := enterTuple(d, depth, zeroSize); err != nil {
			return err
		}
		for i := range fields {
			f := &fields[i]
			if err := f.c.dec(d, unsafe.Add(p, f.off), depth+1); err != nil {
				return withEntry(err, f.name)
			}
		}
		return nil
	}
	return nil
}

// enterTuple begins decoding a Tuple at depth: within the nesting limit,
// and, for a Tuple whose MinSize is 0, charged to the budget of
// MaxZeroSizeElements (Decoder.ZeroSize).
func enterTuple(d *Decoder, depth int, zeroSize bool) error {
	if depth > MaxDepth {
		return d.TooDeep()
	}
	if zeroSize {
		return d.ZeroSize()
	}
	return nil
}

// mapTuple binds a map with string keys to a Tuple whose entries all bind
// the map's value type: map[string]int64 to Tuple { x: Integer, y: Integer }.
// That is the only unambiguous case; a Tuple of mixed types wants a struct.
// Encoding needs exactly the entries as keys; decoding makes a new map of
// them.
func (bd *binder) mapTuple(c *bindCodec, rt reflect.Type, t *Type, path string) error {
	if rt.Key().Kind() != reflect.String {
		return bd.errorf(path, "a map binds a Tuple only with string keys, have "+rt.String())
	}
	if t.minSize >= sizeInfinite {
		return bd.errorf(path, t.String()+" has no finite value")
	}
	vt := rt.Elem()
	codecs := make([]*bindCodec, len(t.entries))
	for i, e := range t.entries {
		ec, err := bd.compile(vt, e.Type, path+"["+strconv.Quote(e.Name)+"]")
		if err != nil {
			return err
		}
		codecs[i] = ec
	}
	kt := rt.Key()
	keys := make([]reflect.Value, len(t.entries))
	for i, e := range t.entries {
		keys[i] = reflect.ValueOf(e.Name).Convert(kt)
	}
	zeroSize := t.minSize == 0
	c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		if depth > MaxDepth {
			return b, newError(ErrTooDeep, -1, "")
		}
		m := reflect.NewAt(rt, p).Elem()
		if m.Len() != len(keys) {
			for _, k := range m.MapKeys() {
				if t.entryIndex(k.String()) < 0 {
					return b, newError(ErrInvalidValue, -1, "key "+strconv.Quote(k.String())+" is no entry of "+t.String())
				}
			}
		}
		v := reflect.New(vt).Elem() // the entry's value, addressable
		var err error
		for i, k := range keys {
			ev := m.MapIndex(k)
			if !ev.IsValid() {
				return b, newError(ErrInvalidValue, -1, "no key "+strconv.Quote(t.entries[i].Name))
			}
			v.Set(ev)
			if b, err = codecs[i].enc(b, v.Addr().UnsafePointer(), depth+1); err != nil {
				return b, withEntry(err, t.entries[i].Name)
			}
		}
		return b, nil
	}
	c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
		if err := enterTuple(d, depth, zeroSize); err != nil {
			return err
		}
		m := reflect.MakeMapWithSize(rt, len(keys))
		for i, k := range keys {
			v := reflect.New(vt)
			if err := codecs[i].dec(d, v.UnsafePointer(), depth+1); err != nil {
				return withEntry(err, t.entries[i].Name)
			}
			m.SetMapIndex(k, v.Elem())
		}
		reflect.NewAt(rt, p).Elem().Set(m)
		return nil
	}
	return nil
}

func (bd *binder) union(c *bindCodec, rt reflect.Type, t *Type, path string) error {
	idx, err := bd.matchFields(rt, t, path)
	if err != nil {
		return err
	}
	fields := make([]boundField, len(idx))
	for ei, fi := range idx {
		sf := rt.Field(fi)
		if sf.Type.Kind() != reflect.Pointer || sf.Type == bigIntType {
			return bd.errorf(path+"."+sf.Name, "a union's fields must be pointers: want *"+wantGo(t.entries[ei].Type, 0)+" ("+t.entries[ei].Type.String()+"), have "+sf.Type.String())
		}
		fc, err := bd.compile(sf.Type.Elem(), t.entries[ei].Type, path+"."+sf.Name)
		if err != nil {
			return err
		}
		fields[ei] = boundField{name: t.entries[ei].Name, off: sf.Offset, c: fc, rt: sf.Type.Elem()}
	}
	c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		if depth > MaxDepth {
			return b, newError(ErrTooDeep, -1, "")
		}
		set := -1
		for i := range fields {
			if *(*unsafe.Pointer)(unsafe.Add(p, fields[i].off)) != nil {
				if set >= 0 {
					return b, newError(ErrInvalidValue, -1, "entries "+quote(fields[set].name)+" and "+quote(fields[i].name)+" both set")
				}
				set = i
			}
		}
		if set < 0 {
			return b, newError(ErrInvalidValue, -1, "no entry set")
		}
		f := &fields[set]
		b = AppendInteger(b, int64(set))
		b, err := f.c.enc(b, *(*unsafe.Pointer)(unsafe.Add(p, f.off)), depth+1)
		if err != nil {
			return b, withEntry(err, f.name)
		}
		return b, nil
	}
	c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
		if depth > MaxDepth {
			return d.TooDeep()
		}
		i, err := d.ReadUnionIndex(len(fields))
		if err != nil {
			return err
		}
		for j := range fields {
			*(*unsafe.Pointer)(unsafe.Add(p, fields[j].off)) = nil
		}
		f := &fields[i]
		v := reflect.New(f.rt).UnsafePointer()
		if err := f.c.dec(d, v, depth+1); err != nil {
			return withEntry(err, f.name)
		}
		*(*unsafe.Pointer)(unsafe.Add(p, f.off)) = v
		return nil
	}
	return nil
}

func (bd *binder) maybe(c *bindCodec, rt reflect.Type, t *Type, some int, path string) error {
	ert := rt.Elem()
	ec, err := bd.compile(ert, t.entries[some].Type, path)
	if err != nil {
		return err
	}
	noneName, someName := t.entries[1-some].Name, t.entries[some].Name
	c.enc = func(b []byte, p unsafe.Pointer, depth int) ([]byte, error) {
		if depth > MaxDepth {
			return b, newError(ErrTooDeep, -1, "")
		}
		v := *(*unsafe.Pointer)(p)
		if v == nil {
			if depth >= MaxDepth {
				return b, withEntry(newError(ErrTooDeep, -1, ""), noneName)
			}
			return AppendInteger(b, int64(1-some)), nil
		}
		b = AppendInteger(b, int64(some))
		b, err := ec.enc(b, v, depth+1)
		if err != nil {
			return b, withEntry(err, someName)
		}
		return b, nil
	}
	c.dec = func(d *Decoder, p unsafe.Pointer, depth int) error {
		if depth > MaxDepth {
			return d.TooDeep()
		}
		i, err := d.ReadUnionIndex(2)
		if err != nil {
			return err
		}
		if i != some {
			if depth >= MaxDepth {
				return withEntry(d.TooDeep(), noneName)
			}
			*(*unsafe.Pointer)(p) = nil
			return nil
		}
		v := reflect.New(ert).UnsafePointer()
		if err := ec.dec(d, v, depth+1); err != nil {
			return withEntry(err, someName)
		}
		*(*unsafe.Pointer)(p) = v
		return nil
	}
	return nil
}

// empty binds an entry-less Tuple or Union to a struct with no bound
// fields.
func (bd *binder) empty(c *bindCodec, rt reflect.Type, t *Type, path string) error {
	if rt.Kind() != reflect.Struct {
		return bd.mismatch(path, rt, t)
	}
	if _, err := bd.matchFields(rt, t, path); err != nil {
		return err
	}
	c.enc = func(b []byte, _ unsafe.Pointer, depth int) ([]byte, error) {
		if depth > MaxDepth {
			return b, newError(ErrTooDeep, -1, "")
		}
		return b, nil
	}
	c.dec = func(d *Decoder, _ unsafe.Pointer, depth int) error {
		if depth > MaxDepth {
			return d.TooDeep()
		}
		return nil
	}
	return nil
}
