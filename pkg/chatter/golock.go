//go:build !race

package chatter

// goroutineLock records which goroutine owns a piece of state, and
// check asserts that the caller is that goroutine. Outside race builds
// it costs nothing and checks nothing; with -race (golock_race.go) it
// checks, as x/net/http2's serveG.check does.
type goroutineLock struct{}

func (*goroutineLock) set()   {}
func (*goroutineLock) check() {}
