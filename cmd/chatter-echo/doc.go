// Chatter-echo is a command-line peer for hat networks: it serves, watches,
// sends to, calls, measures and taps anything that speaks Chatter, in
// either wire generation.
//
// Usage:
//
//	chatter-echo serve [flags] ADDRESS
//	chatter-echo listen [flags] ADDRESS
//	chatter-echo send [flags] ADDRESS
//	chatter-echo call [flags] ADDRESS
//	chatter-echo bench [flags] [ADDRESS]
//	chatter-echo tap [flags] LISTEN UPSTREAM
//	chatter-echo types -schema PATH
//	chatter-echo demo
//	chatter-echo -version
//	chatter-echo
//
// ADDRESS, LISTEN and UPSTREAM are tcp+sbs://HOST:PORT or
// ssl+sbs://HOST:PORT, IPv6 hosts in brackets (tcp+sbs://[::1]:23012).
// Flags may come before or after the arguments. Payloads are written in
// SBS-JSON (see call) and read with the types of the -schema files; a
// payload whose type they lack is shown in hex, never a reason to drop a
// connection.
//
// # serve
//
// serve listens on ADDRESS and answers every message it receives with the
// same payload, unchanged, in the same conversation, ending it (last =
// true): whatever its type, known to the schemas or not. As soon as it is
// bound it prints one line per listening socket to standard output,
//
//	listening on tcp+sbs://127.0.0.1:41234
//
// with port 0 resolved, so a script can ask for port 0 and read the real
// one. Connections opening and closing (with the reason and the wire
// generation) are logged to standard error; with -wire auto, so is the
// generation each connection turned out to speak. -debug-addr HOST:PORT (a
// loopback address) also serves the server's counters at /debug/vars
// (expvar) and the Go runtime's profiles at /debug/pprof/, and prints
// "debug on http://HOST:PORT/debug/vars and /debug/pprof/". SIGINT or
// SIGTERM stops the server gracefully and exits 0: it stops accepting, every
// connection stops reading and answers what it had read, then closes.
// Connections still busy after 5 s are closed (logged at WARN), flushing
// what was queued for at most 5 s more to peers that do not read.
//
// # listen
//
// listen connects to ADDRESS, or with -serve listens on it (printing
// "listening on ADDRESS" to standard error) and takes every client, and
// prints every message received as one JSON line on standard output:
//
//	{"time":"2026-12-01T10:00:00.000001Z","dir":"in","conn":"tcp+sbs://127.0.0.1:23012","wire":"legacy",
//	 "conv":{"first":3,"owner":false},"first":true,"last":false,"token":true,
//	 "module":"Example","type":"Point","value":{"x":1,"y":2}}
//
// conv is the conversation (the id of its first message, and whether this
// side started it), first, last and token the message's flags, module null
// for a builtin type. A payload the schemas cannot decode has "raw" (hex)
// and "error" instead of "value". listen sends nothing but the answers to
// the peer's pings (and, unless -ping 0, pings of its own). It ends with
// exit status 0 on SIGINT or SIGTERM, and 1 when the connection ends,
// saying why.
//
// # send
//
// send sends one-way messages to ADDRESS: each is a conversation of its
// own, with last and token as -last and -token say (both true by default).
// The messages are the JSON documents of -d (the text given, or with
// -d @FILE the file's), or else of standard input: one a line, or
// pretty-printed, in the form call reads. Nothing is sent unless every
// document is valid. Then it pings the peer and waits for the answer,
// which comes only once the peer has read and parsed every message before
// it (a peer of the other wire generation closes instead); -confirm=false
// skips that, for a peer that does not answer pings. send exits 0 once
// everything is written (and confirmed), and 1 when anything fails.
//
// # call
//
// call connects to ADDRESS and reads JSON lines from standard input (or
// the documents of -d), one request each:
//
//	{"module": "Example", "type": "Point", "value": {"x": 1, "y": 2}}
//	{"module": null, "type": "Integer", "value": 1267650600228229401496703205376}
//
// module is null (or absent) for the builtin types: Boolean, Integer, Float,
// String, Bytes and None; without module, type may also be Module.Type, as
// types prints it and bench -type takes it ({"type": "Example.Point", ...}).
// value is in SBS-JSON: integers of any size,
// Bytes as standard base64, a Tuple or Record as an object, a Union or
// Choice as ["entry", value], None as null. Each request is sent as the
// first message of a new conversation with last = false, and the peer's
// first message in that conversation is printed to standard output as one
// JSON line:
//
//	{"module":"Example","type":"Point","value":{"x":1,"y":2},"first":false,"last":true,"token":true}
//
// (an answer the schemas cannot decode has "raw" and "error" instead of
// "value"). Requests are handled in order, one at a time; blank lines are
// skipped. The first line that is not valid JSON, names an unknown type or
// holds a value that does not fit its type, or whose answer does not arrive
// within -timeout, or a connection that closes, ends call with a message
// naming the line ("chatter-echo: line 3: ...", or "document 2" for -d)
// and exit status 1.
//
// # bench
//
// bench measures a peer that answers requests (chatter-echo serve, or a
// hat component's echo): without -inflight, it sends -n one-way messages on
// each of -conns connections and a last request, whose answer says that the
// peer has read them all; with -inflight N, it keeps N requests in flight on
// each connection, -n in all, and measures each round trip. -duration
// stops it sooner. The payload is -size bytes of the Bytes type, an
// Integer, or a value of a schema's type (-type Module.Type -d JSON). With
// no ADDRESS it measures an echo server of its own, in this process. A
// live counter shows on a terminal; the result is a table (msg/s, MB/s of
// payload, and the round trips' p50, p90, p99 and maximum), or with -json
// one JSON object. When the peer goes away or fails mid-run, bench still
// prints the figures of what was done (one-way messages counted as sent),
// marked partial (and with "error" in JSON), and exits 1 with the error.
//
// # tap
//
// tap listens on LISTEN and forwards every connection to UPSTREAM: a
// transparent proxy between hat clients and their server, which changes no
// byte in either direction and prints every frame it sees, as it passes:
//
//	10:00:00.000001 #1 127.0.0.1:50174 open
//	10:00:00.000123 #1 c>s legacy id 1 conv 1 owner first token Example.Point {"x":1,"y":2}
//	10:00:00.000456 #1 s>c legacy id 1 conv 1 last token Example.Point {"x":1,"y":2}
//	10:00:00.001000 #1 127.0.0.1:50174 closed
//
// Each connection's wire generation is detected from its first frame. The
// envelope is always shown (ids, conversation, flags, type), the payload
// when a -schema knows its type (hex otherwise; nothing for pings and
// pongs). -json prints JSON lines instead, in listen's form with the
// connection's number, the direction (c2s or s2c) and the frame's id. A
// stream that is not Chatter (or a frame over -max) is still forwarded,
// and said so. An ssl+sbs:// LISTEN ends the clients' TLS with -pem (or
// -cert and -key); an ssl+sbs:// UPSTREAM, or -upstream-tls, speaks TLS to
// the server, verified as a client does (see TLS), showing it the client
// certificate of -upstream-pem (or -upstream-cert and -upstream-key) when
// it asks for one (mutual TLS). The "closed" line says how a stream ended
// when it did not end plainly: a reset, a TLS alert such as the server's
// "certificate required", a frame cut short. tap prints "listening on
// ADDRESS" to standard error and runs until SIGINT or SIGTERM.
//
// # types
//
// types lists every type of the -schema files with the skeleton of its
// SBS-JSON value (zero values, an Array's one element, a Union's first
// alternative), which is what call, send and bench -d want:
//
//	Example.Point = {"x": 0, "y": 0}
//
// -all adds the builtins and the protocol's Hat and HatPing modules; -json
// prints one JSON object of name to skeleton.
//
// # demo
//
// demo, also run when no command is given (make run), starts a server on
// 127.0.0.1 and a client in one process and exchanges a mix of messages:
// one-way Integer messages, sequential request/response round trips, and
// conversations in which the token passes back and forth. It shows each
// phase on standard error (with a live counter on a terminal) and prints a
// summary on standard output: messages exchanged, one-way throughput and
// round-trip percentiles.
//
// # Flags
//
// The commands that talk Chatter take:
//
//	-schema PATH       an .sbs file or a directory searched recursively for
//	                   them; repeatable. The Hat and HatPing modules are
//	                   always included.
//	-wire GENERATION   the hat wire generation: legacy (hat-chatter, the
//	                   default), current (hat-drivers since 2023), or for
//	                   serve and listen -serve auto: each connection's
//	                   generation is taken from the first frame its client
//	                   sends.
//	-ping DURATION     what the library's keepalive options mean on each
//	                   wire: on the legacy wire the ping period, which is
//	                   also how long a ping may go unanswered; on the
//	                   current wire how long the connection may be idle
//	                   before it pings (default 20s; 0 disables pings).
//	-ping-timeout DURATION
//	                   the current wire's silence allowed after a ping
//	                   before the connection closes (default 20s). A serve
//	                   -wire auto gives legacy connections this as their
//	                   ping period too.
//	-queue N           received messages waiting before the connection stops
//	                   reading (default 1024; -1: unbounded)
//	-queue-bytes N     received payload bytes waiting before the connection
//	                   stops reading (default 4194304; -1: unbounded)
//	-v                 debug logs too (serve logs every message)
//	-log-format FORMAT text (the default) or json, on standard error
//
// TLS (ssl+sbs addresses):
//
//	-pem FILE          this side's certificate and private key in one file,
//	                   the original's option. A client with -pem alone
//	                   keeps the original's behaviour: it does not verify
//	                   the server, and says so on standard error.
//	-cert FILE -key FILE
//	                   this side's certificate and key, in two files
//	-cacert FILE       CA certificates: a client verifies the server with
//	                   them (instead of the system's roots); a server asks
//	                   its clients for a certificate signed by them
//	-servername NAME   the name the server's certificate must carry
//	                   (default: the address's host)
//	-insecure          a client does not verify the server: the original's
//	                   unverified mode, asked for explicitly
//
// A client verifies the server unless -insecure (or -pem alone) says not
// to. These flags with a tcp+sbs:// address, or -insecure and -servername
// on a server, are refused rather than ignored. Commands that connect take -timeout DURATION, bounding the set-up
// (and for call each answer, for send the writing).
//
// When a command fails it prints one line on standard error, and when the
// symptom points at a likely mismatch of configuration a second line
// starting "chatter-echo: hint:": a peer of the other wire generation
// (-wire), a TLS server reached with tcp+sbs:// or a plain one with
// ssl+sbs://, a certificate that does not verify (-cacert, -servername), a
// server that wants a client certificate, a peer that closed the
// connection before sending anything.
//
// # Exit status
//
// 0 on success, after -h (which prints usage to standard error) and
// -version (which prints the version to standard output), and when serve,
// listen or tap are stopped by SIGINT or SIGTERM; 1 when the command fails
// (the message is one line on standard error, with perhaps a hint after
// it); 2 for a usage error such as an unknown command or flag, a bad flag
// value, a missing or malformed ADDRESS or extra arguments.
package main
