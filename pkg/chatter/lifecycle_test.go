package chatter_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gochatter/gochatter/pkg/aio"
	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// Conn and Server have the lifecycle of an aio.Resource.
var (
	_ aio.Resource = (*chatter.Conn)(nil)
	_ aio.Resource = (*chatter.Server)(nil)
)

// legacyFrame encodes a legacy Hat.Msg frame by hand, as a peer would
// write it.
func legacyFrame(id, first int64, owner, token, last bool, module, typ string, payload []byte) []byte {
	var body []byte
	body = sbs.AppendInteger(body, id)
	body = sbs.AppendInteger(body, first)
	body = sbs.AppendBoolean(body, owner)
	body = sbs.AppendBoolean(body, token)
	body = sbs.AppendBoolean(body, last)
	if module == "" {
		body = sbs.AppendInteger(body, 0)
	} else {
		body = sbs.AppendInteger(body, 1)
		body = sbs.AppendString(body, module)
	}
	body = sbs.AppendString(body, typ)
	body = sbs.AppendBytes(body, payload)
	if len(body) < 256 {
		return append([]byte{1, byte(len(body))}, body...)
	}
	return append([]byte{2, byte(len(body) >> 8), byte(len(body))}, body...)
}

// requestFrame is a legacy frame starting conversation id with last =
// false, carrying Test.Num v (0 <= v < 64).
func requestFrame(id int64, v int64) []byte {
	return legacyFrame(id, id, true, true, false, "Test", "Num", []byte{byte(0x80 | v)})
}

// badFrame is a well-framed message of a type nobody knows: on the legacy
// wire it breaks the protocol.
var badFrame = legacyFrame(99, 99, true, true, true, "Nope", "X", []byte{0x80})

// readHatMsgs reads legacy frames from r until the end of the stream and
// decodes each body as Hat.Msg.
func readHatMsgs(t *testing.T, r io.Reader) []map[string]any {
	t.Helper()
	br := bufio.NewReader(r)
	var msgs []map[string]any
	for {
		m, err := br.ReadByte()
		if err != nil {
			return msgs
		}
		head := make([]byte, m)
		if _, err := io.ReadFull(br, head); err != nil {
			t.Fatalf("frame header: %v", err)
		}
		n := 0
		for _, b := range head {
			n = n<<8 | int(b)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatalf("frame body: %v", err)
		}
		v, err := chatter.SBSRepository.Decode("Hat", "Msg", body)
		if err != nil {
			t.Fatalf("frame body: %v", err)
		}
		msgs = append(msgs, v.(map[string]any))
	}
}

// connGoroutines lists the goroutines still running code of package
// chatter, leaving out those whose stack mentions one of ignore. It looks
// once, at once: Close must have waited already.
func connGoroutines(ignore ...string) []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "gochatter/pkg/chatter.") {
			continue
		}
		if slices.ContainsFunc(ignore, func(s string) bool { return strings.Contains(g, s) }) {
			continue
		}
		left = append(left, g)
	}
	return left
}

// closeNow calls c.Close, failing the test if it does not return within
// 10 s, and checks that no goroutine of the package is left once it has.
func closeNow(t *testing.T, c *chatter.Conn, ignore ...string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if left := connGoroutines(ignore...); len(left) > 0 {
		t.Errorf("goroutines left after Close returned:\n%s", strings.Join(left, "\n\n"))
	}
	return err
}

// serveAndDial starts a server on a loopback port and connects a client to
// it; the client is closed at the end of the test, the server is the
// test's to close.
func serveAndDial(t *testing.T, h chatter.Handler, opts ...chatter.Option) (*chatter.Server, *chatter.Conn) {
	t.Helper()
	srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	c, err := chatter.Connect(t.Context(), testRepo, srv.Addresses()[0], opts...)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

// handlerThatNeverReturns blocks until release is closed, whatever happens
// to its connection; its name marks its goroutine's stack.
func handlerThatNeverReturns(accepted chan<- *chatter.Conn, release <-chan struct{}) chatter.Handler {
	return func(_ context.Context, c *chatter.Conn) {
		accepted <- c
		<-release
	}
}

// Close waits for every goroutine of the connection, however it ended.
func TestCloseWaitsInEveryEnding(t *testing.T) {
	peerWrites := func(frames ...[]byte) func(t *testing.T) *chatter.Conn {
		return func(t *testing.T) *chatter.Conn {
			a, b := net.Pipe()
			c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0))
			if err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, b)
			for _, f := range frames {
				if _, err := b.Write(f); err != nil {
					t.Fatal(err)
				}
			}
			b.Close()
			waitEnded(t, c)
			return c
		}
	}
	var backlog [][]byte
	for i := range int64(200) {
		backlog = append(backlog, legacyFrame(i+1, i+1, true, true, true, "Test", "Num", []byte{byte(0x80 | i%64)}))
	}
	cases := []struct {
		name   string
		open   func(t *testing.T) *chatter.Conn
		ignore []string
		want   error // what Close returns; nil for the close itself
	}{
		{"peer closed, 200 messages unread", peerWrites(backlog...), nil, chatter.ErrPeerClosed},
		{"bad frame", peerWrites(badFrame), nil, chatter.ErrProtocol},
		{"ping timeout", func(t *testing.T) *chatter.Conn {
			a, b := net.Pipe()
			t.Cleanup(func() { b.Close() })
			go io.Copy(io.Discard, b) // reads everything, answers nothing
			c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(20*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			<-c.Context().Done()
			return c
		}, nil, chatter.ErrPingTimeout},
		{"local close with unread messages", func(t *testing.T) *chatter.Conn {
			a, b := net.Pipe()
			t.Cleanup(func() { b.Close() })
			c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0))
			if err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, b)
			for _, f := range backlog {
				b.Write(f)
			}
			for c.Stats().MessagesIn < 200 {
				time.Sleep(time.Millisecond)
			}
			return c
		}, nil, nil},
		{"server close", func(t *testing.T) *chatter.Conn {
			accepted := make(chan *chatter.Conn, 1)
			srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) { accepted <- c })
			if err != nil {
				t.Fatal(err)
			}
			nc, err := net.Dial("tcp", strings.TrimPrefix(srv.Addresses()[0], "tcp+sbs://"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			go io.Copy(io.Discard, nc)
			c := <-accepted
			if err := srv.Close(); err != nil {
				t.Fatal(err)
			}
			return c
		}, nil, nil},
		{"handler that never returns", func(t *testing.T) *chatter.Conn {
			accepted, release := make(chan *chatter.Conn, 1), make(chan struct{})
			srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", handlerThatNeverReturns(accepted, release))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				close(release)
				srv.Close()
				shutdown(t, srv.Wait)
			})
			nc, err := net.Dial("tcp", strings.TrimPrefix(srv.Addresses()[0], "tcp+sbs://"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			go io.Copy(io.Discard, nc)
			return <-accepted
		}, []string{"handlerThatNeverReturns", "acceptLoop"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.open(t)
			err := closeNow(t, c, tc.ignore...)
			if tc.want == nil && err != nil {
				t.Errorf("Close = %v, want nil", err)
			}
			if tc.want != nil && (!errors.Is(err, tc.want) || !errors.Is(err, chatter.ErrClosed)) {
				t.Errorf("Close = %v, want ErrClosed and %v", err, tc.want)
			}
			if !errors.Is(c.Err(), chatter.ErrClosed) {
				t.Errorf("Err = %v, want it to match ErrClosed", c.Err())
			}
			select {
			case <-c.Done():
			default:
				t.Error("Done not closed after Close returned")
			}
		})
	}
}

// Everything decoded before a frame that breaks the protocol is delivered,
// however the bytes arrived.
func TestMessagesBeforeABadFrameAreDelivered(t *testing.T) {
	c, peer := rawPeer(t)
	var burst []byte
	for i := range int64(5) {
		burst = append(burst, requestFrame(i+1, i+1)...)
	}
	burst = append(burst, badFrame...)
	go peer.Write(burst) // one write, read at once
	var got []int64
	for m := range c.Messages() {
		got = append(got, m.Data.Data.(int64))
	}
	if want := []int64{1, 2, 3, 4, 5}; !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if !errors.Is(c.Err(), chatter.ErrProtocol) || !errors.Is(c.Err(), chatter.ErrClosed) {
		t.Errorf("Err = %v, want ErrClosed and ErrProtocol", c.Err())
	}
}

// A peer that sends requests and then ends its stream, or breaks the
// protocol, still gets the replies to what it sent before.
func TestRepliesWithinTheGrace(t *testing.T) {
	for _, ending := range []string{"bad frame", "half-close"} {
		t.Run(ending, func(t *testing.T) {
			srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, c *chatter.Conn) {
				for m := range c.Messages() {
					c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
				}
			}, chatter.WithPingTimeout(0), chatter.WithReplyGrace(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer closeServer(t, srv)
			nc, err := net.Dial("tcp", strings.TrimPrefix(srv.Addresses()[0], "tcp+sbs://"))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(10 * time.Second))
			var burst []byte
			for i := range int64(5) {
				burst = append(burst, requestFrame(i+1, 10+i)...)
			}
			if ending == "bad frame" {
				burst = append(burst, badFrame...)
			}
			if _, err := nc.Write(burst); err != nil {
				t.Fatal(err)
			}
			if ending == "half-close" {
				nc.(*net.TCPConn).CloseWrite()
			}
			replies := readHatMsgs(t, nc) // until the server closes
			if len(replies) != 5 {
				t.Fatalf("got %d replies, want 5: %v", len(replies), replies)
			}
			for i, r := range replies {
				first := int64(i + 1)
				if r["first"] != first || r["owner"] != false {
					t.Errorf("reply %d: first %v owner %v, want the client's conversation %d", i, r["first"], r["owner"], first)
				}
				if d := r["data"].(map[string]any); !slices.Equal(d["data"].([]byte), []byte{byte(0x80 | (10 + first - 1))}) {
					t.Errorf("reply %d carries %x", i, d["data"])
				}
			}
		})
	}
}

// A send in a conversation right after the one that armed its timeout
// cancels it, however soon it follows.
func TestFollowUpSendCancelsTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		off := []chatter.Option{chatter.WithPingTimeout(0)}
		for run := range 200 {
			client, server := pipePair(t, off, off)
			var fired atomic.Int32
			conv := send(t, client, num(1), chatter.Last(false),
				chatter.ConversationTimeout(150*time.Millisecond, func(chatter.Conversation) { fired.Add(1) }))
			send(t, client, num(2), chatter.InConversation(conv), chatter.Last(false))
			receive(t, server)
			receive(t, server)
			time.Sleep(time.Second)
			synctest.Wait()
			closeAll(client, server)
			if n := fired.Load(); n != 0 {
				t.Fatalf("run %d: the timeout fired %d times after a follow-up send", run, n)
			}
		}
	})
}

// A Request whose context ends just as its reply arrives either returns
// the reply or leaves it to Messages: the reply is delivered exactly once.
func TestCancelledRequestKeepsItsReply(t *testing.T) {
	client, server := pair(t, "pipe", chatter.WithPingTimeout(0))
	go echo(server)
	returned, toMessages := 0, 0
	for i := range 2000 {
		v := int64(i)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Duration(rand.N(60))*time.Microsecond, cancel)
		r, err := client.Request(ctx, num(v))
		cancel()
		switch {
		case err == nil:
			if r.Data.Data != v {
				t.Fatalf("request %d: reply %v", v, r.Data.Data)
			}
			returned++
		case errors.Is(err, context.Canceled):
			wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
			m, err := client.Receive(wctx)
			wcancel()
			if err != nil {
				t.Fatalf("request %d was cancelled and its reply never reached Messages: %v", v, err)
			}
			if m.Data.Data != v {
				t.Fatalf("request %d: Messages got %v", v, m.Data.Data)
			}
			toMessages++
		default:
			t.Fatalf("request %d: %v", v, err)
		}
	}
	select {
	case m := <-client.Messages():
		t.Errorf("a reply was delivered twice: %v", m.Data.Data)
	default:
	}
	t.Logf("%d replies returned by Request, %d delivered to Messages after a cancel", returned, toMessages)
}

// The same with Requests from several goroutines at once, so that replies
// are claimed in batches, by the reader or by the supervisor, while other
// Requests give up: every reply is delivered exactly once, to its Request
// or, after a cancel, to Messages.
func TestCancelledRequestsConcurrently(t *testing.T) {
	client, server := pair(t, "tcp", chatter.WithPingTimeout(0))
	go echo(server)
	const callers, each = 8, 500
	var (
		cancelled = make(chan int64, callers*each)
		returned  atomic.Int64
		done      = make(chan struct{})
	)
	for g := range callers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				v := int64(g*each + i)
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(time.Duration(rand.N(80))*time.Microsecond, cancel)
				r, err := client.Request(ctx, num(v))
				cancel()
				switch {
				case err == nil && r.Data.Data == v:
					returned.Add(1)
				case err == nil:
					t.Errorf("request %d: reply %v", v, r.Data.Data)
				case errors.Is(err, context.Canceled):
					cancelled <- v
				default:
					t.Errorf("request %d: %v", v, err)
				}
			}
		}()
	}
	for range callers {
		<-done
	}
	close(cancelled)
	want := map[int64]bool{}
	for v := range cancelled {
		want[v] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Logf("%d Requests cancelled", len(want))
	for n := len(want); n > 0; n-- {
		m, err := client.Receive(ctx)
		if err != nil {
			t.Fatalf("%d replies of cancelled Requests never reached Messages: %v", n, err)
		}
		v := m.Data.Data.(int64)
		if !want[v] {
			t.Fatalf("Messages got %d: not a cancelled Request's, or twice", v)
		}
		delete(want, v)
	}
	select {
	case m := <-client.Messages():
		t.Errorf("a reply was delivered twice: %v", m.Data.Data)
	case <-time.After(50 * time.Millisecond):
	}
	t.Logf("%d replies returned by Request, the others delivered to Messages after a cancel", returned.Load())
}

// Stats count what is tracked; the keepalive's own ping is not a
// conversation, and a ping timeout does not make the count negative.
func TestStatsAfterPingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		go io.Copy(io.Discard, b)
		c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // a ping is out
		if n := c.Stats().OpenConversations; n != 0 {
			t.Errorf("OpenConversations with a ping out = %d, want 0", n)
		}
		<-c.Context().Done()
		if !errors.Is(c.Err(), chatter.ErrPingTimeout) {
			t.Errorf("Err = %v", c.Err())
		}
		if n := c.Stats().OpenConversations; n != 0 {
			t.Errorf("OpenConversations after a ping timeout = %d, want 0", n)
		}
		c.Close()
		b.Close()
	})
}

// Close, Wait and Err report how the connection ended: nil from Close and
// Wait when this side closed it, and the reason otherwise; Err matches
// ErrClosed either way.
func TestEndingIsReportedConsistently(t *testing.T) {
	client, server := pair(t, "tcp", chatter.WithPingTimeout(0), chatter.WithReplyGrace(time.Millisecond))
	if client.Err() != nil || server.Err() != nil {
		t.Fatal("Err set on open connections")
	}
	if err := client.Close(); err != nil {
		t.Errorf("Close = %v, want nil", err)
	}
	if err := client.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := client.Wait(t.Context()); err != nil {
		t.Errorf("Wait after Close = %v, want nil", err)
	}
	if err := client.Err(); !errors.Is(err, chatter.ErrClosed) || errors.Is(err, chatter.ErrPeerClosed) {
		t.Errorf("Err after Close = %v, want ErrClosed alone", err)
	}
	if client.Context().Err() == nil {
		t.Error("Context live after Close")
	}
	err := server.Wait(t.Context())
	if !errors.Is(err, chatter.ErrPeerClosed) || !errors.Is(err, chatter.ErrClosed) {
		t.Errorf("peer's Wait = %v, want ErrClosed and ErrPeerClosed", err)
	}
	if !errors.Is(context.Cause(server.Context()), chatter.ErrPeerClosed) {
		t.Errorf("peer's context cause = %v", context.Cause(server.Context()))
	}
	if err := server.Close(); !errors.Is(err, chatter.ErrPeerClosed) {
		t.Errorf("peer's Close = %v, want ErrPeerClosed", err)
	}
}

// A conversation timeout callback may close its own connection.
func TestCloseFromATimeoutCallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		off := []chatter.Option{chatter.WithPingTimeout(0)}
		client, server := pipePair(t, off, off)
		closed := make(chan error, 1)
		send(t, client, num(1), chatter.Last(false), chatter.ConversationTimeout(time.Second, func(c chatter.Conversation) {
			closed <- c.Conn.Close()
		}))
		receive(t, server)
		if err := <-closed; err != nil {
			t.Errorf("Close from the callback = %v", err)
		}
		<-client.Done()
		closeAll(server)
	})
}

// A Request made after reading ended fails at once: no reply can come.
func TestRequestAfterReadingEnded(t *testing.T) {
	c, peer := rawPeer(t)
	peer.Close()
	waitEnded(t, c)
	_, err := c.Request(t.Context(), num(1))
	if !errors.Is(err, chatter.ErrClosed) || !errors.Is(err, chatter.ErrPeerClosed) {
		t.Errorf("Request = %v, want ErrClosed and ErrPeerClosed", err)
	}
}

// A Request waiting when the peer goes away fails with the reason.
func TestRequestPendingWhenThePeerLeaves(t *testing.T) {
	c, peer := rawPeer(t)
	res := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), num(1))
		res <- err
	}()
	for c.Stats().OpenConversations != 1 {
		time.Sleep(time.Millisecond)
	}
	peer.Close()
	if err := <-res; !errors.Is(err, chatter.ErrClosed) || !errors.Is(err, chatter.ErrPeerClosed) {
		t.Errorf("Request = %v, want ErrClosed and ErrPeerClosed", err)
	}
}

// The lifecycle is the types' own methods: nothing of aio leaks into their
// API.
func TestLifecycleMethods(t *testing.T) {
	methods := func(v any) []string {
		var names []string
		typ := reflect.TypeOf(v)
		for i := range typ.NumMethod() {
			names = append(names, typ.Method(i).Name)
		}
		return names
	}
	wantConn := []string{"Close", "Context", "DiscardMessages", "Done", "Drain", "Err", "LocalAddress", "Messages", "Ping", "Receive",
		"RemoteAddress", "Request", "Send", "Stats", "TLSConnectionState", "Tag", "Wait", "Wire"}
	if got := methods((*chatter.Conn)(nil)); !slices.Equal(got, wantConn) {
		t.Errorf("Conn's methods:\n got %v\nwant %v", got, wantConn)
	}
	wantServer := []string{"Addresses", "Close", "Context", "Done", "Err", "OpenConnections", "Shutdown", "Stats", "Wait"}
	if got := methods((*chatter.Server)(nil)); !slices.Equal(got, wantServer) {
		t.Errorf("Server's methods:\n got %v\nwant %v", got, wantServer)
	}
	wantClient := []string{"Close", "Conn", "Done", "Err", "Messages", "Request", "Send", "State", "WaitForState"}
	if got := methods((*chatter.Client)(nil)); !slices.Equal(got, wantClient) {
		t.Errorf("Client's methods:\n got %v\nwant %v", got, wantClient)
	}
}

// The handler's context is the connection's: cancelled when the server
// closes it.
func TestHandlerContext(t *testing.T) {
	causes := make(chan error, 1)
	started := make(chan struct{})
	srv, _ := serveAndDial(t, func(ctx context.Context, c *chatter.Conn) {
		close(started)
		<-ctx.Done()
		causes <- context.Cause(ctx)
	})
	// Wait for the handler itself, not for the connection to count as
	// open: a server closed in between never starts its handler.
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not start")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("server Close = %v", err)
	}
	if cause := <-causes; !errors.Is(cause, chatter.ErrClosed) {
		t.Errorf("handler's context cause = %v, want ErrClosed", cause)
	}
	shutdown(t, srv.Wait)
}

// Server.Close does not wait for handlers, Wait and Done do.
func TestServerCloseAndHandlers(t *testing.T) {
	accepted, release := make(chan *chatter.Conn, 1), make(chan struct{})
	srv, _ := serveAndDial(t, handlerThatNeverReturns(accepted, release))
	sc := <-accepted
	if err := srv.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	select {
	case <-sc.Done():
	default:
		t.Error("server closed before its connection")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait with a handler running = %v, want the deadline", err)
	}
	close(release)
	shutdown(t, srv.Wait)
	select {
	case <-srv.Done():
	default:
		t.Error("Done not closed after Wait")
	}
	if err := srv.Err(); !errors.Is(err, chatter.ErrClosed) || err.Error() != "chatter: server closed" {
		t.Errorf("Err = %v, want ErrClosed saying %q", err, "chatter: server closed")
	}
}

// Shutdown lets every connection finish what it read: the handler answers
// requests that were read before it began, and Shutdown returns once the
// connections and handlers are done.
func TestServerShutdownAnswersWhatWasRead(t *testing.T) {
	gate := make(chan struct{})
	var seen atomic.Int32
	srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", func(ctx context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			seen.Add(1)
			<-gate
			c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	}, chatter.WithPingTimeout(0), chatter.WithReplyGrace(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c, err := chatter.Connect(t.Context(), testRepo, srv.Addresses()[0], chatter.WithPingTimeout(0), chatter.WithReplyGrace(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 5
	results := make(chan error, n)
	for i := range int64(n) {
		go func() {
			r, err := c.Request(t.Context(), num(i))
			if err == nil && r.Data.Data != i {
				err = fmt.Errorf("request %d: reply %v", i, r.Data.Data)
			}
			results <- err
		}()
	}
	// Wait until the server has read all of them: the first is in the
	// handler, the others in its queue.
	for c.Stats().BytesOut == 0 || srv.OpenConnections() != 1 || seen.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(t.Context()) }()
	time.Sleep(20 * time.Millisecond) // Shutdown has stopped the readers
	close(gate)
	for range n {
		if err := <-results; err != nil {
			t.Error(err)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := c.Wait(t.Context()); !errors.Is(err, chatter.ErrPeerClosed) {
		t.Errorf("client ended with %v, want the server's close", err)
	}
	if _, err := chatter.Connect(t.Context(), testRepo, srv.Addresses()[0]); err == nil {
		t.Error("connected after Shutdown")
	}
}

// A server runs on a listener the caller made, plain or TLS.
func TestNewServerOnAListener(t *testing.T) {
	echo := func(ctx context.Context, c *chatter.Conn) {
		for m := range c.Messages() {
			c.Send(ctx, m.Data, chatter.InConversation(m.Conv))
		}
	}
	for _, tr := range []string{"tcp", "tls"} {
		t.Run(tr, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var opts []chatter.Option
			if tr == "tls" {
				opts = append(opts, chatter.WithPEMFile(writeSelfSigned(t, "server")))
			}
			srv, err := chatter.NewServer(testRepo, l, echo, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer closeServer(t, srv)
			want := "tcp+sbs://" + l.Addr().String()
			if tr == "tls" {
				want = "ssl+sbs://" + l.Addr().String()
			}
			if got := srv.Addresses(); len(got) != 1 || got[0] != want {
				t.Errorf("Addresses = %v, want [%s]", got, want)
			}
			c, err := chatter.Connect(t.Context(), testRepo, want)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if r, err := c.Request(t.Context(), num(7)); err != nil || r.Data.Data != int64(7) {
				t.Errorf("Request = %v, %v", r.Data.Data, err)
			}
		})
	}
}

// A server connection that failed (its peer reset it) with messages the
// application never read: closing the server drops them and returns.
func TestServerCloseDropsWhatAFailedConnectionHeld(t *testing.T) {
	accepted := make(chan *chatter.Conn, 1)
	srv, err := chatter.Listen(t.Context(), testRepo, "tcp+sbs://127.0.0.1:0", func(_ context.Context, c *chatter.Conn) { accepted <- c })
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", strings.TrimPrefix(srv.Addresses()[0], "tcp+sbs://"))
	if err != nil {
		t.Fatal(err)
	}
	var burst []byte
	for i := range int64(200) {
		burst = append(burst, requestFrame(i+1, i%64)...)
	}
	if _, err := nc.Write(burst); err != nil {
		t.Fatal(err)
	}
	c := <-accepted
	for c.Stats().MessagesIn < 200 {
		time.Sleep(time.Millisecond)
	}
	nc.(*net.TCPConn).SetLinger(0)
	nc.Close() // a reset: the connection fails, nothing read is delivered yet
	waitEnded(t, c)
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server Close did not return")
	}
	<-c.Done()
}
