package test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// Shared by the fault, load and scale tests: an in-process server with
// options, hand-made frames and memory figures.

// loadSchema holds the payload types of the fault, load and scale tests.
const loadSchema = `module Load

# A numbered message with padding, for floods.
Msg = Tuple { seq: Integer, pad: Bytes }

# A type that nests without end, for hostile payloads.
Deep = Union { leaf: Integer, node: Array(Deep) }
`

var loadRepo = sbs.MustRepository(sbs.NamedText("load.sbs", loadSchema))

// quietLog discards what connections and servers log.
var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// intPayload is a builtin Integer payload.
func intPayload(v int64) chatter.Data { return chatter.Data{Type: "Integer", Data: v} }

// listenWith starts an in-process server on a free loopback port with repo
// and opts; it is shut down (and waited for) at the end of the test.
func listenWith(t *testing.T, repo *sbs.Repository, onConn chatter.Handler, opts ...chatter.Option) *chatter.Server {
	t.Helper()
	opts = append([]chatter.Option{chatter.WithLogger(quietLog)}, opts...)
	srv, err := chatter.Listen(t.Context(), repo, "tcp+sbs://127.0.0.1:0", onConn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeServer(t, srv) })
	return srv
}

// closeServer closes srv and waits (bounded) for its handlers too.
func closeServer(t *testing.T, srv *chatter.Server) {
	t.Helper()
	if err := srv.Close(); err != nil {
		t.Errorf("closing the test server: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Wait(ctx); ctx.Err() != nil {
		t.Errorf("the test server's handlers did not return: %v", err)
	}
}

// connectTo connects a client to addr; it is closed (and waited for) at the
// end of the test.
func connectTo(t *testing.T, repo *sbs.Repository, addr string, opts ...chatter.Option) *chatter.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	opts = append([]chatter.Option{chatter.WithLogger(quietLog)}, opts...)
	c, err := chatter.Connect(ctx, repo, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAndWait(t, c) })
	return c
}

// closeAndWait closes c, which waits until its goroutines have ended.
func closeAndWait(t *testing.T, c *chatter.Conn) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Close()
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Errorf("connection %s did not close", c.LocalAddress())
	}
}

// answerRequests answers every request c receives (a message with last =
// false) with its own data, and hands every other message to others when
// it is not nil (dropping it if nobody takes it). It returns when c ends.
func answerRequests(ctx context.Context, c *chatter.Conn, others chan<- chatter.Msg) {
	for m := range c.Messages() {
		if !m.Last {
			if _, err := c.Send(ctx, m.Data, chatter.InConversation(m.Conv)); err != nil {
				return
			}
			continue
		}
		if others != nil {
			select {
			case others <- m:
			default:
			}
		}
	}
}

// peerGone reports whether err says that the peer went away: it ended the
// stream, or reset it (which is what closing a socket with unread data
// does).
func peerGone(err error) bool {
	return errors.Is(err, chatter.ErrPeerClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// tcpHostPort strips the scheme from a tcp+sbs address.
func tcpHostPort(t *testing.T, addr string) string {
	t.Helper()
	hp, ok := strings.CutPrefix(addr, "tcp+sbs://")
	if !ok {
		t.Fatalf("address %q is not tcp+sbs", addr)
	}
	return hp
}

// waitEnded waits until c reports that it is over (Err is set: reading
// has ended, or it began to close), at most d.
func waitEnded(t *testing.T, c *chatter.Conn, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for c.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("connection %s still open after %v", c.LocalAddress(), d)
		}
		time.Sleep(time.Millisecond)
	}
}

// requestEcho makes a request and checks that the answer carries the same
// Integer.
func requestEcho(ctx context.Context, c *chatter.Conn, v int64) error {
	m, err := c.Request(ctx, intPayload(v))
	if err != nil {
		return err
	}
	if got, ok := m.Data.Data.(int64); !ok || got != v || m.Data.Type != "Integer" {
		return fmt.Errorf("request %d answered with %+v", v, m.Data)
	}
	return nil
}

// frameHeader is a frame's m and k for a body of n bytes.
func frameHeader(n int) []byte {
	m := 1
	for v := n >> 8; v > 0; v >>= 8 {
		m++
	}
	h := []byte{byte(m)}
	for i := m - 1; i >= 0; i-- {
		h = append(h, byte(n>>(8*i)))
	}
	return h
}

// legacyFrame builds a legacy Hat.Msg frame by hand: message id starting a
// new conversation, with last and token set; module "" for a builtin type.
func legacyFrame(id int64, module, typ string, payload []byte) []byte {
	b := sbs.AppendInteger(nil, id)
	b = sbs.AppendInteger(b, id)   // first
	b = sbs.AppendBoolean(b, true) // owner
	b = sbs.AppendBoolean(b, true) // token
	b = sbs.AppendBoolean(b, true) // last
	if module == "" {
		b = sbs.AppendInteger(b, 0) // Nothing
	} else {
		b = sbs.AppendInteger(b, 1) // Just
		b = sbs.AppendString(b, module)
	}
	b = sbs.AppendString(b, typ)
	b = sbs.AppendBytes(b, payload)
	return append(frameHeader(len(b)), b...)
}

// currentFrame is legacyFrame for the current generation's HatChatter.Msg.
func currentFrame(id int64, module, typ string, payload []byte) []byte {
	b := sbs.AppendInteger(nil, id)
	b = sbs.AppendInteger(b, id)
	b = sbs.AppendBoolean(b, true)
	b = sbs.AppendBoolean(b, true)
	b = sbs.AppendBoolean(b, true)
	name := typ
	if module != "" {
		name = module + "." + typ
	}
	b = sbs.AppendString(b, name)
	b = sbs.AppendBytes(b, payload)
	return append(frameHeader(len(b)), b...)
}

// heapAndStack is the Go runtime's in-use heap and stack memory.
func heapAndStack() (heap, stack uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

// vmRSS is the process's resident set size from /proc/self/status, or 0
// where that is not available.
func vmRSS() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// fmtMiB formats a byte count in MiB.
func fmtMiB(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// fmtKiB formats a (possibly negative) byte count in KiB.
func fmtKiB(n float64) string { return fmt.Sprintf("%.1f KiB", n/(1<<10)) }
