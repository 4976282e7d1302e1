package chatter_test

import (
	"errors"
	"io"
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
	send(t, client, chatter.Data{Module: "Nowhere", Type: "Thing", Data: chatter.RawPayload{0x81}})

	var n int64
	msg := receive(t, server)
	err := chatter.Decode(msg, &n)
	var de *sbs.DataError
	if !errors.Is(err, io.ErrUnexpectedEOF) || !errors.As(err, &de) {
		t.Errorf("truncated payload: %v", err)
	}
	var gen sbsgentest.TestInt
	if err := chatter.Decode(msg, &gen); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated payload, generated type: %v", err)
	}

	msg = receive(t, server)
	if err := chatter.Decode(msg, &n); !errors.Is(err, sbs.ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	// Generated code needs no repository.
	if err := chatter.Decode(msg, &gen); err != nil || gen != 1 {
		t.Errorf("unknown type, generated: %v, %v", gen, err)
	}
	if err := chatter.Decode(chatter.Msg{}, &n); !errors.Is(err, chatter.ErrNoPayload) {
		t.Errorf("message from nowhere: %v", err)
	}
}
