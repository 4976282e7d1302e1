package chatter_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// lockedBuffer is a log destination safe for the connection's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestDebugLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lockedBuffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		a, b := net.Pipe()
		go io.Copy(io.Discard, b) // a peer that never answers pings
		c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(time.Second), chatter.WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
		<-c.Context().Done() // the ping timeout closes it at once
		c.Close()
		<-c.Done()
		b.Close()
		synctest.Wait()
		out := logs.String()
		for _, want := range []string{
			`level=DEBUG msg="chatter: ping timeout"`,
			`level=DEBUG msg="chatter: connection closing"`,
			`reason="chatter: ping timeout"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("logs lack %q:\n%s", want, out)
			}
		}
	})
}

func TestDebugLogsConnectAndAccept(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client, server := pair(t, "tcp", chatter.WithLogger(logger), chatter.WithPingTimeout(0))
	client.Close()
	shutdown(t, client.Wait)
	shutdown(t, server.Wait)
	out := logs.String()
	for _, want := range []string{
		`msg="chatter: connected" local=` + client.LocalAddress(),
		`msg="chatter: connection accepted" local=` + server.LocalAddress(),
		`reason="chatter: connection closed by peer"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
}

// A peer of the other generation is logged at warning level; an auto
// server says which generation each connection turned out to speak.
func TestGenerationLogs(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	a, b := net.Pipe()
	legacy, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0), chatter.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	current, err := chatter.NewConn(b, testRepo, chatter.WithPingTimeout(0), chatter.WithWire(chatter.WireCurrent), chatter.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	send(t, current, num(1))
	waitEnded(t, legacy)
	legacy.Close()
	current.Close()
	if out := logs.String(); !strings.Contains(out, `level=WARN msg="chatter: wire generation mismatch"`) {
		t.Errorf("no warning for the mismatch:\n%s", out)
	}

	logs = lockedBuffer{}
	srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", nil, chatter.WithWire(chatter.WireAuto), chatter.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	c, err := chatter.Connect(t.Context(), testRepo, srv.Addresses()[0], chatter.WithWire(chatter.WireCurrent))
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, num(2))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "wire=current") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	c.Close()
	if out := logs.String(); !strings.Contains(out, `level=INFO msg="chatter: wire generation decided by the first frame"`) || !strings.Contains(out, "wire=current") {
		t.Errorf("the auto server did not log the generation:\n%s", out)
	}
}

// A peer that breaks the protocol is logged at warning level, as a peer of
// the other generation is.
func TestProtocolErrorIsLogged(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	a, b := net.Pipe()
	c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0), chatter.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() {
		b.Write([]byte{1, 3, 0xff, 0xff, 0xff}) // a frame whose body is no Hat.Msg
		b.Close()
	}()
	waitEnded(t, c)
	if !errors.Is(c.Err(), chatter.ErrProtocol) {
		t.Fatalf("Err = %v, want ErrProtocol", c.Err())
	}
	if out := logs.String(); !strings.Contains(out, `level=WARN msg="chatter: the peer broke the protocol"`) {
		t.Errorf("no warning for the protocol error:\n%s", out)
	}
}
