package chatter_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// A server counts what it accepted, refused and saw end, and the traffic
// of all its connections, ended ones included.
func TestServerStats(t *testing.T) {
	srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	}, chatter.WithMaxConnections(1), chatter.WithPingTimeout(0), chatter.WithReplyGrace(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	c, err := chatter.Connect(t.Context(), testRepo, srv.Addresses()[0], chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	for i := range int64(3) {
		if _, err := c.Request(t.Context(), num(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Over the cap: accepted and closed at once.
	over, err := chatter.Connect(t.Context(), testRepo, srv.Addresses()[0])
	if err != nil {
		t.Fatal(err)
	}
	waitEnded(t, over)
	over.Close()
	mid := srv.Stats()
	if mid.Accepted != 2 || mid.Refused != 1 || mid.Open != 1 || mid.MessagesIn != 3 || mid.MessagesOut != 3 {
		t.Errorf("with one connection open: %+v", mid)
	}
	c.Close()
	for srv.OpenConnections() != 0 {
		time.Sleep(time.Millisecond)
	}
	end := srv.Stats()
	cs := c.Stats()
	if end.MessagesIn != 3 || end.MessagesOut != 3 || end.BytesIn != cs.BytesOut || end.BytesOut != cs.BytesIn {
		t.Errorf("after the end: %+v; the client's %+v", end, cs)
	}
	if end.Closed.Peer != 1 || end.Open != 0 {
		t.Errorf("closes %+v, open %d; want one by the peer", end.Closed, end.Open)
	}

	// Handshakes that fail count apart.
	tlsSrv, err := chatter.Listen(t.Context(), testRepo, "ssl+sbs://127.0.0.1:0", nil,
		chatter.WithPEMFile(writeSelfSigned(t, "server")), chatter.WithLogger(quietLogger()))
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, tlsSrv)
	nc, err := net.Dial("tcp", strings.TrimPrefix(tlsSrv.Addresses()[0], "ssl+sbs://"))
	if err != nil {
		t.Fatal(err)
	}
	nc.Write([]byte("this is not a TLS client hello\n"))
	for tlsSrv.Stats().HandshakeFailures == 0 {
		time.Sleep(time.Millisecond)
	}
	nc.Close()
	if st := tlsSrv.Stats(); st.Accepted != 1 || st.HandshakeFailures != 1 || st.Open != 0 {
		t.Errorf("TLS server after a bad handshake: %+v", st)
	}
}

// observerLog is an Observer keeping what it was told.
type observerLog struct {
	chatter.NopObserver
	mu                       sync.Mutex
	opened, closed           []*chatter.Conn
	closeErrs                []error
	received, sent           []chatter.MsgInfo
	receivedConn, sentByConn []*chatter.Conn
}

func (r *observerLog) Opened(c *chatter.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opened = append(r.opened, c)
}

func (r *observerLog) Closed(c *chatter.Conn, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed, r.closeErrs = append(r.closed, c), append(r.closeErrs, err)
}

func (r *observerLog) Received(c *chatter.Conn, m chatter.MsgInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.received, r.receivedConn = append(r.received, m), append(r.receivedConn, c)
}

func (r *observerLog) Sent(c *chatter.Conn, m chatter.MsgInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent, r.sentByConn = append(r.sent, m), append(r.sentByConn, c)
}

// eventLog records the Observer methods that NopObserver leaves out of
// observerLog, in order, each with the connection's tag.
type eventLog struct {
	chatter.NopObserver
	mu        sync.Mutex
	tags      int
	events    []string
	requests  []chatter.RequestInfo
	timedOut  []chatter.Conversation
	pings     []time.Duration
	pingsSeen chan struct{}
}

func (r *eventLog) TagConn(c *chatter.Conn) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tags++
	return fmt.Sprintf("conn-%d", r.tags)
}

func (r *eventLog) add(c *chatter.Conn, ev string) {
	r.events = append(r.events, fmt.Sprintf("%v %s", c.Tag(), ev))
}

func (r *eventLog) RequestStarted(c *chatter.Conn, info chatter.RequestInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(c, "started "+info.Type)
	r.requests = append(r.requests, info)
}

func (r *eventLog) RequestDone(c *chatter.Conn, info chatter.RequestInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(c, "done "+info.Type)
	r.requests = append(r.requests, info)
}

func (r *eventLog) ConversationTimedOut(c *chatter.Conn, conv chatter.Conversation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.add(c, "timed out")
	r.timedOut = append(r.timedOut, conv)
}

func (r *eventLog) PingAnswered(c *chatter.Conn, rtt time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pings = append(r.pings, rtt)
	if len(r.pings) == 1 {
		close(r.pingsSeen)
	}
}

// The Observer's request, timeout and ping events, each with the tag its
// TagConn gave the connection; CloseReason classifies how each end ended.
func TestObserverEvents(t *testing.T) {
	for _, wire := range []chatter.Wire{chatter.WireLegacy, chatter.WireCurrent} {
		t.Run(wire.String(), func(t *testing.T) {
			rec := &eventLog{pingsSeen: make(chan struct{})}
			clientOpts := []chatter.Option{chatter.WithWire(wire), chatter.WithObserver(rec),
				chatter.WithPingTimeout(5 * time.Second), chatter.WithPingDelay(200 * time.Millisecond)}
			if wire == chatter.WireLegacy {
				clientOpts[2] = chatter.WithPingTimeout(200 * time.Millisecond)
			}
			client, server := pairWith(t, "tcp", clientOpts, []chatter.Option{chatter.WithWire(wire), chatter.WithPingTimeout(0)})
			if client.Tag() != "conn-1" {
				t.Errorf("Tag = %v, want conn-1", client.Tag())
			}
			ctx := t.Context()

			go func() {
				m := receive(t, server)
				send(t, server, num(2), chatter.InConversation(m.Conv))
			}()
			reply, err := client.Request(ctx, num(1))
			if err != nil {
				t.Fatal(err)
			}
			gaveUp, cancel := context.WithCancel(ctx)
			go func() {
				receive(t, server) // never answered
				cancel()
			}()
			_, reqErr := client.Request(gaveUp, chatter.Data{Module: "Test", Type: "Text", Data: "x"})
			if !errors.Is(reqErr, context.Canceled) {
				t.Fatalf("Request = %v", reqErr)
			}
			timedOut := make(chan chatter.Conversation, 1)
			conv := send(t, client, num(3), chatter.Last(false), chatter.ConversationTimeout(time.Millisecond, func(c chatter.Conversation) { timedOut <- c }))
			receive(t, server)
			select {
			case <-timedOut:
			case <-time.After(10 * time.Second):
				t.Fatal("the conversation did not time out")
			}
			select {
			case <-rec.pingsSeen:
			case <-time.After(10 * time.Second):
				t.Fatal("no ping answered in 10 s")
			}

			rec.mu.Lock()
			want := []string{"conn-1 started Num", "conn-1 done Num", "conn-1 started Text", "conn-1 done Text", "conn-1 timed out"}
			if diff := cmp.Diff(want, rec.events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if len(rec.requests) == 4 {
				ok, failed := rec.requests[1], rec.requests[3]
				if ok.Err != nil || ok.Conv != reply.Conv || ok.Duration <= 0 || ok.Module != "Test" {
					t.Errorf("RequestDone of the answered request: %+v", ok)
				}
				if !errors.Is(failed.Err, context.Canceled) || failed.Conv.FirstID == 0 || failed.Conv != rec.requests[2].Conv {
					t.Errorf("RequestDone of the request that gave up: %+v", failed)
				}
			}
			if len(rec.timedOut) != 1 || rec.timedOut[0] != conv {
				t.Errorf("timed out %+v, want %+v", rec.timedOut, conv)
			}
			if rec.pings[0] <= 0 {
				t.Errorf("ping round trip %v", rec.pings[0])
			}
			rec.mu.Unlock()

			client.Close()
			if r := chatter.CloseReason(client.Err()); r != chatter.CloseLocal {
				t.Errorf("CloseReason of the closing end = %q", r)
			}
			<-server.Done()
			if r := chatter.CloseReason(server.Err()); r != chatter.ClosePeer {
				t.Errorf("CloseReason of the other end = %q (%v)", r, server.Err())
			}
		})
	}
}

func TestCloseReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("read: %w", chatter.ErrPingTimeout), chatter.ClosePingTimeout},
		{chatter.ErrFrameTimeout, chatter.CloseFrameTimeout},
		{chatter.ErrHandshakeTimeout, chatter.CloseHandshakeTimeout},
		{chatter.ErrWireMismatch, chatter.CloseWireMismatch},
		{chatter.ErrProtocol, chatter.CloseProtocol},
		{chatter.ErrMessageTooLarge, chatter.CloseTooLarge},
		{io.ErrUnexpectedEOF, chatter.CloseOther},
	} {
		if got := chatter.CloseReason(tc.err); got != tc.want {
			t.Errorf("CloseReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestObserver(t *testing.T) {
	var rec observerLog
	client, server := pair(t, "tcp", chatter.WithPingTimeout(0), chatter.WithObserver(&rec))
	conv := send(t, client, chatter.Data{Module: "Test", Type: "Text", Data: "hello"}, chatter.Last(false))
	m := receive(t, server)
	send(t, server, num(7), chatter.InConversation(m.Conv))
	receive(t, client)
	client.Close()
	server.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.opened) != 2 || len(rec.closed) != 2 {
		t.Fatalf("opened %d, closed %d; want both ends", len(rec.opened), len(rec.closed))
	}
	for i, err := range rec.closeErrs {
		if !errors.Is(err, chatter.ErrClosed) {
			t.Errorf("Closed %d with %v", i, err)
		}
	}
	want := []chatter.MsgInfo{
		{Module: "Test", Type: "Text", Size: 6, Conv: conv},
		{Module: "Test", Type: "Num", Size: 1, Conv: m.Conv},
	}
	if len(rec.sent) != 2 || rec.sent[0] != want[0] || rec.sent[1] != want[1] || rec.sentByConn[0] != client || rec.sentByConn[1] != server {
		t.Errorf("Sent %+v, want %+v", rec.sent, want)
	}
	if len(rec.received) != 2 || rec.received[0].Module != "Test" || rec.received[0].Size != 6 ||
		rec.receivedConn[0] != server || rec.received[1].Conv != conv {
		t.Errorf("Received %+v", rec.received)
	}
}

// An mTLS server sees which client certificate connected.
func TestTLSIdentity(t *testing.T) {
	f := makeTLSFiles(t)
	subjects := make(chan string, 1)
	srv, err := chatter.Listen(t.Context(), testRepo, "ssl+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) {
		st, ok := c.TLSConnectionState()
		if !ok || len(st.PeerCertificates) == 0 {
			subjects <- "none"
			return
		}
		subjects <- st.PeerCertificates[0].Subject.CommonName
	}, chatter.WithTLSConfig(&tls.Config{Certificates: []tls.Certificate{f.server}, ClientCAs: f.caPool, ClientAuth: tls.RequireAndVerifyClientCert}))
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	c, err := chatter.Connect(t.Context(), testRepo, srv.Addresses()[0], chatter.WithTLSConfig(&tls.Config{RootCAs: f.caPool, Certificates: []tls.Certificate{f.client}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := <-subjects; got != "client" {
		t.Errorf("the server saw client certificate %q, want client", got)
	}
	if st, ok := c.TLSConnectionState(); !ok || st.PeerCertificates[0].Subject.CommonName != "server" || st.Version < tls.VersionTLS12 {
		t.Errorf("the client's view: ok %v, %+v", ok, st.PeerCertificates)
	}
	plain, _ := pair(t, "pipe")
	if _, ok := plain.TLSConnectionState(); ok {
		t.Error("a plain connection reports TLS")
	}
}

// Connect dials with the dialer it is given.
func TestWithDialer(t *testing.T) {
	srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeServer(t, srv)
	real := strings.TrimPrefix(srv.Addresses()[0], "tcp+sbs://")
	var asked atomic.Value
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		asked.Store(network + " " + addr)
		var d net.Dialer
		return d.DialContext(ctx, network, real) // wherever the address says, the test's server
	}
	c, err := chatter.Connect(t.Context(), testRepo, "tcp+sbs://gateway.invalid:4711", chatter.WithDialer(dial))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := asked.Load(); got != "tcp gateway.invalid:4711" {
		t.Errorf("the dialer was asked for %v", got)
	}
	refuse := errors.New("no route")
	_, err = chatter.Connect(t.Context(), testRepo, "tcp+sbs://127.0.0.1:1", chatter.WithDialer(func(context.Context, string, string) (net.Conn, error) { return nil, refuse }))
	if !errors.Is(err, refuse) {
		t.Errorf("Connect with a failing dialer = %v", err)
	}
}

// A Go struct goes into Data as itself, checked against the schema type on
// first use; a message of a composite type decodes into a struct on any
// connection.
func TestSendStructs(t *testing.T) {
	type point struct {
		X int64 `sbs:"x"`
		Y int64 `sbs:"y"`
	}
	client, server := pair(t, "pipe", chatter.WithPingTimeout(0))
	send(t, client, chatter.Data{Module: "Test", Type: "Point", Data: &point{X: 3, Y: -4}})
	send(t, client, chatter.Data{Module: "Test", Type: "Point", Data: point{X: 5, Y: 6}})
	for _, want := range []point{{3, -4}, {5, 6}} {
		m := receive(t, server)
		if d, ok := m.Data.Data.(map[string]any); !ok || d["x"] != want.X {
			t.Errorf("dynamic value %v", m.Data.Data)
		}
		var got point
		if err := chatter.Decode(m, &got); err != nil || got != want {
			t.Errorf("Decode = %+v, %v; want %+v", got, err, want)
		}
	}
	type wrong struct {
		X int64 `sbs:"x"`
	}
	_, err := client.Send(t.Context(), chatter.Data{Module: "Test", Type: "Point", Data: wrong{X: 1}})
	var be *sbs.BindError
	if !errors.As(err, &be) || client.Err() != nil {
		t.Errorf("Send of a struct that does not fit = %v (connection %v), want a *sbs.BindError", err, client.Err())
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A connection whose peer has left counts as Closing for its reply grace,
// not as one in use.
func TestServerStatsClosing(t *testing.T) {
	taken := make(chan struct{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := chatter.NewServer(testRepo, l, func(ctx context.Context, c *chatter.Conn) {
		for range c.Messages() {
			close(taken)
		}
	}, chatter.WithReplyGrace(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := chatter.Connect(t.Context(), testRepo, "tcp+sbs://"+l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	send(t, c, num(1))
	<-taken
	if st := srv.Stats(); st.Open != 1 || st.Closing != 0 {
		t.Errorf("while the client is there: open %d, closing %d", st.Open, st.Closing)
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stats().Closing != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if st := srv.Stats(); st.Open != 1 || st.Closing != 1 {
		t.Errorf("after the client left, in the reply grace: open %d, closing %d", st.Open, st.Closing)
	}
	srv.Close()
	if st := srv.Stats(); st.Open != 0 || st.Closing != 0 {
		t.Errorf("after Close: open %d, closing %d", st.Open, st.Closing)
	}
}
