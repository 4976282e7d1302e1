package test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/google/go-cmp/cmp"
)

// schemas is a schema directory: the original's dialect at the top, the
// later one (Record, Choice, Optional) two directories down, and a file
// that is not a schema, which must be ignored.
var schemas = map[string]string{
	"shapes.sbs": `module Shapes

# The original's dialect.
Point = Tuple { x: Integer, y: Integer }
Shape = Union {
    circle: Float
    point: Point
    nothing: None
}
Pair(a) = Tuple { left: a, right: a }
Segment = Pair(Point)
`,
	"nested/deeper/inventory.sbs": `module Inventory

# The later dialect.
Item = Record {
    name: String
    tags: Array(String)
    note: Optional(String)
    picture: Bytes
}
Event = Choice { added: Item, removed: String, cleared: None }
Origin = Shapes.Point
`,
	"nested/README.txt": "not a schema { at all",
}

// echoCases are call's input lines and the value each answer must carry.
var echoCases = []struct {
	line  string
	value string // the answer's value; "" when it is the line's
}{
	{line: `{"module": null, "type": "Integer", "value": 1267650600228229401496703205376}`},
	{line: `{"module": null, "type": "Integer", "value": -9223372036854775809}`},
	{line: `{"module": null, "type": "Integer", "value": 42}`},
	{line: `{"module": null, "type": "String", "value": "héllo, 世界 🎉 \"quoted\"\n\t<&> \u0001"}`},
	{line: `{"module": null, "type": "Bytes", "value": "AAECAwT/+w=="}`},
	{line: `{"type": "Boolean", "value": true}`},
	{line: `{"module": null, "type": "None", "value": null}`},
	{line: `{"module": null, "type": "Float", "value": 2.50}`, value: `2.5`},
	{line: `{"module": null, "type": "Float", "value": "-Infinity"}`},
	{line: `{"module": "Shapes", "type": "Point", "value": {"y": -2, "x": 1}}`},
	{line: `{"module": "Shapes", "type": "Shape", "value": ["point", {"x": 3, "y": 4}]}`},
	{line: `{"module": "Shapes", "type": "Shape", "value": ["circle", 0.5]}`},
	{line: `{"module": "Shapes", "type": "Shape", "value": ["nothing", null]}`},
	{line: `{"module": "Shapes", "type": "Segment", "value": {"left": {"x": 0, "y": 0}, "right": {"x": 3, "y": 4}}}`},
	{line: `{"module": "Inventory", "type": "Event", "value": ["added", {"name": "tea", "tags": ["green", "loose"], "note": ["value", "organic"], "picture": "iVBORw0KGgo="}]}`},
	{line: `{"module": "Inventory", "type": "Item", "value": {"name": "", "tags": [], "note": ["none", null], "picture": ""}}`},
	{line: `{"module": "Inventory", "type": "Event", "value": ["removed", "coffee"]}`},
	{line: `{"module": "Inventory", "type": "Origin", "value": {"x": 0, "y": 0}}`},
}

// answerKeys is the order of an answer line's keys.
var answerKeys = []string{"module", "type", "value", "first", "last", "token"}

func TestEcho(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, schemas)
	transports := []struct {
		name, addr string
		serve      []string // extra serve flags
	}{
		{"tcp", "tcp+sbs://127.0.0.1:0", []string{"-queue", "1", "-ping", "1s"}},
		{"tcp6", "tcp+sbs://[::1]:0", nil},
		{"tls", "ssl+sbs://127.0.0.1:0", []string{"-pem", writeSelfSigned(t)}},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			if tr.name == "tcp6" && !ipv6Loopback() {
				t.Skip("no IPv6 loopback")
			}
			args := append([]string{"-schema", dir}, tr.serve...)
			srv := startServe(t, append(args, tr.addr)...)
			if scheme := strings.SplitN(tr.addr, "://", 2)[0]; !strings.HasPrefix(srv.addr, scheme+"://") || strings.HasSuffix(srv.addr, ":0") {
				t.Fatalf("serve listens on %q, want a real port of %s", srv.addr, tr.addr)
			}

			var in strings.Builder
			for _, c := range echoCases {
				in.WriteString(c.line + "\n\n") // blank lines are skipped
			}
			callArgs := []string{"call", "-schema", dir, srv.addr}
			if tr.name == "tls" {
				callArgs = append(callArgs, "-insecure") // a self-signed server
			}
			r := runChatterEcho(t, in.String(), callArgs...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("call: exit status %d, stderr:\n%s", r.code, r.stderr)
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if len(lines) != len(echoCases) {
				t.Fatalf("call printed %d lines, want %d:\n%s", len(lines), len(echoCases), r.stdout)
			}
			for i, c := range echoCases {
				checkAnswer(t, c.line, c.value, lines[i])
			}
		})
	}
}

// checkAnswer checks that got is the echo server's answer to the request
// line, carrying value (or the request's value when it is "").
func checkAnswer(t *testing.T, line, value, got string) {
	t.Helper()
	var req struct {
		Module *string         `json:"module"`
		Type   string          `json:"type"`
		Value  json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal([]byte(line), &req); err != nil {
		t.Fatal(err)
	}
	if value == "" {
		value = string(req.Value)
	}
	want := map[string]any{
		"module": nil, "type": req.Type, "value": parseJSON(t, value),
		"first": false, "last": true, "token": true,
	}
	if req.Module != nil {
		want["module"] = *req.Module
	}
	if diff := cmp.Diff(want, parseJSON(t, got)); diff != "" {
		t.Errorf("answer to %s (-want +got):\n%s", line, diff)
	}
	if keys := objectKeys(t, got); !cmp.Equal(keys, answerKeys) {
		t.Errorf("answer %s has keys %q, want %q", got, keys, answerKeys)
	}
}

// parseJSON parses text keeping numbers exact.
func parseJSON(t *testing.T, text string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	return v
}

// objectKeys lists the keys of a JSON object in their order.
func objectKeys(t *testing.T, text string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(text))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%s: not an object", text)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("%s: %v", text, err)
		}
	}
	return keys
}

func TestCallBadLine(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, schemas)
	srv := startServe(t, "-schema", dir, "tcp+sbs://127.0.0.1:0")
	tests := []struct {
		name, line, want string
	}{
		{"invalid JSON", `{"module": null, "type": "Integer", "value": 1`, "invalid request"},
		{"not an object", `[null, "Integer", 1]`, "invalid request"},
		{"unknown field", `{"module": null, "type": "Integer", "value": 1, "values": 2}`, `"values"`},
		{"no value", `{"module": null, "type": "Integer"}`, `no "value"`},
		{"unknown module", `{"module": "Nope", "type": "Point", "value": 1}`, `"Nope"`},
		{"unknown type", `{"module": "Shapes", "type": "Circle", "value": 1}`, `"Circle"`},
		{"unknown builtin", `{"module": null, "type": "Point", "value": 1}`, `"Point"`},
		{"wrong shape", `{"module": "Shapes", "type": "Point", "value": [1, 2]}`, "Point"},
		{"missing entry", `{"module": "Shapes", "type": "Point", "value": {"x": 1}}`, "y"},
		{"unknown entry", `{"module": "Shapes", "type": "Shape", "value": ["square", 1]}`, "square"},
		{"fraction", `{"module": null, "type": "Integer", "value": 1.5}`, "Integer"},
		{"bad base64", `{"module": null, "type": "Bytes", "value": "not base64!"}`, "Bytes"},
	}
	good := `{"module": null, "type": "Integer", "value": 7}`
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Line 3 is bad; line 4 must not be sent.
			in := good + "\n\n" + tt.line + "\n" + good + "\n"
			r := runChatterEcho(t, in, "call", "-schema", dir, srv.addr)
			if r.code != 1 {
				t.Errorf("exit status %d, want 1", r.code)
			}
			if strings.Count(r.stdout, "\n") != 1 {
				t.Errorf("stdout:\n%s\nwant the answer to line 1 only", r.stdout)
			}
			// One line, and perhaps a hint after it (a module no schema
			// defines gets one: -schema).
			msg, hint, _ := strings.Cut(r.stderr, "\n")
			if !strings.HasPrefix(msg, "chatter-echo: line 3: ") || !strings.Contains(msg, tt.want) ||
				(hint != "" && (!oneLine(hint) || !strings.HasPrefix(hint, "chatter-echo: hint: "))) {
				t.Errorf("stderr %q, want one line naming line 3 and containing %q, and at most a hint", r.stderr, tt.want)
			}
		})
	}
}

func TestCallNoAnswer(t *testing.T) {
	tests := []struct {
		name string
		addr func(t *testing.T) string
		args []string
		want string
	}{
		{"silent", func(t *testing.T) string {
			return listen(t, func(ctx context.Context, c *chatter.Conn) {
				for range c.Messages() {
				}
			})
		}, []string{"-timeout", "300ms"}, "line 2: no answer within 300ms"},
		{"closes", func(t *testing.T) string {
			return listen(t, func(ctx context.Context, c *chatter.Conn) {
				<-c.Messages()
				c.Close()
			})
		}, nil, "line 2: chatter: request String (conversation 1): connection closed"},
		{"no pong", listenMute, []string{"-ping", "100ms"}, "line 2: chatter: request String (conversation 1): connection closed: ping timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr(t)
			start := time.Now()
			r := runChatterEcho(t, "\n"+`{"module": null, "type": "String", "value": "anyone?"}`+"\n", append(append([]string{"call"}, tt.args...), addr)...)
			// One line, and perhaps a hint after it.
			msg, hint, _ := strings.Cut(r.stderr, "\n")
			if r.code != 1 || r.stdout != "" || !strings.Contains(msg, tt.want) || (hint != "" && !strings.HasPrefix(hint, "chatter-echo: hint: ")) {
				t.Errorf("exit status %d, stdout %q, stderr %q; want 1, nothing, one line containing %q", r.code, r.stdout, r.stderr, tt.want)
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("call took %v, want it to give up sooner", d)
			}
		})
	}
}

func TestServeSignal(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			srv := startServe(t, "tcp+sbs://127.0.0.1:0")
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			conn, err := chatter.Connect(ctx, chatter.SBSRepository, srv.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			m, err := conn.Request(ctx, chatter.Data{Type: "Integer", Data: int64(1)})
			if err != nil || m.Data.Data != int64(1) {
				t.Fatalf("request: %+v, %v", m, err)
			}

			code, stdout := srv.stop(t, sig)
			if code != 0 || stdout != "" {
				t.Errorf("exit status %d, stdout after the address %q; want 0, nothing", code, stdout)
			}
			if err := conn.Wait(ctx); !errors.Is(err, chatter.ErrPeerClosed) {
				t.Fatalf("the connection after the server stopped: Wait = %v, want the server's close", err)
			}
			stderr := srv.stderr.String()
			for _, want := range []string{`msg="connection opened"`, `msg="connection closed"`, `msg="shutting down"`} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %s:\n%s", want, stderr)
				}
			}
			for _, bad := range []string{"level=WARN", "level=ERROR", "panic", "DATA RACE"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr has %s:\n%s", bad, stderr)
				}
			}
		})
	}
}

// TestDemo runs what make run runs (chatter-echo with no command is the
// same).
func TestDemo(t *testing.T) {
	start := time.Now()
	r := runChatterEcho(t, "", "demo")
	if r.code != 0 {
		t.Fatalf("exit status %d; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"messages:", "msg/s", "p50", "p99"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, phase := range []string{"one-way:", "requests:", "conversations:"} {
		if !strings.Contains(r.stderr, phase) {
			t.Errorf("progress lacks %q:\n%s", phase, r.stderr)
		}
	}
	t.Logf("demo took %v:\n%s", time.Since(start), r.stdout)
}

func TestUsage(t *testing.T) {
	missing := t.TempDir()
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"-h"}, 0},
		{[]string{"serve", "-h"}, 0},
		{[]string{"call", "-h"}, 0},
		{[]string{"demo", "-h"}, 0},
		{[]string{"nonsense"}, 2},
		{[]string{"serve"}, 2},
		{[]string{"call"}, 2},
		{[]string{"serve", "-bogus", "tcp+sbs://127.0.0.1:0"}, 2},
		{[]string{"serve", "tcp+sbs://127.0.0.1:0", "tcp+sbs://127.0.0.1:0"}, 2},
		{[]string{"call", "-timeout", "five", "tcp+sbs://127.0.0.1:1"}, 2},
		{[]string{"call", "-queue", "many", "tcp+sbs://127.0.0.1:1"}, 2},
		{[]string{"serve", "udp://127.0.0.1:0"}, 2},
		{[]string{"demo", "now"}, 2},
		// Runtime failures: 1.
		{[]string{"serve", "-schema", filepath.Join(missing, "missing"), "tcp+sbs://127.0.0.1:0"}, 1},
		{[]string{"serve", "-pem", filepath.Join(missing, "missing.pem"), "ssl+sbs://127.0.0.1:0"}, 1},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := runChatterEcho(t, "", tt.args...)
			if r.code != tt.code || r.stdout != "" {
				t.Errorf("exit status %d, stdout %q; want %d, nothing", r.code, r.stdout, tt.code)
			}
			if tt.code == 0 {
				if !strings.HasPrefix(r.stderr, "usage:") {
					t.Errorf("stderr %q, want the usage", r.stderr)
				}
			} else if !oneLine(r.stderr) || !strings.HasPrefix(r.stderr, "chatter-echo") {
				t.Errorf("stderr %q, want one line", r.stderr)
			}
		})
	}
}

// TestServeSignalBusy stops serve while a client floods it and reads
// nothing back, so that serve's writes are blocked on a full socket.
func TestServeSignalBusy(t *testing.T) {
	srv := startServe(t, "-queue", "16", "tcp+sbs://127.0.0.1:0")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := chatter.Connect(ctx, chatter.SBSRepository, srv.addr, chatter.WithQueueSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	flooded := make(chan int, 1)
	go func() {
		n := 0
		payload := chatter.Data{Type: "String", Data: strings.Repeat("x", 1000)}
		for {
			if _, err := conn.Send(ctx, payload, chatter.Last(false)); err != nil {
				flooded <- n
				return
			}
			n++
		}
	}()
	time.Sleep(500 * time.Millisecond)

	start := time.Now()
	code, stdout := srv.stop(t, syscall.SIGTERM)
	if code != 0 || stdout != "" {
		t.Errorf("exit status %d, stdout after the address %q; want 0, nothing; stderr:\n%s", code, stdout, srv.stderr.String())
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("serve took %v to stop", d)
	}
	conn.Close()
	t.Logf("sent %d messages before serve stopped", <-flooded)
}

// TestWireGenerations runs serve in auto mode and talks to it with call in
// each generation, then checks that a client cannot ask for auto and that
// a mismatched pair fails with a message naming the other generation.
func TestWireGenerations(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, schemas)
	srv := startServe(t, "-schema", dir, "-wire", "auto", "tcp+sbs://127.0.0.1:0")
	line := `{"module": "Shapes", "type": "Point", "value": {"x": 1, "y": 2}}`
	for _, wire := range []string{"legacy", "current"} {
		r := runChatterEcho(t, line+"\n", "call", "-schema", dir, "-wire", wire, srv.addr)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("call -wire %s: exit status %d, stderr:\n%s", wire, r.code, r.stderr)
		}
		checkAnswer(t, line, "", strings.TrimSuffix(r.stdout, "\n"))
	}
	if r := runChatterEcho(t, "", "call", "-wire", "auto", srv.addr); r.code != 2 || !oneLine(r.stderr) || !strings.Contains(r.stderr, "auto") {
		t.Errorf("call -wire auto: exit status %d, stderr %q", r.code, r.stderr)
	}
	legacy := startServe(t, "-schema", dir, "-wire", "legacy", "tcp+sbs://127.0.0.1:0")
	r := runChatterEcho(t, line+"\n", "call", "-schema", dir, "-wire", "current", "-timeout", "2s", legacy.addr)
	if r.code != 1 || !strings.Contains(r.stderr, "line 1") {
		t.Errorf("current call to a legacy server: exit status %d, stderr %q", r.code, r.stderr)
	}
	legacy.stop(t, syscall.SIGTERM)
	if !strings.Contains(legacy.stderr.String(), "peer speaks the current hat wire") {
		t.Errorf("legacy server's log does not name the mismatch:\n%s", legacy.stderr.String())
	}
}
