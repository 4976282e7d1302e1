// Chatter-echo runs a Chatter echo server, calls one, or shows the two
// talking to each other.
//
// Usage:
//
//	chatter-echo serve [flags] ADDRESS
//	chatter-echo call [flags] ADDRESS
//	chatter-echo demo
//	chatter-echo
//
// ADDRESS is tcp+sbs://HOST:PORT or ssl+sbs://HOST:PORT, IPv6 hosts in
// brackets (tcp+sbs://[::1]:23012).
//
// # serve
//
// serve listens on ADDRESS and answers every message it receives with the
// same payload in the same conversation, ending it (last = true). As soon as
// it is bound it prints one line per listening socket to standard output,
//
//	listening on tcp+sbs://127.0.0.1:41234
//
// with port 0 resolved, so a script can ask for port 0 and read the real
// one. Connections opening and closing (with the reason) are logged to
// standard error in slog's text format. SIGINT or SIGTERM stops the server
// gracefully and exits 0: it stops accepting, every connection stops reading
// and answers what it had read, then closes. Connections still busy after
// 5 s are closed (logged at WARN), flushing what was queued for at most 5 s
// more to peers that do not read.
//
// # call
//
// call connects to ADDRESS and reads JSON lines from standard input, one
// request each:
//
//	{"module": "Example", "type": "Point", "value": {"x": 1, "y": 2}}
//	{"module": null, "type": "Integer", "value": 1267650600228229401496703205376}
//
// module is null (or absent) for the builtin types: Boolean, Integer, Float,
// String, Bytes and None. value is in SBS-JSON: integers of any size,
// Bytes as standard base64, a Tuple or Record as an object, a Union or
// Choice as ["entry", value]. Each line is sent as the first message of a
// new conversation with last = false, and the peer's first message in that
// conversation is printed to standard output as one JSON line:
//
//	{"module":"Example","type":"Point","value":{"x":1,"y":2},"first":false,"last":true,"token":true}
//
// Lines are handled in order, one at a time; blank lines are skipped. The
// first line that is not valid JSON, names an unknown type or holds a value
// that does not fit its type, or whose answer does not arrive within
// -timeout, or a connection that closes, ends call with a message naming
// the line ("chatter-echo: line 3: ...") and exit status 1.
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
// serve and call take:
//
//	-schema PATH     an .sbs file or a directory searched recursively for
//	                 them; repeatable. The Hat and HatPing modules are
//	                 always included.
//	-ping DURATION   keepalive period; a connection closes when a ping goes
//	                 unanswered for as long (default 20s, 0 disables)
//	-pem FILE        certificate and private key for ssl+sbs: the server's
//	                 identity, or the client's (which does not verify the
//	                 server)
//	-queue N         received messages waiting for the program before the
//	                 connection stops reading (default 1024; -1: unbounded)
//	-wire GENERATION the hat wire generation: legacy (hat-chatter, the
//	                 default), current (hat-drivers since 2023), or for
//	                 serve auto: each connection's generation is taken from
//	                 the first frame its client sends. With current, -ping
//	                 is the idle delay before a ping, and the connection
//	                 closes when nothing arrives within 20s after it.
//
// call also takes -timeout DURATION (default 5s), bounding the connection
// set-up and the wait for each answer.
//
// # Exit status
//
// 0 on success, after -h (which prints usage to standard error), and when
// serve is stopped by SIGINT or SIGTERM; 1 when the command fails (the
// message is one line on standard error); 2 for a usage error such as an
// unknown command or flag, a bad flag value, a missing or malformed ADDRESS
// or extra arguments.
package main
