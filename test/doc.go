// Package test holds gochatter's end-to-end tests: they build the
// chatter-echo binary once and drive serve, call and demo as a user would,
// over TCP, IPv6 and TLS on the loopback interface, and they run fault,
// load and scale scenarios against in-process servers and child processes.
//
// The benchmark that compares gochatter with gRPC and NATS lives in
// test/peers, a module of its own so that those libraries stay out of
// gochatter's dependencies; so do test/chaos (faults through a real
// proxy), test/protobench (SBS against protobuf-go) and test/tracehops
// (an execution trace read hop by hop, to see which hand-off of a request
// got slower between two builds).
package test
