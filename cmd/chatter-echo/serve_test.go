package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	schema := schemaFile(t)
	outR, outW := io.Pipe()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "-ping", "1s", "-schema", schema, "tcp+sbs://127.0.0.1:0"}, stdio{strings.NewReader(""), outW, &stderr})
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the address: %v; stderr:\n%s", err, stderr.String())
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	if !ok {
		t.Fatalf("first line %q, want listening on ADDRESS", line)
	}

	cctx, ccancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer ccancel()
	conn, err := chatter.Connect(cctx, testRepo, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := chatter.Data{Module: "Test", Type: "Point", Data: map[string]any{"x": int64(1), "y": int64(2)}}
	conv, err := conn.Send(cctx, want, chatter.Last(false))
	if err != nil {
		t.Fatal(err)
	}
	m, err := conn.Receive(cctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.Conv != conv || m.First || !m.Last || !m.Token || m.Data.Type != "Point" {
		t.Errorf("got %+v, want the Point back in conversation %+v, ending it", m, conv)
	}

	// Stopping serve closes the connection it accepted.
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit status %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	if err := conn.Wait(cctx); !errors.Is(err, chatter.ErrPeerClosed) {
		t.Errorf("connection after serve stopped: Wait = %v, want the server's close", err)
	}
	for _, want := range []string{"connection opened", "connection closed", "shutting down"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not log %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "level=ERROR") || strings.Contains(stderr.String(), "level=WARN") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

// TLS flags that an address would silently ignore are refused: with a
// plain tcp+sbs address, and the client-only ones on a server.
func TestTLSFlagsMustFitTheAddress(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "-cert", "c.pem", "-key", "k.pem", "tcp+sbs://127.0.0.1:0"}, "plain tcp+sbs address"},
		{[]string{"serve", "-insecure", "tcp+sbs://127.0.0.1:0"}, "plain tcp+sbs address"},
		{[]string{"serve", "-insecure", "-pem", "x.pem", "ssl+sbs://127.0.0.1:0"}, "-insecure and -servername are for clients"},
		{[]string{"listen", "-serve", "-servername", "x", "ssl+sbs://127.0.0.1:0"}, "-insecure and -servername are for clients"},
		{[]string{"call", "-cacert", "ca.pem", "tcp+sbs://127.0.0.1:1"}, "plain tcp+sbs address"},
		{[]string{"send", "-pem", "x.pem", "-d", `{"type":"Integer","value":1}`, "tcp+sbs://127.0.0.1:1"}, "plain tcp+sbs address"},
	}
	for _, tt := range tests {
		// A command that took the flags would serve (or dial) until its
		// context ends: bound it.
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		var out, errOut syncBuffer
		code := run(ctx, tt.args, stdio{strings.NewReader(""), &out, &errOut})
		cancel()
		stderr := errOut.String()
		if code == 0 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want a failure saying %q", tt.args, code, stderr, tt.want)
		}
	}
}

// A debug address the command refuses fails it before it says it is
// listening.
func TestServeRefusesDebugAddrFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	code := run(ctx, []string{"serve", "-debug-addr", "0.0.0.0:0", "tcp+sbs://127.0.0.1:0"}, stdio{strings.NewReader(""), &out, &errOut})
	if code == 0 || strings.Contains(out.String(), "listening") || !strings.Contains(errOut.String(), "loopback") {
		t.Errorf("exit %d, stdout %q, stderr %q; want a failure about the loopback rule and no listening line", code, out.String(), errOut.String())
	}
}
