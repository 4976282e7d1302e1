package sbs

// Kind is the shape of an SBS type after every reference has been resolved.
type Kind uint8

// The kinds of compiled types. None is a Tuple with no entries.
const (
	KindBoolean Kind = iota + 1
	KindInteger
	KindFloat
	KindString
	KindBytes
	KindArray
	KindTuple
	KindUnion
)

var kindNames = [...]string{
	KindBoolean: "Boolean",
	KindInteger: "Integer",
	KindFloat:   "Float",
	KindString:  "String",
	KindBytes:   "Bytes",
	KindArray:   "Array",
	KindTuple:   "Tuple",
	KindUnion:   "Union",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(?)"
}

// Type is a compiled SBS type: a graph of nodes in which every reference has
// been resolved when the [Repository] was built. Recursive schema types are
// cycles in this graph. A Type is immutable and safe for concurrent use.
type Type struct {
	kind Kind
	// module and name say where the type was defined ("Hat", "Msg"); both
	// are empty for anonymous types such as an inline Tuple or Array.
	// Instances of parametric types carry their arguments in name, e.g.
	// "Entry(Integer, String)".
	module string
	name   string

	elem    *Type   // KindArray
	entries []Entry // KindTuple, KindUnion, in schema order

	// Filled in once by prepareTypes, read-only afterwards.
	prepared bool
	// minSize is the fewest bytes any value of the type encodes to, or
	// sizeInfinite when the type has no finite value (Tuple { t: T }
	// referring to itself). The decoder checks counts against it.
	minSize int
	// index maps entry names to positions for Tuples and Unions with more
	// than linearScanMax entries; smaller ones are searched linearly, which
	// is faster than hashing for the common Maybe and small records.
	index map[string]int
	// nilChoice holds, for each Union entry whose value is always nil (an
	// entry-less Tuple or Union, such as Maybe's Nothing), that choice
	// boxed once; the decoder returns it instead of boxing a new Union.
	// Sharing is safe: a boxed value cannot be changed through the
	// interface.
	nilChoice []any
}

// sizeInfinite stands for "no finite encoding"; it is far above any input
// length yet small enough that adding two of them cannot overflow.
const sizeInfinite = 1 << 40

// linearScanMax is the largest entry count searched without index.
const linearScanMax = 8

// prepareTypes precomputes what the codec needs for every node reachable
// from roots. The repository calls it once after building its whole graph
// and before publishing it; nodes already prepared (shared with another
// repository) are left untouched so that concurrent readers never see a
// write. The graph may contain cycles.
func prepareTypes(roots []*Type) {
	// Collect the unprepared nodes with an explicit stack: recursion on a
	// deep alias chain must not be able to exhaust the stack.
	var nodes []*Type
	seen := make(map[*Type]bool)
	stack := make([]*Type, 0, len(roots))
	for _, r := range roots {
		if r != nil && !r.prepared && !seen[r] {
			seen[r] = true
			stack = append(stack, r)
		}
	}
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		nodes = append(nodes, t)
		push := func(c *Type) {
			if c != nil && !c.prepared && !seen[c] {
				seen[c] = true
				stack = append(stack, c)
			}
		}
		push(t.elem)
		for _, e := range t.entries {
			push(e.Type)
		}
	}

	// Minimum sizes: start every node at "infinite" and lower until
	// nothing changes. Starting high (rather than at zero) gives the true
	// minimum over finite values and leaves types without one infinite.
	// Each round finalises at least one more node, so this ends after at
	// most len(nodes)+1 rounds.
	for _, t := range nodes {
		t.minSize = sizeInfinite
	}
	for changed := true; changed; {
		changed = false
		for _, t := range nodes {
			if m := computeMinSize(t); m < t.minSize {
				t.minSize = m
				changed = true
			}
		}
	}

	for _, t := range nodes {
		if (t.kind == KindTuple || t.kind == KindUnion) && len(t.entries) > linearScanMax {
			t.index = make(map[string]int, len(t.entries))
			for i, e := range t.entries {
				if _, dup := t.index[e.Name]; !dup {
					t.index[e.Name] = i
				}
			}
		}
	}
	for _, t := range nodes {
		if t.kind != KindUnion {
			continue
		}
		for i, e := range t.entries {
			if c := e.Type; c != nil && (c.kind == KindTuple || c.kind == KindUnion) && len(c.entries) == 0 {
				if t.nilChoice == nil {
					t.nilChoice = make([]any, len(t.entries))
				}
				t.nilChoice[i] = Union{Name: e.Name}
			}
		}
	}
	for _, t := range nodes {
		t.prepared = true
	}
}

// computeMinSize is one relaxation step of prepareTypes' fixpoint.
func computeMinSize(t *Type) int {
	size := func(c *Type) int {
		if c == nil {
			return sizeInfinite
		}
		return c.minSize
	}
	switch t.kind {
	case KindBoolean, KindInteger, KindString, KindBytes, KindArray:
		// One byte: the value, the length or the count.
		return 1
	case KindFloat:
		return SizeFloat
	case KindTuple:
		sum := 0
		for _, e := range t.entries {
			sum += size(e.Type)
			if sum >= sizeInfinite {
				return sizeInfinite
			}
		}
		return sum
	case KindUnion:
		if len(t.entries) == 0 {
			return 0
		}
		best := sizeInfinite
		for _, e := range t.entries {
			best = min(best, size(e.Type))
		}
		if best >= sizeInfinite {
			return sizeInfinite
		}
		return 1 + best
	}
	return sizeInfinite
}

// entryIndex finds the entry called name, or returns -1.
func (t *Type) entryIndex(name string) int {
	if t.index != nil {
		if i, ok := t.index[name]; ok {
			return i
		}
		return -1
	}
	for i := range t.entries {
		if t.entries[i].Name == name {
			return i
		}
	}
	return -1
}

// Entry is one named field of a Tuple or alternative of a Union.
type Entry struct {
	Name string
	Type *Type
}

// Kind reports the type's kind.
func (t *Type) Kind() Kind { return t.kind }

// Module is the module the type was defined in, or "" for builtin and
// anonymous types.
func (t *Type) Module() string { return t.module }

// Name is the type's name in its module, or "" for an anonymous type.
func (t *Type) Name() string { return t.name }

// Elem is the element type of an Array, nil otherwise.
func (t *Type) Elem() *Type { return t.elem }

// NumEntries is the number of entries of a Tuple or Union.
func (t *Type) NumEntries() int { return len(t.entries) }

// Entry returns the i-th entry of a Tuple or Union in schema order.
func (t *Type) Entry(i int) Entry { return t.entries[i] }

// String names the type as a schema would: "Hat.Msg", "Integer", "Array".
func (t *Type) String() string {
	switch {
	case t.name != "" && t.module != "":
		return t.module + "." + t.name
	case t.name != "":
		return t.name
	}
	return t.kind.String()
}
