package chatter_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gochatter/gochatter/pkg/chatter"
)

// A reply that comes after its Request gave up reaches Messages marked
// Late, and only the reply: the conversation's next message, and others,
// are not. WithDropLateReplies drops it; both count it.
func TestLateReplies(t *testing.T) {
	for _, drop := range []bool{false, true} {
		name := "marked"
		opts := []chatter.Option{chatter.WithPingTimeout(0)}
		if drop {
			name = "dropped"
			opts = append(opts, chatter.WithDropLateReplies())
		}
		t.Run(name, func(t *testing.T) {
			client, server := pairWith(t, "pipe", opts, []chatter.Option{chatter.WithPingTimeout(0)})
			ctx := t.Context()

			short, cancel := context.WithCancel(ctx)
			defer cancel()
			requested := make(chan error, 1)
			go func() {
				_, err := client.Request(short, num(1))
				requested <- err
			}()
			req := receive(t, server)
			cancel() // the Request gives up before its reply is sent
			if err := <-requested; !errors.Is(err, context.Canceled) {
				t.Fatalf("Request = %v, want its ctx's error", err)
			}
			// The answer, a second message of the conversation, and one of
			// a conversation of its own.
			send(t, server, num(10), chatter.InConversation(req.Conv), chatter.Last(false))
			send(t, server, num(11), chatter.InConversation(req.Conv))
			send(t, server, num(12))

			var got []chatter.Msg
			for range 3 - btoi(drop) {
				got = append(got, receive(t, client))
			}
			if !drop {
				if m := got[0]; m.Data.Data != int64(10) || !m.Late || m.Conv.FirstID != req.Conv.FirstID {
					t.Errorf("late reply %v, Late %v, conversation %d", m.Data.Data, m.Late, m.Conv.FirstID)
				}
				got = got[1:]
			}
			if m := got[0]; m.Data.Data != int64(11) || m.Late {
				t.Errorf("next message of the conversation %v, Late %v", m.Data.Data, m.Late)
			}
			if m := got[1]; m.Data.Data != int64(12) || m.Late {
				t.Errorf("unrelated message %v, Late %v", m.Data.Data, m.Late)
			}
			if n := client.Stats().LateReplies; n != 1 {
				t.Errorf("Stats.LateReplies = %d, want 1", n)
			}

			// A reply in time is no late one.
			go func() {
				m := receive(t, server)
				send(t, server, num(20), chatter.InConversation(m.Conv))
			}()
			if r, err := client.Request(ctx, num(2)); err != nil || r.Late || r.Data.Data != int64(20) {
				t.Errorf("Request in time = %v (Late %v), %v", r.Data.Data, r.Late, err)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
