package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

var update = flag.Bool("update", false, "rewrite the golden -h texts in testdata/help")

// bgCmd is a long-running command (serve, listen -serve, tap) run in the
// test until it is stopped or the test ends.
type bgCmd struct {
	finished chan struct{} // closed when run has returned, code set
	code     int
	stderr   *syncBuffer
	stdout   *syncBuffer
	cancel   context.CancelFunc
}

// stop ends the command as a signal would and returns its exit status.
func (b *bgCmd) stop(t *testing.T) int {
	t.Helper()
	b.cancel()
	select {
	case <-b.finished:
		return b.code
	case <-time.After(15 * time.Second):
		t.Fatal("the command did not stop")
		return -1
	}
}

// startCmd starts args and waits for the line starting with prefix on
// stdout (or, with onStderr, on stderr); it returns the word that follows
// prefix (an address).
func startCmd(t *testing.T, onStderr bool, prefix string, args ...string) (*bgCmd, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	b := &bgCmd{finished: make(chan struct{}), stderr: new(syncBuffer), stdout: new(syncBuffer), cancel: cancel}
	r, w := io.Pipe()
	var out, errOut io.Writer
	if onStderr {
		out, errOut = b.stdout, io.MultiWriter(w, b.stderr)
	} else {
		out, errOut = io.MultiWriter(w, b.stdout), b.stderr
	}
	go func() {
		b.code = run(ctx, args, stdio{strings.NewReader(""), out, errOut})
		w.Close()
		close(b.finished)
	}()
	t.Cleanup(func() {
		cancel()
		<-b.finished
	})
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%v: no line %q (%v); stderr:\n%s", args, prefix, err, b.stderr.String())
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			go io.Copy(io.Discard, br) // the command never blocks on the pipe
			return b, strings.Fields(rest)[0]
		}
	}
}

// echoServer is a library server answering in kind, on loopback.
func echoServer(t *testing.T, opts ...chatter.Option) string {
	t.Helper()
	return listenServer(t, func(ctx context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	}, opts...)
}

// serve echoes every message unchanged, also payloads the schemas do not
// know, on the current wire, and the connection stays open.
func TestServeEchoesUndecodablePayloads(t *testing.T) {
	srv, addr := startCmd(t, false, "listening on", "serve", "-wire", "current", "tcp+sbs://127.0.0.1:0", "-ping", "0")
	c, err := chatter.Connect(t.Context(), testRepo, addr, chatter.WithWire(chatter.WireCurrent), chatter.WithRawPayloads())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, d := range []chatter.Data{
		{Module: "Other", Type: "Thing", Data: chatter.RawPayload{0x81, 0x82, 0x83}},
		{Type: "NoDot", Data: chatter.RawPayload{0xff}},
		{Module: "Test", Type: "Point", Data: chatter.RawPayload{0x00}}, // does not decode as a Point
	} {
		r, err := c.Request(t.Context(), d)
		if err != nil {
			t.Fatalf("%s.%s: %v", d.Module, d.Type, err)
		}
		if r.Data.Module != d.Module || r.Data.Type != d.Type || !bytes.Equal(r.Raw, d.Data.(chatter.RawPayload)) {
			t.Errorf("sent %s.%s %x, echoed %s.%s %x", d.Module, d.Type, d.Data, r.Data.Module, r.Data.Type, r.Raw)
		}
	}
	if code := srv.stop(t); code != exitOK {
		t.Errorf("exit status %d; stderr:\n%s", code, srv.stderr.String())
	}
}

// listen prints what a server sends, one JSON line each, hex for what the
// schemas do not decode, and says why it stopped.
func TestListen(t *testing.T) {
	addr := listenServer(t, func(ctx context.Context, c *chatter.Conn) {
		c.Send(ctx, chatter.Data{Module: "Test", Type: "Point", Data: map[string]any{"x": int64(1), "y": int64(-2)}}, chatter.Last(false))
		c.Send(ctx, chatter.Data{Module: "Elsewhere", Type: "Blob", Data: chatter.RawPayload{0xab}})
		c.Drain(ctx)
		c.Close()
	})
	code, stdout, stderr := runCmd(t, "", "listen", addr, "-schema", schemaFile(t), "-ping", "0")
	if code != exitFail || !strings.Contains(stderr, "connection closed by peer") {
		t.Errorf("exit status %d, stderr %q; want 1 and the peer's close", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 2 {
		t.Fatalf("stdout:\n%s", stdout)
	}
	var got []msgLine
	for _, l := range lines {
		var m msgLine
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, m)
	}
	if m := got[0]; m.Dir != "in" || *m.Module != "Test" || m.Type != "Point" || string(m.Value) != `{"x":1,"y":-2}` ||
		!m.First || m.Last || m.Conv.First != 1 || m.Conv.Owner || m.Wire != "legacy" {
		t.Errorf("first line %s", lines[0])
	}
	if m := got[1]; m.Raw != "ab" || m.Error == "" || m.Value != nil || !m.Last {
		t.Errorf("second line %s", lines[1])
	}
}

// listen -serve prints what every client sends.
func TestListenServe(t *testing.T) {
	l, addr := startCmd(t, true, "listening on", "listen", "-serve", "tcp+sbs://127.0.0.1:0", "-wire", "auto")
	for _, w := range []chatter.Wire{chatter.WireLegacy, chatter.WireCurrent} {
		c, err := chatter.Connect(t.Context(), testRepo, addr, chatter.WithWire(w))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Send(t.Context(), chatter.Data{Type: "String", Data: "from " + w.String()}); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(l.stdout.String(), "\n") < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	out := l.stdout.String()
	for _, want := range []string{`"wire":"legacy"`, `"value":"from legacy"`, `"wire":"current"`, `"value":"from current"`} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %s:\n%s", want, out)
		}
	}
	if code := l.stop(t); code != exitOK {
		t.Errorf("exit status %d", code)
	}
}

// send sends one-way messages from -d, -d @FILE (pretty-printed) and
// standard input (JSON lines), with the flags asked for.
func TestSend(t *testing.T) {
	got := make(chan chatter.Msg, 16)
	addr := listenServer(t, func(_ context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			got <- m
		}
	})
	file := filepath.Join(t.TempDir(), "msgs.json")
	os.WriteFile(file, []byte("{\n  \"type\": \"Integer\",\n  \"value\": 2\n}\n{\n  \"module\": \"Test\",\n  \"type\": \"Point\",\n  \"value\": {\"x\": 3, \"y\": 4}\n}\n"), 0o644)
	schema := schemaFile(t)
	for _, tc := range []struct {
		args  []string
		stdin string
		want  []string
		last  bool
	}{
		{[]string{"-d", `{"type": "Integer", "value": 1}`}, "", []string{"1"}, true},
		{[]string{"-d", "@" + file, "-last=false", "-token=false"}, "", []string{"2", "map[x:3 y:4]"}, false},
		{nil, `{"type": "String", "value": "a"}` + "\n" + `{"type": "String", "value": "b"}` + "\n", []string{"a", "b"}, true},
	} {
		args := append([]string{"send", addr, "-schema", schema}, tc.args...)
		code, stdout, stderr := runCmd(t, tc.stdin, args...)
		if code != exitOK || stdout != "" || stderr != "" {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", tc.args, code, stdout, stderr)
		}
		for _, want := range tc.want {
			select {
			case m := <-got:
				if s := strings.TrimSpace(strings.ReplaceAll(fmtValue(m.Data.Data), "\n", "")); s != want || m.Last != tc.last || m.Token != tc.last || !m.First {
					t.Errorf("%v: got %v (last %v token %v), want %v", tc.args, s, m.Last, m.Token, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%v: the server got nothing", tc.args)
			}
		}
	}
	// A bad document: nothing is sent, exit 1.
	code, _, stderr := runCmd(t, "", "send", addr, "-d", `{"type": "Integer", "value": "x"}`)
	if code != exitFail || !strings.Contains(stderr, "document 1") {
		t.Errorf("bad document: exit %d, %q", code, stderr)
	}
}

func fmtValue(v any) string {
	var b bytes.Buffer
	switch v := v.(type) {
	case map[string]any:
		b.WriteString("map[")
		b.WriteString("x:" + fmtValue(v["x"]) + " y:" + fmtValue(v["y"]))
		b.WriteString("]")
	case int64:
		b.WriteString(big.NewInt(v).String())
	case string:
		b.WriteString(v)
	}
	return b.String()
}

// call takes -d too.
func TestCallData(t *testing.T) {
	addr := echoServer(t)
	code, stdout, stderr := runCmd(t, "", "call", "-d", `{"type": "Integer", "value": 7} {"type": "String", "value": "x"}`, addr)
	want := `{"module":null,"type":"Integer","value":7,"first":false,"last":true,"token":true}
{"module":null,"type":"String","value":"x","first":false,"last":true,"token":true}
`
	if code != exitOK || stdout != want {
		t.Errorf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// bench measures an echo server here, or at an address; -json for
// machines.
func TestBench(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "-n", "500", "-json"},
		{"bench", "-n", "300", "-inflight", "4", "-conns", "2", "-size", "100", "-json"},
		{"bench", "-n", "200", "-inflight", "2", "-json", "-wire", "current", echoServer(t, chatter.WithWire(chatter.WireCurrent))},
	} {
		code, stdout, stderr := runCmd(t, "", args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d, stderr %q", args, code, stderr)
		}
		var r benchResult
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("%v: %v in %q", args, err, stdout)
		}
		if r.MsgPerS <= 0 || r.Seconds <= 0 {
			t.Errorf("%v: %+v", args, r)
		}
		switch {
		case r.Inflight == 0 && (r.Messages != 500 || r.P50 != 0 || r.Workload != "one-way"):
			t.Errorf("%v: %+v", args, r)
		case r.Inflight == 4 && (r.Messages != 600 || r.Size != 102 || r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99):
			t.Errorf("%v: %+v", args, r)
		case r.Inflight == 2 && r.Messages != 200:
			t.Errorf("%v: %+v", args, r)
		}
	}
	code, stdout, _ := runCmd(t, "", "bench", "-n", "100")
	if code != exitOK || !strings.Contains(stdout, "msg/s") || !strings.Contains(stdout, "one-way") {
		t.Errorf("table: exit %d\n%s", code, stdout)
	}
}

// types lists the schemas' types with their skeletons.
func TestTypes(t *testing.T) {
	code, stdout, stderr := runCmd(t, "", "types", "-schema", schemaFile(t))
	want := `Test.Point = {"x": 0, "y": 0}
Test.Shape = ["circle", 0]
`
	if code != exitOK || stdout != want {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
	}
	code, stdout, _ = runCmd(t, "", "types", "-json", "-all", "-schema", schemaFile(t))
	var obj map[string]any
	if err := json.Unmarshal([]byte(stdout), &obj); code != exitOK || err != nil || obj["Hat.Msg"] == nil || obj["Bytes"] != "" {
		t.Errorf("-json -all: exit %d, %v:\n%s", code, err, stdout)
	}
}

// recordingConn keeps every byte read from and written to a connection.
type recordingConn struct {
	net.Conn
	mu          sync.Mutex
	read, wrote bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.read.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

func (c *recordingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	c.wrote.Write(p[:n])
	c.mu.Unlock()
	return n, err
}

func (c *recordingConn) bytes() (read, wrote []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.read.Bytes()), bytes.Clone(c.wrote.Bytes())
}

type recordingListener struct {
	net.Listener
	conns chan *recordingConn
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &recordingConn{Conn: c}
	l.conns <- rc
	return rc, nil
}

// tap sits between a real client and a real server: every byte goes
// through unchanged, both ways, and every frame is printed with what it
// carries.
func TestTap(t *testing.T) {
	for _, w := range []chatter.Wire{chatter.WireLegacy, chatter.WireCurrent} {
		t.Run(w.String(), func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			rl := &recordingListener{Listener: l, conns: make(chan *recordingConn, 1)}
			srv, err := chatter.NewServer(testRepo, rl, func(ctx context.Context, c *chatter.Conn) {
				for m := range c.Messages() {
					c.Send(ctx, chatter.Data{Module: m.Data.Module, Type: m.Data.Type, Data: chatter.RawPayload(m.Raw)}, chatter.InConversation(m.Conv))
				}
			}, chatter.WithWire(chatter.WireAuto), chatter.WithPingTimeout(0), chatter.WithRawPayloads(), chatter.WithReplyGrace(10*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			tp, tapAddr := startCmd(t, true, "listening on", "tap", "-json", "-schema", schemaFile(t), "tcp+sbs://127.0.0.1:0", srv.Addresses()[0])

			var client *recordingConn
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				var d net.Dialer
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				client = &recordingConn{Conn: c}
				return client, nil
			}
			c, err := chatter.Connect(t.Context(), testRepo, tapAddr, chatter.WithWire(w), chatter.WithDialer(dial), chatter.WithPingTimeout(0), chatter.WithRawPayloads())
			if err != nil {
				t.Fatal(err)
			}
			point := chatter.Data{Module: "Test", Type: "Point", Data: map[string]any{"x": int64(5), "y": int64(6)}}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			for _, d := range []chatter.Data{point, {Type: "String", Data: "hé"}, {Module: "Unknown", Type: "T", Data: chatter.RawPayload{0x81}}} {
				if _, err := c.Request(ctx, d); err != nil {
					t.Fatal(err)
				}
			}
			c.Close()
			server := <-rl.conns
			deadline := time.Now().Add(10 * time.Second)
			for strings.Count(tp.stdout.String(), `"closed"`) == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if code := tp.stop(t); code != exitOK {
				t.Errorf("tap exit %d; stderr:\n%s", code, tp.stderr.String())
			}

			// Nothing changed on the wire.
			cRead, cWrote := client.bytes()
			sRead, sWrote := server.bytes()
			if !bytes.Equal(cWrote, sRead) || !bytes.Equal(sWrote, cRead) || len(cWrote) == 0 || len(sWrote) == 0 {
				t.Fatalf("the streams differ: client wrote %d bytes, server read %d; server wrote %d, client read %d",
					len(cWrote), len(sRead), len(sWrote), len(cRead))
			}
			// Every frame was printed, in order, with what it holds.
			var lines []tapFrameLine
			for _, l := range strings.Split(strings.TrimSpace(tp.stdout.String()), "\n") {
				var fl tapFrameLine
				if err := json.Unmarshal([]byte(l), &fl); err != nil {
					t.Fatalf("%q: %v", l, err)
				}
				if fl.Dir != "" {
					lines = append(lines, fl)
				}
			}
			for _, dir := range []struct {
				name   string
				stream []byte
			}{{"c2s", cWrote}, {"s2c", sWrote}} {
				sc := chatter.NewFrameScanner(bytes.NewReader(dir.stream), 0)
				var printed []tapFrameLine
				for _, l := range lines {
					if l.Dir == dir.name {
						printed = append(printed, l)
					}
				}
				for i := 0; ; i++ {
					body, err := sc.Next()
					if err == io.EOF {
						if i != len(printed) {
							t.Errorf("%s: %d frames on the wire, %d printed", dir.name, i, len(printed))
						}
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					e, _, err := chatter.DecodeEnvelope(body, w)
					if err != nil || i >= len(printed) {
						t.Fatalf("%s frame %d: %v", dir.name, i, err)
					}
					p := printed[i]
					if p.ID == nil {
						t.Fatalf("%s frame %d printed without an id: %+v", dir.name, i, p)
					}
					if *p.ID != e.ID || p.Conv.First != e.First || p.Type != e.Type || p.Wire != w.String() {
						t.Errorf("%s frame %d printed as %+v, is %+v", dir.name, i, p, e)
					}
					switch e.Type {
					case "Point":
						if string(p.Value) != `{"x":5,"y":6}` {
							t.Errorf("%s frame %d: value %s", dir.name, i, p.Value)
						}
					case "T":
						if p.Raw != hex.EncodeToString(e.Payload) {
							t.Errorf("%s frame %d: raw %s, payload %x", dir.name, i, p.Raw, e.Payload)
						}
					}
				}
			}
		})
	}
}

// Flags may follow the arguments.
func TestFlagsAfterArguments(t *testing.T) {
	addr := echoServer(t)
	code, stdout, stderr := runCmd(t, `{"type": "Integer", "value": 1}`, "call", addr, "-timeout", "5s", "-ping", "0")
	if code != exitOK || !strings.Contains(stdout, `"value":1`) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// A mismatch of configuration fails with a hint at the likely cause.
func TestHints(t *testing.T) {
	tlsAddr := listenServerAt(t, "ssl+sbs://127.0.0.1:0", nil, chatter.WithPEMFile(selfSigned(t)))
	currentAddr := echoServer(t, chatter.WithWire(chatter.WireCurrent))
	plainAddr := echoServer(t)
	for _, tc := range []struct {
		name string
		args []string
		hint string
	}{
		{"plain client, TLS server", []string{"call", "-d", `{"type": "Integer", "value": 1}`, "tcp+sbs://" + strings.TrimPrefix(tlsAddr, "ssl+sbs://")}, "TLS"},
		{"TLS client, plain server", []string{"call", "-insecure", "-d", `{"type": "Integer", "value": 1}`, "ssl+sbs://" + strings.TrimPrefix(plainAddr, "tcp+sbs://")}, "tcp+sbs://"},
		{"legacy client, current server", []string{"call", "-d", `{"type": "Integer", "value": 1}`, currentAddr}, "-wire"},
		// A one-way send has no answer: the ping after it finds out.
		{"send: current client, legacy server", []string{"send", "-wire", "current", "-d", `{"type": "Integer", "value": 1}`, plainAddr}, "-wire"},
		{"unverified server", []string{"call", "-d", `{"type": "Integer", "value": 1}`, tlsAddr}, "-cacert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, "", tc.args...)
			if code != exitFail || !strings.Contains(stderr, "hint:") || !strings.Contains(stderr, tc.hint) {
				t.Errorf("exit %d, stderr:\n%s\nwant a hint mentioning %q", code, stderr, tc.hint)
			}
		})
	}
}

// mutualTLSFiles writes a CA's certificate, and a server's and a client's
// certificates and keys it signed, to files of a temporary directory.
func mutualTLSFiles(t *testing.T) (caFile, serverPEM, clientPEM string) {
	t.Helper()
	ca, caKey, caPEM := newCA(t)
	dir := t.TempDir()
	caFile = filepath.Join(dir, "ca.pem")
	serverPEM = filepath.Join(dir, "server.pem")
	clientPEM = filepath.Join(dir, "client.pem")
	for _, f := range []struct {
		path string
		data []byte
	}{{caFile, caPEM}, {serverPEM, issue(t, ca, caKey, "server")}, {clientPEM, issue(t, ca, caKey, "client")}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, serverPEM, clientPEM
}

// TLS: -cacert verifies the server, -insecure does not, -pem alone keeps
// working with a warning, and -cacert on a server asks for client
// certificates.
func TestTLSFlags(t *testing.T) {
	caFile, serverPEM, clientPEM := mutualTLSFiles(t)

	srv, addr := startCmd(t, false, "listening on", "serve", "-pem", serverPEM, "-cacert", caFile, "ssl+sbs://127.0.0.1:0")
	req := `{"type": "Integer", "value": 3}`
	code, stdout, stderr := runCmd(t, "", "call", "-d", req, "-cacert", caFile, "-pem", clientPEM, addr)
	if code != exitOK || !strings.Contains(stdout, `"value":3`) || stderr != "" {
		t.Errorf("mutual TLS: exit %d, %q, %q", code, stdout, stderr)
	}
	code, _, stderr = runCmd(t, "", "call", "-d", req, "-cacert", caFile, addr)
	if code != exitFail || !strings.Contains(stderr, "hint: the server wants a client certificate") {
		t.Errorf("without a client certificate: exit %d, %q; want the hint to give one", code, stderr)
	}
	code, stdout, stderr = runCmd(t, "", "call", "-d", req, "-pem", clientPEM, addr)
	if code != exitOK || !strings.Contains(stderr, "warning: -pem alone does not verify the server") || !strings.Contains(stdout, `"value":3`) {
		t.Errorf("-pem alone: exit %d, %q, %q", code, stdout, stderr)
	}
	code, stdout, stderr = runCmd(t, "", "call", "-d", req, "-insecure", "-cert", clientPEM, "-key", clientPEM, addr)
	if code != exitOK || stderr != "" || !strings.Contains(stdout, `"value":3`) {
		t.Errorf("-insecure -cert -key: exit %d, %q, %q", code, stdout, stderr)
	}
	code, _, stderr = runCmd(t, "", "call", "-d", req, "-cacert", caFile, "-servername", "elsewhere.example", "-pem", clientPEM, addr)
	if code != exitFail || !strings.Contains(stderr, "-servername") {
		t.Errorf("wrong name: exit %d, %q", code, stderr)
	}
	srv.stop(t)
}

// The -h texts are golden: testdata/help/COMMAND.txt (go test -update
// rewrites them).
func TestHelpTexts(t *testing.T) {
	for _, cmd := range []string{"", "serve", "listen", "send", "call", "bench", "tap", "types", "demo"} {
		name := cmd
		args := []string{cmd, "-h"}
		if cmd == "" {
			name, args = "chatter-echo", []string{"-h"}
		}
		code, stdout, stderr := runCmd(t, "", args...)
		if code != exitOK || stdout != "" {
			t.Errorf("%s -h: exit %d, stdout %q", name, code, stdout)
		}
		path := filepath.Join("testdata", "help", name+".txt")
		if *update {
			os.MkdirAll(filepath.Dir(path), 0o755)
			if err := os.WriteFile(path, []byte(stderr), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		if stderr != string(want) {
			t.Errorf("%s -h differs from %s (go test -update rewrites it):\n%s", name, path, stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCmd(t, "", "-version")
	if code != exitOK || !strings.HasPrefix(stdout, "chatter-echo ") || !strings.Contains(stdout, "go1.") {
		t.Errorf("exit %d, %q", code, stdout)
	}
}

// selfSigned writes a throwaway certificate and key for 127.0.0.1 to one
// PEM file.
func selfSigned(t *testing.T) string {
	t.Helper()
	ca, key, _ := newCA(t)
	path := filepath.Join(t.TempDir(), "self.pem")
	os.WriteFile(path, issue(t, ca, key, "server"), 0o600)
	return path
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key, pemBlock("CERTIFICATE", der)
}

// issue makes a certificate for 127.0.0.1 signed by ca, with its key, as
// one PEM text.
func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, name string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pemBlock("CERTIFICATE", der), pemBlock("EC PRIVATE KEY", kb)...)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// rawServer accepts one connection, writes what it is given, reads until
// the client ends, and hands back what it read.
func rawServer(t *testing.T, write []byte) (addr string, read <-chan []byte) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.Write(write)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		got <- b
	}()
	return "tcp+sbs://" + l.Addr().String(), got
}

// listen against a scripted peer: a hand-made legacy frame is printed,
// then a frame of the current generation ends it, with the hint.
func TestListenScriptedPeer(t *testing.T) {
	legacy := chatter.AppendFrame(nil, []byte{0x81, 0x81, 1, 1, 1, 0x80, 0x87, 'I', 'n', 't', 'e', 'g', 'e', 'r', 0x81, 0x85})
	current := chatter.AppendFrame(nil, []byte{0x82, 0x82, 1, 1, 1, 0x87, 'I', 'n', 't', 'e', 'g', 'e', 'r', 0x81, 0x86})
	addr, _ := rawServer(t, append(legacy, current...))
	code, stdout, stderr := runCmd(t, "", "listen", "-ping", "0", addr)
	if !strings.Contains(stdout, `"type":"Integer","value":5`) || strings.Count(stdout, "\n") != 1 {
		t.Errorf("stdout:\n%s", stdout)
	}
	if code != exitFail || !strings.Contains(stderr, "hint: the peer speaks the current hat wire: use -wire current") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// tap between a raw client and a raw server: what is not Chatter is
// forwarded unchanged all the same, and said so.
func TestTapForwardsWhatIsNotChatter(t *testing.T) {
	reply := []byte("HTTP/1.1 400 Bad Request\r\n\r\n")
	upstream, got := rawServer(t, reply)
	tp, tapAddr := startCmd(t, true, "listening on", "tap", "tcp+sbs://127.0.0.1:0", upstream)
	nc, err := net.Dial("tcp", strings.TrimPrefix(tapAddr, "tcp+sbs://"))
	if err != nil {
		t.Fatal(err)
	}
	// Read as a frame header, 'G' claims a 71-byte length: far too large.
	request := []byte("GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: a client that is not a Chatter peer at all\r\n\r\n")
	nc.Write(request)
	nc.(*net.TCPConn).CloseWrite()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	back, _ := io.ReadAll(nc)
	nc.Close()
	if !bytes.Equal(back, reply) || !bytes.Equal(<-got, request) {
		t.Errorf("the tap changed the bytes: client got %q", back)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tp.stdout.String(), "closed") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	tp.stop(t)
	if out := tp.stdout.String(); !strings.Contains(out, "not Chatter") {
		t.Errorf("the tap did not say the stream is not Chatter:\n%s", out)
	}
}

// tap in front of a server that wants client certificates: with
// -upstream-pem a plain client gets through; without, the "closed" line
// says the server wanted a certificate. Upstream certificate flags on a
// plain UPSTREAM are refused.
func TestTapMutualTLSUpstream(t *testing.T) {
	caFile, serverPEM, clientPEM := mutualTLSFiles(t)
	srv, upstream := startCmd(t, false, "listening on", "serve", "-pem", serverPEM, "-cacert", caFile, "ssl+sbs://127.0.0.1:0")
	defer srv.stop(t)

	req := `{"type": "Integer", "value": 3}`
	tp, tapAddr := startCmd(t, true, "listening on", "tap", "-cacert", caFile, "-upstream-pem", clientPEM, "tcp+sbs://127.0.0.1:0", upstream)
	code, stdout, stderr := runCmd(t, "", "call", "-d", req, tapAddr)
	tp.stop(t)
	if code != exitOK || !strings.Contains(stdout, `"value":3`) {
		t.Errorf("through tap with a client certificate: exit %d, %q, %q", code, stdout, stderr)
	}

	tp, tapAddr = startCmd(t, true, "listening on", "tap", "-cacert", caFile, "tcp+sbs://127.0.0.1:0", upstream)
	code, _, _ = runCmd(t, "", "call", "-d", req, "-timeout", "5s", tapAddr)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tp.stdout.String(), "closed") && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	tp.stop(t)
	if out := tp.stdout.String(); code != exitFail || !strings.Contains(out, "closed: ") || !strings.Contains(out, "certificate required") {
		t.Errorf("through tap without a client certificate: exit %d; tap printed:\n%s", code, out)
	}

	code, _, stderr = runCmd(t, "", "tap", "-upstream-pem", clientPEM, "tcp+sbs://127.0.0.1:0", "tcp+sbs://127.0.0.1:1")
	if code != exitUsage || !strings.Contains(stderr, "-upstream-pem") {
		t.Errorf("-upstream-pem on a plain UPSTREAM: exit %d, %q", code, stderr)
	}
}
