package chatter

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// currentMsg is a HatChatter.Msg as the vectors write it.
type currentMsg struct {
	ID    int64 `json:"id"`
	First int64 `json:"first"`
	Owner bool  `json:"owner"`
	Token bool  `json:"token"`
	Last  bool  `json:"last"`
	Data  struct {
		Type string `json:"type"`
		Data string `json:"data"`
	} `json:"data"`
}

func (w currentMsg) envelope(t *testing.T) envelope {
	t.Helper()
	payload, err := base64.StdEncoding.DecodeString(w.Data.Data)
	if err != nil {
		t.Fatal(err)
	}
	module, typ := splitType([]byte(w.Data.Type))
	return envelope{id: w.ID, first: w.First, owner: w.Owner, token: w.Token, last: w.Last,
		module: string(module), typ: string(typ), payload: payload, current: true}
}

type currentFramesFile struct {
	Schemas []string `json:"schemas"`
	Cases   []struct {
		Name       string       `json:"name"`
		Msg        currentMsg   `json:"msg"`
		Payload    *payloadJSON `json:"payload"`
		BodyLength int          `json:"body_length"`
		FrameHex   string       `json:"frame_hex"`
	} `json:"cases"`
	Lenient []struct {
		Name     string     `json:"name"`
		Msg      currentMsg `json:"msg"`
		FrameHex string     `json:"frame_hex"`
	} `json:"lenient"`
	Rejected []struct {
		Name     string `json:"name"`
		FrameHex string `json:"frame_hex"`
	} `json:"rejected"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

// readOneFrame reads the single frame of a vector.
func readOneFrame(t *testing.T, frame []byte) ([]byte, error) {
	t.Helper()
	return newFrameReader(bytes.NewReader(frame), DefaultMaxMessageSize, 16).next()
}

func TestCurrentGoldenFrames(t *testing.T) {
	var f currentFramesFile
	readJSON(t, "../../testdata/vectors/chatter-current/frames.json", &f)
	var srcs []sbs.Source
	for _, s := range f.Schemas {
		srcs = append(srcs, sbs.Text(s))
	}
	repo, err := sbs.NewRepository(srcs...)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			want := unhex(t, c.FrameHex)
			e := c.Msg.envelope(t)
			if got := e.appendFrame(nil); !bytes.Equal(got, want) {
				t.Fatalf("encoded frame differs:\n got %x\nwant %x", got, want)
			}
			if e.sizeBody() != c.BodyLength {
				t.Errorf("body size %d, want %d", e.sizeBody(), c.BodyLength)
			}
			body, err := readOneFrame(t, want)
			if err != nil {
				t.Fatal(err)
			}
			if w, err := classify(body); err != nil || w != WireCurrent {
				t.Errorf("classify = %v, %v; want current", w, err)
			}
			got, typ, err := decodeBodyCurrent(body)
			if err != nil {
				t.Fatal(err)
			}
			if string(typ) != c.Msg.Data.Type {
				t.Errorf("type %q, want %q", typ, c.Msg.Data.Type)
			}
			module, name := splitType(typ)
			got.module, got.typ = string(module), string(name)
			if diff := cmp.Diff(e, got, cmp.AllowUnexported(envelope{})); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if c.Payload == nil {
				return
			}
			if pm := c.Payload.module(); pm != got.module || c.Payload.Type != got.typ {
				t.Errorf("split %q.%q, the vector's application reads %q.%q", got.module, got.typ, pm, c.Payload.Type)
			}
			c.Payload.check(t, repo, got.payload)
		})
	}
	for _, c := range f.Lenient {
		t.Run("lenient/"+c.Name, func(t *testing.T) {
			body, err := readOneFrame(t, unhex(t, c.FrameHex))
			if err != nil {
				t.Fatal(err)
			}
			got, typ, err := decodeBodyCurrent(body)
			switch c.Name {
			case "body_with_trailing_byte":
				if !errors.Is(err, sbs.ErrTrailingBytes) {
					t.Errorf("decode = %v, want trailing bytes refused", err)
				}
			case "boolean_byte_02":
				if !errors.Is(err, sbs.ErrInvalidBoolean) {
					t.Errorf("decode = %v, want the boolean refused", err)
				}
			default: // a longer length field: accepted
				if err != nil {
					t.Fatal(err)
				}
				module, name := splitType(typ)
				got.module, got.typ = string(module), string(name)
				if diff := cmp.Diff(c.Msg.envelope(t), got, cmp.AllowUnexported(envelope{})); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})
	}
	for _, c := range f.Rejected {
		t.Run("rejected/"+c.Name, func(t *testing.T) {
			body, err := readOneFrame(t, unhex(t, c.FrameHex))
			if err == nil {
				_, _, err = decodeBodyCurrent(body)
			}
			if err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestCrossGeneration(t *testing.T) {
	var f struct {
		Cases []struct {
			Name      string `json:"name"`
			WrittenBy string `json:"written_by"`
			ReadBy    string `json:"read_by"`
			FrameHex  string `json:"frame_hex"`
		} `json:"cases"`
	}
	readJSON(t, "../../testdata/vectors/chatter-current/cross_generation.json", &f)
	if len(f.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			writer, err := ParseWire(c.WrittenBy)
			if err != nil {
				t.Fatal(err)
			}
			reader, err := ParseWire(c.ReadBy)
			if err != nil {
				t.Fatal(err)
			}
			body, err := readOneFrame(t, unhex(t, c.FrameHex))
			if err != nil {
				t.Fatal(err)
			}
			// A reader of the other generation refuses it, naming the mismatch,
			// including where the original current reader silently misreads.
			var derr error
			if reader == WireCurrent {
				_, _, derr = decodeBodyCurrent(body)
			} else {
				_, _, _, derr = decodeBody(body)
			}
			if derr == nil {
				t.Fatalf("the %s reader accepted a %s frame", reader, writer)
			}
			err = mismatch(reader, body, derr)
			var we *WireMismatchError
			if !errors.As(err, &we) || we.Peer != writer || !errors.Is(err, ErrWireMismatch) || !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v, want a mismatch naming the %s wire", err, writer)
			}
			// Auto-detection picks the writer's generation.
			if w, err := classify(body); err != nil || w != writer {
				t.Errorf("classify = %v, %v; want %v", w, err, writer)
			}
		})
	}
}

func TestClassifyRefusesNeither(t *testing.T) {
	for _, body := range [][]byte{
		{},
		{0x81, 0x81, 1, 1},
		{0x81, 0x81, 1, 1, 1},
		{0x81, 0x81, 1, 1, 1, 0x80, 0x80},       // legacy needs one more field; current has a trailing byte... or not
		{0x81, 0x81, 1, 1, 1, 0x81, 0x05, 0x80}, // legacy module length non-minimal / past the end
	} {
		w, err := classify(body)
		if err == nil {
			// Only a body that is valid in exactly that generation may pass.
			if !validIn(w, body) {
				t.Errorf("classify(%x) = %v but the body is not valid there", body, w)
			}
			continue
		}
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("classify(%x) = %v, want a protocol error", body, err)
		}
	}
}
