// Package sbsgentest holds the code cmd/sbs-gen writes for the schemas of
// the SBS test vectors, and the tests that run it over every vector: each
// valid one must encode byte-exact and decode back equal, each invalid one
// must be refused with the error the dynamic decoder gives.
//
// The schemas are copies of those in testdata/vectors/sbs (a test checks
// that they still match), plus builtin.sbs, which names the builtin types
// so that their vectors can be run too.
package sbsgentest

//go:generate go run ../../cmd/sbs-gen -package sbsgentest -registry -o vectors.go schemas
