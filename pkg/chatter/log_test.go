package chatter_test

import (
	"bytes"
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
