package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// Link is a toxiproxy proxy between gochatter clients and a gochatter
// server: clients dial Addr, the proxy dials the server, and toxics on the
// path delay, slice, throttle, cut or swallow the bytes. Nothing is
// simulated inside gochatter.
//
// A Link also keeps the record the ledger needs to judge a connection:
// whether a breaking fault was in force at any time during its life (see
// Mark). That record has a lock of its own, held only for a moment:
// toxiproxy may take long to remove a toxic from a flow whose receiver is
// not reading, and a connection starting meanwhile must not wait for it.
//
// Healing a black hole resets the flows that lived through it, as a
// stateful middlebox that forgot them would: toxiproxy's timeout toxic
// drops the bytes it swallows, which TCP never does, so a flow carried on
// past it would have a hole in its byte stream that no TCP peer ever sees.
type Link struct {
	name  string
	proxy backend
	op    sync.Mutex // serializes operations on the proxy

	mu       sync.Mutex  // the record, below
	log      []linkEvent // the latest operations, for problems' messages
	toxics   map[string]Toxic
	breaking int    // breaking toxics in place, plus one while down
	epoch    uint64 // counts the breaking faults that began
	down     bool
}

// linkEvent is an operation on a link, and when it began and ended.
type linkEvent struct {
	what       string
	start, end time.Time
}

// note records an operation that began at start; call with mu held.
func (l *Link) note(what string, start time.Time) {
	l.log = append(l.log, linkEvent{what, start, time.Now()})
	if len(l.log) > 64 {
		l.log = append(l.log[:0:0], l.log[32:]...)
	}
}

// historyBetween lists the operations that overlap [from, to].
func (l *Link) historyBetween(from, to time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for _, e := range l.log {
		if e.end.Before(from) || e.start.After(to) {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s–%s", e.what, e.start.Format("05.000"), e.end.Format("05.000")))
	}
	return strings.Join(parts, ", ")
}

// NewLink starts a proxy in this process, on 127.0.0.1, in front of
// upstream (HOST:PORT).
func NewLink(name, upstream string) (*Link, error) {
	p, err := newLocalProxy(name, upstream)
	if err != nil {
		return nil, err
	}
	return &Link{name: name, proxy: p, toxics: make(map[string]Toxic)}, nil
}

// Addr is the proxy's HOST:PORT, for clients to dial.
func (l *Link) Addr() string { return l.proxy.addr() }

// Add puts a toxic on the link; a toxic of the same name is replaced. A
// breaking toxic counts from just before it is in place.
func (l *Link) Add(t Toxic) error {
	l.op.Lock()
	defer l.op.Unlock()
	if err := l.remove(t.Name); err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{"name": t.Name, "type": t.Type, "stream": t.Stream, "toxicity": 1.0, "attributes": t.Attrs})
	if err != nil {
		return err
	}
	start := time.Now()
	l.mu.Lock()
	l.toxics[t.Name] = t
	if t.Breaking {
		l.breaking++
		l.epoch++
	}
	l.mu.Unlock()
	err = l.proxy.addToxic(string(body))
	l.mu.Lock()
	l.note("add "+t.Name, start)
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("chaos: %s: add %v: %w", l.name, t, err)
	}
	return nil
}

// Remove takes a toxic off the link, if it is there.
func (l *Link) Remove(name string) error {
	l.op.Lock()
	defer l.op.Unlock()
	return l.remove(name)
}

// remove takes a toxic off; a breaking one stops counting once it is off.
func (l *Link) remove(name string) error {
	l.mu.Lock()
	t, ok := l.toxics[name]
	l.mu.Unlock()
	if !ok {
		return nil
	}
	start := time.Now()
	err := l.proxy.removeToxic(name)
	l.mu.Lock()
	l.note("remove "+name, start)
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("chaos: %s: remove %s: %w", l.name, name, err)
	}
	l.mu.Lock()
	delete(l.toxics, name)
	if t.Breaking {
		l.breaking--
	}
	l.mu.Unlock()
	return nil
}

// Clear takes every toxic off the link.
func (l *Link) Clear() error {
	l.op.Lock()
	defer l.op.Unlock()
	l.mu.Lock()
	var names []string
	for name := range l.toxics {
		names = append(names, name)
	}
	l.mu.Unlock()
	for _, name := range names {
		if err := l.remove(name); err != nil {
			return err
		}
	}
	return nil
}

// Partition black-holes both directions: bytes vanish, no FIN, no RST;
// new connections are accepted by the proxy and black-holed too.
func (l *Link) Partition() error {
	if err := l.Add(BlackHole(Up)); err != nil {
		return err
	}
	return l.Add(BlackHole(Down))
}

// Heal ends a partition, if the link is in one: the black holes go, and
// the flows that lived through them are reset (see Link).
func (l *Link) Heal() error {
	l.op.Lock()
	defer l.op.Unlock()
	l.mu.Lock()
	_, partitioned := l.toxics[BlackHole(Up).Name]
	if _, ok := l.toxics[BlackHole(Down).Name]; ok {
		partitioned = true
	}
	l.mu.Unlock()
	if !partitioned {
		return nil
	}
	// The flows first: with them cut, the black holes come off at once.
	if err := l.reset(); err != nil {
		return err
	}
	for _, name := range []string{BlackHole(Up).Name, BlackHole(Down).Name} {
		if err := l.remove(name); err != nil {
			return err
		}
	}
	return nil
}

// Reset cuts every connection through the link at once; new ones are
// accepted again right after.
func (l *Link) Reset() error {
	l.op.Lock()
	defer l.op.Unlock()
	return l.reset()
}

// reset cuts every flow: a breaking fault, over as soon as it began.
func (l *Link) reset() error {
	l.mu.Lock()
	down := l.down
	if !down {
		l.epoch++
	}
	l.mu.Unlock()
	if down {
		return nil
	}
	start := time.Now()
	l.proxy.stop()
	err := l.proxy.start()
	l.mu.Lock()
	l.note("reset", start)
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("chaos: restart proxy %s: %w", l.name, err)
	}
	return nil
}

// Down takes the link down: every connection through it is cut and new
// ones are refused until Up.
func (l *Link) Down() {
	l.op.Lock()
	defer l.op.Unlock()
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		return
	}
	l.down = true
	l.breaking++
	l.epoch++
	l.mu.Unlock()
	start := time.Now()
	l.proxy.stop()
	l.mu.Lock()
	l.note("down", start)
	l.mu.Unlock()
}

// Up brings the link back after Down, on the same address.
func (l *Link) Up() error {
	l.op.Lock()
	defer l.op.Unlock()
	l.mu.Lock()
	down := l.down
	l.mu.Unlock()
	if !down {
		return nil
	}
	start := time.Now()
	if err := l.proxy.start(); err != nil {
		return fmt.Errorf("chaos: restart proxy %s: %w", l.name, err)
	}
	l.mu.Lock()
	l.note("up", start)
	l.down = false
	l.breaking--
	l.mu.Unlock()
	return nil
}

// Close stops the proxy and cuts what goes through it.
func (l *Link) Close() {
	l.op.Lock()
	defer l.op.Unlock()
	l.mu.Lock()
	l.down = true
	l.mu.Unlock()
	l.proxy.stop()
}

// Mark is a point in a link's history of faults.
type Mark struct {
	epoch    uint64
	breaking bool
}

// Mark returns the link's state now, for FaultedSince.
func (l *Link) Mark() Mark {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Mark{epoch: l.epoch, breaking: l.breaking > 0}
}

// FaultedSince reports whether a breaking fault was in force at any time
// since m: at m, or begun after it.
func (l *Link) FaultedSince(m Mark) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return m.breaking || l.epoch != m.epoch || l.breaking > 0
}

// backend is the toxiproxy proxy under a Link: in this process, or in a
// child process (see ProxyHost).
type backend interface {
	addr() string
	addToxic(json string) error
	removeToxic(name string) error
	start() error
	stop()
}

// localProxy is a toxiproxy proxy in this process.
type localProxy struct{ p *toxiproxy.Proxy }

// quietToxiproxy silences toxiproxy's global logger, which some toxics
// use instead of the proxy's own.
var quietToxiproxy sync.Once

func newLocalProxy(name, upstream string) (*localProxy, error) {
	quietToxiproxy.Do(func() { zerolog.SetGlobalLevel(zerolog.Disabled) })
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(api, name, "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("chaos: start proxy %s: %w", name, err)
	}
	return &localProxy{p}, nil
}

func (l *localProxy) addr() string { return l.p.Listen }
func (l *localProxy) addToxic(json string) error {
	_, err := l.p.Toxics.AddToxicJson(strings.NewReader(json))
	return err
}
func (l *localProxy) removeToxic(name string) error {
	return l.p.Toxics.RemoveToxic(context.Background(), name)
}
func (l *localProxy) start() error { return l.p.Start() }
func (l *localProxy) stop()        { l.p.Stop() }
