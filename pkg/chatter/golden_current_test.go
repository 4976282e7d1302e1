package chatter_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

type currentData struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

// chatterData turns the current wire's {type, data} into a raw Data.
func (d currentData) chatterData(t *testing.T) chatter.Data {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(d.Data)
	if err != nil {
		t.Fatal(err)
	}
	module, typ := "", d.Type
	if i := strings.IndexByte(d.Type, '.'); i > 0 {
		module, typ = d.Type[:i], d.Type[i+1:]
	}
	return chatter.Data{Module: module, Type: typ, Data: chatter.RawPayload(raw)}
}

type currentStep struct {
	Side  *string     `json:"side"`
	Op    string      `json:"op"`
	Data  currentData `json:"data"`
	Until float64     `json:"until"`
	Conv  *struct {
		Ref int `json:"ref"`
	} `json:"conv"`
	Last   bool `json:"last"`
	Token  bool `json:"token"`
	Expect *struct {
		Data    currentData `json:"data"`
		First   bool        `json:"first"`
		Last    bool        `json:"last"`
		Token   bool        `json:"token"`
		Owner   bool        `json:"owner"`
		FirstID int64       `json:"first_id"`
	} `json:"expect"`
}

type currentTranscript struct {
	Name            string              `json:"name"`
	Deterministic   bool                `json:"deterministic"`
	PingDelay       map[string]*float64 `json:"ping_delay"`
	PingTimeout     map[string]*float64 `json:"ping_timeout"`
	ServerIsChatter bool                `json:"server_is_chatter"`
	Steps           []currentStep       `json:"steps"`
	C2S             string              `json:"client_to_server_hex"`
	S2C             string              `json:"server_to_client_hex"`
	S2CFrames       []struct {
		FrameHex string `json:"frame_hex"`
	} `json:"server_to_client_frames"`
	Keepalive *struct {
		Tolerance float64 `json:"tolerance"`
		Timeline  []struct {
			Event     string  `json:"event"`
			Side      string  `json:"side"`
			Direction string  `json:"direction"`
			Index     int     `json:"index"`
			At        float64 `json:"at"`
		} `json:"timeline"`
	} `json:"keepalive"`
}

func loadCurrentTranscripts(t *testing.T) []currentTranscript {
	t.Helper()
	var f struct {
		Transcripts []currentTranscript `json:"transcripts"`
	}
	raw, err := readVector("chatter-current/transcripts.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f.Transcripts
}

func seconds(v *float64) time.Duration {
	if v == nil {
		return 0
	}
	return time.Duration(math.Round(*v * float64(time.Second)))
}

// options for one side of a current transcript: raw payloads, so that what
// the test compares is exactly the wire's type string and bytes.
func (tr *currentTranscript) options(side string) []chatter.Option {
	return []chatter.Option{
		chatter.WithWire(chatter.WireCurrent),
		chatter.WithRawPayloads(),
		chatter.WithPingDelay(seconds(tr.PingDelay[side])),
		chatter.WithPingTimeout(seconds(tr.PingTimeout[side])),
	}
}

// playCurrent runs the steps of the sides present in conns. start is when
// the connection was made, for wait steps.
func playCurrent(t *testing.T, tr *currentTranscript, conns map[string]*chatter.Conn, start time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	convs := map[string]map[int]chatter.Conversation{"client": {}, "server": {}}
	for i, st := range tr.Steps {
		if st.Op == "wait" {
			time.Sleep(time.Until(start.Add(seconds(&st.Until))))
			continue
		}
		side := *st.Side
		c := conns[side]
		if c == nil {
			continue
		}
		switch st.Op {
		case "send":
			opts := []chatter.SendOption{chatter.Last(st.Last), chatter.Token(st.Token)}
			if st.Conv != nil {
				opts = append(opts, chatter.InConversation(convs[side][st.Conv.Ref]))
			}
			conv, err := c.Send(ctx, st.Data.chatterData(t), opts...)
			if err != nil {
				t.Fatalf("step %d: send: %v", i, err)
			}
			convs[side][i] = conv
		case "receive":
			m, err := c.Receive(ctx)
			if err != nil {
				t.Fatalf("step %d: receive: %v", i, err)
			}
			want := st.Expect
			got := currentData{Type: m.Data.Type, Data: base64.StdEncoding.EncodeToString(m.Raw)}
			if m.Data.Module != "" {
				got.Type = m.Data.Module + "." + m.Data.Type
			}
			if got != want.Data {
				t.Errorf("step %d: data %+v, want %+v", i, got, want.Data)
			}
			if m.First != want.First || m.Last != want.Last || m.Token != want.Token ||
				m.Conv.Owner != want.Owner || m.Conv.FirstID != want.FirstID {
				t.Errorf("step %d: got first=%v last=%v token=%v owner=%v first_id=%d, want %+v",
					i, m.First, m.Last, m.Token, m.Conv.Owner, m.Conv.FirstID, *want)
			}
			if st.Conv != nil {
				convs[side][st.Conv.Ref] = m.Conv
			}
		case "wait_closed":
			waitEnded(t, c)
		default:
			t.Fatalf("step %d: unknown op %q", i, st.Op)
		}
	}
}

// tap records everything written to a connection, and when each frame
// was completed.
type tap struct {
	net.Conn
	start  time.Time
	mu     sync.Mutex
	buf    bytes.Buffer
	parsed int             // offset of the first frame not yet timed
	times  []time.Duration // per frame, since start
}

func (c *tap) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p[:n])
	b := c.buf.Bytes()
	for {
		rest := b[c.parsed:]
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			break
		}
		m := int(rest[0])
		k := 0
		for _, x := range rest[1 : 1+m] {
			k = k<<8 | int(x)
		}
		if len(rest) < 1+m+k {
			break
		}
		c.parsed += 1 + m + k
		c.times = append(c.times, time.Since(c.start))
	}
	return n, err
}

// frameTime is when frame i of this direction was written.
func (c *tap) frameTime(i int) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i >= len(c.times) {
		return 0, false
	}
	return c.times[i], true
}

func (c *tap) hex() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return hex.EncodeToString(c.buf.Bytes())
}

// TestCurrentTranscripts runs every current-generation transcript between
// a Go client and a Go server (or the bare peer some of them use), inside a
// synctest bubble so that the keepalive runs on fake time. Both byte
// streams must equal the original's recording, and the times the keepalive
// transcripts predict are checked within their tolerance.
func TestCurrentTranscripts(t *testing.T) {
	for _, tr := range loadCurrentTranscripts(t) {
		t.Run(tr.Name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := net.Pipe()
				start := time.Now()
				ca, cb := &tap{Conn: a, start: start}, &tap{Conn: b, start: start}
				client, err := chatter.NewConn(ca, testRepo, tr.options("client")...)
				if err != nil {
					t.Fatal(err)
				}
				conns := map[string]*chatter.Conn{"client": client}
				var bare sync.WaitGroup
				if tr.ServerIsChatter {
					server, err := chatter.NewConn(cb, testRepo, tr.options("server")...)
					if err != nil {
						t.Fatal(err)
					}
					conns["server"] = server
				} else {
					// The bare peer answers the first complete frame with one
					// prepared frame, then reads and stays silent.
					reply, _ := hex.DecodeString(tr.S2CFrames[0].FrameHex)
					bare.Add(1)
					go func() {
						defer bare.Done()
						head := make([]byte, 2)
						if _, err := io.ReadFull(cb, head); err != nil {
							return
						}
						if _, err := io.ReadFull(cb, make([]byte, int(head[1]))); err != nil {
							return
						}
						cb.Write(reply)
						io.Copy(io.Discard, cb)
					}()
				}
				playCurrent(t, &tr, conns, start)
				if tr.Keepalive != nil {
					for _, ev := range tr.Keepalive.Timeline {
						if ev.Event == "frame" {
							dir := ca
							if ev.Direction == "server_to_client" {
								dir = cb
							}
							at, ok := dir.frameTime(ev.Index)
							if !ok {
								t.Errorf("%s frame %d was never written", ev.Direction, ev.Index)
							} else if math.Abs(at.Seconds()-ev.At) > tr.Keepalive.Tolerance {
								t.Errorf("%s frame %d written at %.3fs, the rule says %.3fs", ev.Direction, ev.Index, at.Seconds(), ev.At)
							}
							continue
						}
						c := conns[ev.Side]
						<-c.Context().Done() // a ping timeout closes at once
						at := time.Since(start).Seconds()
						if math.Abs(at-ev.At) > tr.Keepalive.Tolerance {
							t.Errorf("%s closed at %.3fs, the rule says %.3fs", ev.Side, at, ev.At)
						}
						if !errors.Is(c.Err(), chatter.ErrPingTimeout) {
							t.Errorf("%s ended with %v, want ErrPingTimeout", ev.Side, c.Err())
						}
					}
				}
				// Let whatever is queued reach the other side, then stop.
				for _, c := range conns {
					c.Drain(context.Background())
				}
				synctest.Wait()
				for _, c := range conns {
					c.Close()
				}
				for _, c := range conns {
					<-c.Done()
				}
				b.Close()
				bare.Wait()
				if got := ca.hex(); got != tr.C2S {
					t.Errorf("client to server:\n got %s\nwant %s", got, tr.C2S)
				}
				if tr.ServerIsChatter {
					if got := cb.hex(); got != tr.S2C {
						t.Errorf("server to client:\n got %s\nwant %s", got, tr.S2C)
					}
				}
			})
		})
	}
}
