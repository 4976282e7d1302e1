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
