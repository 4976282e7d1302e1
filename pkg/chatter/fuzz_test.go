package chatter

import (
	"bytes"
	"testing"
)

// FuzzDecodeCurrent: the current generation's envelope decoder never
// panics, and what it accepts re-encodes to the same bytes (it accepts no
// non-canonical form). The seed corpus in testdata/fuzz holds the golden
// frames' bodies.
func FuzzDecodeCurrent(f *testing.F) {
	f.Add([]byte{0x81, 0x81, 1, 1, 1, 0x89, 'D', 'e', 'm', 'o', '.', 'N', 'o', 't', 'e', 0x86, 0x85, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x81, 0x81, 1, 1, 1, 0x80, 0x80})
	f.Fuzz(func(t *testing.T, body []byte) {
		e, typ, err := decodeBodyCurrent(body)
		if err != nil {
			return
		}
		if len(typ) > len(body) || len(e.payload) > len(body) {
			t.Fatalf("fields longer than the body: type %d, payload %d, body %d", len(typ), len(e.payload), len(body))
		}
		module, name := splitType(typ)
		e.module, e.typ = string(module), string(name)
		if re := e.appendBody(nil); !bytes.Equal(re, body) {
			t.Fatalf("re-encoded body differs:\n in %x\nout %x", body, re)
		}
		if e.sizeBody() != len(body) {
			t.Fatalf("sizeBody = %d for a body of %d bytes", e.sizeBody(), len(body))
		}
	})
}

// FuzzClassify is differential: the generation auto-detection picks from
// a first frame must agree with strict decoding under both schemas. When
// exactly one generation decodes the body it must be chosen; when both do,
// classify must refuse rather than guess; and it must never choose a
// generation in which the body is invalid while the other one reads it.
func FuzzClassify(f *testing.F) {
	f.Add([]byte{0x81, 0x81, 1, 1, 1, 0x81, 0x84, 'D', 'e', 'm', 'o', 0x84, 'N', 'o', 't', 'e', 0x80})
	f.Add([]byte{0x81, 0x81, 1, 1, 1, 0x89, 'D', 'e', 'm', 'o', '.', 'N', 'o', 't', 'e', 0x80})
	f.Add([]byte{0x81, 0x81, 1, 1, 1, 0x80, 0x84, 'N', 'o', 'n', 'e', 0x80})
	f.Add([]byte{0x81, 0x81, 1, 1, 1, 0x81, 0x81})
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := classify(body)
		legacy, current := validIn(WireLegacy, body), validIn(WireCurrent, body)
		switch {
		case legacy && current:
			if err == nil {
				t.Fatalf("valid in both generations, classify chose %v", w)
			}
		case legacy:
			if err != nil || w != WireLegacy {
				t.Fatalf("valid legacy only, classify = %v, %v", w, err)
			}
		case current:
			if err != nil || w != WireCurrent {
				t.Fatalf("valid current only, classify = %v, %v", w, err)
			}
		}
		if err == nil && w != WireLegacy && w != WireCurrent {
			t.Fatalf("classify = %v", w)
		}
	})
}
