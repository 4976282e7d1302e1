package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
	"github.com/google/go-cmp/cmp"
)

const testSchema = `module Test
Point = Record { x: Integer, y: Integer }
Shape = Choice { circle: Integer, point: Point }
`

var testRepo = sbs.MustRepository(sbs.Repo(chatter.SBSRepository), sbs.NamedText("test.sbs", testSchema))

// schemaFile writes testSchema to a file and returns its path.
func schemaFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.sbs")
	if err := os.WriteFile(path, []byte(testSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParse(t *testing.T) {
	big100, _ := new(big.Int).SetString("1267650600228229401496703205376", 10)
	tests := []struct {
		line string
		want chatter.Data
	}{
		{`{"module": null, "type": "Integer", "value": 1267650600228229401496703205376}`, chatter.Data{Type: "Integer", Data: big100}},
		{`{"type": "Integer", "value": -5}`, chatter.Data{Type: "Integer", Data: int64(-5)}},
		{`{"type": "None", "value": null}`, chatter.Data{Type: "None"}},
		{`{"type": "Bytes", "value": "AAH/"}`, chatter.Data{Type: "Bytes", Data: []byte{0, 1, 0xff}}},
		{` {"module": "Test", "type": "Shape", "value": ["point", {"x": 1, "y": 2}]} `, chatter.Data{Module: "Test", Type: "Shape",
			Data: sbs.Union{Name: "point", Value: map[string]any{"x": int64(1), "y": int64(2)}}}},
		// Module.Type, as types prints it and bench -type takes it.
		{`{"type": "Test.Point", "value": {"x": 3, "y": 4}}`, chatter.Data{Module: "Test", Type: "Point",
			Data: map[string]any{"x": int64(3), "y": int64(4)}}},
	}
	for _, tt := range tests {
		got, err := parseRequest(testRepo, []byte(tt.line))
		if err != nil {
			t.Errorf("parse(%s): %v", tt.line, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b *big.Int) bool { return a.Cmp(b) == 0 })); diff != "" {
			t.Errorf("parse(%s) (-want +got):\n%s", tt.line, diff)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		line string
		want string
	}{
		{`{"type": "Integer", "value": 1`, "invalid request"},
		{`{"type": "Integer", "value": 1} {}`, "data after the JSON object"},
		{`{"type": "Integer", "value": 1, "extra": 2}`, `unknown field "extra"`},
		{`["Integer", 1]`, "invalid request"},
		{`{"value": 1}`, `no "type"`},
		{`{"type": "Integer"}`, `no "value"`},
		{`{"type": "Integer", "value": 1.5}`, "Integer"},
		{`{"type": "Integer", "value": "1"}`, "Integer"},
		{`{"module": "Test", "type": "Nope", "value": 1}`, "Nope"},
		{`{"module": "Nope", "type": "Point", "value": 1}`, "Nope"},
		{`{"module": "Test", "type": "Point", "value": {"x": 1}}`, "y"},
		{`{"module": "Test", "type": "Shape", "value": ["square", 1]}`, "square"},
	}
	for _, tt := range tests {
		_, err := parseRequest(testRepo, []byte(tt.line))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parse(%s) = %v, want an error containing %q", tt.line, err, tt.want)
		}
	}
}

// A module no loaded schema defines gets a hint to load it.
func TestParseHintsAtSchema(t *testing.T) {
	for _, line := range []string{
		`{"type": "Example.Point", "value": {"x": 1, "y": 2}}`,
		`{"module": "Example", "type": "Point", "value": {"x": 1, "y": 2}}`,
	} {
		_, err := parseRequest(testRepo, []byte(line))
		if err == nil {
			t.Fatalf("parse(%s) succeeded", line)
		}
		if h := hint(err); !strings.Contains(h, "-schema") || !strings.Contains(h, "Example") {
			t.Errorf("parse(%s): hint %q, want one naming -schema and the module", line, h)
		}
	}
	// A type the module lacks is no schema's absence: no hint.
	_, err := parseRequest(testRepo, []byte(`{"module": "Test", "type": "Nope", "value": 1}`))
	if h := hint(err); h != "" {
		t.Errorf("unknown type of a loaded module: hint %q, want none", h)
	}
}

func TestAnswer(t *testing.T) {
	c := caller{repo: testRepo}
	raw := func(module, typ string, v any) chatter.RawPayload {
		b, err := testRepo.Encode(module, typ, v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		msg  chatter.Msg
		want string
	}{
		{chatter.Msg{Data: chatter.Data{Type: "String"}, Raw: raw("", "String", "<é>"), Last: true, Token: true},
			`{"module":null,"type":"String","value":"<é>","first":false,"last":true,"token":true}`},
		{chatter.Msg{Data: chatter.Data{Module: "Test", Type: "Point"}, Raw: raw("Test", "Point", map[string]any{"y": int64(2), "x": int64(1)}), First: true},
			`{"module":"Test","type":"Point","value":{"x":1,"y":2},"first":true,"last":false,"token":false}`},
		// A type the schemas lack: its bytes.
		{chatter.Msg{Data: chatter.Data{Module: "Other", Type: "Thing"}, Raw: chatter.RawPayload{0x81, 0x82}, Last: true},
			`{"module":"Other","type":"Thing","first":false,"last":true,"token":false,"raw":"8182","error":"sbs: unknown type: no module \"Other\""}`},
	}
	for _, tt := range tests {
		a := c.answer(tt.msg)
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(a); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSuffix(b.String(), "\n"); got != tt.want {
			t.Errorf("answer line\n got %s\nwant %s", got, tt.want)
		}
	}
}

// listen starts a server with onConn on a free port, shut down at the end
// of the test.
func listenServer(t *testing.T, onConn chatter.Handler, opts ...chatter.Option) string {
	t.Helper()
	return listenServerAt(t, "tcp+sbs://127.0.0.1:0", onConn, opts...)
}

// listenServerAt is listenServer on addr.
func listenServerAt(t *testing.T, addr string, onConn chatter.Handler, opts ...chatter.Option) string {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := chatter.Listen(t.Context(), testRepo, addr, onConn, append([]chatter.Option{chatter.WithLogger(log)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv.Addresses()[0]
}

func TestCall(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	addr := listenServer(t, func(ctx context.Context, c *chatter.Conn) { echo(ctx, c, testRepo, log) })
	schema := schemaFile(t)
	in := `{"module": null, "type": "String", "value": "hello"}

{"module": "Test", "type": "Point", "value": {"x": 1, "y": 2}}
`
	code, stdout, stderr := runCmd(t, in, "call", "-schema", schema, addr)
	want := `{"module":null,"type":"String","value":"hello","first":false,"last":true,"token":true}
{"module":"Test","type":"Point","value":{"x":1,"y":2},"first":false,"last":true,"token":true}
`
	if code != exitOK || stdout != want || stderr != "" {
		t.Errorf("exit status %d\nstdout:\n%s\nstderr:\n%s\nwant status 0, stdout:\n%s", code, stdout, stderr, want)
	}

	// A bad line ends the call after the answers to those before it.
	in += `{"module": "Test", "type": "Point", "value": {"x": 1, "y": 2}, "z": 3}` + "\n"
	code, stdout, stderr = runCmd(t, in, "call", "-schema", schema, addr)
	if code != exitFail || stdout != want || !strings.HasPrefix(stderr, "chatter-echo: line 4: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("exit status %d\nstdout:\n%s\nstderr:\n%s\nwant status 1, the first two answers, an error on line 4", code, stdout, stderr)
	}
}

func TestCallNoAnswer(t *testing.T) {
	tests := []struct {
		name   string
		onConn chatter.Handler
		want   string
	}{
		{"silent", func(_ context.Context, c *chatter.Conn) {
			for range c.Messages() {
			}
		}, "line 1: no answer within 200ms"},
		{"closing", func(_ context.Context, c *chatter.Conn) {
			<-c.Messages()
			c.Close()
		}, "line 1: chatter: request Integer (conversation 1): connection closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := listenServer(t, tt.onConn)
			code, stdout, stderr := runCmd(t, `{"type": "Integer", "value": 1}`, "call", "-timeout", "200ms", addr)
			if code != exitFail || stdout != "" || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit status %d, stdout %q, stderr %q; want 1, nothing, %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

func TestCallConnectFails(t *testing.T) {
	// Nothing listens on port 1 of the loopback interface.
	code, _, stderr := runCmd(t, "", "call", "-timeout", "1s", "tcp+sbs://127.0.0.1:1")
	if code != exitFail || !strings.HasPrefix(stderr, "chatter-echo: chatter: connect") {
		t.Errorf("exit status %d, stderr %q; want 1 and a connect error", code, stderr)
	}
}
