// Package chatter speaks the Chatter protocol of the hat project: messages
// whose payloads are SBS values, exchanged over TCP or TLS in conversations,
// wire-compatible with the original Python hat.chatter.
//
// # Where to start
//
// A client calls [Connect]; a server calls [Listen] (or [NewServer] on a
// listener of its own) with a [Handler] that receives each accepted
// [Conn]. Both take an [sbs.Repository] holding the payload types (build it
// with sbs.NewRepository; the protocol's own Hat and HatPing modules are
// handled internally and also available as [SBSRepository]).
//
//	conn, err := chatter.Connect(ctx, repo, "tcp+sbs://127.0.0.1:23012")
//	...
//	defer conn.Close()
//	conv, err := conn.Send(ctx, chatter.Data{Module: "Example", Type: "Msg", Data: int64(123)})
//	for msg := range conn.Messages() {
//		// msg.Data, msg.Conv, msg.First, msg.Last, msg.Token
//	}
//	return conn.Wait(ctx) // nil when this side closed it, else why it ended
//
// A client that must stay connected, as hat's client components do, uses
// a [Client] ([NewClient]): one handle whose Send, Request and Messages
// outlive each connection, with a hook for what every new connection must
// send first; [Redial] is the same loop as a function that runs yours. A Go struct goes into [Data] as itself and [Decode] reads a
// message into one; a type written by sbs-gen names its SBS type, so
// [DataOf] labels the message and a mislabel is a [*TypeMismatchError].
// [Conn.Stats], [Server.Stats] and an [Observer] show
// what connections do; the chatterdebug subpackage serves the counters
// with expvar and pprof. The Example functions (Example, ExampleConnect,
// ExampleListen, ExampleConn_Request, ExampleConversationTimeout,
// Example_errgroup, ExampleClient, ExampleRedial, ExampleDecode, ExampleDataOf,
// ExampleServer_Stats, ExampleMsg_Release) run against loopback servers.
//
// The files follow the concepts: msg.go holds [Data], [Msg] and
// [Conversation]; conn.go [Conn] and dialing; lifecycle.go how a
// connection ends; send.go [Conn.Send] and [Conn.Request];
// supervisor.go the goroutine that reads and owns the connection's state,
// and its mailbox; read.go payload decoding; replies.go the Requests
// waiting for their reply; conversation.go the send options and
// timeouts; ping.go the keepalive; delivery.go the deliverer and
// backlog.go its queue; write.go the outbox and the writer; envelope.go
// and frame.go the wire format, release.go the reuse of large frames'
// buffers ([Msg.Release]); wire.go the two generations; server.go
// [Server]; redial.go [Redial] and client.go [Client]; observe.go statistics and the
// [Observer]; typed.go Go values; warn.go rate-limited warnings;
// golock.go the owner assertion (checked in race builds); options.go
// and errors.go the rest.
//
// # Conversations
//
// Every message belongs to a [Conversation], identified by the id of its
// first message and by which side started it. [Conn.Send] starts a new
// conversation unless given [InConversation]; [Last] and [Token] set the
// message's flags and [ConversationTimeout] arms a timeout that any further
// message of the conversation, in either direction, cancels. [Conn.Request]
// sends the first message of a conversation and returns the peer's first
// reply to it; a reply is delivered exactly once, to Request or, if
// Request gave up first, to Messages, marked [Msg.Late].
//
// # Delivery guarantees
//
// On one connection, messages arrive in the order they were sent, each at
// most once, byte for byte. Send returning nil means the message is
// queued, not that it arrived: it reaches the peer's Messages (or its
// Request) unless the connection ends first — a socket error, a ping
// timeout, the peer closing — and then what was still queued or on its way
// is lost with the connection, never delivered twice nor on a later one
// (Redial's next connection starts afresh; nothing is replayed).
// [Stats].MessagesUnsent counts what this side had not yet written. Close
// returning nil means everything queued was written to the socket, and
// [Conn.Drain] returning nil the same for what was sent before it; Close
// returns an error matching [ErrUnsent] when the flush timeout ran out
// first. Written is not received: only an answer proves receipt, which is
// what [Conn.Request] is for — it returns the reply or a [*RequestError],
// never neither, and never hangs past its ctx. After a failure every
// message this side had read is still delivered to Messages; after a local
// Close the ones not yet delivered are dropped. test/chaos checks all of
// this through a faulty network, message by message.
//
// # Lifecycle and concurrency
//
// A Conn has one goroutine for as long as it lives, its supervisor, and
// others only while they have work: a writer while something waits to be
// written, a deliverer while the application lags behind Messages, and,
// once a conversation timeout has fired, one that runs the callbacks one
// at a time. An idle connection is its supervisor waiting in a read of
// the socket, with a deadline set to its next timer; it writes its
// keepalive's pings and pongs itself when nothing else is queued (a
// *tls.Conn handed to NewConn excepted: see tlsSocket in tls.go), so
// keepalive wakes no other goroutine. Buffers grow with traffic and
// shrink without it: a writer drops its buffers when it ends, and a
// keepalive period in which little was read drops the read buffer and the
// deliverer's, so a connection that once had a burst goes back to its idle
// size (TestReadBufferDroppedWhenQuiet). Send and Request may be called
// from any goroutine; received messages arrive in order on one channel.
//
// Every piece of a connection's state has one owner; other goroutines
// post to it (supervisor.go has the mailbox, and the race detector's
// builds assert the owner):
//
//	state                                   owner                       who may post to it
//	reading, decoding, answering pings      supervisor                  —
//	Requests waiting for replies            supervisor (replies.go)     Request: register, cancel
//	conversation timeouts                   supervisor                  senders: arm, cancel
//	keepalive                               supervisor                  —
//	delivery to Messages, discard mode      supervisor                  DiscardMessages
//	a backlog behind a full Messages        deliverer (delivery.go)     the supervisor hands it batches
//	end of reading, reply grace             supervisor                  a server's Shutdown
//	how the connection ends                 whoever begins it (begin)   Close; failures
//	bytes to write, ids, send bound         outbox, under its lock      senders append, the writer takes
//	the socket's write side                 whoever holds the writer's role (outbox.writing): the writer,
//	                                        or the supervisor for a lone ping or pong; at the end, the supervisor
//	a TLS record a lone write left owed     tlsSocket, under its lock   paid by the next write (TLS's own too)
//	counters (Stats)                        atomics, published          —
//
// One scheduling hint is the exception to "post, never share": the writer
// reads how many Requests wait, as the mailbox counts them for Stats, and
// when more than one does it yields once (runtime.Gosched) before taking
// the outbox. Their callers were just handed replies and are about to
// queue their next frames; a writer woken by the first would otherwise run
// ahead of them and write each frame alone. With 64 Requests in flight on
// 2 cores (BenchmarkInFlight64) it is 3.21 µs per request with the yield
// and 5.79 µs without, 3.25 µs before the core had one owner. The count is
// read under the mailbox's lock and decides nothing but the yield.
//
// The lifecycle is the types' own methods, the [aio.Resource] set:
// [Conn.Close] ends the connection and waits for its goroutines,
// [Conn.Done] and [Conn.Wait] report that they have ended, [Conn.Err] says
// whether and why the connection is over (always matching [ErrClosed]),
// and [Conn.Context] is cancelled when it begins closing. A connection
// ends in one of three ways:
//
//   - Close (or its server's Close): what was queued is flushed, for at
//     most [WithFlushTimeout]; received messages not yet delivered are
//     dropped; Close and Wait return nil.
//   - A failure (a socket error, an unanswered ping): the socket closes at
//     once; what had been read is still delivered.
//   - The peer ends its stream or sends a frame that breaks the protocol
//     (or a server's Shutdown stops reading): everything read before is
//     delivered, Messages closes, and replies the application sends within
//     [WithReplyGrace] of taking the last message are still written before
//     the socket closes. Like HTTP/2's GOAWAY, a burst that ends badly — a
//     newer peer's unknown message type, say — still gets its earlier
//     requests answered.
//
// [Server.Close] stops accepting, closes the connections it owns and waits
// for them; it does not wait for handlers, which get their connection's
// context cancelled and its Messages closed; [Server.Wait] and
// [Server.Done] cover the handlers too. [Server.Shutdown] is graceful: it
// stops accepting and lets every connection answer what it had read.
//
// # Errors
//
// Calls on an ended connection return errors that match [ErrClosed] with
// errors.Is and also the reason the connection ended, which [Conn.Err]
// reports: [ErrPeerClosed], [ErrPingTimeout], [ErrFrameTimeout],
// [ErrProtocol] (undecodable frames, unknown payload types; a
// [*WireMismatchError] for a peer of the other generation),
// [ErrMessageTooLarge], or a socket error. Malformed addresses give an
// [*AddressError] matching [ErrAddress].
//
// # Wire generations
//
// Addresses are tcp+sbs://HOST:PORT and ssl+sbs://HOST:PORT, IPv6 hosts in
// brackets. Frames are a length-prefixed SBS message whose envelope has a
// dedicated codec; only the payload goes through the repository. Two
// generations of the message exist and cannot read each other ([Wire]):
//
//   - [WireLegacy], the default: hat-chatter's Hat.Msg with a module field;
//     every ping timeout T a HatPing.MsgPing in a new conversation, and the
//     connection closes if its pong does not arrive within T.
//   - [WireCurrent]: hat-drivers' HatChatter.Msg with a "Module.Type"
//     string; a HatChatter.Ping after [WithPingDelay] with nothing
//     received, and a close if nothing at all arrives within the ping
//     timeout after it. Payloads of unknown types arrive undecoded with
//     [Msg.DecodeErr] instead of ending the connection.
//
// On either wire a ping timeout does not close a connection whose link is
// seen to move — bytes read since the ping, a frame still arriving
// included, or more written than the ping itself — so a slow link is not
// taken for a dead one, while a black hole, which moves nothing, still is.
// What neither wire can tell apart is a peer that says nothing while this
// side's data, already in the socket buffers, takes longer than the ping
// delay plus the timeout to reach it: give such links a longer timeout.
//   - [WireAuto], for servers: each connection takes the generation of the
//     first frame its client sends; nothing is sent before that.
//
// A frame of the other generation ends the connection with a
// [*WireMismatchError]. [WithRawPayloads] leaves payloads encoded in
// [Msg.Raw] on either wire, for typed decoding or forwarding.
//
// # Large payloads
//
// A frame of 32 KiB or more is read into a buffer of its own, which the
// message's Raw and Bytes payload share: the payload is not copied again.
// An application that is done with such a message may hand the buffer
// back with [Msg.Release], and a later large frame is read into it instead
// of newly allocated memory, which is the main cost of a stream of large
// messages (BenchmarkPayload64KiBReleased is about twice as fast as
// BenchmarkPayload64KiB). Releasing is optional; after it the message's
// payload bytes belong to another message.
//
// # Limits and observability
//
// Everything a peer can make a connection hold has a bound and a default
// (see options.go): [WithQueueSize] bounds received messages (1,024) and
// [WithQueueBytes] their payload bytes (4 MiB; the socket is not read
// while the queue is full, and [Conn.DiscardMessages] is for connections
// that only send); [WithSendBufferSize] bounds queued
// outgoing bytes (1 MiB); [MaxQueuedControlBytes] bounds pongs queued for a
// peer that pings without reading; [WithMaxMessageSize] caps frames in
// both directions before anything is allocated (64 MiB);
// [WithHandshakeTimeout] (10 s), [WithFrameReadTimeout] (30 s) and the
// keepalive bound how long a silent or trickling peer is kept;
// [WithMaxConnections] caps a server's connections (10,000). A server's
// accept loop backs off on errors such as too many open files and keeps
// serving. [Conn.Stats] gives a connection's counters at any time;
// connects, closes (with the reason) and ping timeouts are logged at debug
// level to [WithLogger]'s logger, and what a flood of peers could trigger
// (failed handshakes, refused connections, accept errors) at warning
// level, rate-limited.
//
// # TLS
//
// Without [WithTLSConfig], ssl+sbs follows the original: a server presents
// the certificate and key of [WithPEMFile]; a client presents its PEM file
// if given and does NOT verify the server. That mode encrypts but does not
// authenticate: it does not protect against an active man in the middle.
// Give a [*tls.Config] with RootCAs (and Certificates / ClientAuth for
// mutual TLS) to verify peers.
package chatter
