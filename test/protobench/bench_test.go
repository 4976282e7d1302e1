package protobench

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/gochatter/gochatter/pkg/sbs"
	"github.com/gochatter/gochatter/test/protobench/pb"
)

var repo = sbs.MustRepository(sbs.Path("schema"))

func mustType(tb testing.TB, module, name string) *sbs.Type {
	tb.Helper()
	t, err := repo.Type(module, name)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// The same data in every form.

func ptr[T any](v T) *T { return &v }

var payload = bytes.Repeat([]byte{0xab}, 64)

func genMsg() *HatMsg {
	return &HatMsg{Id: 12345, First: 12340, Owner: true, Token: true,
		Data: HatData{Module: ptr("Example"), Type: "Msg", Data: payload}}
}

func pbMsg() *pb.Msg {
	return &pb.Msg{Id: 12345, First: 12340, Owner: true, Token: true,
		Data: &pb.Data{Module: ptr("Example"), Type: "Msg", Data: payload}}
}

// bound types, written as an application would, for the struct bindings.
type (
	boundMsg struct {
		ID                 int64
		First              int64
		Owner, Token, Last bool
		Data               boundData
	}
	boundData struct {
		Module *string
		Type   string
		Data   []byte
	}
	boundOrder struct {
		ID       int64
		Customer string
		Items    []boundItem
		Paid     bool
	}
	boundItem struct {
		Name     string
		Price    int64
		Tags     []string
		Position struct{ X, Y int64 }
		Note     *string
	}
)

func boundMsgValue() *boundMsg {
	return &boundMsg{ID: 12345, First: 12340, Owner: true, Token: true,
		Data: boundData{Module: ptr("Example"), Type: "Msg", Data: payload}}
}

func dynMsg() map[string]any {
	return map[string]any{"id": int64(12345), "first": int64(12340), "owner": true, "token": true, "last": false,
		"data": map[string]any{"module": sbs.Union{Name: "Just", Value: "Example"}, "type": "Msg", "data": payload}}
}

const numItems = 10

func item(i int) (name string, price int64, tags []string, x, y int64) {
	return "item-" + string(rune('a'+i)), int64(100*i + 99), []string{"red", "large", "sale"}, int64(i), int64(-i)
}

func genOrder() *BenchOrder {
	o := &BenchOrder{Id: 987654321, Customer: "Customer Name", Paid: true}
	for i := range numItems {
		n, p, tags, x, y := item(i)
		it := BenchItem{Name: n, Price: p, Tags: tags, Position: BenchPoint{X: x, Y: y}}
		if i%2 == 0 {
			it.Note = ptr("fragile")
		}
		o.Items = append(o.Items, it)
	}
	return o
}

func pbOrder() *pb.Order {
	o := &pb.Order{Id: 987654321, Customer: "Customer Name", Paid: true}
	for i := range numItems {
		n, p, tags, x, y := item(i)
		it := &pb.Item{Name: n, Price: p, Tags: tags, Position: &pb.Point{X: x, Y: y}}
		if i%2 == 0 {
			it.Note = ptr("fragile")
		}
		o.Items = append(o.Items, it)
	}
	return o
}

func boundOrderValue() *boundOrder {
	o := &boundOrder{ID: 987654321, Customer: "Customer Name", Paid: true}
	for i := range numItems {
		n, p, tags, x, y := item(i)
		it := boundItem{Name: n, Price: p, Tags: tags}
		it.Position.X, it.Position.Y = x, y
		if i%2 == 0 {
			it.Note = ptr("fragile")
		}
		o.Items = append(o.Items, it)
	}
	return o
}

func dynOrder() map[string]any {
	var items []any
	for i := range numItems {
		n, p, tags, x, y := item(i)
		note := sbs.Union{Name: "Nothing"}
		if i%2 == 0 {
			note = sbs.Union{Name: "Just", Value: "fragile"}
		}
		items = append(items, map[string]any{"name": n, "price": p, "tags": tags,
			"position": map[string]any{"x": x, "y": y}, "note": note})
	}
	return map[string]any{"id": int64(987654321), "customer": "Customer Name", "items": items, "paid": true}
}

// codecs is one message in each form.
type codecs struct {
	name    string
	typ     *sbs.Type
	gen     interface{ AppendSBS([]byte) ([]byte, error) }
	genNew  func() interface{ UnmarshalSBS([]byte) error }
	pb      proto.Message
	pbNew   func() proto.Message
	bindEnc func([]byte) ([]byte, error)
	bindDec func([]byte) error
	dyn     any
}

func allCodecs(tb testing.TB) []codecs {
	msgType, orderType := mustType(tb, "Hat", "Msg"), mustType(tb, "Bench", "Order")
	mb, err := sbs.Bind[boundMsg](msgType)
	if err != nil {
		tb.Fatal(err)
	}
	ob, err := sbs.Bind[boundOrder](orderType)
	if err != nil {
		tb.Fatal(err)
	}
	bm, bo := boundMsgValue(), boundOrderValue()
	var bmOut boundMsg
	var boOut boundOrder
	return []codecs{
		{
			name: "msg", typ: msgType, gen: genMsg(),
			genNew: func() interface{ UnmarshalSBS([]byte) error } { return new(HatMsg) },
			pb:     pbMsg(), pbNew: func() proto.Message { return new(pb.Msg) },
			bindEnc: func(b []byte) ([]byte, error) { return mb.Append(b, bm) },
			bindDec: func(d []byte) error { return mb.Unmarshal(d, &bmOut) },
			dyn:     dynMsg(),
		},
		{
			name: "order", typ: orderType, gen: genOrder(),
			genNew: func() interface{ UnmarshalSBS([]byte) error } { return new(BenchOrder) },
			pb:     pbOrder(), pbNew: func() proto.Message { return new(pb.Order) },
			bindEnc: func(b []byte) ([]byte, error) { return ob.Append(b, bo) },
			bindDec: func(d []byte) error { return ob.Unmarshal(d, &boOut) },
			dyn:     dynOrder(),
		},
	}
}

// TestSameBytes: every SBS form encodes the same bytes, and decodes them;
// protobuf round-trips its own.
func TestSameBytes(t *testing.T) {
	for _, c := range allCodecs(t) {
		want, err := c.gen.AppendSBS(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.bindEnc(nil); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: binding = %x, %v\nwant %x", c.name, got, err, want)
		}
		if got, err := c.typ.Encode(c.dyn); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: dynamic = %x, %v", c.name, got, err)
		}
		if err := c.genNew().UnmarshalSBS(want); err != nil {
			t.Errorf("%s: UnmarshalSBS: %v", c.name, err)
		}
		if err := c.bindDec(want); err != nil {
			t.Errorf("%s: binding decode: %v", c.name, err)
		}
		p, err := proto.Marshal(c.pb)
		if err != nil {
			t.Fatal(err)
		}
		back := c.pbNew()
		if err := proto.Unmarshal(p, back); err != nil || !proto.Equal(back, c.pb) {
			t.Errorf("%s: proto round trip: %v", c.name, err)
		}
		t.Logf("%s: SBS %d bytes, protobuf %d bytes", c.name, len(want), len(p))
	}
}

func BenchmarkCodec(b *testing.B) {
	for _, c := range allCodecs(b) {
		sbsData, err := c.gen.AppendSBS(nil)
		if err != nil {
			b.Fatal(err)
		}
		pbData, err := proto.Marshal(c.pb)
		if err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 0, 4096)
		run := func(op, impl string, f func() error) {
			b.Run(c.name+"/"+op+"/impl="+impl, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := f(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		mo := proto.MarshalOptions{}
		run("encode", "proto", func() (err error) { buf, err = mo.MarshalAppend(buf[:0], c.pb); return })
		run("encode", "sbsgen", func() (err error) { buf, err = c.gen.AppendSBS(buf[:0]); return })
		run("encode", "binding", func() (err error) { buf, err = c.bindEnc(buf[:0]); return })
		run("encode", "dynamic", func() (err error) { buf, err = c.typ.Append(buf[:0], c.dyn); return })

		pm, gm := c.pbNew(), c.genNew()
		run("decode", "proto", func() error { return proto.Unmarshal(pbData, pm) })
		run("decode", "sbsgen", func() error { return gm.UnmarshalSBS(sbsData) })
		run("decode", "binding", func() error { return c.bindDec(sbsData) })
		run("decode", "dynamic", func() error { _, err := c.typ.Decode(sbsData); return err })
	}
}
