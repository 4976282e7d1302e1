package chaos

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// Ledger is the harness's account of every message: who sent it, on which
// connection, what the sender was told, and what the receiver got. It
// cannot be talked round: the receiver checks each payload's checksum and
// its place in its lane as it arrives, and at the end every message sent
// is in exactly one state:
//
//   - delivered: once, in its lane's order, byte for byte;
//   - failed: its sender was told (Send or Request returned an error);
//   - lost with a connection that ended abruptly: allowed only where a
//     breaking fault touched the connection, or it ended with an error
//     (Close reporting queued messages unsent among them), and never more
//     than the sender had not written whole plus what the network held.
//
// Anything else — a duplicate, a message out of order, a corrupt one, a
// gap that no failure explains, a message lost after a graceful close, a
// receiver that decoded more than it delivered — is a problem, and the
// test fails with it.
//
// A soak makes tens of thousands of connections, so a ledger settles a
// connection and its lanes once nothing more can come of them — the
// connection has ended and its receiving end has too, or settleAfter has
// passed — folding them into its totals and forgetting them: its memory
// follows the connections alive, not all that ever were.
type Ledger struct {
	mu          sync.Mutex
	lanes       map[uint32]*Lane
	nextLane    uint32
	conns       map[*ConnRecord]bool
	problems    []string
	nProbs      int
	settled     Tally // what the settled connections added up to
	sinceSettle int
}

// settleAfter is how long after it ended a connection whose receiving end
// never reported is settled anyway: longer than any scenario.s
// timeouts, so that nothing can still be on its way.
const settleAfter = 45 * time.Second

// maxProblems is how many problems a ledger keeps the text of; the rest
// are counted.
const maxProblems = 40

func NewLedger() *Ledger {
	return &Ledger{lanes: map[uint32]*Lane{}, conns: map[*ConnRecord]bool{}}
}

func (l *Ledger) problemLocked(format string, args ...any) {
	l.nProbs++
	if len(l.problems) < maxProblems {
		l.problems = append(l.problems, fmt.Sprintf(format, args...))
	}
}

// Problem records a problem found outside the ledger's own checks.
func (l *Ledger) Problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problemLocked(format, args...)
}

// ConnRecord is one connection as the ledger sees it, from the side that
// sends on it: the link it crosses, whether a breaking fault touched it,
// and how it ended.
type ConnRecord struct {
	ledger *Ledger
	name   string
	links  []*Link
	marks  []Mark

	ended   bool
	endedAt time.Time
	faulted bool
	result  error         // what the sender's Close (or Wait) returned
	stats   chatter.Stats // the sender's, once it ended
	peer    *chatter.Stats
	peerEnd error // how the receiving end ended
	started time.Time
	lanes   []*Lane
}

// Conn starts the record of a connection made just now, that crosses
// one of links (nil ones are skipped): a fault on any of them counts.
func (l *Ledger) Conn(name string, links ...*Link) *ConnRecord {
	r := &ConnRecord{ledger: l, name: name, started: time.Now()}
	for _, link := range links {
		if link != nil {
			r.links = append(r.links, link)
			r.marks = append(r.marks, link.Mark())
		}
	}
	l.mu.Lock()
	l.conns[r] = true
	if l.sinceSettle++; l.sinceSettle >= 64 {
		l.sinceSettle = 0
		l.settleLocked(false)
	}
	l.mu.Unlock()
	return r
}

// End records how the connection ended, from the sender's side: what its
// Close or Wait returned, and its statistics once its goroutines were
// done.
func (r *ConnRecord) End(result error, st chatter.Stats) {
	faulted := false
	for i, link := range r.links {
		faulted = faulted || link.FaultedSince(r.marks[i])
	}
	r.ledger.mu.Lock()
	defer r.ledger.mu.Unlock()
	r.ended, r.endedAt, r.faulted, r.result, r.stats = true, time.Now(), faulted, result, st
}

// Peer records the statistics of the receiving end of the connection,
// once it ended and delivered what it read: nothing more of the
// connection's can arrive.
func (r *ConnRecord) Peer(st chatter.Stats, end error) {
	r.ledger.mu.Lock()
	defer r.ledger.mu.Unlock()
	r.peer, r.peerEnd = &st, end
}

// history is what the links the connection crossed did while it lived,
// for a problem's message.
func (r *ConnRecord) history() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lived %s to %s; receiving end: %v", r.started.Format("15:04:05.000"), r.endedAt.Format("15:04:05.000"), r.peerEnd)
	for _, l := range r.links {
		fmt.Fprintf(&b, "; %s: %s", l.name, l.historyBetween(r.started.Add(-time.Second), r.endedAt.Add(time.Second)))
	}
	return b.String()
}

// abrupt says whether the connection may have lost messages: a breaking
// fault touched it; or it ended with an error — Close reporting queued
// messages unsent (chatter.ErrUnsent) among them, since a close that ran
// out of time is no graceful one; or its receiving end did not see it end
// cleanly. The last is the proxy's doing, never a TCP peer's: toxiproxy
// acknowledges bytes before it delivers them, and when one side of a flow
// closes it may tear the other down with bytes still in its toxics (a
// slow bandwidth toxic, say) — the receiver then sees a reset, or a
// stream cut short. What it did deliver is still checked byte for byte.
func (r *ConnRecord) abrupt() bool {
	return r.faulted || r.result != nil || (r.peer != nil && !errors.Is(r.peerEnd, chatter.ErrPeerClosed))
}

// Lane is one goroutine's sends on one connection: messages numbered from
// 0, which the receiver must get in that order.
type Lane struct {
	ledger *Ledger
	id     uint32
	name   string
	conn   *ConnRecord

	// Under ledger.mu.
	next      uint64          // messages numbered so far
	failed    map[uint64]bool // reported failed; true for a one-way Send, which was never queued
	delivered uint64
	last      int64 // last delivered, -1 for none
	// skipped counts messages passed over by a later one: never
	// delivered, and each of them reported failed.
	skipped uint64
}

// Lane opens a lane on the connection conn; name says what it carries.
func (l *Ledger) Lane(name string, conn *ConnRecord) *Lane {
	l.mu.Lock()
	defer l.mu.Unlock()
	ln := &Lane{ledger: l, id: l.nextLane, name: name, conn: conn, last: -1}
	l.nextLane++
	l.lanes[ln.id] = ln
	conn.lanes = append(conn.lanes, ln)
	return ln
}

// Next numbers the lane's next message and builds its payload.
func (ln *Lane) Next(size int, flags uint32) (payload []byte, seq uint64) {
	ln.ledger.mu.Lock()
	seq = ln.next
	ln.next++
	ln.ledger.mu.Unlock()
	return makePayload(ln.id, seq, flags, size), seq
}

// Sent records what Send said of message seq: err is nil when it queued
// the message, and otherwise the message was never queued.
func (ln *Lane) Sent(seq uint64, err error) { ln.result(seq, err, true) }

// Requested records what Request said of message seq: err is nil when the
// reply came (checked by the caller), and otherwise the request may or may
// not have reached the peer.
func (ln *Lane) Requested(seq uint64, err error) { ln.result(seq, err, false) }

func (ln *Lane) result(seq uint64, err error, never bool) {
	if err == nil {
		return
	}
	ln.ledger.mu.Lock()
	defer ln.ledger.mu.Unlock()
	if ln.failed == nil {
		ln.failed = map[uint64]bool{}
	}
	ln.failed[seq] = never
}

// Receive checks a received payload: its checksum, its lane, its place in
// the lane. It returns the payload's header, and the lane it came on (nil
// when the payload is corrupt).
func (l *Ledger) Receive(p []byte) (payloadHeader, *Lane) {
	h, err := parsePayload(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.problemLocked("received: %v", err)
		return h, nil
	}
	ln := l.lanes[h.lane]
	switch {
	case ln == nil && h.lane < l.nextLane:
		l.problemLocked("received: message %d of lane %d, settled already: its connection and receiver had ended", h.seq, h.lane)
		return h, nil
	case ln == nil:
		l.problemLocked("received: lane %d was never opened", h.lane)
		return h, nil
	}
	switch {
	case h.seq >= ln.next:
		l.problemLocked("%s: received message %d, which was never sent", ln.name, h.seq)
		return h, ln
	case int64(h.seq) == ln.last:
		l.problemLocked("%s: message %d delivered twice", ln.name, h.seq)
		return h, ln
	case int64(h.seq) < ln.last:
		l.problemLocked("%s: message %d delivered after %d (out of order, or twice)", ln.name, h.seq, ln.last)
		return h, ln
	}
	// Every message skipped must have been reported failed: a gap that no
	// failure explains is a message lost in the middle of a stream.
	for s := uint64(ln.last + 1); s < h.seq; s++ {
		if _, ok := ln.failed[s]; !ok {
			l.problemLocked("%s: message %d delivered, but %d, sent before it on the same connection, never was", ln.name, h.seq, s)
			break
		}
	}
	if never := ln.failed[h.seq]; never {
		l.problemLocked("%s: message %d delivered, though Send had failed for it", ln.name, h.seq)
	}
	ln.skipped += h.seq - uint64(ln.last+1)
	ln.last = int64(h.seq)
	ln.delivered++
	return h, ln
}

// outcome counts the lane's messages that were not delivered: those
// reported failed, and the rest (accepted, then lost). Call with the
// ledger's lock held.
func (ln *Lane) outcome() (failed, rest uint64) {
	// Not delivered: the messages skipped (each reported failed) and those
	// after the last delivered.
	tail := ln.next - uint64(ln.last+1)
	failedTail := uint64(0)
	for s := range ln.failed {
		if int64(s) > ln.last {
			failedTail++
		}
	}
	return ln.skipped + failedTail, tail - failedTail
}

// Delivered counts the messages delivered so far.
func (l *Ledger) Delivered() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.settled.Delivered
	for _, ln := range l.lanes {
		n += ln.delivered
	}
	return n
}

// LostSoFar counts the messages lost with connections that ended
// abruptly, among the connections that have ended.
func (l *Ledger) LostSoFar() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.settled.Lost
	for _, ln := range l.lanes {
		if ln.conn.ended && ln.conn.abrupt() {
			_, rest := ln.outcome()
			n += rest
		}
	}
	return n
}

// Tally is what a ledger found.
type Tally struct {
	Sent      uint64 // numbered and handed to Send or Request
	Delivered uint64 // received once, in order, intact
	Failed    uint64 // not delivered, and the sender was told
	Lost      uint64 // not delivered, lost with a connection that ended abruptly
	// Unsent is what the senders' connections counted dropped unwritten
	// (Stats.MessagesUnsent), part of Lost and Failed.
	Unsent uint64
	// Conns counts the connections, and Abrupt those that ended abruptly.
	Conns, Abrupt int
	Problems      []string
	NProblems     int
}

func (t Tally) String() string {
	return fmt.Sprintf("sent %d, delivered %d, failed with an error %d, lost with an abrupt close %d (%d of them unsent), over %d connections (%d ended abruptly)",
		t.Sent, t.Delivered, t.Failed, t.Lost, t.Unsent, t.Conns, t.Abrupt)
}

// Err is nil when the ledger found no problem.
func (t Tally) Err() error {
	if t.NProblems == 0 {
		return nil
	}
	more := ""
	if t.NProblems > len(t.Problems) {
		more = fmt.Sprintf("\n(and %d more)", t.NProblems-len(t.Problems))
	}
	return fmt.Errorf("%d problems:\n%s%s", t.NProblems, strings.Join(t.Problems, "\n"), more)
}

// Tally settles the ledger. Call it once every connection has ended and
// every receiver has finished.
func (l *Ledger) Tally() Tally {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.settleLocked(true)
	t := l.settled
	t.Problems = append([]string(nil), l.problems...)
	t.NProblems = l.nProbs
	return t
}

// settleLocked settles the connections nothing more can come of (with
// all, every one: the end of a test), adding them to l.settled.
func (l *Ledger) settleLocked(all bool) {
	now := time.Now()
	for r := range l.conns {
		done := r.ended && (r.peer != nil || now.Sub(r.endedAt) > settleAfter)
		if !all && !done {
			continue
		}
		if !r.ended {
			l.problemLocked("connection %s never ended", r.name)
		}
		l.settleConnLocked(r)
		delete(l.conns, r)
	}
}

// settleConnLocked adds a connection and its lanes to the totals, and
// checks what it lost.
func (l *Ledger) settleConnLocked(r *ConnRecord) {
	t := &l.settled
	t.Conns++
	t.Unsent += r.stats.MessagesUnsent
	if r.abrupt() {
		t.Abrupt++
	}
	lost := uint64(0)
	for _, ln := range r.lanes {
		delete(l.lanes, ln.id)
		failed, rest := ln.outcome()
		t.Sent += ln.next
		t.Delivered += ln.delivered
		t.Failed += failed
		if rest == 0 {
			continue
		}
		if r.abrupt() {
			t.Lost += rest
			lost += rest
		} else {
			l.problemLocked("%s: %d messages accepted on %s and never delivered, though it closed gracefully (close: %v; %s)",
				ln.name, rest, r.name, r.result, r.history())
		}
	}
	if lost == 0 {
		return
	}
	// What was lost must fit in what the sender had not written whole plus
	// what was in the network: the bytes it wrote that the receiver never
	// read, each message at least a payload header, and one frame cut
	// short.
	var peerIn uint64
	if r.peer != nil {
		peerIn = r.peer.BytesIn
	}
	inNetwork := uint64(0)
	if r.stats.BytesOut > peerIn {
		inNetwork = (r.stats.BytesOut-peerIn)/headerSize + 1
	}
	if bound := r.stats.MessagesUnsent + inNetwork; lost > bound {
		l.problemLocked("%s: %d messages lost, more than the %d unsent and the at most %d in the network (%d bytes written, %d read by the peer; close: %v; %s)",
			r.name, lost, r.stats.MessagesUnsent, inNetwork, r.stats.BytesOut, peerIn, r.result, r.history())
	}
}
