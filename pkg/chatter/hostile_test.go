package chatter_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// rawPeer connects a Conn to a raw stream the test writes by hand.
func rawPeer(t *testing.T, opts ...chatter.Option) (*chatter.Conn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	c, err := chatter.NewConn(a, testRepo, append([]chatter.Option{chatter.WithPingTimeout(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, b)
	t.Cleanup(func() {
		c.Close()
		b.Close()
		shutdown(t, c.Wait)
	})
	return c, b
}

func waitErr(t *testing.T, c *chatter.Conn) error {
	t.Helper()
	waitEnded(t, c)
	return c.Err()
}

func TestHostileFrames(t *testing.T) {
	cases := []struct {
		name  string
		bytes []byte
		want  error
	}{
		{"header claims 2^60 bytes", []byte{8, 0x10, 0, 0, 0, 0, 0, 0, 0}, chatter.ErrMessageTooLarge},
		{"just over the maximum", []byte{2, 0x04, 0x01}, chatter.ErrMessageTooLarge},
		{"body is not a Hat.Msg", []byte{1, 3, 0xff, 0xff, 0xff}, chatter.ErrProtocol},
		{"boolean byte 7", []byte{1, 5, 0x81, 0x81, 7, 1, 1}, chatter.ErrProtocol},
		{"stream ends inside a frame", []byte{1, 20, 0x81}, chatter.ErrProtocol},
		{"unknown payload type", frameOf(t, "Nope", "X", []byte{0x80}), chatter.ErrProtocol},
		{"undecodable payload", frameOf(t, "Test", "Num", []byte{0x00}), chatter.ErrProtocol},
		{"payload with trailing bytes", frameOf(t, "Test", "Num", []byte{0x81, 0x81}), chatter.ErrProtocol},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, peer := rawPeer(t, chatter.WithMaxMessageSize(1024))
			go func() {
				peer.Write(c.bytes)
				if c.name == "stream ends inside a frame" {
					peer.Close()
				}
			}()
			err := waitErr(t, conn)
			if !errors.Is(err, c.want) {
				t.Errorf("Err = %v, want %v", err, c.want)
			}
			if _, rerr := conn.Receive(context.Background()); !errors.Is(rerr, chatter.ErrClosed) || !errors.Is(rerr, c.want) {
				t.Errorf("Receive = %v", rerr)
			}
		})
	}
}

func TestSendOverMaximumSize(t *testing.T) {
	client, _ := pair(t, "pipe", chatter.WithPingTimeout(0), chatter.WithMaxMessageSize(100))
	_, err := client.Send(context.Background(), chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, 200)})
	if !errors.Is(err, chatter.ErrMessageTooLarge) {
		t.Errorf("Send = %v, want ErrMessageTooLarge", err)
	}
	if client.Err() != nil {
		t.Errorf("connection ended: %v", client.Err())
	}
}

// frameOf builds a legacy frame by hand: id 1, a new conversation, the
// given payload type and bytes.
func frameOf(t *testing.T, module, typ string, payload []byte) []byte {
	t.Helper()
	body := []byte{0x81, 0x81, 1, 1, 1, 0x81}
	body = append(body, byte(0x80|len(module)))
	body = append(body, module...)
	body = append(body, byte(0x80|len(typ)))
	body = append(body, typ...)
	body = append(body, byte(0x80|len(payload)))
	body = append(body, payload...)
	if len(body) > 255 || len(module) > 63 || len(typ) > 63 || len(payload) > 63 {
		t.Fatal("frameOf handles small frames only")
	}
	return append([]byte{1, byte(len(body))}, body...)
}
