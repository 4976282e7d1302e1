package chatter

import (
	"errors"
	"fmt"
)

// Wire is a generation of the Chatter wire. The two generations frame
// messages alike but encode the message differently, and neither can read
// the other; there is no negotiation, so both ends must agree.
type Wire uint8

const (
	// WireLegacy is hat-chatter's wire (2020–2023), the one the original
	// API describes: Hat.Msg with a module field, payloads decoded by
	// Chatter, HatPing.MsgPing/MsgPong every ping timeout. The default.
	WireLegacy Wire = iota
	// WireCurrent is hat-drivers' wire (since 2023): HatChatter.Msg whose
	// data is a "Module.Type" string and payload bytes, and an idle-based
	// keepalive with HatChatter.Ping/Pong.
	WireCurrent
	// WireAuto, for servers, decides each connection's generation from the
	// first frame the client sends, and sends nothing before that.
	WireAuto
)

func (w Wire) String() string {
	switch w {
	case WireLegacy:
		return "legacy"
	case WireCurrent:
		return "current"
	case WireAuto:
		return "auto"
	}
	return fmt.Sprintf("Wire(%d)", uint8(w))
}

// ParseWire reads "legacy", "current" or "auto".
func ParseWire(s string) (Wire, error) {
	for _, w := range []Wire{WireLegacy, WireCurrent, WireAuto} {
		if s == w.String() {
			return w, nil
		}
	}
	return 0, fmt.Errorf("chatter: unknown wire generation %q (want legacy, current or auto)", s)
}

// ErrWireMismatch: the peer speaks the other wire generation.
var ErrWireMismatch = errors.New("chatter: peer speaks another hat wire generation")

// WireMismatchError is a frame that does not decode in the connection's
// generation but does in the other one: the peer speaks that one.
type WireMismatchError struct {
	Ours, Peer Wire
	Err        error // why the frame failed in our generation
}

func (e *WireMismatchError) Error() string {
	return fmt.Sprintf("chatter: peer speaks the %s hat wire, this connection the %s one (%v)", e.Peer, e.Ours, e.Err)
}

// Unwrap matches ErrWireMismatch and ErrProtocol.
func (e *WireMismatchError) Unwrap() []error { return []error{ErrWireMismatch, ErrProtocol} }

// mismatch turns a decoding error of generation w into a WireMismatchError
// when the body is a valid message of the other generation.
func mismatch(w Wire, body []byte, err error) error {
	other := WireCurrent
	if w == WireCurrent {
		other = WireLegacy
	}
	if validIn(other, body) {
		return &WireMismatchError{Ours: w, Peer: other, Err: err}
	}
	return err
}

func validIn(w Wire, body []byte) bool {
	if w == WireCurrent {
		_, _, err := decodeBodyCurrent(body)
		return err == nil
	}
	_, _, _, err := decodeBody(body)
	return err == nil
}

// classify tells a frame body's generation (see the vectors' README,
// "Telling the generations apart"). The byte after the shared head is the
// marker: a legacy body has the Maybe index 80 or 81 there, a current body
// the length of its type string, which is 82..bf or below 80 for every type
// name but those of length 0 and 1. The ambiguous rest is settled by strict
// decoding, which at most one generation can pass.
func classify(body []byte) (Wire, error) {
	r := bodyReader{msg: "message", p: body}
	var e envelope
	r.head(&e)
	if r.err != nil {
		return 0, fmt.Errorf("%w: first frame: %w", ErrProtocol, r.err)
	}
	if len(r.p) == 0 {
		return 0, fmt.Errorf("%w: first frame ends after its flags", ErrProtocol)
	}
	switch marker := r.p[0]; {
	case marker != 0x80 && marker != 0x81:
		return WireCurrent, nil
	case marker == 0x81 && len(r.p) > 1 && r.p[1] >= 0x80:
		return WireLegacy, nil
	}
	legacy, current := validIn(WireLegacy, body), validIn(WireCurrent, body)
	switch {
	case legacy && !current:
		return WireLegacy, nil
	case current && !legacy:
		return WireCurrent, nil
	case legacy && current:
		// No body in the vectors does this; refuse rather than guess.
		return 0, fmt.Errorf("%w: first frame is valid in both wire generations", ErrProtocol)
	}
	return 0, fmt.Errorf("%w: first frame fits neither hat wire generation", ErrProtocol)
}
