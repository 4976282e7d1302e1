package chatter_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// TestMessagesUnsent: when the connection fails with messages queued,
// Stats.MessagesUnsent counts those whose frames did not go out whole —
// here the peer reads two whole frames and half of the third, then hangs
// up, and eight of ten messages are lost with the connection.
func TestMessagesUnsent(t *testing.T) {
	a, b := net.Pipe()
	c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const n = 10
	blob := chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, 1000)}
	for range n {
		if _, err := c.Send(ctx, blob); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // exactly two frames: | m | k (m bytes) | body (k bytes) |
		if err := readFrame(b); err != nil {
			t.Fatal(err)
		}
	}
	// Half of the third frame, then hang up.
	if _, err := io.ReadFull(b, make([]byte, 500)); err != nil {
		t.Fatal(err)
	}
	b.Close()
	shutdown(t, c.Wait)
	st := c.Stats()
	if st.MessagesOut != n || st.MessagesUnsent != n-2 {
		t.Errorf("MessagesOut %d, MessagesUnsent %d; want %d and %d", st.MessagesOut, st.MessagesUnsent, n, n-2)
	}
}

// readFrame reads one frame from r, not a byte more.
func readFrame(r io.Reader) error {
	m := make([]byte, 1)
	if _, err := io.ReadFull(r, m); err != nil {
		return err
	}
	field := make([]byte, m[0])
	if _, err := io.ReadFull(r, field); err != nil {
		return err
	}
	k := 0
	for _, c := range field {
		k = k<<8 | int(c)
	}
	_, err := io.ReadFull(r, make([]byte, k))
	return err
}

// MessagesUnsent counts right across the segments of a large send buffer
// (see WithSendBufferSize): the peer reads 100 of 300 frames of 20 KiB
// queued in about six segments, and half of the next, then either hangs
// up (the connection fails) or stops reading while this side closes (the
// flush runs out of its timeout). Either way 200 are unsent.
func TestMessagesUnsentAcrossSegments(t *testing.T) {
	for _, hangUp := range []bool{true, false} {
		name := "close"
		if hangUp {
			name = "hang-up"
		}
		t.Run(name, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			c, err := chatter.NewConn(a, testRepo, chatter.WithPingTimeout(0),
				chatter.WithSendBufferSize(8<<20), chatter.WithFlushTimeout(100*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			const n, read = 300, 100
			blob := chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, 20<<10)}
			for range n {
				if _, err := c.Send(t.Context(), blob); err != nil {
					t.Fatal(err)
				}
			}
			for range read {
				if err := readFrame(b); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := io.ReadFull(b, make([]byte, 10<<10)); err != nil {
				t.Fatal(err)
			}
			if hangUp {
				b.Close()
			} else {
				c.Close()
			}
			shutdown(t, c.Wait)
			st := c.Stats()
			if st.MessagesOut != n || st.MessagesUnsent != n-read {
				t.Errorf("MessagesOut %d, MessagesUnsent %d; want %d and %d", st.MessagesOut, st.MessagesUnsent, n, n-read)
			}
		})
	}
}
