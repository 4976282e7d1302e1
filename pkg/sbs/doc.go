// Package sbs implements SBS (Simple Binary Serialization), the schema
// language and binary encoding of the hat project, wire-compatible with the
// original Python library.
//
// # Where to start
//
// Load schemas into a [Repository] with [NewRepository], giving it
// [Source]s: [Text] or [NamedText] for schema texts, [Path] for a file or a
// directory of *.sbs files, [Repo] to take in another repository's modules.
// [MustRepository] does the same for schemas known to be good, such as a
// package-level variable. Then ask the repository for a [Type] by module
// and name with [Repository.Type], and encode and decode values with it:
//
//	repo := sbs.MustRepository(sbs.Text(`module Shop
//	Item = Tuple { name: String, price: Integer }
//	`))
//	item, _ := repo.Type("Shop", "Item")
//	data, err := item.Encode(map[string]any{"name": "tea", "price": int64(3)})
//
// A Repository resolves everything when it is built, so a schema that
// refers to something missing fails there and not at the first message. It
// is immutable afterwards and safe for concurrent use, and so is every
// [Type] it returns.
//
// # Schemas
//
// A schema text defines one module. It starts with "module Name" and goes
// on with definitions, "Name = Type" or, for a parametric type,
// "Name(A B) = Type". Spaces, tabs, line ends and commas all separate
// tokens, and "#" starts a comment that runs to the end of the line.
// Identifiers are a letter followed by letters, digits and underscores. A
// type is a builtin, Array(T), a Tuple or Union of named entries
// ("{ name: Type ... }"), or a reference: Name or Module.Name, with type
// arguments in parentheses for a parametric one. An unqualified name is
// the same module's, or a parameter of the definition it is in.
//
//	module Example                  # a comment runs to the end of the line
//	Entry(K, V) = Tuple { key: K, value: V }
//	Collection(K) = Union {
//	    null: None
//	    int:  Entry(K, Integer)
//	}
//	IntCollection = Collection(Integer)
//	Remote = Other.Type              # a type of another module
//
// Both dialects of the language are accepted, in any mix: the original's
// Tuple, Union and Maybe(a) = Union { Nothing: None, Just: a }, and the
// later Record, Choice and Optional(a) = Choice { none: None, value: a }.
// The bytes are the same; only entry names differ. Builtins are Boolean,
// Integer, Float, String, Bytes, None (the entry-less Tuple) and Array(T).
//
// Builtin names and keywords are matched as whole identifiers, so
// IntegerList is an ordinary name (the original misreads it). An
// unqualified builtin name always means the builtin; a definition that
// reuses one ("Integer = String") is reached only as Module.Integer.
//
// Types may be recursive, directly or through each other, and so may
// parametric types whose arguments stay the same
// ("List(a) = Union { nil: None, cons: Tuple { head: a, tail: List(a) } }"):
// the resolved [Type] graph then has cycles. Anything that never reaches a
// concrete type is refused: alias cycles (A = B, B = A), parametric types
// whose arguments grow at each step, and, as in the original, a
// parametric type used within its own type arguments
// ("L(a) = Maybe(Tuple { t: L(a) })").
//
// This package is stricter than the original where the original accepts
// dubious schemas (the "lenient" cases of the test vectors). It refuses
// duplicate module, definition, entry and parameter names, parameters named
// like builtins, references to missing types even in unused definitions,
// parametric types used without arguments, Tuple or Union without braces or
// with arguments, and empty parameter or argument lists "T()". Every
// definition is checked, parametric ones with their parameters left open.
//
// [Parse] exposes the parser: it returns a [ModuleDef] syntax tree for
// tools. [Repository.MarshalJSON] and [ImportJSON] export and import a
// repository in the original's JSON layout.
//
// # Values
//
// Dynamic values are a closed set of Go types, chosen by the SBS type:
//
//	Boolean          bool
//	Integer          int64, or *big.Int when outside int64
//	Float            float64
//	String           string
//	Bytes            []byte
//	Array(T)         []any
//	Tuple/Record     map[string]any keyed by entry name
//	Union/Choice     [Union]{Name, Value}
//	entry-less Tuple or Union, None: nil
//
// [Type.Encode] and [Type.Decode] convert between values and bytes;
// [Type.DecodeJSON] reads the SBS-JSON form the test vectors use. The
// low-level codec functions (AppendInteger, ConsumeInteger, ...) work on
// single values in the style of protowire.
//
// # Errors
//
// Schema problems are a *[SchemaError], with the position in go/scanner's
// style ("file:line:col: Module.Name: message") and
// [SchemaError.Detail] to show the source line under a caret. Each wraps a
// sentinel: [ErrSyntax], [ErrUnknownType], [ErrTypeArgs], [ErrDuplicate]
// or [ErrRecursive]. Encoding and decoding problems are a *[DataError]
// naming the path to the failing field and wrapping a sentinel such as
// [ErrNonMinimal] or io.ErrUnexpectedEOF. Test them with errors.Is and
// errors.As.
//
// # Typed values
//
// Go types can stand in for the dynamic values, in two ways that map SBS
// types to Go types alike: Boolean to bool, Integer to int64 (or any Go
// integer kind, or *big.Int), Float to float64, String to string, Bytes to
// []byte, Array(T) to a slice, a Tuple/Record to a struct with a field per
// entry, Maybe(T)/Optional(T) to a pointer (nil for Nothing), a
// Union/Choice to a struct of pointers with exactly one set, and None to
// struct{}.
//
// Struct bindings take ordinary Go types: [Bind] compiles, once, the
// binding of a Go type to a [Type] into a [Binding] whose Append and
// Unmarshal do no look-up per call; [Marshal], [AppendMarshal] and
// [Unmarshal] take any Go value and cache the binding. Fields find their
// entries by `sbs:"name"` tags or by name (case and underscores ignored);
// a Go type that does not fit is refused when the binding is compiled with
// a *[BindError] naming the field (see the rules at [Binding]).
//
// Generated code is faster still: cmd/sbs-gen writes, for the definitions
// of schema files, Go types with AppendSBS and UnmarshalSBS methods that
// use no reflection (package gen describes the output). Generated code
// reads its input through a [Decoder] and builds its errors with
// [EncodeError], [WrapEntry], [WrapIndex] and [WrapType], so that it is as
// strict as [Type.Decode] and fails with the same errors.
//
// Both decode only Integers that fit the Go field: a larger one fails with
// [ErrOverflow] where the dynamic decoder would give a *big.Int.
package sbs
