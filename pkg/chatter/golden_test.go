package chatter_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

type transcriptData struct {
	Module *string         `json:"module"`
	Type   string          `json:"type"`
	Value  json.RawMessage `json:"value"`
}

type transcriptStep struct {
	Side string          `json:"side"`
	Op   string          `json:"op"`
	Data *transcriptData `json:"data"`
	Conv *struct {
		Ref int `json:"ref"`
	} `json:"conv"`
	Last   bool `json:"last"`
	Token  bool `json:"token"`
	Expect *struct {
		Data    transcriptData `json:"data"`
		First   bool           `json:"first"`
		Last    bool           `json:"last"`
		Token   bool           `json:"token"`
		Owner   bool           `json:"owner"`
		FirstID int64          `json:"first_id"`
	} `json:"expect"`
}

type transcript struct {
	Name              string           `json:"name"`
	Deterministic     bool             `json:"deterministic"`
	Schemas           []string         `json:"schemas"`
	Steps             []transcriptStep `json:"steps"`
	ClientToServerHex string           `json:"client_to_server_hex"`
	ServerToClientHex string           `json:"server_to_client_hex"`
}

func loadTranscripts(t *testing.T) []transcript {
	t.Helper()
	raw, err := readVector("chatter/transcripts.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Transcripts []transcript `json:"transcripts"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f.Transcripts
}

func (tr *transcript) repo(t *testing.T) *sbs.Repository {
	t.Helper()
	srcs := []sbs.Source{sbs.Repo(chatter.SBSRepository)}
	for _, s := range tr.Schemas {
		srcs = append(srcs, sbs.Text(s))
	}
	r, err := sbs.NewRepository(srcs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (d transcriptData) data(t *testing.T, repo *sbs.Repository) chatter.Data {
	t.Helper()
	module := ""
	if d.Module != nil {
		module = *d.Module
	}
	typ, err := repo.Type(module, d.Type)
	if err != nil {
		t.Fatal(err)
	}
	v, err := typ.DecodeJSON(d.Value)
	if err != nil {
		t.Fatal(err)
	}
	return chatter.Data{Module: module, Type: d.Type, Data: v}
}

// play performs the steps of one side (or both) on the given connections.
// conns maps "client"/"server" to a connection; steps of a side without a
// connection are skipped, and a receive's conversation is then learnt from
// the message itself.
func play(t *testing.T, tr *transcript, repo *sbs.Repository, conns map[string]*chatter.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	convs := map[string]map[int]chatter.Conversation{"client": {}, "server": {}}
	for i, st := range tr.Steps {
		c := conns[st.Side]
		if c == nil {
			continue
		}
		switch st.Op {
		case "send":
			opts := []chatter.SendOption{chatter.Last(st.Last), chatter.Token(st.Token)}
			if st.Conv != nil {
				conv, ok := convs[st.Side][st.Conv.Ref]
				if !ok {
					t.Fatalf("step %d: conversation of step %d unknown to %s", i, st.Conv.Ref, st.Side)
				}
				opts = append(opts, chatter.InConversation(conv))
			}
			conv, err := c.Send(ctx, st.Data.data(t, repo), opts...)
			if err != nil {
				t.Fatalf("step %d: send: %v", i, err)
			}
			convs[st.Side][i] = conv
		case "receive":
			m, err := c.Receive(ctx)
			if err != nil {
				t.Fatalf("step %d: receive: %v", i, err)
			}
			want := st.Expect
			if diff := cmp.Diff(want.Data.data(t, repo), m.Data); diff != "" {
				t.Errorf("step %d: data (-want +got):\n%s", i, diff)
			}
			if m.First != want.First || m.Last != want.Last || m.Token != want.Token ||
				m.Conv.Owner != want.Owner || m.Conv.FirstID != want.FirstID {
				t.Errorf("step %d: got first=%v last=%v token=%v owner=%v first_id=%d, want %+v",
					i, m.First, m.Last, m.Token, m.Conv.Owner, m.Conv.FirstID, *want)
			}
			if known, ok := convs[st.Side][st.Conv.Ref]; ok && known != m.Conv {
				t.Errorf("step %d: conversation %+v, want that of step %d: %+v", i, m.Conv, st.Conv.Ref, known)
			}
			convs[st.Side][st.Conv.Ref] = m.Conv
		default:
			t.Fatalf("step %d: unknown op %q", i, st.Op)
		}
	}
}

// readVector reads a file of the golden vectors (copied from the original
// implementation's output into testdata/vectors).
func readVector(name string) ([]byte, error) {
	return os.ReadFile("../../testdata/vectors/" + name)
}

// recorder copies one direction of a proxied connection and keeps a copy.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.buf.Bytes()...)
}

// TestGoldenTranscriptsLive runs each deterministic transcript between a Go
// client and a Go server through a recording proxy and compares the bytes
// that crossed with the original's recording.
func TestGoldenTranscriptsLive(t *testing.T) {
	for _, tr := range loadTranscripts(t) {
		if !tr.Deterministic {
			continue
		}
		t.Run(tr.Name, func(t *testing.T) {
			repo := tr.repo(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			off := chatter.WithPingTimeout(0)
			accepted := make(chan *chatter.Conn, 1)
			srv, err := chatter.Listen(ctx, repo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) { accepted <- c }, off)
			if err != nil {
				t.Fatal(err)
			}
			defer closeServer(t, srv)

			// The proxy: one connection, both directions recorded.
			pl, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pl.Close()
			var c2s, s2c recorder
			var proxy sync.WaitGroup
			proxy.Add(1)
			go func() {
				defer proxy.Done()
				down, err := pl.Accept()
				if err != nil {
					return
				}
				srvAddr := srv.Addresses()[0][len("tcp+sbs://"):]
				up, err := net.Dial("tcp", srvAddr)
				if err != nil {
					down.Close()
					return
				}
				var both sync.WaitGroup
				both.Add(2)
				pipe := func(dst, src net.Conn, rec *recorder) {
					defer both.Done()
					io.Copy(io.MultiWriter(dst, rec), src)
					dst.(*net.TCPConn).CloseWrite()
				}
				go pipe(up, down, &c2s)
				go pipe(down, up, &s2c)
				both.Wait()
				up.Close()
				down.Close()
			}()

			client, err := chatter.Connect(ctx, repo, "tcp+sbs://"+pl.Addr().String(), off)
			if err != nil {
				t.Fatal(err)
			}
			var server *chatter.Conn
			select {
			case server = <-accepted:
			case <-ctx.Done():
				t.Fatal("server accepted nothing")
			}
			play(t, &tr, repo, map[string]*chatter.Conn{"client": client, "server": server})
			for _, c := range []*chatter.Conn{client, server} {
				if err := c.Drain(ctx); err != nil {
					t.Fatal(err)
				}
			}
			client.Close()
			shutdown(t, client.Wait)
			server.Close()
			shutdown(t, server.Wait)
			proxy.Wait()
			if got := hex.EncodeToString(c2s.bytes()); got != tr.ClientToServerHex {
				t.Errorf("client to server:\n got %s\nwant %s", got, tr.ClientToServerHex)
			}
			if got := hex.EncodeToString(s2c.bytes()); got != tr.ServerToClientHex {
				t.Errorf("server to client:\n got %s\nwant %s", got, tr.ServerToClientHex)
			}
		})
	}
}

// TestGoldenTranscriptsReplay feeds each side the other side's recorded
// stream and checks that it receives exactly the expected messages.
func TestGoldenTranscriptsReplay(t *testing.T) {
	for _, tr := range loadTranscripts(t) {
		for _, side := range []string{"client", "server"} {
			t.Run(tr.Name+"/"+side, func(t *testing.T) {
				repo := tr.repo(t)
				incoming := tr.ServerToClientHex
				if side == "server" {
					incoming = tr.ClientToServerHex
				}
				stream, err := hex.DecodeString(incoming)
				if err != nil {
					t.Fatal(err)
				}
				a, b := net.Pipe()
				var peer sync.WaitGroup
				peer.Add(2)
				go func() { defer peer.Done(); b.Write(stream) }()
				go func() { defer peer.Done(); io.Copy(io.Discard, b) }()
				c, err := chatter.NewConn(a, repo, chatter.WithPingTimeout(0))
				if err != nil {
					t.Fatal(err)
				}
				recvOnly := tr
				recvOnly.Steps = nil
				for _, st := range tr.Steps {
					if st.Op == "receive" || st.Side == side {
						recvOnly.Steps = append(recvOnly.Steps, st)
					} else {
						recvOnly.Steps = append(recvOnly.Steps, transcriptStep{Side: "none", Op: "send"})
					}
				}
				// Only this side's receives are checked; its sends are
				// made so that conversation references resolve.
				steps := map[string]*chatter.Conn{side: c}
				play(t, &recvOnly, repo, steps)
				c.Close()
				shutdown(t, c.Wait)
				b.Close()
				peer.Wait()
			})
		}
	}
}
