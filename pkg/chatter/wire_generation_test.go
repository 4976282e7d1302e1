package chatter_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// autoServer listens in auto mode and hands over accepted connections.
func autoServer(t *testing.T, opts ...chatter.Option) (*chatter.Server, chan *chatter.Conn) {
	t.Helper()
	accepted := make(chan *chatter.Conn, 4)
	srv, err := chatter.Listen(context.Background(), testRepo, "tcp+sbs://127.0.0.1:0",
		func(_ context.Context, c *chatter.Conn) { accepted <- c }, append([]chatter.Option{chatter.WithWire(chatter.WireAuto)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeServer(t, srv) })
	return srv, accepted
}

func TestAutoServerSpeaksBothGenerations(t *testing.T) {
	srv, accepted := autoServer(t, chatter.WithPingTimeout(0), chatter.WithPingDelay(0))
	for _, w := range []chatter.Wire{chatter.WireLegacy, chatter.WireCurrent} {
		t.Run(w.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client, err := chatter.Connect(ctx, testRepo, srv.Addresses()[0], chatter.WithWire(w), chatter.WithPingTimeout(0), chatter.WithPingDelay(0))
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			sc := <-accepted
			if sc.Wire() != chatter.WireAuto {
				t.Errorf("server decided %v before hearing from the client", sc.Wire())
			}
			go func() {
				for m := range sc.Messages() {
					sc.Send(ctx, m.Data, chatter.InConversation(m.Conv))
				}
			}()
			r, err := client.Request(ctx, num(77))
			if err != nil || r.Data != num(77) {
				t.Fatalf("echo = %+v, %v", r, err)
			}
			if sc.Wire() != w {
				t.Errorf("server decided %v, client speaks %v", sc.Wire(), w)
			}
		})
	}
}

func TestAutoServerSendsNothingBeforeDeciding(t *testing.T) {
	srv, accepted := autoServer(t, chatter.WithPingTimeout(50*time.Millisecond), chatter.WithPingDelay(50*time.Millisecond))
	raw, err := net.Dial("tcp", strings.TrimPrefix(srv.Addresses()[0], "tcp+sbs://"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	sc := <-accepted
	// The application sends at once; it must wait for the generation.
	sent := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := sc.Send(ctx, num(1))
		sent <- err
	}()
	raw.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
	if n, err := raw.Read(make([]byte, 1)); n != 0 || !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err) {
		t.Fatalf("server sent %d bytes (%v) before the client's first frame", n, err)
	}
	// A current ping decides it; the server answers with a current pong and
	// then the queued message.
	ping := []byte{0x01, 0x16, 0x81, 0x81, 0x01, 0x01, 0x00, 0x8f}
	ping = append(ping, "HatChatter.Ping"...)
	ping = append(ping, 0x80)
	if _, err := raw.Write(ping); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("Send after the decision: %v", err)
	}
	raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	head := make([]byte, 2)
	if _, err := io.ReadFull(raw, head); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, head[1])
	if _, err := io.ReadFull(raw, body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "HatChatter.Pong") {
		t.Errorf("first frame from the server: %x, want a current pong", body)
	}
	if sc.Wire() != chatter.WireCurrent {
		t.Errorf("decided %v", sc.Wire())
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestAutoServerRefusesFrameOfNeitherGeneration(t *testing.T) {
	srv, accepted := autoServer(t)
	raw, err := net.Dial("tcp", strings.TrimPrefix(srv.Addresses()[0], "tcp+sbs://"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	sc := <-accepted
	raw.Write([]byte{0x01, 0x06, 0x81, 0x81, 0x01, 0x01, 0x01, 0x80})
	err = waitErr(t, sc)
	if !errors.Is(err, chatter.ErrProtocol) || !strings.Contains(err.Error(), "neither") {
		t.Errorf("Err = %v, want a protocol error about neither generation", err)
	}
}

func TestGenerationMismatchIsNamed(t *testing.T) {
	cases := []struct {
		name           string
		server, client chatter.Wire
		data           chatter.Data
	}{
		{"current client to legacy server", chatter.WireLegacy, chatter.WireCurrent, num(1)},
		{"legacy client to current server", chatter.WireCurrent, chatter.WireLegacy, num(1)},
		// The original current reader silently misreads this one.
		{"legacy builtin payload to current server", chatter.WireCurrent, chatter.WireLegacy, chatter.Data{Type: "Integer", Data: int64(42)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := net.Pipe()
			server, err := chatter.NewConn(a, testRepo, chatter.WithWire(c.server), chatter.WithPingTimeout(0), chatter.WithPingDelay(0))
			if err != nil {
				t.Fatal(err)
			}
			client, err := chatter.NewConn(b, testRepo, chatter.WithWire(c.client), chatter.WithPingTimeout(0), chatter.WithPingDelay(0))
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				client.Close()
				server.Close()
				shutdown(t, client.Wait)
				shutdown(t, server.Wait)
			}()
			send(t, client, c.data)
			err = waitErr(t, server)
			var we *chatter.WireMismatchError
			if !errors.As(err, &we) || we.Peer != c.client || !strings.Contains(err.Error(), "peer speaks the "+c.client.String()+" hat wire") {
				t.Errorf("Err = %v, want a mismatch naming the %v wire", err, c.client)
			}
			if _, err := server.Receive(context.Background()); !errors.Is(err, chatter.ErrWireMismatch) {
				t.Errorf("Receive = %v", err)
			}
		})
	}
}

func TestCurrentWireDeliversUndecodablePayloads(t *testing.T) {
	cur := []chatter.Option{chatter.WithWire(chatter.WireCurrent), chatter.WithPingDelay(0)}
	a, b := net.Pipe()
	other := sbsRepoWith(t, "module Extra\nThing = Integer\n")
	sender, err := chatter.NewConn(a, other, cur...)
	if err != nil {
		t.Fatal(err)
	}
	receiver, err := chatter.NewConn(b, testRepo, cur...)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sender.Close()
		receiver.Close()
		shutdown(t, sender.Wait)
		shutdown(t, receiver.Wait)
	}()
	send(t, sender, chatter.Data{Module: "Extra", Type: "Thing", Data: int64(5)})                 // unknown to the receiver
	send(t, sender, chatter.Data{Module: "Test", Type: "Num", Data: chatter.RawPayload{0x00}})    // does not decode
	send(t, sender, chatter.Data{Module: "HatChatter", Type: "Msg", Data: chatter.RawPayload{1}}) // reserved prefix, not a ping
	send(t, sender, num(6))
	m := receive(t, receiver)
	if !errors.Is(m.DecodeErr, sbs.ErrUnknownType) || string(m.Raw) != "\x85" || m.Data.Module != "Extra" || m.Data.Type != "Thing" || m.Data.Data != nil {
		t.Errorf("unknown type delivered as %+v", m)
	}
	m = receive(t, receiver)
	if m.DecodeErr == nil || string(m.Raw) != "\x00" {
		t.Errorf("undecodable payload delivered as %+v", m)
	}
	m = receive(t, receiver)
	if m.DecodeErr == nil || m.Data.Module != "HatChatter" || m.Data.Type != "Msg" {
		t.Errorf("HatChatter.Msg delivered as %+v", m)
	}
	if m := receive(t, receiver); m.Data != num(6) || m.DecodeErr != nil || m.Raw != nil {
		t.Errorf("known type delivered as %+v", m)
	}
	if receiver.Err() != nil {
		t.Errorf("connection ended: %v", receiver.Err())
	}
}

func TestConnectRefusesAutoWire(t *testing.T) {
	_, err := chatter.Connect(context.Background(), testRepo, "tcp+sbs://127.0.0.1:1", chatter.WithWire(chatter.WireAuto))
	if err == nil || !strings.Contains(err.Error(), "WireAuto") {
		t.Errorf("Connect = %v", err)
	}
}
