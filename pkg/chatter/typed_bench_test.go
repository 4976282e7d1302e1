package chatter

import (
	"testing"

	"github.com/gochatter/gochatter/internal/sbsgentest"
)

// The Hat.Msg envelope: the hand-written codec of frame.go beside the code
// sbs-gen writes for the same type. The hand-written decoder leaves the
// strings and the payload aliasing the frame; the generated one copies them.
func BenchmarkEnvelope(b *testing.B) {
	e := envelope{id: 12345, first: 12340, owner: true, token: true, last: false,
		module: "Example", typ: "Msg", payload: make([]byte, 64)}
	module := e.module
	g := sbsgentest.HatMsg{Id: e.id, First: e.first, Owner: e.owner, Token: e.token, Last: e.last,
		Data: sbsgentest.HatData{Module: &module, Type: e.typ, Data: e.payload}}
	body := e.appendBody(nil)
	if gb, err := g.AppendSBS(nil); err != nil || string(gb) != string(body) {
		b.Fatalf("generated encoding differs: %x, %v", gb, err)
	}
	buf := make([]byte, 0, 256)

	b.Run("encode/frame.go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = e.appendBody(buf[:0])
		}
	})
	b.Run("encode/generated", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = g.AppendSBS(buf[:0])
		}
	})
	b.Run("decode/frame.go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, _, err := decodeBody(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/generated", func(b *testing.B) {
		b.ReportAllocs()
		var m sbsgentest.HatMsg
		for b.Loop() {
			if err := m.UnmarshalSBS(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
