package chatter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gochatter/gochatter/internal/sbsgentest"
	"github.com/gochatter/gochatter/pkg/chatter"
	"github.com/gochatter/gochatter/pkg/sbs"
)

// point binds Test.Point of the test schema.
type point struct{ X, Y int64 }

// hatMsg binds Hat.Msg through a struct binding.
type hatMsg struct {
	ID                 int64
	First              int64
	Owner, Token, Last bool
	Data               struct {
		Module *string
		Type   string
		Data   []byte
	}
}

func TestTypedPayloads(t *testing.T) {
	pointType, err := testRepo.Type("Test", "Point")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := sbs.Bind[point](pointType)
	if err != nil {
		t.Fatal(err)
	}
	module := "Mod"
	generated := sbsgentest.HatMsg{Id: 7, First: 3, Token: true, Data: sbsgentest.HatData{Module: &module, Type: "T", Data: []byte{1, 2}}}

	for _, raw := range []bool{true, false} {
		name := "decoded"
		var opts []chatter.Option
		if raw {
			name = "raw"
			opts = append(opts, chatter.WithRawPayloads())
		}
		t.Run(name, func(t *testing.T) {
			client, server := pair(t, "pipe", append(opts, chatter.WithPingTimeout(0))...)

			// Generated code sends itself; so does a bound value.
			send(t, client, chatter.Data{Module: "Hat", Type: "Msg", Data: &generated})
			send(t, client, chatter.Data{Module: "Test", Type: "Point", Data: pb.Value(&point{X: -1, Y: 99})})

			msg := receive(t, server)
			// Hat.Msg is a Tuple: its payload is kept raw either way.
			if msg.Raw == nil || raw != (msg.Data.Data == nil) {
				t.Fatalf("Raw = %x, Data %v on a raw=%v connection", msg.Raw, msg.Data.Data, raw)
			}
			var gotGen sbsgentest.HatMsg
			if err := chatter.Decode(msg, &gotGen); err != nil {
				t.Fatalf("Decode into the generated type: %v", err)
			}
			if diff := cmp.Diff(generated, gotGen); diff != "" {
				t.Errorf("generated (-sent +received):\n%s", diff)
			}
			var gotBound hatMsg
			if err := chatter.Decode(msg, &gotBound); err != nil {
				t.Fatalf("Decode into a bound struct: %v", err)
			}
			if gotBound.ID != 7 || gotBound.First != 3 || !gotBound.Token || *gotBound.Data.Module != "Mod" || gotBound.Data.Type != "T" {
				t.Errorf("bound = %+v", gotBound)
			}

			msg = receive(t, server)
			var p point
			if err := chatter.Decode(msg, &p); err != nil || p != (point{-1, 99}) {
				t.Fatalf("Decode(point) = %+v, %v", p, err)
			}
			// The wrong Go type fails when its binding compiles.
			var wrong struct{ X string }
			if err := chatter.Decode(msg, &wrong); !errors.Is(err, sbs.ErrBinding) {
				t.Errorf("Decode into a mismatched type: %v", err)
			}
		})
	}
}

func TestTypedErrors(t *testing.T) {
	client, server := pair(t, "pipe", chatter.WithRawPayloads(), chatter.WithPingTimeout(0))
	send(t, client, chatter.Data{Module: "Test", Type: "Num", Data: chatter.RawPayload{0x01}})
	send(t, client, chatter.Data{Module: "Test", Type: "Int", Data: chatter.RawPayload{0x81}}) // not in testRepo

	var n int64
	msg := receive(t, server)
	err := chatter.Decode(msg, &n)
	var de *sbs.DataError
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.As(err, &de) {
		t.Errorf("truncated payload: %v", err)
	}
	var gen TestNum
	if err := chatter.Decode(msg, &gen); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated payload, generated type: %v", err)
	}

	msg = receive(t, server)
	if err := chatter.Decode(msg, &n); !errors.Is(err, sbs.ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	// Generated code needs no repository.
	var other sbsgentest.TestInt
	if err := chatter.Decode(msg, &other); err != nil || other != 1 {
		t.Errorf("unknown type, generated: %v, %v", other, err)
	}
	if err := chatter.Decode(chatter.Msg{}, &n); !errors.Is(err, chatter.ErrNoPayload) {
		t.Errorf("message from nowhere: %v", err)
	}
}

// TestTypeLabels: a value that names its SBS type is sent under that name
// (DataOf) and refused under another, by Send before anything is written
// and by Decode; a struct binding that does not fit the label gives the
// same error.
func TestTypeLabels(t *testing.T) {
	for _, raw := range []bool{false, true} {
		opts := []chatter.Option{chatter.WithPingTimeout(0)}
		if raw {
			opts = append(opts, chatter.WithRawPayloads())
		}
		t.Run(fmt.Sprintf("raw=%v", raw), func(t *testing.T) {
			client, server := pair(t, "pipe", opts...)
			ctx := context.Background()
			pointType, err := testRepo.Type("Test", "Point")
			if err != nil {
				t.Fatal(err)
			}
			bound, err := sbs.Bind[point](pointType)
			if err != nil {
				t.Fatal(err)
			}

			// Mislabelled values: refused, naming both types, and nothing
			// goes out.
			for _, tc := range []struct {
				name      string
				data      chatter.Data
				value     string
				isBinding bool
			}{
				{"generated", chatter.Data{Module: "Test", Type: "Num", Data: &TestPoint{X: 1, Y: 2}}, "Test.Point", false},
				{"bound value", chatter.Data{Module: "Test", Type: "Text", Data: bound.Value(&point{1, 2})}, "Test.Point", false},
				{"struct binding", chatter.Data{Module: "Test", Type: "Text", Data: &point{1, 2}}, "chatter_test.point", true},
			} {
				_, err := client.Send(ctx, tc.data)
				var tm *chatter.TypeMismatchError
				if !errors.Is(err, chatter.ErrTypeMismatch) || !errors.As(err, &tm) {
					t.Fatalf("%s: Send mislabelled = %v, want a *TypeMismatchError", tc.name, err)
				}
				if tm.Op != "send" || tm.Label != "Test."+tc.data.Type || tm.Value != tc.value || errors.Is(err, sbs.ErrBinding) != tc.isBinding {
					t.Errorf("%s: %+v (%v)", tc.name, *tm, err)
				}
				if !strings.Contains(err.Error(), tm.Label) || !strings.Contains(err.Error(), tc.value) {
					t.Errorf("%s: %q does not name both types", tc.name, err)
				}
			}

			// DataOf labels a typed value with its own name.
			data := chatter.DataOf(&TestPoint{X: 3, Y: -4})
			if data.Module != "Test" || data.Type != "Point" {
				t.Fatalf("DataOf = %+v", data)
			}
			send(t, client, data)
			send(t, client, chatter.DataOf(bound.Value(&point{5, 6})))

			msg := receive(t, server) // the first message written
			var p TestPoint
			if err := chatter.Decode(msg, &p); err != nil || p != (TestPoint{X: 3, Y: -4}) {
				t.Fatalf("Decode = %+v, %v", p, err)
			}
			// Decoding into another generated type is refused by name, ...
			var n TestNum
			err = chatter.Decode(msg, &n)
			var tm *chatter.TypeMismatchError
			if !errors.As(err, &tm) || tm.Op != "decode" || tm.Label != "Test.Point" || tm.Value != "Test.Num" {
				t.Errorf("Decode(Test.Point into TestNum) = %v", err)
			}
			// ... and into a struct that does not fit, by its binding.
			var wrong struct{ X string }
			if err := chatter.Decode(msg, &wrong); !errors.Is(err, chatter.ErrTypeMismatch) || !errors.Is(err, sbs.ErrBinding) {
				t.Errorf("Decode into a mismatched struct: %v", err)
			}
			msg = receive(t, server)
			if err := chatter.Decode(msg, &p); err != nil || p != (TestPoint{X: 5, Y: 6}) {
				t.Fatalf("Decode of a bound value = %+v, %v", p, err)
			}
			if raw {
				// Raw payloads are not checked on receipt: a Point's
				// bytes labelled Num arrive, and the generated Point
				// refuses them by the label.
				pointBytes, err := (&TestPoint{X: 7, Y: 8}).AppendSBS(nil)
				if err != nil {
					t.Fatal(err)
				}
				send(t, client, chatter.Data{Module: "Test", Type: "Num", Data: chatter.RawPayload(pointBytes)})
				msg = receive(t, server)
				if err := chatter.Decode(msg, &p); !errors.Is(err, chatter.ErrTypeMismatch) {
					t.Errorf("Decode(Num-labelled bytes into TestPoint) = %v, %+v", err, p)
				}
			}
			if client.Err() != nil || server.Err() != nil {
				t.Fatalf("connection ended: %v / %v", client.Err(), server.Err())
			}
		})
	}
}

// Plain Go values — slices, nested slices, maps of scalars, pointers to
// them — bind to their SBS types in both directions, with no hand-made
// binding.
func TestPlainGoValues(t *testing.T) {
	repo := sbs.MustRepository(sbs.Text(`module Plain
Names = Array(String)
Grid = Array(Array(String))
Ints = Array(Integer)
Point = Tuple { x: Integer, y: Integer }
Points = Array(Point)
`))
	a, b := net.Pipe()
	client, err := chatter.NewConn(a, repo, chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := chatter.NewConn(b, repo, chatter.WithPingTimeout(0))
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	data := func(typ string, v any) chatter.Data { return chatter.Data{Module: "Plain", Type: typ, Data: v} }

	names := []string{"a", "b"}
	grid := [][]string{{"a"}, {}, {"b", "c"}}
	ints := []int{1, -2, 3}
	point := map[string]int64{"x": 1, "y": -1}
	points := []map[string]int32{{"x": 5, "y": 6}}
	for _, d := range []chatter.Data{data("Names", &names), data("Grid", grid), data("Ints", ints), data("Point", point), data("Points", points)} {
		send(t, client, d)
	}
	var gotNames []string
	var gotGrid [][]string
	var gotInts []int
	var gotPoint map[string]int64
	var gotPoints []map[string]int32
	for _, dec := range []func(chatter.Msg) error{
		func(m chatter.Msg) error { return chatter.Decode(m, &gotNames) },
		func(m chatter.Msg) error { return chatter.Decode(m, &gotGrid) },
		func(m chatter.Msg) error { return chatter.Decode(m, &gotInts) },
		func(m chatter.Msg) error { return chatter.Decode(m, &gotPoint) },
		func(m chatter.Msg) error { return chatter.Decode(m, &gotPoints) },
	} {
		if err := dec(receive(t, server)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ got, want any }{
		{gotNames, names}, {gotGrid, grid}, {gotInts, ints}, {gotPoint, point}, {gotPoints, points},
	} {
		if diff := cmp.Diff(c.want, c.got); diff != "" {
			t.Errorf("(-sent +received):\n%s", diff)
		}
	}

	// Mistakes are refused before anything is written, as a struct's are.
	for _, tc := range []struct {
		d    chatter.Data
		want error
	}{
		{data("Point", map[string]int64{"x": 1}), sbs.ErrInvalidValue},                  // a missing entry
		{data("Point", map[string]int64{"x": 1, "y": 2, "z": 3}), sbs.ErrInvalidValue},  // a key of no entry
		{data("Point", map[string]string{"x": "1", "y": "2"}), chatter.ErrTypeMismatch}, // values that do not bind
		{data("Names", [][]string{{"a"}}), chatter.ErrTypeMismatch},
	} {
		if _, err := client.Send(t.Context(), tc.d); !errors.Is(err, tc.want) {
			t.Errorf("Send %s %T = %v, want %v", tc.d.Type, tc.d.Data, err, tc.want)
		}
	}
	if client.Err() != nil || server.Err() != nil {
		t.Errorf("connection ended: %v / %v", client.Err(), server.Err())
	}
}

// WithPayloadTypes decodes a payload once, straight into the generated
// type; Decode copies it. Types the function does not know decode as
// before; a bad payload is DecodeErr on the current wire.
func TestPayloadTypes(t *testing.T) {
	for _, wire := range []chatter.Wire{chatter.WireLegacy, chatter.WireCurrent} {
		t.Run(wire.String(), func(t *testing.T) {
			opts := []chatter.Option{chatter.WithWire(wire), chatter.WithPingTimeout(0)}
			client, server := pairWith(t, "pipe", opts, append(opts, chatter.WithPayloadTypes(NewSBS)))
			send(t, client, chatter.DataOf(&TestPoint{X: 1, Y: 2}))
			send(t, client, chatter.Data{Module: "Test", Type: "Text", Data: "hi"})
			send(t, client, chatter.Data{Type: "String", Data: "builtin"}) // NewSBS knows no builtins

			m := receive(t, server)
			p, ok := m.Data.Data.(*TestPoint)
			if !ok || *p != (TestPoint{X: 1, Y: 2}) || m.Raw != nil {
				t.Fatalf("Data.Data %T %v, Raw %x: want a *TestPoint, decoded once", m.Data.Data, m.Data.Data, m.Raw)
			}
			var got TestPoint
			if err := chatter.Decode(m, &got); err != nil || got != *p {
				t.Errorf("Decode = %+v, %v", got, err)
			}
			var bound point // another Go type: the bytes again, then its binding
			if err := chatter.Decode(m, &bound); err != nil || bound != (point{1, 2}) {
				t.Errorf("Decode into a bound struct = %+v, %v", bound, err)
			}
			var n TestNum
			if err := chatter.Decode(m, &n); !errors.Is(err, chatter.ErrTypeMismatch) {
				t.Errorf("Decode into another generated type = %v", err)
			}
			m = receive(t, server)
			if txt, ok := m.Data.Data.(*TestText); !ok || *txt != "hi" {
				t.Errorf("Test.Text: %T %v", m.Data.Data, m.Data.Data)
			}
			m = receive(t, server)
			if m.Data.Data != "builtin" {
				t.Errorf("a type NewSBS does not know: %T %v", m.Data.Data, m.Data.Data)
			}
			if wire == chatter.WireCurrent {
				send(t, client, chatter.Data{Module: "Test", Type: "Point", Data: chatter.RawPayload{0x01}})
				m = receive(t, server)
				if m.DecodeErr == nil || m.Raw == nil {
					t.Errorf("a bad payload: DecodeErr %v, Raw %x", m.DecodeErr, m.Raw)
				}
			}
		})
	}
}
