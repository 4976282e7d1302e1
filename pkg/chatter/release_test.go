package chatter_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// blob is a 64 KiB Bytes payload numbered i: its first 8 bytes hold i, the
// rest byte(i).
func blob(i int) chatter.Data {
	b := bytes.Repeat([]byte{byte(i)}, 64<<10)
	binary.BigEndian.PutUint64(b, uint64(i))
	return chatter.Data{Module: "Test", Type: "Blob", Data: b}
}

func checkBlob(t *testing.T, m chatter.Msg, i int) []byte {
	t.Helper()
	b, ok := m.Data.Data.([]byte)
	if !ok || len(b) != 64<<10 {
		t.Fatalf("message %d: %T of %d bytes", i, m.Data.Data, len(b))
	}
	if !bytes.Equal(b, blob(i).Data.([]byte)) {
		t.Fatalf("message %d: its bytes are not what was sent", i)
	}
	return b
}

// Released large messages hand their buffers to later ones, and only
// those: a message kept without Release stays intact, a Release through a
// stale copy hands nothing back, and Release clears the payload fields of
// the message it is called on.
func TestReleaseLargeMessages(t *testing.T) {
	const n = 60
	client, server := pair(t, "tcp", chatter.WithPingTimeout(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		for i := range n {
			if _, err := client.Send(ctx, blob(i)); err != nil {
				return
			}
		}
	}()
	recv := func(i int) (chatter.Msg, []byte) {
		m, err := server.Receive(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		return m, checkBlob(t, m, i)
	}

	kept, _ := recv(0) // never released
	var released [][]byte
	reused := 0
	for next := 1; next+2 < n; next += 3 {
		a, ab := recv(next)
		stale := a
		a.Release()
		if a.Data.Data.([]byte) != nil || a.Raw != nil {
			t.Fatalf("message %d after Release: Data %d bytes, Raw %d bytes", next, len(a.Data.Data.([]byte)), len(a.Raw))
		}
		a.Release() // twice: nothing happens
		released = append(released, ab)

		held, hb := recv(next + 1) // may be read into a's buffer
		for _, r := range released {
			if &r[0] == &hb[0] {
				reused++
			}
		}
		stale.Release() // a's generation is over: held's buffer is not handed back
		if _, pb := recv(next + 2); &pb[0] == &hb[0] {
			t.Fatalf("message %d was read into the buffer of message %d, which is still held", next+2, next+1)
		}
		checkBlob(t, held, next+1)
	}
	checkBlob(t, kept, 0)
	// sync.Pool drops some of what it is given under the race detector.
	if !raceEnabled && reused == 0 {
		t.Errorf("no released buffer was reused in %d messages", n)
	}
	t.Logf("%d of the held messages were read into released buffers", reused)
}
