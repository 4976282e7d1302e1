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
	checkUnsent(t, unsentCase{n: 10, size: 1000, read: 2, hangUp: true})
}

// unsentCase: n messages of size bytes are queued to a pipe peer, which
// reads read whole frames and half of the next, then hangs up (hangUp),
// or stops reading while this side closes, with a flush timeout of 100
// ms; opts are the connection's further options.
type unsentCase struct {
	opts          []chatter.Option
	n, size, read int
	hangUp        bool
}

// checkUnsent runs uc and checks that n messages count as sent and n-read
// as unsent.
func checkUnsent(t *testing.T, uc unsentCase) {
	t.Helper()
	a, b := net.Pipe()
	defer b.Close()
	opts := append([]chatter.Option{chatter.WithPingTimeout(0), chatter.WithFlushTimeout(100 * time.Millisecond)}, uc.opts...)
	c, err := chatter.NewConn(a, testRepo, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	blob := chatter.Data{Module: "Test", Type: "Blob", Data: make([]byte, uc.size)}
	for range uc.n {
		if _, err := c.Send(ctx, blob); err != nil {
			t.Fatal(err)
		}
	}
	for range uc.read { // exactly read frames: | m | k (m bytes) | body (k bytes) |
		if err := readFrame(b); err != nil {
			t.Fatal(err)
		}
	}
	// Half of the next frame, then hang up, or close this side.
	if _, err := io.ReadFull(b, make([]byte, uc.size/2)); err != nil {
		t.Fatal(err)
	}
	if uc.hangUp {
		b.Close()
	} else {
		c.Close()
	}
	shutdown(t, c.Wait)
	st := c.Stats()
	if st.MessagesOut != uint64(uc.n) || st.MessagesUnsent != uint64(uc.n-uc.read) {
		t.Errorf("MessagesOut %d, MessagesUnsent %d; want %d and %d", st.MessagesOut, st.MessagesUnsent, uc.n, uc.n-uc.read)
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
			checkUnsent(t, unsentCase{opts: []chatter.Option{chatter.WithSendBufferSize(8 << 20)},
				n: 300, size: 20 << 10, read: 100, hangUp: hangUp})
		})
	}
}
