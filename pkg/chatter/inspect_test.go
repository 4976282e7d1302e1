package chatter_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// DecodeEnvelope reads the golden frames of both generations, with the
// generation given or detected, and FrameScanner splits a stream of them.
func TestDecodeEnvelopeGoldenFrames(t *testing.T) {
	type frameCase struct {
		Name     string `json:"name"`
		FrameHex string `json:"frame_hex"`
		Msg      struct {
			ID    int64 `json:"id"`
			First int64 `json:"first"`
			Owner bool  `json:"owner"`
			Token bool  `json:"token"`
			Last  bool  `json:"last"`
		} `json:"msg"`
	}
	for _, gen := range []struct {
		file string
		wire chatter.Wire
	}{{"../../testdata/vectors/chatter/frames.json", chatter.WireLegacy}, {"../../testdata/vectors/chatter-current/frames.json", chatter.WireCurrent}} {
		raw, err := os.ReadFile(gen.file)
		if err != nil {
			t.Fatal(err)
		}
		var f struct{ Cases []frameCase }
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		var stream []byte
		var bodies [][]byte
		for _, c := range f.Cases {
			frame, err := hex.DecodeString(c.FrameHex)
			if err != nil {
				t.Fatal(err)
			}
			body := frame[1+int(frame[0]):]
			stream = append(stream, frame...)
			bodies = append(bodies, body)
			for _, w := range []chatter.Wire{gen.wire, chatter.WireAuto} {
				e, got, err := chatter.DecodeEnvelope(body, w)
				if err != nil || got != gen.wire {
					t.Errorf("%s: DecodeEnvelope(%v) = %v, %v", c.Name, w, got, err)
					continue
				}
				if e.ID != c.Msg.ID || e.First != c.Msg.First || e.Owner != c.Msg.Owner || e.Token != c.Msg.Token || e.Last != c.Msg.Last {
					t.Errorf("%s: envelope %+v, want %+v", c.Name, e, c.Msg)
				}
				if !bytes.Equal(chatter.AppendFrame(nil, body), frame) {
					t.Errorf("%s: AppendFrame does not rebuild the frame", c.Name)
				}
			}
			other := chatter.WireCurrent
			if gen.wire == chatter.WireCurrent {
				other = chatter.WireLegacy
			}
			if _, _, err := chatter.DecodeEnvelope(body, other); !errors.Is(err, chatter.ErrProtocol) {
				t.Errorf("%s read as %v: %v, want a protocol error", c.Name, other, err)
			}
		}
		sc := chatter.NewFrameScanner(bytes.NewReader(stream), 0)
		for i, want := range bodies {
			got, err := sc.Next()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: frame %d: %x, %v", gen.file, i, got, err)
			}
		}
		if _, err := sc.Next(); err != io.EOF {
			t.Errorf("after the last frame: %v, want io.EOF", err)
		}
		if sc.Consumed() != int64(len(stream)) {
			t.Errorf("Consumed = %d of %d", sc.Consumed(), len(stream))
		}
	}
}
