// Package chaos puts a real faulty network between gochatter clients and a
// gochatter server and checks what gochatter promises under it: that
// Request returns its reply or a clear error, that Redial comes back after
// a partition heals, that keepalive tells a black hole from a slow link,
// that memory and goroutines stay flat, and that no message is ever
// delivered twice, out of order or corrupted.
//
// It is a module of its own, like test/peers, so that toxiproxy and what
// it pulls in stay out of gochatter's dependencies.
//
// # Where to start
//
//   - [Link] is a toxiproxy proxy (github.com/Shopify/toxiproxy/v2, run as
//     a library on 127.0.0.1) with the [Toxic]s of toxics.go: latency,
//     bandwidth, slicer, a black hole, reset_peer, limit_data and
//     slow_close, each on either direction, added and removed while
//     traffic flows; [Link.Partition], [Link.Heal], [Link.Down] and
//     [Link.Up] are the outages. [ProxyHost] runs the proxies in a child
//     process, for the soak, whose memory must be gochatter's alone.
//   - [Ledger] is the accounting that cannot lie: every payload carries its
//     lane, its sequence number and a checksum (payload.go), the receiver
//     checks each as it arrives, and at the end every message sent is
//     delivered, failed (its sender was told), or lost with a connection
//     that ended abruptly, within a bound; anything else fails the test.
//   - [Server] and [Client] (env.go, client.go) are the two ends: an echo
//     server that can push, and a Redial client with lanes of requests,
//     one-way messages, held requests and conversations with timeouts.
//   - The scenarios are the tests: TestLatency, TestSlowLink, TestSlicer,
//     TestBlackHole, TestCut (reset_peer and limit_data), TestFlap,
//     TestClientFlap (chatter.Client behind the flapping link) and
//     TestSoak, each over both wire generations, TCP and TLS.
//
// # Running
//
// make test runs every scenario at a small size, bounded by counts, and a
// 30-second soak. CHAOS_SCALE=full runs the scenarios at full size; make
// soak runs the soak for SOAK (10m by default; SOAK=1h for an hour) and
// draws its plot to SOAK_PLOT.
package chaos
