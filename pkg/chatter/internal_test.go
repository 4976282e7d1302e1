package chatter

import (
	"errors"
	"testing"
	"testing/synctest"
)

type namedAs [2]string

func (n namedAs) SBSType() (module, name string) { return n[0], n[1] }

// TestCheckLabel: names are compared, so an alias or a type of the same
// shape is another type.
func TestCheckLabel(t *testing.T) {
	for _, tc := range []struct {
		label, value namedAs
		ok           bool
	}{
		{namedAs{"A", "P"}, namedAs{"A", "P"}, true},
		{namedAs{"A", "Q"}, namedAs{"A", "P"}, false}, // Q = P, or the same shape
		{namedAs{"A", "P"}, namedAs{"B", "P"}, false},
		{namedAs{"", "Integer"}, namedAs{"", "Integer"}, true},
		{namedAs{"A", "P"}, namedAs{"", ""}, true}, // an anonymous type names nothing
	} {
		err := checkLabel("send", Data{Module: tc.label[0], Type: tc.label[1]}, tc.value)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrTypeMismatch)) {
			t.Errorf("checkLabel(%v, %v) = %v", tc.label, tc.value, err)
		}
	}
}

// TestGaveUpBound: the reply table remembers the last maxGaveUp Requests
// that gave up, and no more.
func TestGaveUpBound(t *testing.T) {
	var tbl replyTable
	for i := range maxGaveUp + 10 {
		k := convKey{first: int64(i + 1), owner: true}
		reply := make(chan Msg, 1)
		tbl.add(k, reply)
		if !tbl.cancel(k, reply, true) {
			t.Fatalf("cancel %d: not waiting", i)
		}
	}
	if n := len(tbl.gaveUp); n != maxGaveUp {
		t.Errorf("remembers %d, want %d", n, maxGaveUp)
	}
	if tbl.late(convKey{first: 1, owner: true}) {
		t.Error("the oldest is still remembered")
	}
	last := convKey{first: maxGaveUp + 10, owner: true}
	if !tbl.late(last) || tbl.late(last) {
		t.Error("the newest is not late exactly once")
	}
	if tbl.late(convKey{first: maxGaveUp + 10, owner: false}) {
		t.Error("the peer's conversation of the same id is late")
	}
	// A probe's cancel is not remembered.
	k, reply := convKey{first: 1 << 40, owner: true}, make(chan Msg, 1)
	tbl.add(k, reply)
	if !tbl.cancel(k, reply, false) || tbl.late(k) {
		t.Error("a cancel without remember made its conversation late")
	}
}

// TestDelivererByteBound: the deliverer stops taking batches once the
// payload bytes it holds reach WithQueueBytes, lets as many messages past
// that as the last batch allowed (one batch per waiting Request), and
// takes again once the application has read below the bound.
func TestDelivererByteBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const size = 64 << 10
		c := &Conn{cfg: &config{queueSize: 1024, queueBytes: 4 * size}, msgs: make(chan Msg, 2)}
		blobs := func(n int) []Msg {
			msgs := make([]Msg, n)
			for i := range msgs {
				msgs[i].buf = &frameBuf{b: make([]byte, size)}
			}
			return msgs
		}
		d := &deliverer{in: make(chan handoff), spent: make(chan []Msg, 2), idle: make(chan struct{}, 1),
			stop: make(chan struct{}), done: make(chan struct{})}
		// 2 go into the channel, 4 stay: the bound. Its allow lets 3 more by.
		go c.runDeliverer(d, handoff{msgs: blobs(6), allow: 3})
		offer := func(h handoff) bool {
			synctest.Wait()
			select {
			case d.in <- h:
				return true
			default:
				return false
			}
		}
		if !offer(handoff{msgs: blobs(3)}) {
			t.Fatal("at its bound, the deliverer refused the batch the last one allowed")
		}
		if offer(handoff{msgs: blobs(1)}) {
			t.Fatal("past its bound and its allowance, the deliverer took another batch")
		}
		for range 3 { // 2 in the channel and 7 held: 3 read, 4 still held
			<-c.msgs
		}
		if offer(handoff{msgs: blobs(1)}) {
			t.Fatal("at its bound again, the deliverer took another batch")
		}
		<-c.msgs
		if !offer(handoff{msgs: blobs(1)}) {
			t.Fatal("below its bound, the deliverer refused a batch")
		}
		close(d.stop)
		<-d.done
	})
}
