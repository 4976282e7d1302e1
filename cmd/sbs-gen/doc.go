// Command sbs-gen writes Go types, with encoders and decoders that use no
// reflection, for the definitions of SBS schema modules.
//
// Usage:
//
//	sbs-gen -package NAME [-o FILE] [-schema PATH]... [-registry] PATH...
//
// Each PATH is a schema file, or a directory searched recursively for
// *.sbs files; every non-parametric definition of their modules becomes a
// Go type named ModuleName (Hat.Msg is HatMsg), with the methods
//
//	func (x *HatMsg) AppendSBS(b []byte) ([]byte, error)
//	func (x *HatMsg) UnmarshalSBS(data []byte) error
//	func (x *HatMsg) SBSType() (module, name string)
//
// that encode and decode exactly as package sbs does, through its
// sbs.Decoder and helpers, and name the definition ("Hat", "Msg"), which
// chatter.DataOf labels a message with and chatter's Send and Decode
// check. Instances of parametric types are generated
// where they are used. -schema names further files or directories that
// the modules refer to; their types are generated only as far as they are
// reached. -registry adds NewSBS(module, name), which returns a new value
// of a definition's type. The output, written to FILE or standard output,
// is gofmt-formatted and the same for the same input.
//
// Run it from go generate:
//
//	//go:generate go run github.com/gochatter/gochatter/cmd/sbs-gen -package msgs -o msgs.go schema.sbs
//
// The type mapping and the naming rules are those of package
// github.com/gochatter/gochatter/pkg/sbs/gen; the mapping is that of the
// struct bindings of package sbs, so generated types also work with
// sbs.Marshal and sbs.Unmarshal.
package main
