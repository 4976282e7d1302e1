// Package protobench compares the SBS codecs of gochatter with protobuf-go
// on equivalent messages: the Chatter envelope Hat.Msg and an Order of
// nested records and arrays (schema/bench.sbs, pb/bench.proto). It is a
// module of its own so that protobuf stays out of gochatter's
// dependencies; run it with make bench-proto from the repository root.
//
// Each benchmark is named Codec/MESSAGE/OP/impl=IMPL, IMPL being proto
// (protobuf-go's generated code), sbsgen (code written by sbs-gen),
// binding (sbs struct bindings) or dynamic (the sbs value model), so that
//
//	benchstat -col /impl bench-proto.txt
//
// sets them side by side with protobuf as the baseline.
package protobench

//go:generate go run github.com/gochatter/gochatter/cmd/sbs-gen -package protobench -o sbs.go schema
