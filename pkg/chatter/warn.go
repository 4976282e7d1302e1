package chatter

import (
	"log/slog"
	"sync"
	"time"
)

// logLimiter rate-limits the warnings that peers can trigger at will —
// handshakes that fail or time out, connections refused at the cap, accept
// errors — so that a flood of them cannot fill the log. It lets a burst of
// warnBurst through, then one per warnEvery; the next warning let through
// says how many were dropped in between.
type logLimiter struct {
	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

const (
	warnBurst = 10
	warnEvery = time.Second
)

func newLogLimiter() *logLimiter { return &logLimiter{tokens: warnBurst} }

// warn logs msg at warning level unless the limit is reached.
func (l *logLimiter) warn(log *slog.Logger, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if !l.last.IsZero() {
		l.tokens = min(warnBurst, l.tokens+float64(now.Sub(l.last))/float64(warnEvery))
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.tokens--
	dropped := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if dropped > 0 {
		args = append(args, "suppressed", dropped)
	}
	log.Warn(msg, args...)
}
