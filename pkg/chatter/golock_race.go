//go:build race

package chatter

import (
	"bytes"
	"runtime"
	"strconv"
	"sync/atomic"
)

// goroutineLock records which goroutine owns a piece of state; check
// panics when another goroutine touches it (or any goroutine, before the
// owner started). Race builds only: it reads the goroutine's id from its
// stack trace, which is slow, and keeps it in an atomic, so that the
// check itself is no race.
type goroutineLock struct{ id atomic.Uint64 }

func (g *goroutineLock) set() { g.id.Store(curGoroutineID()) }

func (g *goroutineLock) check() {
	if curGoroutineID() != g.id.Load() {
		panic("chatter: supervisor state touched off the supervisor's goroutine")
	}
}

// curGoroutineID parses "goroutine 123 [" at the head of the caller's
// stack trace.
func curGoroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic("chatter: cannot read the goroutine's id: " + err.Error())
	}
	return n
}
