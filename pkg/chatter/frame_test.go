package chatter

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gochatter/gochatter/pkg/sbs"
)

// wireMsg is a Hat.Msg as the vectors write it in SBS-JSON.
type wireMsg struct {
	ID    int64 `json:"id"`
	First int64 `json:"first"`
	Owner bool  `json:"owner"`
	Token bool  `json:"token"`
	Last  bool  `json:"last"`
	Data  struct {
		Module [2]*string `json:"module"` // ["Just", "M"] or ["Nothing", null]
		Type   string     `json:"type"`
		Data   string     `json:"data"` // base64
	} `json:"data"`
}

func (w wireMsg) envelope(t *testing.T) envelope {
	t.Helper()
	payload, err := base64.StdEncoding.DecodeString(w.Data.Data)
	if err != nil {
		t.Fatal(err)
	}
	e := envelope{id: w.ID, first: w.First, owner: w.Owner, token: w.Token, last: w.Last, typ: w.Data.Type, payload: payload}
	if *w.Data.Module[0] == "Just" {
		e.module = *w.Data.Module[1]
	}
	return e
}

type payloadJSON struct {
	Module *string         `json:"module"`
	Type   string          `json:"type"`
	Value  json.RawMessage `json:"value"`
}

type framesFile struct {
	Schemas []string `json:"schemas"`
	Cases   []struct {
		Name       string      `json:"name"`
		Msg        wireMsg     `json:"msg"`
		Payload    payloadJSON `json:"payload"`
		BodyLength int         `json:"body_length"`
		FrameHex   string      `json:"frame_hex"`
	} `json:"cases"`
	Lenient []struct {
		Name     string  `json:"name"`
		Msg      wireMsg `json:"msg"`
		FrameHex string  `json:"frame_hex"`
		Why      string  `json:"why"`
	} `json:"lenient"`
}

func loadFrames(t *testing.T) (framesFile, *sbs.Repository) {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/vectors/chatter/frames.json")
	if err != nil {
		t.Fatal(err)
	}
	var f framesFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	var srcs []sbs.Source
	for _, s := range f.Schemas {
		srcs = append(srcs, sbs.Text(s))
	}
	repo, err := sbs.NewRepository(srcs...)
	if err != nil {
		t.Fatal(err)
	}
	return f, repo
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenFrames(t *testing.T) {
	f, repo := loadFrames(t)
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
			fr := newFrameReader(bytes.NewReader(want), DefaultMaxMessageSize, 16)
			body, err := fr.next()
			if err != nil {
				t.Fatal(err)
			}
			got, module, typ, err := decodeBody(body)
			if err != nil {
				t.Fatal(err)
			}
			got.module, got.typ = string(module), string(typ)
			if diff := cmp.Diff(e, got, cmp.AllowUnexported(envelope{})); diff != "" {
				t.Errorf("decoded envelope (-want +got):\n%s", diff)
			}
			if _, err := fr.next(); !errors.Is(err, io.EOF) {
				t.Errorf("after the frame: %v, want EOF", err)
			}
			c.Payload.check(t, repo, got.payload)
		})
	}
}

// module is the payload's module, "" for a builtin type.
func (p *payloadJSON) module() string {
	if p.Module == nil {
		return ""
	}
	return *p.Module
}

// check decodes payload with the vector's repository and compares it with
// the vector's value.
func (p *payloadJSON) check(t *testing.T, repo *sbs.Repository, payload []byte) {
	t.Helper()
	typ, err := repo.Type(p.module(), p.Type)
	if err != nil {
		t.Fatal(err)
	}
	want, err := typ.DecodeJSON(p.Value)
	if err != nil {
		t.Fatal(err)
	}
	got, err := typ.Decode(payload)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestLenientFrames(t *testing.T) {
	f, _ := loadFrames(t)
	for _, c := range f.Lenient {
		t.Run(c.Name, func(t *testing.T) {
			fr := newFrameReader(bytes.NewReader(unhex(t, c.FrameHex)), DefaultMaxMessageSize, 16)
			body, err := fr.next()
			if err != nil {
				t.Fatal(err)
			}
			got, module, typ, err := decodeBody(body)
			if c.Name == "body_with_trailing_byte" {
				// Strict: a byte after the complete message is refused.
				if !errors.Is(err, sbs.ErrTrailingBytes) || !errors.Is(err, ErrProtocol) {
					t.Fatalf("decodeBody = %v, want a trailing-bytes protocol error", err)
				}
				return
			}
			// A longer-than-needed length field is accepted, as the spec asks.
			if err != nil {
				t.Fatal(err)
			}
			got.module, got.typ = string(module), string(typ)
			if diff := cmp.Diff(c.Msg.envelope(t), got, cmp.AllowUnexported(envelope{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestFrameReaderLimits(t *testing.T) {
	cases := []struct {
		name  string
		input []byte
		want  error
	}{
		{"header claims 2^60 bytes", []byte{8, 0x10, 0, 0, 0, 0, 0, 0, 0}, ErrMessageTooLarge},
		{"header claims 2^200 bytes", append([]byte{26}, bytes.Repeat([]byte{0xff}, 26)...), ErrMessageTooLarge},
		{"one byte over the limit", []byte{2, 0x04, 0x01}, ErrMessageTooLarge},
		{"truncated header", []byte{2, 0x01}, io.ErrUnexpectedEOF},
		{"truncated body", []byte{1, 5, 1, 2}, io.ErrUnexpectedEOF},
		{"empty stream", nil, io.EOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fr := newFrameReader(bytes.NewReader(c.input), 1024, 16)
			_, err := fr.next()
			if !errors.Is(err, c.want) {
				t.Fatalf("next = %v, want %v", err, c.want)
			}
			if len(fr.buf) > 64 {
				t.Errorf("allocated %d bytes for a %d-byte input", len(fr.buf), len(c.input))
			}
		})
	}
}

func TestFrameReaderGrowsWithData(t *testing.T) {
	// A frame of 1 MiB arrives in full: the buffer holds it.
	body := bytes.Repeat([]byte{7}, 1<<20)
	frame := append(appendFrameHeader(nil, len(body)), body...)
	fr := newFrameReader(iotestOneByteAtATime(frame, 4096), 2<<20, 64)
	got, err := fr.next()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("next = %d bytes, %v", len(got), err)
	}
	if len(fr.buf) > 2<<20 {
		t.Errorf("buffer grew to %d for a 1 MiB frame", len(fr.buf))
	}
}

// iotestOneByteAtATime returns a reader that hands out at most chunk bytes
// per Read.
func iotestOneByteAtATime(b []byte, chunk int) io.Reader {
	return &chunkReader{b: b, chunk: chunk}
}

type chunkReader struct {
	b     []byte
	chunk int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.chunk, len(r.b))
	copy(p, r.b[:n])
	r.b = r.b[n:]
	return n, nil
}

func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{1, 0x17, 0x81, 0x81, 1, 1, 1, 0x81, 0x84, 'D', 'e', 'm', 'o', 0x84, 'N', 'o', 't', 'e', 0x86, 0x85, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{8, 0x10, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := newFrameReader(bytes.NewReader(data), 1<<16, 16)
		for range 64 {
			body, err := fr.next()
			if err != nil {
				return
			}
			if len(body) > len(data) {
				t.Fatalf("body of %d bytes from %d bytes of input", len(body), len(data))
			}
			e, module, typ, err := decodeBody(body)
			if err != nil {
				continue
			}
			// What decodes re-encodes to the same body, unless the
			// decoder accepted a non-canonical form (it must not).
			e.module, e.typ = string(module), string(typ)
			if re := e.appendBody(nil); !bytes.Equal(re, body) {
				t.Fatalf("re-encoded body differs:\n in %x\nout %x", body, re)
			}
		}
		if len(fr.buf) > 2*len(data)+64 {
			t.Fatalf("buffer of %d bytes for %d bytes of input", len(fr.buf), len(data))
		}
	})
}

func TestFrameReaderLargeFrames(t *testing.T) {
	// Large frames read into buffers of their own; small ones around them
	// still come from the shared buffer; a claimed size costs nothing
	// beyond largeUpfront until its bytes arrive.
	var stream []byte
	var bodies [][]byte
	for i, size := range []int{10, largeFrameSize, 5, 3 * largeUpfront, largeFrameSize + 1, 7} {
		body := bytes.Repeat([]byte{byte(i + 1)}, size)
		stream = append(appendFrameHeader(stream, size), body...)
		bodies = append(bodies, body)
	}
	for _, chunk := range []int{1000, 70000, 1 << 22} {
		fr := newFrameReader(iotestOneByteAtATime(stream, chunk), 1<<22, 4096)
		var kept [][]byte
		for i, want := range bodies {
			got, err := fr.next()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("chunk %d frame %d: %v", chunk, i, err)
			}
			if (fr.own != nil) != (len(want) >= largeFrameSize) {
				t.Errorf("chunk %d frame %d: own = %v", chunk, i, fr.own)
			}
			if fr.own != nil {
				kept = append(kept, got)
			}
		}
		// Owned bodies stay intact after later reads.
		for _, b := range kept {
			for _, x := range b {
				if x != b[0] {
					t.Fatalf("chunk %d: an owned body was overwritten", chunk)
				}
			}
		}
	}
	// A header claiming 60 MiB followed by 10 bytes allocates at most
	// largeUpfront and fails cleanly.
	hostile := append(appendFrameHeader(nil, 60<<20), make([]byte, 10)...)
	fr := newFrameReader(bytes.NewReader(hostile), 64<<20, 4096)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := fr.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated large frame: %v", err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > largeUpfront+64<<10 {
		t.Errorf("allocated %d bytes for a 60 MiB claim backed by 10 bytes", n)
	}
}

// A large frame read into a released buffer larger than itself takes only
// its own bytes: the frame after it is intact, and the body's capacity ends
// with it. (sync.Pool may drop what is put, so the test puts buffers until
// the reader has taken one.)
func TestFrameReaderReusesReleasedBuffers(t *testing.T) {
	const k = largeFrameSize + 100
	large := bytes.Repeat([]byte{0xAB}, k)
	small := []byte("after")
	var stream []byte
	stream = append(appendFrameHeader(stream, k), large...)
	stream = append(appendFrameHeader(stream, len(small)), small...)
	for attempt := 0; ; attempt++ {
		if attempt == 100 {
			t.Fatal("the reader never took a released buffer")
		}
		pooled := &frameBuf{b: bytes.Repeat([]byte{0xEE}, k+k/2)}
		frameBufs.Put(pooled)
		for _, chunk := range []int{100, 1 << 20} {
			fr := newFrameReader(iotestOneByteAtATime(stream, chunk), 1<<22, 4096)
			got, err := fr.next()
			if err != nil || !bytes.Equal(got, large) {
				t.Fatalf("large frame: %v", err)
			}
			if cap(got) != k {
				t.Errorf("large body's capacity = %d, want %d", cap(got), k)
			}
			reused := fr.own == pooled
			next, err := fr.next()
			if err != nil || !bytes.Equal(next, small) {
				t.Fatalf("the frame after a large one read into a pooled buffer: %q, %v", next, err)
			}
			if reused {
				return
			}
		}
	}
}
